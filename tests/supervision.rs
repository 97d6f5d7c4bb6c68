//! Supervision: a panic in one instance is absorbed as its supervision
//! says (resume, restart from the constructor or from a snapshot), the
//! packet that made it panic becomes a dead letter, every other packet
//! flows on — and too many panics, or a restart that fails, stop the graph
//! with a report.

mod common;

use common::{within, Check, Relay, Seq, Source};
use evoflow::{component, graph, Flow, Outputs, Recoverable, RunError};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

/// Panics, for tests, are expected: keep them out of the test output.
fn quiet_expected_panics() {
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

impl Recoverable for Seq {}

/// Panics on every packet whose position is a multiple of `every` (but
/// not 0); counts what it handled since it was built.
struct Flaky {
    every: u64,
    handled: u64,
}

impl Flaky {
    fn new(every: u64) -> Self {
        Flaky { every, handled: 0 }
    }
}

#[component(outputs(out: Seq))]
impl Flaky {
    #[input]
    fn inp(&mut self, p: Seq, out: &mut Outputs<Self>) {
        if p.n > 0 && p.n.is_multiple_of(self.every) {
            panic!("packet {} is cursed [expected]", p.n);
        }
        self.handled += 1;
        out.out(p);
    }
}

/// Records the positions it receives.
#[derive(Default)]
struct Collect {
    got: Vec<u64>,
}

#[component]
impl Collect {
    #[input]
    fn inp(&mut self, p: Seq) {
        self.got.push(p.n);
    }
}

/// Positions `0..count` but `dead`, in order: what a sink must get.
fn all_but(count: u64, dead: impl Fn(u64) -> bool) -> Vec<u64> {
    (0..count).filter(|&n| !dead(n)).collect()
}

#[test]
fn resume_drops_only_the_panicking_packets_and_the_rest_of_the_graph_loses_nothing() {
    quiet_expected_panics();
    let (count, every) = (20_000, 1_000);
    let (mut report, letters, total) = within(LIMIT, move || {
        let running = graph! {
            workers = 2;
            capacity = 4;
            a: Source = Source::new(0, count);
            #[on_panic(resume(max = 100, within = 10s))]
            flaky: Flaky = Flaky::new(every);
            sink: Collect;
            b: Source = Source::new(1, count);
            relay: Relay;
            check: Check = Check::new(2, 0, 1);
            a.out -> flaky.inp;
            flaky.out -> sink.inp;
            b.out -> relay.inp;
            relay.out -> check.inp;
        }
        .run()
        .unwrap();
        while !running.is_finished() {
            std::thread::sleep(Duration::from_millis(5));
        }
        let (letters, total) = running.dead_letters();
        (running.join().unwrap(), letters, total)
    });
    let survivors = all_but(count, |n| n > 0 && n.is_multiple_of(every));
    assert_eq!(report.take::<Collect>("sink").unwrap().got, survivors);
    // Resumed: the state survived every panic.
    assert_eq!(
        report.take::<Flaky>("flaky").unwrap().handled,
        survivors.len() as u64
    );
    let check = report.take::<Check>("check").unwrap();
    assert_eq!((check.received, check.ended), (count, true));
    assert_eq!(total, (count - 1) / every);
    let first = &letters[0];
    assert_eq!(
        (
            first.instance.as_str(),
            first.site.as_str(),
            first.outcome.as_str()
        ),
        ("flaky", "input `inp`", "resumed")
    );
    assert_eq!(first.message, "packet 1000 is cursed [expected]");
    assert_eq!(first.packet.as_deref(), Some("Seq { stream: 0, n: 1000 }"));
}

/// Counts what it handled; its constructor numbers its builds.
struct Fragile {
    build: u64,
    handled: u64,
}

impl Fragile {
    fn new(builds: &AtomicU64) -> Self {
        Fragile {
            build: builds.fetch_add(1, Ordering::SeqCst),
            handled: 0,
        }
    }
}

#[component(outputs(out: Seq))]
impl Fragile {
    #[input]
    fn inp(&mut self, p: Seq, out: &mut Outputs<Self>) {
        if p.n == 3_000 || p.n == 7_000 {
            panic!("packet {} is cursed [expected]", p.n);
        }
        self.handled += 1;
        out.out(p);
    }
}

#[test]
fn restart_rebuilds_from_the_constructor_and_keeps_the_queues() {
    quiet_expected_panics();
    let builds = Arc::new(AtomicU64::new(0));
    let b = builds.clone();
    let count = 10_000;
    let mut report = within(LIMIT, move || {
        graph! {
            workers = 2;
            capacity = 2;
            src: Source = Source::new(0, count);
            #[worker(1)]
            #[on_panic(restart(max = 2, within = 10s))]
            fragile: Fragile = Fragile::new(&b);
            sink: Collect;
            src.out -> fragile.inp;
            fragile.out -> sink.inp;
        }
        .run_to_end()
        .unwrap()
    });
    // Built once, restarted twice; the last build handled what followed
    // the second panic.
    assert_eq!(builds.load(Ordering::SeqCst), 3);
    let f = report.take::<Fragile>("fragile").unwrap();
    assert_eq!((f.build, f.handled), (2, count - 7_001));
    assert_eq!(
        report.take::<Collect>("sink").unwrap().got,
        all_but(count, |n| n == 3_000 || n == 7_000)
    );
}
