//! A descriptor that becomes readable when there is something for a
//! worker to do (packets arrived, credits came back, the peer failed), so
//! an instance can `Flow::readable` on it instead of polling.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::OnceLock;

/// An eventfd, and whom else to tell (the worker that owns the end,
/// when the runtime drives it rather than a component waiting on the
/// descriptor).
pub(crate) struct Notify {
    fd: OwnedFd,
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
            wake: OnceLock::new(),
        })
    }

    /// Makes the descriptor readable.
    pub(crate) fn signal(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a valid u64 to our eventfd; a full
        // counter (it never is: `clear` resets it) would only fail.
        unsafe { libc::write(self.fd.as_raw_fd(), (&one as *const u64).cast(), 8) };
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
