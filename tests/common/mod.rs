//! Components and helpers shared by the integration tests.
#![allow(dead_code)]

pub mod keepalive;
pub mod scratch;

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
