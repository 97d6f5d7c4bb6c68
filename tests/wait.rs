//! `Flow::Wait`: a source or poller that waits for a descriptor or a time
//! parks its worker until then (no polling), and is called again as soon
//! as what it waits for comes.

mod common;

use common::{cpu_ticks, within};
use evoflow::{component, graph, Flow, Outputs};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(30);

/// Emits each byte read from a socket, with when it was read; done at EOF.
struct Bytes {
    socket: UnixStream,
}

#[component(outputs(out: (u8, Instant)))]
impl Bytes {
    #[source]
    fn read(&mut self, out: &mut Outputs<Self>) -> Flow {
        let mut b = [0u8; 1];
        match self.socket.read(&mut b) {
            Ok(0) => Flow::Done,
            Ok(_) => {
                out.out((b[0], Instant::now()));
                Flow::Continue
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => Flow::readable(&self.socket),
            Err(e) => panic!("{e}"),
        }
    }
}

#[derive(Default)]
struct Keep {
    got: Vec<(u8, Instant)>,
}

#[component]
impl Keep {
    #[input]
    fn inp(&mut self, x: (u8, Instant)) {
        self.got.push(x);
    }
}

#[test]
fn a_source_waiting_for_a_descriptor_sleeps_and_wakes_when_it_is_readable() {
    let (mut tx, rx) = UnixStream::pair().unwrap();
    rx.set_nonblocking(true).unwrap();
    let (mut report, sent, ticks) = within(LIMIT, move || {
        let running = graph! {
            name = "wt";
            src: Bytes = Bytes { socket: rx };
            keep: Keep;
            src.out -> keep.inp;
        }
        .run()
        .unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let before = cpu_ticks("evoflow-wt-");
        let mut sent = Vec::new();
        for i in 0..10u8 {
            std::thread::sleep(Duration::from_millis(100));
            sent.push(Instant::now());
            tx.write_all(&[i]).unwrap();
        }
        std::thread::sleep(Duration::from_millis(50));
        let ticks = cpu_ticks("evoflow-wt-") - before;
        drop(tx);
        (running.join().unwrap(), sent, ticks)
    });
    let got = report.take::<Keep>("keep").unwrap().got;
    assert_eq!(
        got.iter().map(|(b, _)| *b).collect::<Vec<_>>(),
        (0..10).collect::<Vec<_>>()
    );
    for ((_, read), sent) in got.iter().zip(&sent) {
        let delay = read.duration_since(*sent);
        assert!(
            delay < Duration::from_millis(20),
            "read {delay:?} after it was sent"
        );
    }
    // Awake for ten bytes over a second: well under 1 % of a core.
    assert!(ticks <= 1, "the waiting worker used {ticks} ticks");
}

/// The consumer on a worker of its own waits for the other worker only:
/// after each byte it yields for a moment (see the runtime's `SPIN_FOR`),
/// then sleeps. Both workers together stay as idle as one.
#[test]
fn a_worker_fed_by_another_sleeps_between_packets() {
    let (mut tx, rx) = UnixStream::pair().unwrap();
    rx.set_nonblocking(true).unwrap();
    let (mut report, ticks) = within(LIMIT, move || {
        let running = graph! {
            name = "w2";
            workers = 2;
            #[worker(0)]
            src: Bytes = Bytes { socket: rx };
            #[worker(1)]
            keep: Keep;
            src.out -> keep.inp;
        }
        .run()
        .unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let before = cpu_ticks("evoflow-w2-");
        for i in 0..10u8 {
            std::thread::sleep(Duration::from_millis(100));
            tx.write_all(&[i]).unwrap();
        }
        std::thread::sleep(Duration::from_millis(50));
        let ticks = cpu_ticks("evoflow-w2-") - before;
        drop(tx);
        (running.join().unwrap(), ticks)
    });
    let got = report.take::<Keep>("keep").unwrap().got;
    assert_eq!(got.len(), 10);
    assert!(ticks <= 1, "the two workers used {ticks} ticks");
}

/// Emits a tick each time its timeout passes, `n` times.
struct Ticker {
    left: u32,
    next: Instant,
}

#[component(outputs(out: (u8, Instant)))]
impl Ticker {
    #[source]
    fn tick(&mut self, out: &mut Outputs<Self>) -> Flow {
        if self.left == 0 {
            return Flow::Done;
        }
        let now = Instant::now();
        if now < self.next {
            return Flow::after(self.next - now);
        }
        out.out((0, now));
        self.left -= 1;
        self.next += Duration::from_millis(20);
        Flow::Continue
    }
}

#[test]
fn a_source_waiting_for_a_time_is_called_when_it_has_passed() {
    let start = Instant::now();
    let mut report = within(LIMIT, move || {
        graph! {
            ticker: Ticker = Ticker { left: 10, next: start + Duration::from_millis(20) };
            keep: Keep;
            ticker.out -> keep.inp;
        }
        .run_to_end()
        .unwrap()
    });
    let got = report.take::<Keep>("keep").unwrap().got;
    assert_eq!(got.len(), 10);
    for (i, (_, at)) in got.iter().enumerate() {
        let due = start + Duration::from_millis(20 * (i as u64 + 1));
        let late = at.duration_since(due);
        assert!(
            late < Duration::from_millis(15),
            "tick {i} came {late:?} late"
        );
    }
}

/// Asks to sleep 20 ms after each call; counts its calls until `end`.
struct Sleepy {
    calls: u32,
    end: Instant,
}

#[component(outputs(out: (u8, Instant)))]
impl Sleepy {
    #[source]
    fn tick(&mut self, _out: &mut Outputs<Self>) -> Flow {
        if Instant::now() >= self.end {
            return Flow::Done;
        }
        self.calls += 1;
        Flow::after(Duration::from_millis(20))
    }
}

/// Emits as fast as it can until `end`: its worker never sleeps.
struct Busy {
    end: Instant,
}

#[component(outputs(out: (u8, Instant)))]
impl Busy {
    #[source]
    fn emit(&mut self, out: &mut Outputs<Self>) -> Flow {
        let now = Instant::now();
        if now >= self.end {
            return Flow::Done;
        }
        out.out((1, now));
        Flow::Continue
    }
}

#[derive(Default)]
struct Drop1;

#[component]
impl Drop1 {
    #[input]
    fn inp(&mut self, _x: (u8, Instant)) {}
}

/// A source that asks to sleep (`Flow::after`) is not called before its
/// time when its worker wakes for another instance: here 0.5 s of 20 ms
/// sleeps beside a busy source on the same worker is about 25 calls (it
/// was called at every step of the worker: 9,210 calls in one run).
#[test]
fn a_sleeping_source_is_not_called_early_when_its_worker_is_busy() {
    let end = Instant::now() + Duration::from_millis(500);
    let mut report = within(LIMIT, move || {
        graph! {
            sleepy: Sleepy = Sleepy { calls: 0, end };
            busy: Busy = Busy { end };
            a: Drop1;
            b: Drop1;
            sleepy.out -> a.inp;
            busy.out -> b.inp;
        }
        .run_to_end()
        .unwrap()
    });
    let calls = report.take::<Sleepy>("sleepy").unwrap().calls;
    assert!(
        (15..=30).contains(&calls),
        "{calls} calls in 0.5 s of 20 ms sleeps"
    );
}
