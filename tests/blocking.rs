//! `#[blocking]`: an instance that may block (a slow disk, a long
//! computation) runs on a thread of its own, so the instances of the
//! worker it would have shared never wait for it — and it is still
//! updated live with every guarantee.

mod common;

use common::within;
use evoflow::{component, graph, Flow, Outputs, Update};
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(60);
/// How long the slow instance blocks per packet.
const BLOCK: Duration = Duration::from_millis(200);

/// Emits, every 2 ms, when it was due and when it was sent, `left` times.
struct Ticks {
    left: u32,
    due: Instant,
}

#[component(outputs(out: Instant))]
impl Ticks {
    #[source]
    fn tick(&mut self, out: &mut Outputs<Self>) -> Flow {
        if self.left == 0 {
            return Flow::Done;
        }
        let now = Instant::now();
        if now < self.due {
            return Flow::after(self.due - now);
        }
        out.out(self.due);
        self.left -= 1;
        self.due += Duration::from_millis(2);
        Flow::Continue
    }
}

/// The latest any tick arrived after it was due.
#[derive(Default)]
struct Lateness {
    worst: Duration,
    seen: u32,
}

#[component]
impl Lateness {
    #[input]
    fn inp(&mut self, due: Instant) {
        self.worst = self.worst.max(due.elapsed());
        self.seen += 1;
    }
}

/// Emits 0, 1, ... `count - 1`, one every `every`.
struct Feed {
    next: u64,
    count: u64,
    every: Duration,
    due: Instant,
}

impl Feed {
    fn new(count: u64, every: Duration) -> Self {
        Feed {
            next: 0,
            count,
            every,
            due: Instant::now(),
        }
    }
}

#[component(outputs(out: u64))]
impl Feed {
    #[source]
    fn emit(&mut self, out: &mut Outputs<Self>) -> Flow {
        if self.next == self.count {
            return Flow::Done;
        }
        let now = Instant::now();
        if now < self.due {
            return Flow::after(self.due - now);
        }
        out.out(self.next);
        self.next += 1;
        self.due += self.every;
        Flow::Continue
    }
}

/// Blocks its thread for [`BLOCK`] on every packet, then passes it on.
#[derive(Default, Serialize, Deserialize)]
struct Slow {
    handled: u64,
}

#[component(state, outputs(out: (u64, u32)))]
impl Slow {
    #[input]
    fn inp(&mut self, x: u64, out: &mut Outputs<Self>) {
        std::thread::sleep(BLOCK);
        self.handled += 1;
        out.out((x, 1));
    }
}

/// Version 2 of [`Slow`]: marks what it handled with its version.
#[derive(Serialize, Deserialize)]
struct SlowV2 {
    handled: u64,
}

#[component(version = 2, state, outputs(out: (u64, u32)))]
impl SlowV2 {
    #[input]
    fn inp(&mut self, x: u64, out: &mut Outputs<Self>) {
        std::thread::sleep(BLOCK);
        self.handled += 1;
        out.out((x, 2));
    }

    #[migrate(from = 1)]
    fn from_v1(old: Slow) -> Self {
        SlowV2 {
            handled: old.handled,
        }
    }
}

/// What arrived, in order, with the version that handled it.
#[derive(Default)]
struct Keep {
    got: Vec<(u64, u32)>,
}

#[component]
impl Keep {
    #[input]
    fn inp(&mut self, x: (u64, u32)) {
        self.got.push(x);
    }
}

/// Ticks beside three packets that block [`BLOCK`] each, on one worker:
/// with `#[blocking]` on the slow instance or without. Returns the worst
/// lateness of a tick, and where the schedule put each instance.
macro_rules! beside_slow_work {
    ($($blocking:meta)?) => {{
        let g = graph! {
            name = "beside";
            workers = 1;
            ticks: Ticks = Ticks { left: 400, due: Instant::now() };
            late: Lateness;
            feed: Feed = Feed::new(3, Duration::ZERO);
            $(#[$blocking])?
            slow: Slow;
            keep: Keep;
            ticks.out -> late.inp;
            feed.out -> slow.inp;
            slow.out -> keep.inp;
        };
        let sections: Vec<Vec<String>> = g
            .schedule()
            .sections
            .iter()
            .map(|s| s.iter().map(|i| i.name.clone()).collect())
            .collect();
        let mut report = within(LIMIT, move || g.run_to_end().unwrap());
        let late = report.take::<Lateness>("late").unwrap();
        assert_eq!(late.seen, 400);
        assert_eq!(report.take::<Keep>("keep").unwrap().got.len(), 3);
        (late.worst, sections)
    }};
}

#[test]
fn a_blocking_instance_does_not_stall_the_others_of_its_worker() {
    // Without `#[blocking]` the ticks wait for the slow instance: this
    // shows the measure sees a stall on this machine.
    let (worst, sections) = beside_slow_work!();
    assert_eq!(sections, [["ticks", "late", "feed", "slow", "keep"]]);
    assert!(worst >= BLOCK / 2, "a tick was at most {worst:?} late");
    // With it the slow instance has a thread of its own.
    let (worst, sections) = beside_slow_work!(blocking);
    assert_eq!(
        sections,
        [vec!["ticks", "late", "feed", "keep"], vec!["slow"]]
    );
    assert!(
        worst < Duration::from_millis(50),
        "a tick was {worst:?} late beside a blocking instance"
    );
}

#[test]
fn a_run_time_worker_count_places_blocking_instances_the_same_way() {
    let workers = 2;
    let g = graph! {
        workers = workers;
        feed: Feed = Feed::new(3, Duration::ZERO);
        #[blocking]
        slow: Slow;
        keep: Keep;
        feed.out -> slow.inp;
        slow.out -> keep.inp;
    };
    let at: Vec<(String, usize)> = g
        .schedule()
        .sections
        .iter()
        .enumerate()
        .flat_map(|(w, s)| s.iter().map(move |i| (i.name.clone(), w)))
        .collect();
    // The free instances are cut over workers 0 and 1; `slow` is on 2.
    assert_eq!(g.schedule().sections.len(), 3);
    assert!(at.contains(&("slow".to_owned(), 2)), "{at:?}");
    assert_eq!(g.schedule().sections[2].len(), 1);
    let got = g.run_to_end().unwrap().take::<Keep>("keep").unwrap().got;
    assert_eq!(got, [(0, 1), (1, 1), (2, 1)]);
}

#[test]
fn a_blocking_instance_is_updated_live_with_every_guarantee() {
    let (keep, late, worker, handled) = within(LIMIT, || {
        let running = graph! {
            name = "blocking update";
            ticks: Ticks = Ticks { left: 1_000, due: Instant::now() };
            late: Lateness;
            // Still sending when the update comes (its end would leave no
            // place for the update's marker), faster than `slow` handles.
            feed: Feed = Feed::new(8, Duration::from_millis(100));
            #[blocking]
            slow: Slow;
            keep: Keep;
            ticks.out -> late.inp;
            feed.out -> slow.inp;
            slow.out -> keep.inp;
        }
        .run()
        .unwrap();
        // In the middle of the slow instance's work (it blocks while the
        // update waits for a packet boundary on its thread).
        std::thread::sleep(BLOCK * 3 / 2);
        running
            .update(Update::new().replace::<SlowV2>("slow"))
            .unwrap();
        let worker = running
            .instances()
            .into_iter()
            .find(|i| i.name == "slow")
            .map(|i| (i.worker, i.version))
            .unwrap();
        let mut report = running.join().unwrap();
        let handled = report.take::<SlowV2>("slow").unwrap().handled;
        (
            report.take::<Keep>("keep").unwrap().got,
            report.take::<Lateness>("late").unwrap(),
            worker,
            handled,
        )
    });
    // Still on its own thread (section 1), as version 2.
    assert_eq!(worker, (1, 2));
    // Every packet once, in order; version 1 before version 2, each
    // packet handled by one version; the count carried over.
    assert_eq!(
        keep.iter().map(|(x, _)| *x).collect::<Vec<_>>(),
        (0..8).collect::<Vec<_>>()
    );
    let switch = keep.iter().position(|(_, v)| *v == 2).unwrap();
    assert!(switch >= 1, "version 1 handled nothing: {keep:?}");
    assert!(keep[switch..].iter().all(|(_, v)| *v == 2), "{keep:?}");
    assert_eq!(handled, 8);
    // The ticks went on while the update waited for the blocked thread.
    assert_eq!(late.seen, 1_000);
    assert!(
        late.worst < Duration::from_millis(50),
        "a tick was {:?} late during the update",
        late.worst
    );
}

/// Passes what it gets on.
#[derive(Default)]
struct Relay;

#[component(outputs(out: (u64, u32)))]
impl Relay {
    #[input]
    fn inp(&mut self, x: (u64, u32), out: &mut Outputs<Self>) {
        out.out(x);
    }
}

#[test]
fn updates_put_nothing_else_on_a_blocking_instances_thread() {
    let running = graph! {
        name = "dedicated";
        // Only twice as fast as `slow` takes them: `stop` drains what is
        // queued, 200 ms a packet (at a packet a millisecond, the 200–400
        // queued by then took this test 40–80 s).
        feed: Feed = Feed::new(1_000_000, Duration::from_millis(100));
        #[blocking]
        slow: Slow;
        keep: Keep;
        feed.out -> slow.inp;
        slow.out -> keep.inp;
    }
    .run()
    .unwrap();
    // Inserted after `slow` without a worker: it would have run on its
    // producer's worker, `slow`'s own thread.
    running
        .update(
            Update::new()
                .insert("relay", Relay)
                .disconnect("slow.out", "keep.inp")
                .connect("slow.out", "relay.inp")
                .connect("relay.out", "keep.inp"),
        )
        .unwrap();
    let worker = |name: &str| {
        running
            .instances()
            .into_iter()
            .find(|i| i.name == name)
            .map(|i| i.worker)
            .unwrap()
    };
    assert_eq!((worker("slow"), worker("relay")), (1, 0));
    // Placed there explicitly: refused, with the reason.
    let refused = running
        .update(Update::new().insert_on("idle", 1, Relay))
        .unwrap_err()
        .to_string();
    assert!(
        refused
            .contains("cannot insert `idle` on worker 1: it runs a `#[blocking]` instance alone"),
        "{refused}"
    );
    running.stop();
    running.join().unwrap();
}
