//! Keeps `sendfile` on `reply`'s worker from waiting for a disk.
//!
//! `sendfile` of pages that are not in the page cache blocks its caller
//! until they are read: a cold 1 GiB download measured calls of up to
//! 50 ms, and every other connection on the worker waited through each.
//! So before a range is sent, [`cached`] asks the kernel (`cachestat`)
//! whether all of it is in memory; if not, a prefetch thread reads it in
//! while the connection waits and the worker serves the others
//! ([`ReadAhead`]: a window at a time, the next one read in while the one
//! before is sent). [`read_now`] is the same question for a small file
//! read whole: a read that fails rather than wait.

use crossbeam_channel::{Receiver, Sender};
use std::fs::File;
use std::os::fd::AsRawFd as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

/// Bytes read in per fetch: several bursts of `reply`, so a cold download
/// waits once per window rather than once per burst.
pub const WINDOW: u64 = 2 * 1024 * 1024;

/// Threads reading files in: a few, so one slow disk read does not hold
/// up another connection's.
const THREADS: usize = 2;

/// True if all of `len` bytes of `file` from `off` are in the page cache;
/// `None` if the kernel cannot say (`cachestat` came with Linux 6.5):
/// then the range is sent as before, from the worker.
pub fn cached(file: &File, off: u64, len: u64) -> Option<bool> {
    use linux_raw_sys::general::{__NR_cachestat, cachestat, cachestat_range};
    if len == 0 {
        return Some(true);
    }
    let range = cachestat_range { off, len };
    let mut stat = cachestat {
        nr_cache: 0,
        nr_dirty: 0,
        nr_writeback: 0,
        nr_evicted: 0,
        nr_recently_evicted: 0,
    };
    // SAFETY: `cachestat(fd, range, stat, flags)` reads `range` and writes
    // `stat`, both live and of the kernel's layout (linux-raw-sys), for
    // the length of the call; the descriptor is borrowed open.
    let r = unsafe {
        libc::syscall(
            libc::c_long::from(__NR_cachestat as i32),
            file.as_raw_fd(),
            &range as *const cachestat_range,
            &mut stat as *mut cachestat,
            0u32,
        )
    };
    if r != 0 {
        return None;
    }
    let page = page_size();
    let pages = (off + len).div_ceil(page) - off / page;
    Some(stat.nr_cache >= pages)
}

/// `pread` that does not wait for the disk (`RWF_NOWAIT`): `WouldBlock`
/// if the first page asked for is not in the page cache (or is still being
/// read), a short read if a later one is not; `EOPNOTSUPP` on a file
/// system that cannot tell.
pub fn read_now(file: &File, buf: &mut [u8], at: u64) -> std::io::Result<usize> {
    let iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: `iov` describes `buf`, live and writable for the call; the
    // descriptor is borrowed open.
    let n = unsafe {
        libc::preadv2(
            file.as_raw_fd(),
            &iov,
            1,
            at as libc::off_t,
            libc::RWF_NOWAIT,
        )
    };
    match n {
        n if n >= 0 => Ok(n as usize),
        _ => Err(std::io::Error::last_os_error()),
    }
}

/// A file holding `data` on disk and not in the page cache (as far as the
/// file system lets it go), opened and already unlinked: what the tests of
/// reads that must not wait for the disk read from.
#[cfg(test)]
pub fn evicted(name: &str, data: &[u8]) -> Arc<File> {
    let path = std::env::temp_dir().join(format!("evoflow-{name}-{}", std::process::id()));
    std::fs::write(&path, data).unwrap();
    let file = File::open(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    file.sync_all().unwrap();
    // SAFETY: a plain advice call on a descriptor held open.
    unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    Arc::new(file)
}

fn page_size() -> u64 {
    static PAGE: OnceLock<u64> = OnceLock::new();
    // SAFETY: sysconf reads a constant of the system.
    *PAGE.get_or_init(|| match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
        n if n > 0 => n as u64,
        _ => 4096,
    })
}

/// Reads one response's file in ahead of `sendfile`: a window at a time,
/// the next one while the one before is sent.
#[derive(Default)]
pub struct ReadAhead {
    now: Option<Fetch>,
    ahead: Option<Fetch>,
}

impl ReadAhead {
    /// How much of the `count` bytes of `file` from `pos` may be sent now
    /// (`left`: the bytes of the body from `pos`); `None`: wait, they are
    /// being read in.
    pub fn sendable(&mut self, file: &Arc<File>, pos: u64, left: u64, count: u64) -> Option<u64> {
        let stop = pos + left;
        loop {
            match &self.now {
                Some(f) if pos < f.end => {
                    if !f.done() {
                        return None;
                    }
                    if self.ahead.is_none() && f.end < stop {
                        self.ahead = Fetch::start(file.clone(), f.end, (stop - f.end).min(WINDOW));
                    }
                    // Read in: sent without asking again (even if pages
                    // went meanwhile: a connection never waits twice for
                    // one window).
                    return Some(count.min(f.end - pos));
                }
                Some(_) => self.now = self.ahead.take(),
                None => {
                    if cached(file, pos, count) != Some(false) {
                        return Some(count);
                    }
                    self.now = Fetch::start(file.clone(), pos, left.min(WINDOW));
                    if self.now.is_none() {
                        // No prefetch thread: sent from the worker, as before.
                        return Some(count);
                    }
                }
            }
        }
    }
}

/// A range being read in for a connection.
struct Fetch {
    done: Arc<AtomicBool>,
    /// Where the range ends.
    end: u64,
}

struct Job {
    file: Arc<File>,
    off: u64,
    len: u64,
    done: Arc<AtomicBool>,
}

impl Fetch {
    /// Has a prefetch thread read `len` bytes of `file` from `off` into
    /// the page cache. `None` if no thread could be started or [`QUEUE`]
    /// ranges wait already (the range is then sent from the worker, as
    /// before).
    fn start(file: Arc<File>, off: u64, len: u64) -> Option<Fetch> {
        let done = Arc::new(AtomicBool::new(false));
        let job = Job {
            file,
            off,
            len,
            done: done.clone(),
        };
        let pool = pool()?;
        // A small file's whole body goes ahead of large files' windows,
        // which would otherwise hold it up behind megabytes of reads.
        let queue = if len <= SMALL {
            &pool.small
        } else {
            &pool.large
        };
        queue.try_send(job).ok()?;
        Some(Fetch {
            done,
            end: off + len,
        })
    }

    /// The range is read in (or the read failed: `sendfile` reports that).
    fn done(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }
}

/// Ranges waiting for a prefetch thread, at most, per queue: past that
/// (a flood of cold requests, a stuck file system) ranges are sent from
/// the worker as before, rather than piling up with their open files.
const QUEUE: usize = 64;

/// Ranges up to this long are read before longer ones.
const SMALL: u64 = 256 * 1024;

/// The prefetch threads' queues: small ranges first.
struct Pool {
    small: Sender<Job>,
    large: Sender<Job>,
}

/// The prefetch threads, started on first use.
fn pool() -> Option<&'static Pool> {
    static POOL: OnceLock<Option<Pool>> = OnceLock::new();
    POOL.get_or_init(|| {
        let (small, small_jobs) = crossbeam_channel::bounded::<Job>(QUEUE);
        let (large, large_jobs) = crossbeam_channel::bounded::<Job>(QUEUE);
        let mut started = 0;
        for i in 0..THREADS {
            let jobs = (small_jobs.clone(), large_jobs.clone());
            let spawned = std::thread::Builder::new()
                .name(format!("prefetch-{i}"))
                .spawn(move || read_in(&jobs.0, &jobs.1));
            started += usize::from(spawned.is_ok());
        }
        (started > 0).then_some(Pool { small, large })
    })
    .as_ref()
}

/// Bytes a prefetch thread reads at a time.
const CHUNK: usize = 256 * 1024;

/// A prefetch thread: reads each range in, then marks it done. It reads
/// the bytes (into a scratch buffer) rather than asking for `readahead`,
/// which returns before the pages are filled and reads at most the
/// device's read-ahead size.
fn read_in(small: &Receiver<Job>, large: &Receiver<Job>) {
    use std::os::unix::fs::FileExt as _;
    let mut scratch = vec![0u8; CHUNK];
    loop {
        let job = crossbeam_channel::select_biased! {
            recv(small) -> job => job,
            recv(large) -> job => job,
        };
        // The senders live in a static: never disconnected.
        let Ok(job) = job else { return };
        // Its connection is gone: nobody waits for it.
        if Arc::strong_count(&job.done) == 1 {
            continue;
        }
        let (mut at, end) = (job.off, job.off + job.len);
        while at < end {
            let n = scratch.len().min((end - at) as usize);
            match job.file.read_at(&mut scratch[..n], at) {
                Ok(0) => break,
                Ok(n) => at += n as u64,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                // `sendfile` meets the same error and fails the response.
                Err(_) => break,
            }
        }
        job.done.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    // Imports in the tests: the benchmark compiles this module with
    // `cfg(test)` but without its tests.

    /// A file of `windows` windows of data on disk, not in the page cache
    /// (`None`, with the reason printed, where that cannot be had: no
    /// `cachestat`, or a file system that keeps files in memory).
    fn cold(name: &str, windows: u64) -> Option<std::sync::Arc<std::fs::File>> {
        let len = windows * super::WINDOW;
        let file = super::evicted(name, &vec![7u8; len as usize]);
        match super::cached(&file, 0, len) {
            None => eprintln!("skipped: this kernel has no cachestat (Linux 6.5)"),
            Some(true) => eprintln!("skipped: this file system keeps the file in memory"),
            Some(false) => return Some(file),
        }
        None
    }

    /// True if all `len` bytes of `file` from `off` can be read without
    /// waiting: in memory and filled, which `cachestat` does not tell
    /// apart from pages still being read.
    fn filled(file: &std::fs::File, off: u64, len: u64) -> bool {
        let mut buf = vec![0u8; len as usize];
        let mut got = 0;
        while got < buf.len() {
            match super::read_now(file, &mut buf[got..], off + got as u64) {
                Ok(n) if n > 0 => got += n,
                _ => return false,
            }
        }
        true
    }

    fn limit(t: std::time::Instant) {
        assert!(t.elapsed() < std::time::Duration::from_secs(20), "stuck");
        std::thread::sleep(std::time::Duration::from_micros(100));
    }

    #[test]
    fn a_fetch_reads_its_whole_range_into_the_page_cache_before_it_is_done() {
        use super::*;
        let Some(file) = cold("fetch", 1) else { return };
        let (fetch, t) = (
            Fetch::start(file.clone(), 0, WINDOW).unwrap(),
            std::time::Instant::now(),
        );
        while !fetch.done() {
            limit(t);
        }
        assert!(filled(&file, 0, WINDOW));
    }

    /// What `reply` may send is in memory at that moment, window after
    /// window; the next window is read in while one is sent.
    #[test]
    fn only_what_is_in_memory_is_sendable() {
        use super::*;
        let windows = 6;
        let Some(file) = cold("sendable", windows) else {
            return;
        };
        let (len, burst) = (windows * WINDOW, WINDOW / 8 + 1000);
        let (mut ahead, mut pos, mut waits) = (ReadAhead::default(), 0, 0);
        let t = std::time::Instant::now();
        while pos < len {
            let count = burst.min(len - pos);
            match ahead.sendable(&file, pos, len - pos, count) {
                None => {
                    waits += 1;
                    limit(t);
                }
                Some(n) => {
                    assert!(n > 0 && n <= count);
                    assert!(filled(&file, pos, n), "{n} bytes from {pos}");
                    // A burst never runs past a window read in.
                    assert!(
                        pos / WINDOW == (pos + n - 1) / WINDOW,
                        "{n} bytes from {pos}"
                    );
                    pos += n;
                }
            }
        }
        assert!(
            waits > 0,
            "a file not in memory is read in before it is sent"
        );
    }

    /// A small range queued behind large ones is read first.
    #[test]
    fn a_small_range_goes_ahead_of_large_ones() {
        use super::*;
        let (Some(busy), Some(queued), Some(small)) =
            (cold("first", 8), cold("queued", 8), cold("small", 1))
        else {
            return;
        };
        let first: Vec<_> = (0..THREADS as u64)
            .map(|i| Fetch::start(busy.clone(), i * 4 * WINDOW, 4 * WINDOW).unwrap())
            .collect();
        let behind: Vec<_> = (0..2)
            .map(|i| Fetch::start(queued.clone(), i * 4 * WINDOW, 4 * WINDOW).unwrap())
            .collect();
        let (fetch, t) = (
            Fetch::start(small.clone(), 0, 64 * 1024).unwrap(),
            std::time::Instant::now(),
        );
        while !fetch.done() {
            limit(t);
        }
        assert!(
            !behind.iter().any(Fetch::done),
            "a large range queued before it was read first"
        );
        while !(first.iter().chain(&behind)).all(Fetch::done) {
            limit(t);
        }
    }

    /// A fetch whose connection went (its `Fetch` dropped) is not read.
    #[test]
    fn a_dropped_fetch_is_skipped() {
        use super::*;
        let (Some(busy), Some(gone)) = (cold("busy", 8), cold("gone", 1)) else {
            return;
        };
        // Queued behind a long fetch on every thread, then dropped.
        let first: Vec<_> = (0..THREADS as u64)
            .map(|i| Fetch::start(busy.clone(), i * 4 * WINDOW, 4 * WINDOW).unwrap())
            .collect();
        drop(Fetch::start(gone.clone(), 0, WINDOW).unwrap());
        let (last, t) = (
            Fetch::start(busy.clone(), 0, 1).unwrap(),
            std::time::Instant::now(),
        );
        while !(last.done() && first.iter().all(Fetch::done)) {
            limit(t);
        }
        // A thread that took it would have read it by now.
        std::thread::sleep(std::time::Duration::from_millis(500));
        assert_eq!(cached(&gone, 0, WINDOW), Some(false));
    }
}
