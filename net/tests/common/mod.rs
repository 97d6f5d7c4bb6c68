//! Helpers shared by the arc tests.

pub mod link;

use std::os::fd::AsRawFd;
use std::time::Duration;

/// Waits (as a worker parked on the descriptor would) until `fd` is
/// readable or `limit` passed.
pub fn wait_readable(fd: &impl AsRawFd, limit: Duration) {
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    unsafe { libc::poll(&mut p, 1, limit.as_millis() as i32) };
}
