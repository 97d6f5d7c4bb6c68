//! A descriptor that becomes readable when there is something for a
//! worker to do (packets arrived, credits came back, the peer failed), so
//! an instance can `Flow::readable` on it instead of polling.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

/// An eventfd, and whom else to tell (the worker that owns the end,
/// when the runtime drives it rather than a component waiting on the
/// descriptor).
///
/// The descriptor is written only by the first signal after a `clear`
/// (`armed`): on a busy arc the transport signals every batch while the
/// worker is still reading earlier ones, and a write and a read per batch
/// were two system calls each way for nothing.
///
/// That holds for an end that waits for one thing (a receiver: items).
/// An end that waits for either of two (a sender: credits, or room in
/// its transport) is made with [`Notify::for_two_conditions`] and has
/// every signal written: a `drain` may consume a signal for one, after
/// which the waiter's look fails on the other and it waits; with `armed`
/// cleared by the consumed signal, the next one would not write, and the
/// waiter would sleep through it.
pub(crate) struct Notify {
    fd: OwnedFd,
    /// No signal has written the descriptor since the last `clear`.
    armed: AtomicBool,
    /// Every signal writes the descriptor, armed or not.
    every: bool,
    wake: OnceLock<Box<dyn Fn() + Send + Sync>>,
}

impl Notify {
    pub(crate) fn new() -> std::io::Result<Self> {
        Notify::make(false)
    }

    /// A notify whose every signal writes the descriptor: for an end
    /// that waits for either of two conditions (see [`Notify`]).
    pub(crate) fn for_two_conditions() -> std::io::Result<Self> {
        Notify::make(true)
    }

    fn make(every: bool) -> std::io::Result<Self> {
        // SAFETY: a plain syscall; the descriptor is owned from here on.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: a fresh descriptor nothing else owns.
        Ok(Notify {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            armed: AtomicBool::new(true),
            every,
            wake: OnceLock::new(),
        })
    }

    /// True if every signal writes the descriptor.
    #[cfg(test)]
    pub(crate) fn writes_every_signal(&self) -> bool {
        self.every
    }

    /// Makes the descriptor readable. Call after publishing what the
    /// signal is about.
    pub(crate) fn signal(&self) {
        // Both this swap and `clear`'s are read-modify-writes of `armed`:
        // if `clear`'s comes first, this one writes; if this one comes
        // first, `clear`'s acquires it, so the look that follows `clear`
        // sees what was published before this signal.
        if self.armed.swap(false, Ordering::AcqRel) || self.every {
            let one: u64 = 1;
            // SAFETY: writes 8 bytes from a valid u64 to our eventfd; a
            // full counter (it never is: a wait is followed by a `drain`
            // or `clear`, which reset it) would only fail.
            unsafe { libc::write(self.fd.as_raw_fd(), (&one as *const u64).cast(), 8) };
        }
        // The runtime's worker is told every time: it does not `clear`
        // (it does not wait on the descriptor).
        if let Some(wake) = self.wake.get() {
            wake();
        }
    }

    /// Also calls `wake` on every signal from now on (once per end: a
    /// later call is ignored).
    pub(crate) fn wake_with(&self, wake: Box<dyn Fn() + Send + Sync>) {
        let _ = self.wake.set(wake);
    }

    /// Makes it unreadable until the next `signal`. Call before looking
    /// for work, so that a signal after the look is never lost.
    pub(crate) fn clear(&self) {
        if !self.armed.swap(true, Ordering::AcqRel) {
            // A signal between the swap and this read may be drained with
            // the earlier one: the caller's look, after this, sees what
            // that signal published.
            self.reset();
        }
    }

    /// Makes it unreadable whatever `armed` says: call before concluding
    /// there is nothing to do and waiting. A signal that swapped `armed`
    /// before a `clear` and wrote after it leaves the descriptor readable
    /// with `armed` set, which `clear` does not read: a waiter would wake
    /// for nothing, again and again, until the next signal.
    pub(crate) fn drain(&self) {
        self.armed.swap(true, Ordering::AcqRel);
        self.reset();
    }

    /// Reads the eventfd's counter back to zero.
    fn reset(&self) {
        let mut n: u64 = 0;
        // SAFETY: reads 8 bytes into a valid u64; non-blocking.
        unsafe { libc::read(self.fd.as_raw_fd(), (&mut n as *mut u64).cast(), 8) };
    }
}

impl AsRawFd for Notify {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// True if `fd` is readable now (a look, no wait): what a waiter on a
/// notify's descriptor would see.
#[cfg(test)]
pub(crate) fn readable(fd: &impl AsRawFd) -> bool {
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, no wait.
    unsafe { libc::poll(&mut p, 1, 0) == 1 }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `drain` with a signal landing between its two steps, replayed by
    /// hand: the signal is consumed, the waiter's look fails on another
    /// condition, and it waits for the next signal.
    fn next_signal_after_a_consumed_one_is_seen(n: &Notify) -> bool {
        n.armed.swap(true, Ordering::AcqRel);
        n.signal();
        n.reset();
        n.signal();
        readable(n)
    }

    #[test]
    fn with_two_conditions_a_signal_consumed_by_a_drain_does_not_silence_the_next() {
        assert!(next_signal_after_a_consumed_one_is_seen(
            &Notify::for_two_conditions().unwrap()
        ));
        // The one-condition notify does silence it: fine for a receiver,
        // whose look after the drain finds what the consumed signal was
        // about; a lost wake-up for a sender.
        assert!(!next_signal_after_a_consumed_one_is_seen(
            &Notify::new().unwrap()
        ));
    }

    #[test]
    fn a_signal_after_a_clear_makes_it_readable_once() {
        let n = Notify::new().unwrap();
        assert!(!readable(&n));
        n.signal();
        n.signal();
        assert!(readable(&n));
        n.clear();
        assert!(!readable(&n));
        n.signal();
        assert!(readable(&n));
    }

    #[test]
    fn a_late_write_is_drained_before_a_wait() {
        let n = Notify::new().unwrap();
        // A signal swaps `armed` ...
        assert!(n.armed.swap(false, Ordering::AcqRel));
        // ... a clear comes between its swap and its write ...
        n.clear();
        let one: u64 = 1;
        // SAFETY: 8 bytes from a valid u64 to the eventfd.
        unsafe { libc::write(n.as_raw_fd(), (&one as *const u64).cast(), 8) };
        // ... so the descriptor is readable with nothing to do, and a
        // clear no longer reads it.
        n.clear();
        assert!(readable(&n));
        n.drain();
        assert!(!readable(&n));
        n.signal();
        assert!(readable(&n), "the next signal still wakes");
    }
}
