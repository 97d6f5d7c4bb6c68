//! Components and helpers shared by the integration tests.
#![allow(dead_code)]

pub mod host;
pub mod http;
pub mod keepalive;
pub mod scratch;
pub mod site;

use evoflow::{component, Flow, Outputs};
use std::sync::mpsc;
use std::time::Duration;

/// A sequence-numbered packet: which stream, which position.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Seq {
    pub stream: u32,
    pub n: u64,
}

/// Emits `count` packets of `stream`, numbered from 0.
pub struct Source {
    pub stream: u32,
    pub next: u64,
    pub count: u64,
}

impl Source {
    pub fn new(stream: u32, count: u64) -> Self {
        Source {
            stream,
            next: 0,
            count,
        }
    }
}

#[component(outputs(out: Seq))]
impl Source {
    #[source]
    fn emit(&mut self, out: &mut Outputs<Self>) -> Flow {
        if self.next == self.count {
            return Flow::Done;
        }
        out.out(Seq {
            stream: self.stream,
            n: self.next,
        });
        self.next += 1;
        Flow::Continue
    }
}

/// Passes packets on unchanged.
#[derive(Default)]
pub struct Relay {
    pub seen: u64,
}

#[component(outputs(out: Seq))]
impl Relay {
    #[input]
    fn inp(&mut self, p: Seq, out: &mut Outputs<Self>) {
        self.seen += 1;
        out.out(p);
    }
}

/// Sends even positions one way, odd ones the other.
#[derive(Default)]
pub struct Split;

#[component(outputs(even: Seq, odd: Seq))]
impl Split {
    #[input]
    fn inp(&mut self, p: Seq, out: &mut Outputs<Self>) {
        if p.n.is_multiple_of(2) {
            out.even(p)
        } else {
            out.odd(p)
        }
    }
}

/// Emits each packet `k` times with sub-positions, then stays silent for
/// packets whose position is divisible by `drop_every` (zero or many per input).
pub struct Burst {
    pub k: u64,
}

#[component(outputs(out: Seq))]
impl Burst {
    #[input]
    fn inp(&mut self, p: Seq, out: &mut Outputs<Self>) {
        for i in 0..self.k {
            out.out(Seq {
                stream: p.stream,
                n: p.n * self.k + i,
            });
        }
    }
}

/// Merges two inputs.
#[derive(Default)]
pub struct Merge;

#[component(outputs(out: Seq))]
impl Merge {
    #[input]
    fn left(&mut self, p: Seq, out: &mut Outputs<Self>) {
        out.out(p);
    }
    #[input]
    fn right(&mut self, p: Seq, out: &mut Outputs<Self>) {
        out.out(p);
    }
}

/// Checks each stream arrives complete and in order, with a given stride
/// (2 for one half of a parity split).
pub struct Check {
    /// Next expected position per stream.
    pub expected: Vec<u64>,
    pub stride: u64,
    pub received: u64,
    pub ended: bool,
}

impl Check {
    pub fn new(streams: usize, first: u64, stride: u64) -> Self {
        Check {
            expected: vec![first; streams],
            stride,
            received: 0,
            ended: false,
        }
    }
}

#[component]
impl Check {
    #[input]
    fn inp(&mut self, p: Seq) {
        let e = &mut self.expected[p.stream as usize];
        assert_eq!(
            p.n, *e,
            "stream {} out of order, lost or duplicated",
            p.stream
        );
        *e += self.stride;
        self.received += 1;
    }
    #[on_end]
    fn end(&mut self) {
        self.ended = true;
    }
}

/// Runs `f` on a thread and fails the test if it takes longer than `limit`:
/// a hang is a failure, not a stuck CI job.
pub fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit).expect("timed out: the graph hung")
}

/// Keeps panics whose message contains `[expected]` out of the test
/// output (tests that make components panic on purpose); others print.
pub fn quiet_expected_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let msg = info
                .payload()
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| info.payload().downcast_ref::<&str>().copied())
                .unwrap_or("");
            if !msg.contains("[expected]") {
                default(info);
            }
        }));
    });
}

/// CPU time, in clock ticks (1/100 s), of this process's threads whose
/// name starts with `prefix` (names are cut to 15 bytes).
pub fn cpu_ticks(prefix: &str) -> u64 {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| {
            let dir = t.ok()?.path();
            let comm = std::fs::read_to_string(dir.join("comm")).ok()?;
            if !comm.starts_with(prefix) {
                return None;
            }
            let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
            // After the parenthesised name, utime and stime are the 12th
            // and 13th fields.
            let f: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
            Some(f[11].parse::<u64>().ok()? + f[12].parse::<u64>().ok()?)
        })
        .sum()
}

/// The process's descriptors, all taken: the limit lowered to what it
/// uses now and a little more, and `/dev/null` opened until nothing more
/// opens. Taken again over 50 ms: threads take descriptors for an instant
/// (`accept4` reserves one even when no connection waits), and one they
/// held when the first pass ran out is free again after. Give them back
/// with [`Exhausted::release`].
pub struct Exhausted {
    held: Vec<std::fs::File>,
    old: libc::rlimit,
}

impl Exhausted {
    pub fn now() -> Self {
        let open = std::fs::read_dir("/proc/self/fd").unwrap().count() as u64;
        let mut old = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: plain syscalls on valid structs.
        unsafe {
            assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut old), 0);
            let limit = libc::rlimit {
                rlim_cur: open + 64,
                rlim_max: old.rlim_max,
            };
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
        }
        let mut held = Vec::new();
        for _ in 0..50 {
            while let Ok(f) = std::fs::File::open("/dev/null") {
                held.push(f);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        Exhausted { held, old }
    }

    /// Closes what was taken and restores the limit.
    pub fn release(self) {
        drop(self.held);
        // SAFETY: a plain syscall on a valid struct.
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &self.old) };
    }
}
