//! Wakes a parked worker when a file descriptor one of its instances waits
//! on becomes readable (`Flow::Wait`), so that sources and pollers waiting
//! for I/O cost nothing while idle instead of being polled.
//!
//! One epoll set per running graph, watched by a thread. Both are made
//! when the graph starts, not at the first wait: a process that has run
//! out of descriptors by then (a server under load) must still be able to
//! wait, rather than fall back to polling. Each wait is armed one-shot and
//! level-triggered just before the worker parks: a descriptor that is
//! already readable fires at once, so readiness that came between the
//! instance's last look and the park is never slept through; the next
//! park arms it again.

use crate::channel::wake::Waker;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::thread::JoinHandle;

/// Marks the stop event among the epoll events (workers are numbered).
const STOP: u64 = u64::MAX;

/// The epoll set of a running graph and the thread that watches it.
pub(crate) struct Readiness {
    epoll: Arc<OwnedFd>,
    stop: OwnedFd,
    thread: Option<JoinHandle<()>>,
}

fn check(rc: libc::c_int) -> std::io::Result<libc::c_int> {
    if rc < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

fn ctl(epoll: RawFd, op: libc::c_int, fd: RawFd, events: u32, data: u64) -> std::io::Result<()> {
    let mut ev = libc::epoll_event { events, u64: data };
    // SAFETY: `ev` is a valid epoll_event for the duration of the call;
    // the kernel checks the descriptors.
    check(unsafe { libc::epoll_ctl(epoll, op, fd, &mut ev) }).map(drop)
}

impl Readiness {
    /// Makes the epoll set and starts its watcher, which wakes
    /// `wakers[i]` for an event armed by worker `i`.
    pub(crate) fn start(wakers: Vec<Arc<Waker>>) -> std::io::Result<Self> {
        // SAFETY: plain syscalls; each descriptor is owned from here on
        // (the first is closed if the second fails).
        let epoll =
            unsafe { OwnedFd::from_raw_fd(check(libc::epoll_create1(libc::EPOLL_CLOEXEC))?) };
        // SAFETY: as above.
        let stop = unsafe {
            OwnedFd::from_raw_fd(check(libc::eventfd(
                0,
                libc::EFD_CLOEXEC | libc::EFD_NONBLOCK,
            ))?)
        };
        ctl(
            epoll.as_raw_fd(),
            libc::EPOLL_CTL_ADD,
            stop.as_raw_fd(),
            libc::EPOLLIN as u32,
            STOP,
        )?;
        let epoll = Arc::new(epoll);
        let set = epoll.clone();
        let thread = std::thread::Builder::new()
            .name("evoflow-readiness".into())
            .spawn(move || watch(&set, &wakers))?;
        Ok(Readiness {
            epoll,
            stop,
            thread: Some(thread),
        })
    }

    /// Wakes `worker` once `fd` is readable (now, or later).
    pub(crate) fn arm(&self, fd: RawFd, worker: usize) -> std::io::Result<()> {
        let epoll = self.epoll.as_raw_fd();
        let events = (libc::EPOLLIN | libc::EPOLLONESHOT) as u32;
        match ctl(epoll, libc::EPOLL_CTL_MOD, fd, events, worker as u64) {
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                ctl(epoll, libc::EPOLL_CTL_ADD, fd, events, worker as u64)
            }
            other => other,
        }
    }
}

/// Wakes the worker of each readiness event until the stop event.
fn watch(epoll: &OwnedFd, wakers: &[Arc<Waker>]) {
    let mut events = [libc::epoll_event { events: 0, u64: 0 }; 64];
    loop {
        // SAFETY: `events` is valid for 64 entries.
        let n = unsafe { libc::epoll_wait(epoll.as_raw_fd(), events.as_mut_ptr(), 64, -1) };
        if n < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        for e in &events[..n as usize] {
            match e.u64 {
                STOP => return,
                worker => {
                    if let Some(w) = wakers.get(worker as usize) {
                        w.force();
                    }
                }
            }
        }
    }
}

impl Drop for Readiness {
    fn drop(&mut self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a valid u64 to the eventfd.
        unsafe { libc::write(self.stop.as_raw_fd(), (&one as *const u64).cast(), 8) };
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
