//! Supervision: a panic in one instance is absorbed as its supervision
//! says (resume, restart from the constructor or from a snapshot), the
//! packet that made it panic becomes a dead letter, every other packet
//! flows on — and too many panics, or a restart that fails, stop the graph
//! with a report.

mod common;

use common::{quiet_expected_panics, within, Check, Relay, Seq, Source};
use evoflow::{component, graph, Flow, Outputs, Recoverable, RunError};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

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

#[test]
fn too_many_panics_stop_the_graph_with_a_report_of_the_last_ones() {
    quiet_expected_panics();
    let err = within(LIMIT, || {
        graph! {
            capacity = 4;
            src: Source = Source::new(0, 1_000_000);
            #[on_panic(resume(max = 2, within = 10s))]
            flaky: Flaky = Flaky::new(100);
            sink: Collect;
            src.out -> flaky.inp;
            flaky.out -> sink.inp;
        }
        .run_to_end()
        .err()
        .expect("the third panic must stop the graph")
    });
    let RunError::Panicked(p) = err else {
        panic!("unexpected error {err}")
    };
    assert_eq!(p.instance, "flaky");
    assert!(
        p.message
            .starts_with("packet 300 is cursed [expected] (panic 3 within 10s"),
        "{}",
        p.message
    );
    assert_eq!(
        p.earlier,
        [
            "packet 100 is cursed [expected]",
            "packet 200 is cursed [expected]"
        ]
    );
}

#[test]
fn the_default_policy_stops_the_graph_at_the_first_panic() {
    quiet_expected_panics();
    let err = within(LIMIT, || {
        graph! {
            src: Source = Source::new(0, 1_000);
            flaky: Flaky = Flaky::new(100);
            sink: Collect;
            src.out -> flaky.inp;
            flaky.out -> sink.inp;
        }
        .run_to_end()
        .err()
        .expect("a panic stops the graph")
    });
    let RunError::Panicked(p) = err else {
        panic!("unexpected error {err}")
    };
    assert_eq!(
        (p.instance.as_str(), p.message.as_str()),
        ("flaky", "packet 100 is cursed [expected]")
    );
    assert!(p.earlier.is_empty());
}

/// Sums what it got; panics on cursed packets. Its state is its sum.
#[derive(Default, serde::Serialize, serde::Deserialize)]
struct Summer {
    sum: u64,
    count: u64,
}

#[component(state)]
impl Summer {
    #[input]
    fn inp(&mut self, p: Seq) {
        if p.n == 500 {
            panic!("packet 500 is cursed [expected]");
        }
        self.sum += p.n;
        self.count += 1;
    }
}

#[test]
fn snapshot_restarts_from_the_last_snapshot() {
    quiet_expected_panics();
    // Capacity 1 and a snapshot at every packet boundary: the snapshot
    // before the panic holds exactly the packets before the cursed one.
    let mut report = within(LIMIT, || {
        graph! {
            capacity = 1;
            src: Source = Source::new(0, 1_000);
            #[on_panic(snapshot(every = 0ms))]
            summer: Summer;
            src.out -> summer.inp;
        }
        .run_to_end()
        .unwrap()
    });
    let s = report.take::<Summer>("summer").unwrap();
    assert_eq!(s.count, 999);
    assert_eq!(s.sum, (0..1_000).sum::<u64>() - 500);
}

#[test]
fn a_snapshot_older_than_the_panic_loses_only_what_came_after_it() {
    quiet_expected_panics();
    // No snapshot is due during the run: the restart goes back to the
    // state the instance started with (taken when it was built).
    let mut report = within(LIMIT, || {
        graph! {
            capacity = 1;
            src: Source = Source::new(0, 1_000);
            #[on_panic(snapshot(every = 3600s))]
            summer: Summer;
            src.out -> summer.inp;
        }
        .run_to_end()
        .unwrap()
    });
    let s = report.take::<Summer>("summer").unwrap();
    assert_eq!((s.count, s.sum), (499, (501..1_000).sum::<u64>()));
}

/// A source that panics once, at `at`, in its first build; a build
/// starts where the last one left off (`progress`).
struct Shaky {
    progress: Arc<AtomicU64>,
    count: u64,
    at: u64,
    build: u64,
}

impl Shaky {
    fn new(builds: &AtomicU64, progress: &Arc<AtomicU64>) -> Self {
        Shaky {
            progress: progress.clone(),
            count: 2_000,
            at: 700,
            build: builds.fetch_add(1, Ordering::SeqCst),
        }
    }
}

#[component(outputs(out: Seq))]
impl Shaky {
    #[source]
    fn emit(&mut self, out: &mut Outputs<Self>) -> Flow {
        let n = self.progress.load(Ordering::SeqCst);
        if n == self.count {
            return Flow::Done;
        }
        if self.build == 0 && n == self.at {
            panic!("the source broke at {n} [expected]");
        }
        out.out(Seq { stream: 0, n });
        self.progress.store(n + 1, Ordering::SeqCst);
        Flow::Continue
    }
}

#[test]
fn a_panicking_source_restarts_from_its_constructor() {
    quiet_expected_panics();
    let builds = Arc::new(AtomicU64::new(0));
    let b = builds.clone();
    let (mut report, letters) = within(LIMIT, move || {
        let progress = Arc::new(AtomicU64::new(0));
        let running = graph! {
            capacity = 8;
            #[on_panic(restart)]
            src: Shaky = Shaky::new(&b, &progress);
            sink: Collect;
            src.out -> sink.inp;
        }
        .run()
        .unwrap();
        while !running.is_finished() {
            std::thread::sleep(Duration::from_millis(2));
        }
        let letters = running.dead_letters().0;
        (running.join().unwrap(), letters)
    });
    assert_eq!(builds.load(Ordering::SeqCst), 2);
    assert_eq!(
        report.take::<Collect>("sink").unwrap().got,
        all_but(2_000, |_| false)
    );
    assert_eq!(letters.len(), 1);
    assert_eq!(
        (
            letters[0].site.as_str(),
            letters[0].outcome.as_str(),
            letters[0].packet.as_deref()
        ),
        ("#[source]", "restarted", None)
    );
}

/// Answers each request; panics on cursed ones. Its `#[recover]` method
/// answers a request whose handler panicked with an error instead.
#[derive(Default)]
struct Answer {
    recovered: u64,
}

#[component(outputs(out: Reply))]
impl Answer {
    #[input]
    fn inp(&mut self, p: Seq, out: &mut Outputs<Self>) {
        if p.n % 250 == 3 {
            panic!("cannot answer {} [expected]", p.n);
        }
        out.out(Reply { n: p.n, ok: true });
    }

    #[recover(inp)]
    fn failed(&mut self, p: Seq, out: &mut Outputs<Self>) {
        self.recovered += 1;
        out.out(Reply { n: p.n, ok: false });
    }
}

/// An answer: to which request, and whether it succeeded.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
struct Reply {
    n: u64,
    ok: bool,
}

#[derive(Default)]
struct Replies {
    got: Vec<Reply>,
}

#[component]
impl Replies {
    #[input]
    fn inp(&mut self, r: Reply) {
        self.got.push(r);
    }
}

#[test]
fn recover_gets_the_packet_back_and_answers_it() {
    quiet_expected_panics();
    let mut report = within(LIMIT, || {
        graph! {
            workers = 2;
            capacity = 4;
            src: Source = Source::new(0, 2_000);
            #[worker(1)]
            #[on_panic(restart(max = 100, within = 10s))]
            answer: Answer;
            replies: Replies;
            src.out -> answer.inp;
            answer.out -> replies.inp;
        }
        .run_to_end()
        .unwrap()
    });
    let got = report.take::<Replies>("replies").unwrap().got;
    // Every request has exactly one answer, in order; the cursed ones
    // failed. The restarted instance ran the recovery.
    let expected: Vec<Reply> = (0..2_000)
        .map(|n| Reply {
            n,
            ok: n % 250 != 3,
        })
        .collect();
    assert_eq!(got, expected);
    assert_eq!(report.take::<Answer>("answer").unwrap().recovered, 1);
}

/// Panics in `#[on_end]` once, in its first build.
struct EndsBadly {
    build: u64,
    ended: u64,
}

#[component(outputs(out: Seq))]
impl EndsBadly {
    #[input]
    fn inp(&mut self, p: Seq, out: &mut Outputs<Self>) {
        out.out(p);
    }
    #[on_end]
    fn end(&mut self, out: &mut Outputs<Self>) {
        if self.build == 0 {
            panic!("cannot end [expected]");
        }
        self.ended += 1;
        out.out(Seq { stream: 9, n: 0 });
    }
}

#[test]
fn a_panicking_on_end_runs_again_in_the_restarted_instance_and_the_stream_ends_once() {
    quiet_expected_panics();
    let builds = Arc::new(AtomicU64::new(0));
    let b = builds.clone();
    let (mut report, letters) = within(LIMIT, move || {
        let running = graph! {
            src: Source = Source::new(0, 100);
            #[on_panic(restart)]
            ends: EndsBadly = EndsBadly { build: b.fetch_add(1, Ordering::SeqCst), ended: 0 };
            check: Check = Check::new(10, 0, 1);
            src.out -> ends.inp;
            ends.out -> check.inp;
        }
        .run()
        .unwrap();
        while !running.is_finished() {
            std::thread::sleep(Duration::from_millis(2));
        }
        let letters = running.dead_letters().0;
        (running.join().unwrap(), letters)
    });
    assert_eq!(report.take::<EndsBadly>("ends").unwrap().ended, 1);
    let check = report.take::<Check>("check").unwrap();
    assert_eq!((check.received, check.ended), (101, true));
    assert_eq!(letters[0].site, "#[on_end]");
}

/// Its constructor panics in every build after the first.
struct Unbuildable;

impl Unbuildable {
    fn new(builds: &AtomicU64) -> Self {
        if builds.fetch_add(1, Ordering::SeqCst) > 0 {
            panic!("cannot build again [expected]");
        }
        Unbuildable
    }
}

#[component]
impl Unbuildable {
    #[input]
    fn inp(&mut self, p: Seq) {
        if p.n == 10 {
            panic!("packet 10 is cursed [expected]");
        }
    }
}

#[test]
fn a_restart_whose_constructor_panics_stops_the_graph_instead_of_looping() {
    quiet_expected_panics();
    let builds = Arc::new(AtomicU64::new(0));
    let b = builds.clone();
    let err = within(LIMIT, move || {
        graph! {
            src: Source = Source::new(0, 100);
            #[on_panic(restart(max = 1000, within = 10s))]
            u: Unbuildable = Unbuildable::new(&b);
            src.out -> u.inp;
        }
        .run_to_end()
        .err()
        .expect("the failed restart stops the graph")
    });
    let RunError::Panicked(p) = err else {
        panic!("unexpected error {err}")
    };
    assert_eq!(p.instance, "u");
    assert_eq!(
        p.message,
        "packet 10 is cursed [expected]; restarting failed, its constructor panicked: cannot build again [expected]"
    );
    assert_eq!(builds.load(Ordering::SeqCst), 2);
}

#[test]
fn the_builder_refuses_a_supervision_it_cannot_carry_out() {
    let mut b = evoflow::GraphBuilder::new("g", 1);
    let src = b.instance("src", 0, Source::new(0, 1));
    let sink = b.instance("sink", 0, Collect::default());
    b.connect::<Seq>(src, 0, sink, 0, 4).unwrap();
    b.supervise(sink, evoflow::Supervision::restart());
    let err = b.build().err().expect("no constructor to restart from");
    assert_eq!(
        err.to_string(),
        "instance `sink` cannot be supervised as asked: it restarts from its constructor, but was added without one; add it with `instance_built_by` (graph! does when the instance is restarted)"
    );
    let mut b = evoflow::GraphBuilder::new("g", 1);
    let src = b.instance("src", 0, Source::new(0, 1));
    let sink = b.instance_built_by("sink", 0, Collect::default);
    b.connect::<Seq>(src, 0, sink, 0, 4).unwrap();
    b.supervision(evoflow::Supervision::snapshot(Duration::from_secs(1)));
    let err = b.build().err().expect("no state to snapshot");
    assert!(err.to_string().starts_with("instance `src` cannot be supervised as asked: it restarts from a snapshot of its state, but its component has none"), "{err}");
}

/// Passes packets on; its `#[poll]` panics once, on its third call, and
/// is done from its tenth.
struct PollsBadly {
    polls: u64,
}

#[component(outputs(out: Seq))]
impl PollsBadly {
    #[input]
    fn inp(&mut self, p: Seq, out: &mut Outputs<Self>) {
        out.out(p);
    }
    #[poll]
    fn tick(&mut self) -> Flow {
        self.polls += 1;
        match self.polls {
            3 => panic!("poll broke [expected]"),
            n if n < 10 => Flow::Idle,
            _ => Flow::Done,
        }
    }
}

#[test]
fn a_panicking_poll_resumes_and_no_packet_is_lost() {
    quiet_expected_panics();
    let (mut report, letters) = within(LIMIT, || {
        let running = graph! {
            capacity = 4;
            src: Source = Source::new(0, 5_000);
            #[on_panic(resume)]
            polls: PollsBadly = PollsBadly { polls: 0 };
            sink: Collect;
            src.out -> polls.inp;
            polls.out -> sink.inp;
        }
        .run()
        .unwrap();
        while !running.is_finished() {
            std::thread::sleep(Duration::from_millis(2));
        }
        let letters = running.dead_letters().0;
        (running.join().unwrap(), letters)
    });
    assert_eq!(
        report.take::<Collect>("sink").unwrap().got,
        all_but(5_000, |_| false)
    );
    assert_eq!(letters.len(), 1);
    assert_eq!(
        (letters[0].site.as_str(), letters[0].outcome.as_str()),
        ("#[poll]", "resumed")
    );
}

#[test]
fn a_constructor_that_panics_before_the_graph_runs_panics_where_the_graph_is_built() {
    quiet_expected_panics();
    // Nothing runs yet: the panic reaches the code that builds the graph,
    // as any panic in its own expressions would.
    let built = std::panic::catch_unwind(|| {
        let builds = AtomicU64::new(1);
        graph! {
            src: Source = Source::new(0, 10);
            #[on_panic(restart)]
            u: Unbuildable = Unbuildable::new(&builds);
            src.out -> u.inp;
        }
    });
    assert!(built.is_err());
}

#[test]
fn a_producer_waiting_for_room_hears_of_the_slots_a_panicking_consumer_freed() {
    quiet_expected_panics();
    // Capacity 1 across workers: the producer waits for room after every
    // packet, and the cursed packet is the only one in the ring when its
    // handler panics. Its slot is free; the producer must be told.
    let mut report = within(LIMIT, || {
        graph! {
            workers = 2;
            capacity = 1;
            src: Source = Source::new(0, 20_000);
            #[worker(1)]
            #[on_panic(resume(max = 1000, within = 10s))]
            flaky: Flaky = Flaky::new(100);
            sink: Collect;
            src.out -> flaky.inp;
            flaky.out -> sink.inp;
        }
        .run_to_end()
        .unwrap()
    });
    assert_eq!(
        report.take::<Collect>("sink").unwrap().got,
        all_but(20_000, |n| n > 0 && n.is_multiple_of(100))
    );
}

/// A packet type whose own code panics: `Clone` for `n == 5`, `Debug` for
/// `n == 9`.
#[derive(PartialEq, Eq)]
struct Touchy(u64);

impl Clone for Touchy {
    fn clone(&self) -> Self {
        assert!(self.0 != 5, "cannot clone 5 [expected]");
        Touchy(self.0)
    }
}

impl std::fmt::Debug for Touchy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        assert!(self.0 != 9, "cannot show 9 [expected]");
        write!(f, "Touchy({})", self.0)
    }
}

impl Recoverable for Touchy {}

struct Touchies {
    next: u64,
    end: u64,
}

#[component(outputs(out: Touchy))]
impl Touchies {
    #[source]
    fn emit(&mut self, out: &mut Outputs<Self>) -> Flow {
        if self.next == self.end {
            return Flow::Done;
        }
        out.out(Touchy(self.next));
        self.next += 1;
        Flow::Continue
    }
}

#[derive(Default)]
struct TouchySink {
    got: Vec<u64>,
    recovered: Vec<u64>,
}

#[component]
impl TouchySink {
    #[input]
    fn inp(&mut self, t: Touchy) {
        assert!(t.0 != 9, "cannot take 9 [expected]");
        self.got.push(t.0);
    }
    #[recover(inp)]
    fn failed(&mut self, t: Touchy) {
        self.recovered.push(t.0);
    }
}

#[test]
fn a_packet_whose_clone_panics_is_lost_alone_and_never_recovered_as_another() {
    quiet_expected_panics();
    let mut report = within(LIMIT, || {
        graph! {
            src: Touchies = Touchies { next: 0, end: 8 };
            #[on_panic(resume)]
            sink: TouchySink;
            src.out -> sink.inp;
        }
        .run_to_end()
        .unwrap()
    });
    let sink = report.take::<TouchySink>("sink").unwrap();
    assert_eq!(sink.got, [0, 1, 2, 3, 4, 6, 7]);
    // Packet 4 was handled; it must not come back as the one that failed.
    assert!(sink.recovered.is_empty(), "{:?}", sink.recovered);
}

#[test]
fn a_panic_in_a_kept_packets_debug_stops_the_graph_with_a_report() {
    quiet_expected_panics();
    let err = within(LIMIT, || {
        graph! {
            src: Touchies = Touchies { next: 6, end: 20 };
            #[on_panic(resume)]
            sink: TouchySink;
            src.out -> sink.inp;
        }
        .run_to_end()
        .err()
        .expect("the graph stops")
    });
    let RunError::Panicked(p) = err else {
        panic!("unexpected error {err}")
    };
    assert!(
        p.message.contains("handling a panic of `sink` panicked")
            && p.message.contains("cannot show 9"),
        "{}",
        p.message
    );
}

/// Emits every packet, then panics after emitting each multiple of
/// `every` (but 0).
struct EmitThenPanic {
    every: u64,
}

#[component(outputs(out: Seq))]
impl EmitThenPanic {
    #[input]
    fn inp(&mut self, p: Seq, out: &mut Outputs<Self>) {
        let n = p.n;
        out.out(p);
        if n > 0 && n.is_multiple_of(self.every) {
            panic!("after emitting {n} [expected]");
        }
    }
}

/// What a handler emitted before it panicked stays emitted, whether its
/// consumer shares its worker (a local arc) or not (a ring), and whether
/// the instance resumes or restarts: the sink gets every packet, in order.
#[test]
fn output_emitted_before_a_panic_stays_emitted() {
    quiet_expected_panics();
    let (count, every) = (5_000, 100);
    let all: Vec<u64> = (0..count).collect();
    let (one_worker, two_workers, restarted) = within(LIMIT, move || {
        // The sink's packets with `workers`, flaky's supervision `policy`
        // and the sink's placement `place`.
        macro_rules! sink_gets {
            ($workers:literal, $policy:ident, [$($place:tt)*]) => {
                graph! {
                    workers = $workers;
                    capacity = 4;
                    src: Source = Source::new(0, count);
                    #[on_panic($policy(max = 1000, within = 10s))]
                    flaky: EmitThenPanic = EmitThenPanic { every };
                    $($place)*
                    sink: Collect;
                    src.out -> flaky.inp;
                    flaky.out -> sink.inp;
                }
                .run_to_end()
                .unwrap()
                .take::<Collect>("sink")
                .unwrap()
                .got
            };
        }
        (
            sink_gets!(1, resume, []),
            sink_gets!(2, resume, [#[worker(1)]]),
            sink_gets!(1, restart, []),
        )
    });
    assert_eq!(one_worker, all);
    assert_eq!(two_workers, all);
    assert_eq!(restarted, all);
}
