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
pub(crate) struct Notify {
    fd: OwnedFd,
    /// No signal has written the descriptor since the last `clear`.
    armed: AtomicBool,
    wake: OnceLock<Box<dyn Fn() + Send + Sync>>,
}

impl Notify {
    pub(crate) fn new() -> std::io::Result<Self> {
        // SAFETY: a plain syscall; the descriptor is owned from here on.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: a fresh descriptor nothing else owns.
        Ok(Notify {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            armed: AtomicBool::new(true),
            wake: OnceLock::new(),
        })
    }

    /// Makes the descriptor readable. Call after publishing what the
    /// signal is about.
    pub(crate) fn signal(&self) {
        // Both this swap and `clear`'s are read-modify-writes of `armed`:
        // if `clear`'s comes first, this one writes; if this one comes
        // first, `clear`'s acquires it, so the look that follows `clear`
        // sees what was published before this signal.
        if self.armed.swap(false, Ordering::AcqRel) {
            let one: u64 = 1;
            // SAFETY: writes 8 bytes from a valid u64 to our eventfd; a
            // full counter (it never is: `clear` resets it) would only fail.
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
            let mut n: u64 = 0;
            // SAFETY: reads 8 bytes into a valid u64; non-blocking. A
            // signal between the swap and this read may be drained with
            // the earlier one: the caller's look, after this, sees what
            // that signal published.
            unsafe { libc::read(self.fd.as_raw_fd(), (&mut n as *mut u64).cast(), 8) };
        }
    }
}

impl AsRawFd for Notify {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
