//! Watched updates: a new version that panics within its update's watch
//! is rolled back on its own, together with every instance the update
//! replaced, through the marker protocol; nothing but the panicking
//! packets is lost, and no packet of a new version meets an old one.

mod common;

use common::{quiet_expected_panics, within, Seq};
use evoflow::{
    component, graph, Flow, Outputs, Recoverable, Refusal, Running, Update, UpdateError,
};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

impl Recoverable for Seq {}

/// A packet stamped by the version of the stage that passed it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
struct Stamped {
    n: u64,
    version: u32,
}

/// Emits `count` positions, pausing now and then so updates land mid-run.
struct Paced {
    next: u64,
    count: u64,
}

#[component(outputs(out: Seq))]
impl Paced {
    #[source]
    fn emit(&mut self, out: &mut Outputs<Self>) -> Flow {
        if self.next == self.count {
            return Flow::Done;
        }
        out.out(Seq {
            stream: 0,
            n: self.next,
        });
        self.next += 1;
        if self.next.is_multiple_of(32) {
            std::thread::sleep(Duration::from_micros(100));
        }
        Flow::Continue
    }
}

/// Version 1 of a stage: counts and stamps.
#[derive(Default)]
struct Stage {
    handled: u64,
}

#[component(outputs(out: Stamped))]
impl Stage {
    #[input]
    fn inp(&mut self, p: Seq, out: &mut Outputs<Self>) {
        self.handled += 1;
        out.out(Stamped { n: p.n, version: 1 });
    }
}

/// Version 2: panics on multiples of 7 from `cursed` on; counts what it
/// handled in `handled`, which outlives it.
struct BadStage {
    cursed: u64,
    handled: &'static AtomicU64,
}

#[component(version = 2, outputs(out: Stamped))]
impl BadStage {
    #[input]
    fn inp(&mut self, p: Seq, out: &mut Outputs<Self>) {
        if p.n >= self.cursed && p.n.is_multiple_of(7) {
            panic!("version 2 cannot take {} [expected]", p.n);
        }
        self.handled.fetch_add(1, Ordering::SeqCst);
        out.out(Stamped { n: p.n, version: 2 });
    }
}

/// Records what it gets; counts packets stamped by a version other than
/// its own (a coordinated update must never let that happen).
#[derive(Default)]
struct Sink {
    got: Vec<u64>,
    version: u32,
    mixed: u64,
}

#[component]
impl Sink {
    #[input]
    fn inp(&mut self, p: Stamped) {
        if self.version != 0 && p.version != self.version {
            self.mixed += 1;
        }
        self.got.push(p.n);
    }
    #[handover]
    fn hand_over(&mut self, r: &mut evoflow::Resources) {
        r.put("got", std::mem::take(&mut self.got));
        r.put("mixed", self.mixed);
    }
    #[takeover]
    fn take_over(&mut self, r: &mut evoflow::Resources) {
        // What version 2 got since the update follows what this version
        // got before it.
        self.got
            .extend(r.take::<Vec<u64>>("got").unwrap_or_default());
        self.mixed += r.take::<u64>("mixed").unwrap_or_default();
    }
}

/// Version 2 of the sink, replaced together with the stage.
struct Sink2 {
    got: Vec<u64>,
    mixed: u64,
}

#[component(version = 2)]
impl Sink2 {
    #[input]
    fn inp(&mut self, p: Stamped) {
        if p.version != 2 {
            self.mixed += 1;
        }
        self.got.push(p.n);
    }
    #[handover]
    fn hand_over(&mut self, r: &mut evoflow::Resources) {
        r.put("got", std::mem::take(&mut self.got));
        r.put("mixed", self.mixed);
    }
    #[takeover]
    fn take_over(&mut self, r: &mut evoflow::Resources) {
        self.got = r.take::<Vec<u64>>("got").unwrap_or_default();
        self.mixed = r.take::<u64>("mixed").unwrap_or_default();
    }
}

/// For tests that do not count what version 2 handled.
static NOT_COUNTED: AtomicU64 = AtomicU64::new(0);

fn wait_for_rollback(running: &Running) -> evoflow::Rollback {
    loop {
        if let Some(r) = running.rollbacks().pop() {
            return r;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn a_new_version_that_panics_within_the_watch_is_rolled_back_with_its_state() {
    static V2_HANDLED: AtomicU64 = AtomicU64::new(0);
    quiet_expected_panics();
    let count = 60_000;
    let (mut report, rollback, letters, instances) = within(LIMIT, move || {
        let running = graph! {
            workers = 2;
            capacity = 4;
            src: Paced = Paced { next: 0, count };
            #[worker(1)]
            stage: Stage;
            sink: Sink;
            src.out -> stage.inp;
            stage.out -> sink.inp;
        }
        .run()
        .unwrap();
        std::thread::sleep(Duration::from_millis(20));
        running
            .update(
                Update::new()
                    .replace_with(
                        "stage",
                        BadStage {
                            cursed: 0,
                            handled: &V2_HANDLED,
                        },
                    )
                    .watch(Duration::from_secs(30)),
            )
            .unwrap();
        let rollback = wait_for_rollback(&running);
        let instances = running.instances();
        while !running.is_finished() {
            std::thread::sleep(Duration::from_millis(2));
        }
        let letters = running.dead_letters();
        (running.join().unwrap(), rollback, letters, instances)
    });
    let done = rollback.outcome.expect("the rollback applies");
    assert_eq!(rollback.instance, "stage");
    assert!(rollback.message.starts_with("version 2 cannot take"));
    assert_eq!(done.replaced.len(), 1);
    assert_eq!(
        rollback.restored,
        [(
            "stage".to_owned(),
            "kept as it was at the update: the new version declares no downgrade to it".to_owned()
        )]
    );
    let stage = instances.iter().find(|i| i.name == "stage").unwrap();
    assert_eq!((stage.component.as_str(), stage.version), ("Stage", 1));
    let versions: Vec<(u32, u32)> = stage.history.iter().map(|c| (c.from.1, c.to.1)).collect();
    assert_eq!(versions, [(1, 2), (2, 1)]);
    // Every packet arrived once, in order, but the dead letters.
    let (letters, dead) = letters;
    let got = report.take::<Sink>("sink").unwrap().got;
    assert_eq!(got.len() as u64 + dead, count);
    assert!(
        got.windows(2).all(|w| w[0] < w[1]),
        "reordered or duplicated"
    );
    let lost: Vec<String> = (0..count)
        .filter(|n| got.binary_search(n).is_err())
        .map(|n| format!("Seq {{ stream: 0, n: {n} }}"))
        .collect();
    let dead_packets: Vec<String> = letters.iter().filter_map(|l| l.packet.clone()).collect();
    assert_eq!(lost, dead_packets);
    assert!(letters[0]
        .outcome
        .starts_with("resumed until update #1 is rolled back"));
    // Version 1 came back with its state as of the update, and went on.
    let v1 = report.take::<Stage>("stage").unwrap();
    assert_eq!(v1.handled + V2_HANDLED.load(Ordering::SeqCst) + dead, count);
}

#[test]
fn a_coordinated_watched_update_is_rolled_back_together_without_mixing_versions() {
    quiet_expected_panics();
    let count = 60_000;
    let (mut report, rollback, dead, instances) = within(LIMIT, move || {
        let running = graph! {
            workers = 2;
            capacity = 4;
            src: Paced = Paced { next: 0, count };
            #[worker(1)]
            stage: Stage;
            sink: Sink = Sink { version: 1, ..Sink::default() };
            src.out -> stage.inp;
            stage.out -> sink.inp;
        }
        .run()
        .unwrap();
        std::thread::sleep(Duration::from_millis(20));
        running
            .update(
                Update::new()
                    .replace_with(
                        "stage",
                        BadStage {
                            cursed: 20_000,
                            handled: &NOT_COUNTED,
                        },
                    )
                    .replace_with(
                        "sink",
                        Sink2 {
                            got: Vec::new(),
                            mixed: 0,
                        },
                    )
                    .watch(Duration::from_secs(30)),
            )
            .unwrap();
        let rollback = wait_for_rollback(&running);
        let instances = running.instances();
        while !running.is_finished() {
            std::thread::sleep(Duration::from_millis(2));
        }
        let dead = running.dead_letters().1;
        (running.join().unwrap(), rollback, dead, instances)
    });
    let done = rollback.outcome.expect("the rollback applies");
    assert_eq!(done.replaced.len(), 2);
    for name in ["stage", "sink"] {
        let i = instances.iter().find(|i| i.name == name).unwrap();
        assert_eq!(i.version, 1, "{name} is back at version 1");
        assert_eq!(i.history.len(), 2);
    }
    let sink = report.take::<Sink>("sink").unwrap();
    assert_eq!(sink.mixed, 0, "a packet met a version it was not made for");
    assert_eq!(sink.got.len() as u64 + dead, count);
    assert!(
        sink.got.windows(2).all(|w| w[0] < w[1]),
        "reordered or duplicated"
    );
    assert!(dead >= 1);
}

#[test]
fn a_watched_update_may_only_replace_instances() {
    within(LIMIT, || {
        let running = graph! {
            src: Paced = Paced { next: 0, count: 1_000 };
            stage: Stage;
            sink: Sink;
            src.out -> stage.inp;
            stage.out -> sink.inp;
        }
        .run()
        .unwrap();
        let err = running
            .update(
                Update::new()
                    .insert("extra", Stage::default())
                    .watch(Duration::from_secs(1)),
            )
            .unwrap_err();
        assert!(
            matches!(&err, UpdateError::Refused(Refusal::WatchedNotOnlyReplacing)),
            "{err}"
        );
        assert!(err
            .to_string()
            .contains("a watched update may only replace instances"));
        running.join().unwrap();
    });
}

/// Counts the drops of kept versions.
static DROPPED: AtomicU64 = AtomicU64::new(0);

struct Tracked;

#[component(outputs(out: Stamped))]
impl Tracked {
    #[input]
    fn inp(&mut self, p: Seq, out: &mut Outputs<Self>) {
        out.out(Stamped { n: p.n, version: 1 });
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        DROPPED.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn after_the_window_the_kept_version_is_freed_and_panics_are_the_supervisions_again() {
    quiet_expected_panics();
    let err = within(LIMIT, || {
        let running = graph! {
            src: Paced = Paced { next: 0, count: 400_000 };
            stage: Tracked = Tracked;
            sink: Sink;
            src.out -> stage.inp;
            stage.out -> sink.inp;
        }
        .run()
        .unwrap();
        running
            .update(
                Update::new()
                    .replace_with(
                        "stage",
                        BadStage {
                            cursed: 300_000,
                            handled: &NOT_COUNTED,
                        },
                    )
                    .watch(Duration::from_millis(50)),
            )
            .unwrap();
        assert_eq!(DROPPED.load(Ordering::SeqCst), 0, "kept during the window");
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(DROPPED.load(Ordering::SeqCst), 1, "freed after it");
        assert!(running.rollbacks().is_empty());
        running
            .join()
            .err()
            .expect("the late panic stops the graph")
    });
    assert!(
        matches!(&err, evoflow::RunError::Panicked(p) if p.instance == "stage" && p.message.starts_with("version 2 cannot take")),
        "{err}"
    );
}

/// Version 1 of a stateful stage: counts what it handled.
#[derive(Default, serde::Serialize, serde::Deserialize)]
struct Tally {
    count: u64,
}

#[component(state, outputs(out: Stamped))]
impl Tally {
    #[input]
    fn inp(&mut self, p: Seq, out: &mut Outputs<Self>) {
        self.count += 1;
        out.out(Stamped { n: p.n, version: 1 });
    }
}

/// The state of `Tally` v1, as version 2 reads and writes it.
#[derive(serde::Serialize, serde::Deserialize)]
struct TallyV1 {
    count: u64,
}

/// Version 2: also remembers the last position; panics from `cursed` on
/// (multiples of 7); its downgrade gives version 1 its count, or panics
/// if `bad_downgrade`.
#[derive(serde::Serialize, serde::Deserialize)]
struct Tally2 {
    count: u64,
    last: u64,
    cursed: u64,
    bad_downgrade: bool,
}

#[component(state, version = 2, outputs(out: Stamped))]
impl Tally2 {
    #[input]
    fn inp(&mut self, p: Seq, out: &mut Outputs<Self>) {
        if p.n >= self.cursed && p.n.is_multiple_of(7) {
            panic!("tally v2 cannot take {} [expected]", p.n);
        }
        self.count += 1;
        self.last = p.n;
        out.out(Stamped { n: p.n, version: 2 });
    }

    #[migrate(from = 1)]
    fn from_v1(old: TallyV1) -> Self {
        Tally2 {
            count: old.count,
            last: 0,
            cursed: 20_000,
            bad_downgrade: false,
        }
    }

    #[migrate(down = 1)]
    fn to_v1(&self) -> TallyV1 {
        if self.bad_downgrade {
            panic!("cannot downgrade [expected]");
        }
        TallyV1 { count: self.count }
    }
}

fn tally_round_trip(update: Update) -> (u64, u64, u64, evoflow::Rollback) {
    let count = 60_000;
    within(LIMIT, move || {
        let running = graph! {
            workers = 2;
            capacity = 4;
            src: Paced = Paced { next: 0, count };
            #[worker(1)]
            tally: Tally;
            sink: Sink;
            src.out -> tally.inp;
            tally.out -> sink.inp;
        }
        .run()
        .unwrap();
        std::thread::sleep(Duration::from_millis(20));
        running.update(update).unwrap();
        let rollback = wait_for_rollback(&running);
        while !running.is_finished() {
            std::thread::sleep(Duration::from_millis(2));
        }
        let dead = running.dead_letters().1;
        let mut report = running.join().unwrap();
        let tally = report.take::<Tally>("tally").unwrap().count;
        let got = report.take::<Sink>("sink").unwrap().got.len() as u64;
        assert_eq!(got + dead, count);
        (tally, got, dead, rollback)
    })
}

#[test]
fn a_rollback_brings_the_state_back_through_the_new_versions_downgrade() {
    quiet_expected_panics();
    let (tally, got, _, rollback) = tally_round_trip(
        Update::new()
            .replace::<Tally2>("tally")
            .watch(Duration::from_secs(30)),
    );
    assert!(rollback.outcome.is_ok());
    assert_eq!(
        rollback.restored,
        [(
            "tally".to_owned(),
            "state downgraded to v1 by the new `Tally2`".to_owned()
        )]
    );
    // Every packet handled, by version 1 or 2, is counted once.
    assert_eq!(tally, got);
}

#[test]
fn a_failed_downgrade_leaves_the_replaced_version_as_it_was_at_the_update() {
    quiet_expected_panics();
    let (tally, got, _, rollback) = tally_round_trip(
        Update::new()
            .replace_with(
                "tally",
                Tally2 {
                    count: 0,
                    last: 0,
                    cursed: 20_000,
                    bad_downgrade: true,
                },
            )
            .watch(Duration::from_secs(30)),
    );
    assert!(rollback.outcome.is_ok());
    let (instance, note) = &rollback.restored[0];
    assert_eq!(instance, "tally");
    assert!(
        note.starts_with(
            "kept as it was at the update: the downgrade to v1 panicked: cannot downgrade"
        ),
        "{note}"
    );
    // What version 2 counted is lost with it: version 1 counted less.
    assert!(tally < got, "{tally} < {got}");
}

#[test]
fn a_later_update_of_a_watched_instance_ends_the_watch() {
    quiet_expected_panics();
    let err = within(LIMIT, || {
        let running = graph! {
            workers = 2;
            capacity = 4;
            src: Paced = Paced { next: 0, count: 60_000 };
            #[worker(1)]
            stage: Stage;
            sink: Sink = Sink { version: 1, ..Sink::default() };
            src.out -> stage.inp;
            stage.out -> sink.inp;
        }
        .run()
        .unwrap();
        running
            .update(
                Update::new()
                    .replace_with(
                        "stage",
                        BadStage {
                            cursed: 30_000,
                            handled: &NOT_COUNTED,
                        },
                    )
                    .replace_with(
                        "sink",
                        Sink2 {
                            got: Vec::new(),
                            mixed: 0,
                        },
                    )
                    .watch(Duration::from_secs(30)),
            )
            .unwrap();
        // `sink` changes again: a rollback of the first update would undo
        // this one, so its watch ends here.
        running
            .update(Update::new().replace_with(
                "sink",
                Sink2 {
                    got: Vec::new(),
                    mixed: 0,
                },
            ))
            .unwrap();
        running.join().err().expect("the panic stops the graph")
    });
    assert!(
        matches!(&err, evoflow::RunError::Panicked(p) if p.instance == "stage"),
        "{err}"
    );
}
