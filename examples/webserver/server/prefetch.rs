//! Keeps `sendfile` on `reply`'s worker from waiting for a disk.
//!
//! `sendfile` of pages that are not in the page cache blocks its caller
//! until they are read: a cold 1 GiB download measured calls of up to
//! 50 ms, and every other connection on the worker waited through each.
//! So before a range is sent, [`cached`] asks the kernel (`cachestat`)
//! whether all of it is in memory; if not, a prefetch thread reads it in
//! (`readahead`) while the connection waits and the worker serves the
//! others ([`ReadAhead`]: a window at a time, the next one read in while
//! the one before is sent).

use std::fs::File;
use std::os::fd::AsRawFd as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, OnceLock};

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
    /// the page cache. `None` if no thread could be started (the range is
    /// then sent from the worker, as before).
    fn start(file: Arc<File>, off: u64, len: u64) -> Option<Fetch> {
        let done = Arc::new(AtomicBool::new(false));
        let job = Job {
            file,
            off,
            len,
            done: done.clone(),
        };
        pool()?.send(job).ok()?;
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

/// The prefetch threads' queue, started on first use.
fn pool() -> Option<Sender<Job>> {
    static POOL: OnceLock<Option<Mutex<Sender<Job>>>> = OnceLock::new();
    let pool = POOL.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let mut started = 0;
        for i in 0..THREADS {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("prefetch-{i}"))
                .spawn(move || read_in(&rx));
            started += usize::from(spawned.is_ok());
        }
        (started > 0).then(|| Mutex::new(tx))
    });
    let tx = pool.as_ref()?;
    Some(tx.lock().unwrap_or_else(|e| e.into_inner()).clone())
}

/// A prefetch thread: reads each range in, then marks it done.
fn read_in(jobs: &Mutex<Receiver<Job>>) {
    loop {
        let job = match jobs.lock().unwrap_or_else(|e| e.into_inner()).recv() {
            Ok(job) => job,
            Err(_) => return,
        };
        // SAFETY: the descriptor is held open by `job.file`; `readahead`
        // only fills the page cache (it returns once the pages are read).
        unsafe {
            libc::readahead(
                job.file.as_raw_fd(),
                job.off as libc::off64_t,
                job.len as usize,
            )
        };
        job.done.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    // Imports in the tests: the benchmark compiles this module with
    // `cfg(test)` but without its tests.

    /// A fresh sparse file of `windows` windows, unlinked, and the time
    /// limit for a test on it.
    fn fresh(name: &str, windows: u64) -> (std::sync::Arc<std::fs::File>, std::time::Instant) {
        let path = std::env::temp_dir().join(format!("evoflow-{name}-{}", std::process::id()));
        let file = std::fs::File::create(&path).unwrap();
        file.set_len(windows * super::WINDOW).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        (std::sync::Arc::new(file), std::time::Instant::now())
    }

    #[test]
    fn a_fetch_reads_its_range_into_the_page_cache() {
        use super::*;
        let (file, t) = fresh("fetch", 4);
        let Some(before) = cached(&file, 0, WINDOW) else {
            eprintln!("skipped: this kernel has no cachestat (Linux 6.5)");
            return;
        };
        assert!(
            !before,
            "nothing of a fresh sparse file is in the page cache"
        );
        let fetch = Fetch::start(file.clone(), 0, WINDOW).unwrap();
        while !fetch.done() {
            assert!(t.elapsed() < std::time::Duration::from_secs(10));
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert_eq!(cached(&file, 0, WINDOW), Some(true));
        assert_eq!(cached(&file, WINDOW, WINDOW), Some(false));
    }

    /// What `reply` may send is in memory at that moment, window after
    /// window; the next window is read in while one is sent.
    #[test]
    fn only_what_is_in_memory_is_sendable() {
        use super::*;
        let (file, t) = fresh("sendable", 16);
        if cached(&file, 0, WINDOW).is_none() {
            eprintln!("skipped: this kernel has no cachestat (Linux 6.5)");
            return;
        }
        let (len, burst) = (16 * WINDOW, WINDOW / 8 + 1000);
        let (mut ahead, mut pos, mut waits) = (ReadAhead::default(), 0, 0);
        while pos < len {
            assert!(
                t.elapsed() < std::time::Duration::from_secs(20),
                "stuck at {pos}"
            );
            let count = burst.min(len - pos);
            match ahead.sendable(&file, pos, len - pos, count) {
                None => {
                    waits += 1;
                    std::thread::sleep(std::time::Duration::from_micros(100));
                }
                Some(n) => {
                    assert!(n > 0 && n <= count);
                    assert_eq!(cached(&file, pos, n), Some(true), "{n} bytes from {pos}");
                    // A burst never runs past a window read in.
                    assert!(
                        pos / WINDOW == (pos + n - 1) / WINDOW,
                        "{n} bytes from {pos}"
                    );
                    pos += n;
                }
            }
        }
        assert!(waits > 0, "a fresh file is read in before it is sent");
    }
}
