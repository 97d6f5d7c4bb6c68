//! End of stream, stop, panics and idle sources.

mod common;

use common::*;
use evoflow::{component, graph, Flow, Outputs, RunError, Stopper};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

/// Panics on packet `at`.
struct Fragile {
    at: u64,
}

#[component(outputs(out: Seq))]
impl Fragile {
    #[input]
    fn inp(&mut self, p: Seq, out: &mut Outputs<Self>) {
        if p.n == self.at {
            panic!("packet {} is cursed", p.n);
        }
        out.out(p);
    }
}

/// Emits forever; counts what it emitted.
struct Endless {
    next: u64,
    emitted: Arc<AtomicU64>,
}

#[component(outputs(out: Seq))]
impl Endless {
    #[source]
    fn emit(&mut self, out: &mut Outputs<Self>) -> Flow {
        out.out(Seq {
            stream: 0,
            n: self.next,
        });
        self.next += 1;
        self.emitted.store(self.next, Ordering::Relaxed);
        Flow::Continue
    }
}

/// Emits one packet every few calls, idle in between, like a socket source.
struct Trickle {
    calls: u64,
    next: u64,
}

#[component(outputs(out: Seq))]
impl Trickle {
    #[source]
    fn emit(&mut self, out: &mut Outputs<Self>) -> Flow {
        self.calls += 1;
        if !self.calls.is_multiple_of(3) {
            return Flow::Idle;
        }
        out.out(Seq {
            stream: 0,
            n: self.next,
        });
        self.next += 1;
        Flow::Continue
    }
}

#[test]
fn a_panic_names_the_instance_and_stops_every_worker() {
    let err = within(LIMIT, || {
        graph! {
            workers = 2;
            capacity = 4;
            src: Source = Source::new(0, 10_000_000);
            relay: Relay;
            #[worker(1)]
            fragile: Fragile = Fragile { at: 12_345 };
            check: Check = Check::new(1, 0, 1);
            src.out -> relay.inp;
            relay.out -> fragile.inp;
            fragile.out -> check.inp;
        }
        .run_to_end()
        .err()
        .expect("the run must fail")
    });
    match err {
        RunError::Panicked(p) => {
            assert_eq!(p.instance, "fragile");
            assert_eq!(p.message, "packet 12345 is cursed");
        }
        other => panic!("unexpected error {other}"),
    }
}

#[test]
fn stop_drains_everything_already_emitted() {
    let emitted = Arc::new(AtomicU64::new(0));
    let e = emitted.clone();
    let mut report = within(LIMIT, move || {
        let running = graph! {
            workers = 2;
            capacity = 16;
            src: Endless = Endless { next: 0, emitted: e };
            a: Relay;
            b: Relay;
            check: Check = Check::new(1, 0, 1);
            src.out -> a.inp;
            a.out -> b.inp;
            b.out -> check.inp;
        }
        .run()
        .unwrap();
        std::thread::sleep(Duration::from_millis(50));
        running.stop();
        running.join().unwrap()
    });
    let check = report.take::<Check>("check").unwrap();
    assert!(check.ended);
    assert!(check.received > 0);
    assert_eq!(check.received, emitted.load(Ordering::Relaxed));
}

/// Stops its own graph at call `at`, and goes on emitting if called again.
struct SelfStopping {
    calls: u64,
    at: u64,
    stopper: Arc<OnceLock<Stopper>>,
}

#[component(outputs(out: Seq))]
impl SelfStopping {
    #[source]
    fn emit(&mut self, out: &mut Outputs<Self>) -> Flow {
        if self.calls == self.at {
            match self.stopper.get() {
                Some(s) => s.stop(),
                // Not handed over yet: stop at a later call.
                None => self.at += 1,
            }
        }
        out.out(Seq {
            stream: 0,
            n: self.calls,
        });
        self.calls += 1;
        Flow::Continue
    }
}

/// `Running::stop` promises a source is called at most 16 more times once
/// its worker is in a run of calls (the stop flag is read every 16 calls).
#[test]
fn a_source_is_called_at_most_16_times_after_a_stop() {
    for at in [0, 1, 15, 16, 17, 1000, 4097] {
        let stopper = Arc::new(OnceLock::new());
        let s = stopper.clone();
        let mut report = within(LIMIT, move || {
            let running = graph! {
                capacity = 8192;
                src: SelfStopping = SelfStopping { calls: 0, at, stopper: s };
                check: Check = Check::new(1, 0, 1);
                src.out -> check.inp;
            }
            .run()
            .unwrap();
            let _ = stopper.set(running.stopper());
            running.join().unwrap()
        });
        let src = report.take::<SelfStopping>("src").unwrap();
        let check = report.take::<Check>("check").unwrap();
        assert!(check.ended);
        assert_eq!(check.received, src.calls, "everything emitted drained");
        let after = src.calls - src.at - 1;
        assert!(
            after <= 16,
            "stop at call {}: {after} calls after it",
            src.at
        );
    }
}

/// Dropping the handle without `join` stops the graph (sources are not
/// called again, what they emitted drains): nothing keeps running unseen.
#[test]
fn dropping_the_handle_stops_the_graph() {
    let emitted = Arc::new(AtomicU64::new(0));
    let e = emitted.clone();
    within(LIMIT, move || {
        let running = graph! {
            workers = 2;
            capacity = 16;
            src: Endless = Endless { next: 0, emitted: e };
            a: Relay;
            check: Check = Check::new(1, 0, 1);
            src.out -> a.inp;
            a.out -> check.inp;
        }
        .run()
        .unwrap();
        while emitted.load(Ordering::Relaxed) == 0 {
            std::thread::yield_now();
        }
        drop(running);
        // The drop does not wait: the source may be in its last call.
        std::thread::sleep(Duration::from_millis(50));
        let after = emitted.load(Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(
            emitted.load(Ordering::Relaxed),
            after,
            "the source kept running after its graph's handle was dropped"
        );
    });
}

#[test]
fn idle_sources_are_polled_and_can_be_stopped() {
    let mut report = within(LIMIT, || {
        let running = graph! {
            workers = 2;
            src: Trickle = Trickle { calls: 0, next: 0 };
            check: Check = Check::new(1, 0, 1);
            src.out -> check.inp;
        }
        .run()
        .unwrap();
        std::thread::sleep(Duration::from_millis(100));
        running.stop();
        running.join().unwrap()
    });
    let check = report.take::<Check>("check").unwrap();
    assert!(
        check.received > 10,
        "an idle source must be polled again ({} packets)",
        check.received
    );
}

#[test]
fn a_finished_graph_reports_every_instance() {
    let mut report =
        graph! { src: Source = Source::new(0, 10); check: Check = Check::new(1, 0, 1); src.out -> check.inp; }
            .run_to_end()
            .unwrap();
    assert!(
        report.take::<Relay>("check").is_none(),
        "wrong type gives None"
    );
    assert_eq!(report.take::<Source>("src").unwrap().next, 10);
    assert_eq!(report.take::<Check>("check").unwrap().received, 10);
    assert!(report.take::<Check>("check").is_none(), "taken once");
}

/// Holds packets back and releases them from its `#[poll]` method, one per
/// call, like a component that writes to sockets as they become ready.
#[derive(Default)]
struct Trickler {
    held: std::collections::VecDeque<Seq>,
    calls: u64,
}

#[component(outputs(out: Seq))]
impl Trickler {
    #[input]
    fn inp(&mut self, p: Seq) {
        self.held.push_back(p);
    }

    #[poll]
    fn release(&mut self, out: &mut Outputs<Self>) -> Flow {
        self.calls += 1;
        match self.held.pop_front() {
            Some(p) if self.calls.is_multiple_of(2) => {
                out.out(p);
                Flow::Continue
            }
            Some(p) => {
                self.held.push_front(p);
                Flow::Idle
            }
            None => Flow::Done,
        }
    }
}

#[test]
fn a_polling_operator_drains_before_the_graph_ends() {
    let mut report = within(LIMIT, || {
        graph! {
            workers = 2;
            capacity = 4;
            src: Source = Source::new(0, 20_000);
            t: Trickler;
            check: Check = Check::new(1, 0, 1);
            src.out -> t.inp;
            t.out -> check.inp;
        }
        .run_to_end()
        .unwrap()
    });
    assert_eq!(report.take::<Check>("check").unwrap().received, 20_000);
    assert!(report.take::<Trickler>("t").unwrap().held.is_empty());
}
