//! Live updates never hang and never stop more than they change:
//! coordinated updates whose marker must cross a full ring into a slow
//! consumer (issue #9's reproduction), deadlines, reads during an update,
//! slow migrations, and memory over many updates.

mod common;

use common::*;
use evoflow::{component, graph, Outputs, Update, UpdateError};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Passes packets on; two interchangeable implementations so that every
/// update replaces both ends of the full arc.
#[derive(Default, Serialize, Deserialize)]
struct P1 {
    count: u64,
}
#[component(state, outputs(out: Seq))]
impl P1 {
    #[input]
    fn inp(&mut self, p: Seq, out: &mut Outputs<Self>) {
        self.count += 1;
        out.out(p);
    }
}

#[derive(Default, Serialize, Deserialize)]
struct P2 {
    count: u64,
}
#[component(state, outputs(out: Seq))]
impl P2 {
    #[input]
    fn inp(&mut self, p: Seq, out: &mut Outputs<Self>) {
        self.count += 1;
        out.out(p);
    }
}

/// Busy for ~10 µs per packet: keeps the capacity-1 arc into it full.
fn spin(d: Duration) {
    let t = Instant::now();
    while t.elapsed() < d {
        std::hint::spin_loop();
    }
}

#[derive(Default, Serialize, Deserialize)]
struct Q1 {
    count: u64,
}
#[component(state, outputs(out: Seq))]
impl Q1 {
    #[input]
    fn inp(&mut self, p: Seq, out: &mut Outputs<Self>) {
        self.count += 1;
        spin(Duration::from_micros(10));
        out.out(p);
    }
}

#[derive(Default, Serialize, Deserialize)]
struct Q2 {
    count: u64,
}
#[component(state, outputs(out: Seq))]
impl Q2 {
    #[input]
    fn inp(&mut self, p: Seq, out: &mut Outputs<Self>) {
        self.count += 1;
        spin(Duration::from_micros(10));
        out.out(p);
    }
}

/// `src -> p (worker 0) -> q (worker 1) -> check`, the arc p -> q of
/// capacity 1; 1,500 coordinated replacements of `p` and `q`, each of which
/// must return (and succeed) within a few seconds. Before the fix a worker
/// parked with the marker staged for the full ring, and one update in most
/// runs never returned.
#[test]
fn coordinated_updates_across_a_full_ring_into_a_slow_consumer_never_hang() {
    const UPDATES: usize = 1_500;
    let running = graph! {
        workers = 2;
        capacity = 4;
        #[worker(0)]
        src: Source = Source::new(0, u64::MAX);
        #[worker(0)]
        p: P1;
        #[worker(1)]
        q: Q1;
        #[worker(1)]
        check: Check = Check::new(1, 0, 1);
        src.out -> p.inp;
        #[capacity(1)]
        p.out -> q.inp;
        q.out -> check.inp;
    }
    .run()
    .unwrap();
    let running = std::sync::Arc::new(running);
    let (tx, rx) = mpsc::channel();
    let r = running.clone();
    let updater = std::thread::spawn(move || {
        for i in 0..UPDATES {
            let u = if i % 2 == 0 {
                Update::new().replace::<P2>("p").replace::<Q2>("q")
            } else {
                Update::new().replace::<P1>("p").replace::<Q1>("q")
            };
            let outcome = r.update(u).map(drop).map_err(|e| e.to_string());
            if tx.send((i, outcome)).is_err() {
                return;
            }
        }
    });
    for _ in 0..UPDATES {
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok((_, Ok(()))) => {}
            Ok((i, Err(e))) => panic!("update {i} failed: {e}"),
            Err(_) => {
                running.stop();
                panic!("an update did not return within 10 s: the protocol hung");
            }
        }
    }
    running.stop();
    updater.join().unwrap();
    let running = std::sync::Arc::try_unwrap(running).unwrap_or_else(|_| unreachable!());
    let mut report = running.join().unwrap();
    assert!(report.take::<Check>("check").unwrap().received > 0);
}

/// Relays slowly (5 ms per packet): a marker queued behind the backlog of
/// a 64-packet arc into it takes about 0.3 s to get through, far longer
/// than a short deadline.
#[derive(Default)]
struct Slow;
#[component(outputs(out: Seq))]
impl Slow {
    #[input]
    fn inp(&mut self, p: Seq, out: &mut Outputs<Self>) {
        std::thread::sleep(Duration::from_millis(5));
        out.out(p);
    }
}

/// Checks order like `Check` and counts into a static that a test reads
/// while the graph runs.
struct Tail {
    next: u64,
    delivered: &'static AtomicU64,
}
#[component]
impl Tail {
    #[input]
    fn inp(&mut self, p: Seq) {
        assert_eq!(p.n, self.next, "lost, duplicated or reordered");
        self.next += 1;
        self.delivered.fetch_add(1, Ordering::SeqCst);
    }
}

/// `src -> x -> slow -> y -> tail` on two workers, `x` and `y` stateful.
fn behind_a_slow_relay(delivered: &'static AtomicU64) -> evoflow::Running {
    graph! {
        workers = 2;
        capacity = 64;
        src: Source = Source::new(0, u64::MAX);
        x: P1;
        #[worker(1)]
        slow: Slow;
        #[worker(1)]
        y: Q1;
        #[worker(1)]
        tail: Tail = Tail { next: 0, delivered };
        src.out -> x.inp;
        x.out -> slow.inp;
        slow.out -> y.inp;
        y.out -> tail.inp;
    }
    .run()
    .unwrap()
}

fn versions(running: &evoflow::Running) -> Vec<(String, String)> {
    running
        .instances()
        .into_iter()
        .map(|i| (i.name, i.component))
        .collect()
}

/// A coordinated update whose marker cannot reach `y` before the deadline
/// is aborted everywhere: the caller gets `TimedOut` naming `y`, on time;
/// every instance keeps its version; packets keep flowing in order (the
/// late marker is passed over when it arrives); and the next update, with
/// time enough, succeeds.
#[test]
fn an_update_past_its_deadline_is_aborted_everywhere_and_changes_nothing() {
    static DELIVERED: AtomicU64 = AtomicU64::new(0);
    let running = behind_a_slow_relay(&DELIVERED);
    std::thread::sleep(Duration::from_millis(100));
    let before = versions(&running);
    let t = Instant::now();
    let outcome = running.update(
        Update::new()
            .replace::<P2>("x")
            .replace::<Q2>("y")
            .deadline(Duration::from_millis(50)),
    );
    let took = t.elapsed();
    match outcome {
        Err(UpdateError::TimedOut { unprepared, .. }) => assert_eq!(unprepared, ["y"]),
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(took < Duration::from_millis(500), "returned after {took:?}");
    assert_eq!(versions(&running), before);
    // The stale marker reaches `y` behind the backlog and is passed over;
    // then a single update of `y` goes through.
    std::thread::sleep(Duration::from_millis(800));
    let report = running
        .update(Update::new().replace::<Q2>("y"))
        .expect("a later update succeeds");
    assert_eq!(report.replaced.len(), 1);
    // `slow` hands on a batch (its output's room, 64) every ~0.3 s.
    let before = DELIVERED.load(Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(1000));
    let flowed = DELIVERED.load(Ordering::SeqCst) - before;
    assert!(
        flowed > 20,
        "only {flowed} packets in 1 s after the updates"
    );
    running.stop();
    let mut report = running.join().unwrap();
    let tail = report.take::<Tail>("tail").unwrap();
    let y = report.take::<Q2>("y").expect("y runs the new version");
    assert_eq!(y.count, tail.next, "y's count was migrated");
}

/// While an update waits for its marker, reading the graph does not wait
/// for it: `instances()` and `schedule()` answer at once.
#[test]
fn reading_the_graph_never_waits_for_an_update_in_progress() {
    static DELIVERED: AtomicU64 = AtomicU64::new(0);
    let running = std::sync::Arc::new(behind_a_slow_relay(&DELIVERED));
    std::thread::sleep(Duration::from_millis(100));
    let r = running.clone();
    let update = std::thread::spawn(move || {
        r.update(
            Update::new()
                .replace::<P2>("x")
                .replace::<Q2>("y")
                .deadline(Duration::from_secs(3)),
        )
    });
    std::thread::sleep(Duration::from_millis(50));
    assert!(!update.is_finished(), "the update should still be waiting");
    let t = Instant::now();
    for _ in 0..100 {
        assert_eq!(running.instances().len(), 5);
        assert_eq!(running.schedule().sections.len(), 2);
    }
    let took = t.elapsed();
    assert!(!update.is_finished(), "the update should still be waiting");
    assert!(took < Duration::from_millis(200), "reads took {took:?}");
    assert!(update.join().unwrap().is_ok());
    running.stop();
}

/// Version 1 of a component with a large state; `HeavyV2` migrates from it
/// in 300 ms.
#[derive(Default, Serialize, Deserialize)]
struct Heavy {
    count: u64,
    /// ~290 KB exported: above `MIGRATE_OFF_WORKER`, like any state whose
    /// migration is slow because it is large.
    table: Vec<u64>,
}

impl Heavy {
    fn large() -> Self {
        Heavy {
            count: 0,
            table: (0..32_768).map(|i| u64::MAX - i).collect(),
        }
    }
}

#[component(state, outputs(out: Seq))]
impl Heavy {
    #[input]
    fn inp(&mut self, p: Seq, out: &mut Outputs<Self>) {
        self.count += 1;
        out.out(p);
    }
}

static MIGRATING: AtomicBool = AtomicBool::new(false);

#[derive(Default, Serialize, Deserialize)]
struct HeavyV2 {
    count: u64,
}
#[component(version = 2, state, outputs(out: Seq))]
impl HeavyV2 {
    #[input]
    fn inp(&mut self, p: Seq, out: &mut Outputs<Self>) {
        self.count += 1;
        out.out(p);
    }
    #[migrate(from = 1)]
    fn from_v1(old: HeavyCount) -> Self {
        MIGRATING.store(true, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(300));
        MIGRATING.store(false, Ordering::SeqCst);
        HeavyV2 { count: old.count }
    }
}

#[derive(Deserialize)]
struct HeavyCount {
    count: u64,
}

static FLOWED: AtomicU64 = AtomicU64::new(0);

/// Counts what reaches it in a static, readable while the graph runs.
#[derive(Default)]
struct Tally;
#[component]
impl Tally {
    #[input]
    fn inp(&mut self, _: Seq) {
        FLOWED.fetch_add(1, Ordering::SeqCst);
    }
}

/// A slow migration pauses only the instance being replaced: an unrelated
/// pipeline on the same (single) worker keeps flowing meanwhile.
#[test]
fn a_slow_migration_does_not_stop_its_worker() {
    let running = graph! {
        workers = 1;
        capacity = 8;
        src: Source = Source::new(0, u64::MAX);
        heavy: Heavy = Heavy::large();
        check: Check = Check::new(1, 0, 1);
        other: Source = Source::new(1, u64::MAX);
        relay: Relay;
        tally: Tally;
        src.out -> heavy.inp;
        heavy.out -> check.inp;
        other.out -> relay.inp;
        relay.out -> tally.inp;
    }
    .run()
    .unwrap();
    let running = std::sync::Arc::new(running);
    let r = running.clone();
    let update = std::thread::spawn(move || r.update(Update::new().replace::<HeavyV2>("heavy")));
    while !MIGRATING.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_micros(100));
    }
    let at_start = FLOWED.load(Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        MIGRATING.load(Ordering::SeqCst),
        "the migration takes 300 ms"
    );
    let during = FLOWED.load(Ordering::SeqCst) - at_start;
    assert!(
        during > 1_000,
        "only {during} packets flowed on the worker during the migration"
    );
    update.join().unwrap().expect("the update succeeds");
    running.stop();
    updater_free(running);
}

fn updater_free(running: std::sync::Arc<evoflow::Running>) {
    let running = std::sync::Arc::try_unwrap(running).unwrap_or_else(|_| unreachable!());
    let mut report = running.join().unwrap();
    let check = report.take::<Check>("check").unwrap();
    let heavy = report.take::<HeavyV2>("heavy").expect("heavy was replaced");
    assert_eq!(heavy.count, check.received, "the count was migrated");
}

/// Version 2 of `Heavy` whose migration takes 1.5 s: abandoned at a short
/// deadline.
#[derive(Default, Serialize, Deserialize)]
struct Stuck {
    count: u64,
}
#[component(version = 2, state, outputs(out: Seq))]
impl Stuck {
    #[input]
    fn inp(&mut self, p: Seq, out: &mut Outputs<Self>) {
        self.count += 1;
        out.out(p);
    }
    #[migrate(from = 1)]
    fn from_v1(old: HeavyCount) -> Self {
        std::thread::sleep(Duration::from_millis(1500));
        Stuck { count: old.count }
    }
}

/// A migration abandoned at its deadline must not hold up the migration of
/// an unrelated instance (other pipeline, other worker) in the next update.
#[test]
fn an_abandoned_slow_migration_does_not_time_out_an_unrelated_update() {
    let running = graph! {
        workers = 2;
        capacity = 8;
        #[worker(0)]
        a_src: Source = Source::new(0, u64::MAX);
        #[worker(0)]
        heavy: Heavy = Heavy::large();
        #[worker(0)]
        a_check: Check = Check::new(1, 0, 1);
        #[worker(1)]
        b_src: Source = Source::new(1, u64::MAX);
        #[worker(1)]
        light: P1;
        #[worker(1)]
        b_check: Check = Check::new(2, 0, 1);
        a_src.out -> heavy.inp;
        heavy.out -> a_check.inp;
        b_src.out -> light.inp;
        light.out -> b_check.inp;
    }
    .run()
    .unwrap();
    std::thread::sleep(Duration::from_millis(50));
    match running.update(
        Update::new()
            .replace::<Stuck>("heavy")
            .deadline(Duration::from_millis(100)),
    ) {
        Err(UpdateError::TimedOut { unprepared, .. }) => assert_eq!(unprepared, ["heavy"]),
        other => panic!("expected a timeout, got {other:?}"),
    }
    let t = Instant::now();
    let outcome = running.update(
        Update::new()
            .replace::<P2>("light")
            .deadline(Duration::from_millis(500)),
    );
    let took = t.elapsed();
    running.stop();
    assert!(
        outcome.is_ok(),
        "an unrelated update failed after {took:?}: {outcome:?}"
    );
}

/// Resident memory of this process, in KiB.
fn rss_kib() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4
}

/// 100,000 updates of one instance: memory stays flat (version history is
/// capped; `instances()` returns the last entries and a count).
#[test]
fn a_hundred_thousand_updates_keep_memory_flat() {
    const UPDATES: u64 = 100_000;
    let running = graph! {
        workers = 1;
        src: Source = Source::new(0, u64::MAX);
        p: P1;
        check: Check = Check::new(1, 0, 1);
        src.out -> p.inp;
        p.out -> check.inp;
    }
    .run()
    .unwrap();
    let mut samples = Vec::new();
    for i in 0..UPDATES {
        let u = if i % 2 == 0 {
            Update::new().replace::<P2>("p")
        } else {
            Update::new().replace::<P1>("p")
        };
        running.update(u).expect("update");
        if i % 10_000 == 9_999 {
            samples.push(rss_kib());
        }
    }
    let p = &running.instances()[1];
    assert_eq!(p.changes, UPDATES);
    assert_eq!(p.history.len(), evoflow::HISTORY);
    eprintln!("resident memory every 10,000 updates (KiB): {samples:?}");
    // Allocator noise aside, the second half must not grow over the first.
    let (first, last) = (samples[1], samples[samples.len() - 1]);
    assert!(
        last < first + 4 * 1024,
        "resident memory grew from {first} KiB to {last} KiB"
    );
    running.stop();
    running.join().unwrap();
}
