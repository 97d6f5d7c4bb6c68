//! What both benches of this crate share: the stage's work and the
//! blocking ends of an rtrb ring for the thread-per-stage variant.

use std::thread;

/// The work of one middle stage: a few cheap arithmetic operations.
#[inline]
pub fn work(x: u64, salt: u64) -> u64 {
    (x ^ salt)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .rotate_left(17)
}

/// Pushes `v`, yielding while the ring is full.
pub fn push<T>(p: &mut rtrb::Producer<T>, mut v: T) {
    loop {
        match p.push(v) {
            Ok(()) => return,
            Err(rtrb::PushError::Full(back)) => {
                v = back;
                thread::yield_now();
            }
        }
    }
}

/// Pops a value, yielding while the ring is empty.
pub fn pop<T>(c: &mut rtrb::Consumer<T>) -> T {
    loop {
        if let Ok(v) = c.pop() {
            return v;
        }
        thread::yield_now();
    }
}
