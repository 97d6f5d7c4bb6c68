//! Model checks of the concurrency protocols with loom, over every
//! interleaving: run with
//! `RUSTFLAGS="--cfg loom" cargo test -p evoflow-runtime --release loom`.

use crate::channel::wake::Sleeper;
use crate::exec::decision::{Decision, UpdateSync};
use crate::model::failure::{InstanceFailure, NotRun};
use crate::model::state::StateError;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;

/// A producer publishes work and notifies; the consumer checks for work and
/// parks. The consumer must never sleep through the work (loom reports a
/// deadlock if it could).
#[test]
fn loom_a_wake_up_is_never_lost() {
    loom::model(|| {
        let sleeper = Sleeper::new();
        let waker = sleeper.waker();
        let work = Arc::new(AtomicUsize::new(0));
        let w = work.clone();
        let producer = thread::spawn(move || {
            w.store(1, Ordering::Release);
            waker.notify();
        });
        while work.load(Ordering::Acquire) == 0 {
            sleeper.park_unless(None, || work.load(Ordering::Acquire) != 0);
        }
        producer.join().unwrap();
    });
}

/// Two changing instances prepare (one may fail) while a forwarder finishes
/// and the submitter waits: the submitter returns only after every instance
/// is done; the update commits exactly when nobody failed, and then the
/// decision was taken only after both had prepared.
#[test]
fn loom_the_update_commits_only_if_everyone_prepared() {
    for fail in [false, true] {
        let mut model = loom::model::Builder::new();
        model.preemption_bound = Some(3);
        model.check(move || {
            let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect();
            let sync = Arc::new(UpdateSync::new(
                7,
                false,
                names(&["a", "b"]),
                names(&["a", "b", "f"]),
                Vec::new(),
            ));
            let done = Arc::new(AtomicUsize::new(0));
            let part = |name: &'static str, failing: bool| {
                let (sync, done) = (sync.clone(), done.clone());
                thread::spawn(move || {
                    if failing {
                        sync.failed(name, InstanceFailure::Export(StateError("refused".into())));
                    } else {
                        assert_ne!(
                            sync.decision(),
                            Decision::Commit,
                            "committed before this instance prepared"
                        );
                        sync.prepared(name);
                    }
                    done.fetch_add(1, Ordering::SeqCst);
                    sync.finish_one(name);
                })
            };
            let (a, b) = (part("a", false), part("b", fail));
            let forwarder = {
                let (sync, done) = (sync.clone(), done.clone());
                thread::spawn(move || {
                    done.fetch_add(1, Ordering::SeqCst);
                    sync.finish_one("f");
                })
            };
            sync.arm();
            // Loom has no time: a timed wait is a wait for the notification.
            let unfinished = sync.wait_until(far_future());
            assert!(unfinished.is_empty());
            let outcome = sync.failure();
            assert_eq!(
                done.load(Ordering::SeqCst),
                3,
                "wait returned before every instance was done"
            );
            assert_eq!(sync.decision() == Decision::Abort, fail);
            assert_eq!(outcome.is_some(), fail);
            for t in [a, b, forwarder] {
                t.join().unwrap();
            }
        });
    }
}

/// A machine's part of an update spanning machines: `a` prepares while
/// `b` prepares or gives up (its worker exits), and the control thread
/// waits for the standing, votes and applies the decision as
/// `Control::run` does. The vote and a failure race: whichever comes first
/// wins, and a failure after a vote to commit is reported as a failure
/// after the commit — never as a rollback while the others commit.
#[test]
fn loom_a_spanning_part_votes_once_and_reports_a_late_failure_as_after_commit() {
    use crate::exec::decision::{Failure, Standing};
    for fail in [false, true] {
        let mut model = loom::model::Builder::new();
        model.preemption_bound = Some(3);
        model.check(move || {
            let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect();
            let sync = Arc::new(UpdateSync::new(
                crate::update::span::SPANNING_IDS,
                true,
                names(&["a", "b"]),
                names(&["a", "b"]),
                Vec::new(),
            ));
            let part = |name: &'static str, failing: bool| {
                let sync = sync.clone();
                thread::spawn(move || {
                    sync.prepared(name);
                    if failing {
                        sync.give_up(name, NotRun::GraphFinished);
                    } else {
                        sync.finish_one(name);
                    }
                })
            };
            let (a, b) = (part("a", false), part("b", fail));
            sync.arm();
            // A failure here may abort (this machine has not voted); only
            // the machines commit.
            assert_ne!(
                sync.decision(),
                Decision::Commit,
                "committed before the vote"
            );
            let voted = match sync.wait_standing(far_future()) {
                Standing::Prepared => sync.vote_commit(),
                Standing::Failed => false,
                Standing::Late(_) => unreachable!("no deadline in the model"),
            };
            // The machines commit only if this one voted to.
            sync.settle(voted, "elsewhere");
            assert!(sync.wait_until(far_future()).is_empty());
            match (voted, sync.failure()) {
                (true, None) => assert!(!fail),
                (true, Some(Failure::AfterCommit { instance, .. })) => assert_eq!(instance, "b"),
                (false, Some(Failure::Prepare { instance, .. })) => assert_eq!(instance, "b"),
                (v, f) => panic!("voted {v}, failure {f:?}"),
            }
            assert_eq!(sync.decision() == Decision::Commit, voted);
            for t in [a, b] {
                t.join().unwrap();
            }
        });
    }
}

fn far_future() -> std::time::Instant {
    std::time::Instant::now() + std::time::Duration::from_secs(3600)
}

// ---------------------------------------------------------------------------
// The real nodes, queues, wakers and mailbox, with hand-written components
// (what `#[component]` generates, reduced to one port) and a worker loop
// that keeps `Worker::run_section`'s protocol: step; park only if the
// node's `has_work`, evaluated after announcing sleep, finds nothing.

use crate::channel::arc::{ArcFactory, Locals};
use crate::channel::port::{
    ArcId, Drained, End, ErasedInPort, ErasedOutPort, InPort, InputSet, NoInputs, NoOutputs,
    OutPort, OutputSet,
};
use crate::channel::queue::{self, Item, RingRx, RingTx, Rx, Stop, Tx};
use crate::exec::contract::{ArcSpec, Change, ComponentChange, Reconfig};
use crate::exec::contract::{Env, Node};
use crate::exec::migrate::Migrator;
use crate::exec::node::ComponentNode;
use crate::exec::restart::Supervisor;
use crate::exec::worker::{refuse, Command, Mailbox};
use crate::model::component::{Component, ComponentMeta, Flow, PacketType, PortMeta};
use crate::model::supervise::Supervision;
use std::sync::Arc as StdArc;

/// A node of the real `ComponentNode` code, stopped by any panic.
fn node<C: Component>(
    name: &str,
    component: C,
    inputs: C::Inputs,
    outputs: C::Outputs,
    env: &StdArc<Env>,
) -> ComponentNode<C> {
    let supervisor = Supervisor::new(Supervision::STOP, None, &component);
    ComponentNode::new(
        name.into(),
        component,
        inputs,
        outputs,
        env.clone(),
        supervisor,
    )
}

const U64_PORT: PortMeta = PortMeta {
    name: "p",
    packet: PacketType::of::<u64>,
    arcs: ArcFactory::of::<u64>(),
};

/// One output port of `u64`.
struct Out1(OutPort<u64>);

impl OutputSet for Out1 {
    const LEN: usize = 1;
    fn from_ends(ends: Vec<End>) -> Self {
        Out1(OutPort::from_end(ends.into_iter().next().unwrap()))
    }
    fn into_ends(self) -> Vec<End> {
        vec![self.0.into_end()]
    }
    fn port(&mut self, _: usize) -> &mut dyn ErasedOutPort {
        &mut self.0
    }
}

/// One input port of `u64` (any number of arcs).
struct In1(InPort<u64>);

impl InputSet for In1 {
    const LEN: usize = 1;
    fn from_ends(ends: Vec<Vec<End>>) -> Self {
        In1(InPort::from_ends(ends.into_iter().next().unwrap()))
    }
    fn into_ends(self) -> Vec<Vec<End>> {
        vec![self.0.into_ends()]
    }
    fn port(&self, _: usize) -> &dyn ErasedInPort {
        &self.0
    }
    fn port_mut(&mut self, _: usize) -> &mut dyn ErasedInPort {
        &mut self.0
    }
}

/// A source: emits `left` packets, then is idle.
struct Emit {
    left: u64,
}

impl Component for Emit {
    type Inputs = NoInputs;
    type Outputs = Out1;
    const META: ComponentMeta = ComponentMeta {
        name: "Emit",
        version: 1,
        inputs: &[],
        outputs: &[U64_PORT],
        polls: true,
        state: false,
        migrations: &[],
        downgrades: &[],
        code: 0,
    };
    fn __drain(&mut self, _: &mut NoInputs, _: &mut Out1, _: usize, _: usize, _: usize) -> Drained {
        Drained::default()
    }
    fn __generate(&mut self, out: &mut Out1) -> Flow {
        if self.left == 0 {
            return Flow::Idle;
        }
        self.left -= 1;
        out.0.send(self.left);
        Flow::Continue
    }
}

/// A sink: records what it handles, in order, and counts it.
struct Sink {
    seen: Vec<u64>,
    count: Arc<AtomicUsize>,
}

impl Component for Sink {
    type Inputs = In1;
    type Outputs = NoOutputs;
    const META: ComponentMeta = ComponentMeta {
        name: "Sink",
        version: 1,
        inputs: &[U64_PORT],
        outputs: &[],
        polls: false,
        state: false,
        migrations: &[],
        downgrades: &[],
        code: 0,
    };
    fn __drain(
        &mut self,
        inputs: &mut In1,
        _: &mut NoOutputs,
        _: usize,
        arc: usize,
        budget: usize,
    ) -> Drained {
        let (seen, count) = (&mut self.seen, &self.count);
        inputs.0.drain(arc, budget, |x| {
            seen.push(x);
            count.fetch_add(1, Ordering::SeqCst);
        })
    }
}

const BUDGET: usize = 4;

fn out_end(id: ArcId, tx: RingTx<u64>) -> End {
    End {
        id,
        end: Box::new(Tx::from(tx)),
        ended: false,
    }
}

fn in_end(id: ArcId, rx: RingRx<u64>) -> End {
    End {
        id,
        end: Box::new(Rx::Ring(rx)),
        ended: false,
    }
}

/// A part in update `sync`: align on `wait`, forward on `forward`, and, if
/// `keep` is given, change (keeping the component and these arcs).
fn part(
    sync: &StdArc<UpdateSync>,
    wait: Vec<ArcId>,
    forward: Vec<ArcId>,
    keep: Option<(Vec<Vec<ArcId>>, Vec<ArcId>)>,
) -> Reconfig {
    Reconfig {
        update: sync.clone(),
        wait,
        forward,
        change: keep.map(|(ins, outs)| Change {
            inputs: ins
                .into_iter()
                .map(|p| p.into_iter().map(ArcSpec::Keep).collect())
                .collect(),
            outputs: outs.into_iter().map(ArcSpec::Keep).collect(),
            component: ComponentChange::Keep,
        }),
        migrator: Migrator::new("loom"),
    }
}

/// Runs a node as its worker would until `done` holds (given whether the
/// node has committed) and it has no work: a step, the commit it asks for,
/// and a park guarded by `has_work`.
fn work(mut node: Box<dyn Node>, sleeper: &Sleeper, done: impl Fn(bool) -> bool) -> Box<dyn Node> {
    let mut committed = false;
    loop {
        let step = node.step(BUDGET).expect("no panic");
        if step.commit {
            node = node
                .commit(&mut Locals::default())
                .expect("installs")
                .expect("kept");
            committed = true;
            continue;
        }
        if done(committed) && !node.has_work() {
            return node;
        }
        if !step.progress {
            sleeper.park_unless(None, || node.has_work());
        }
    }
}

fn finished(sync: &UpdateSync) -> bool {
    sync.wait_until(std::time::Instant::now()).is_empty()
}

fn names(n: &[&str]) -> Vec<String> {
    n.iter().map(|s| s.to_string()).collect()
}

/// Issue #9's hang, model-checked: `p` has filled a ring of capacity 1 and
/// staged one more packet; the coordinated update of `p` and `q` makes `p`
/// stage its marker behind it and pause for the decision, which needs `q`
/// to receive that marker. `q` frees room and notifies while `p` is about
/// to park. In no interleaving may both workers sleep (loom reports a
/// deadlock if they can); the update commits and `q` handles every packet.
#[test]
fn loom_a_marker_staged_for_a_full_ring_is_never_slept_through() {
    let mut model = loom::model::Builder::new();
    model.preemption_bound = Some(3);
    model.check(|| {
        let (sp, sq) = (Sleeper::new(), Sleeper::new());
        let sync = StdArc::new(UpdateSync::new(
            1,
            false,
            names(&["p", "q"]),
            names(&["p", "q"]),
            vec![sp.waker(), sq.waker()],
        ));
        let (tx, rx) = queue::ring::<u64>(1, sp.waker(), sq.waker());
        let count = Arc::new(AtomicUsize::new(0));
        let env = StdArc::new(Env::default());
        let q = {
            let (sync, count, env) = (sync.clone(), count.clone(), env.clone());
            let rc = part(&sync, vec![0], vec![], Some((vec![vec![0]], vec![])));
            thread::spawn(move || {
                let mut q = node(
                    "q",
                    Sink {
                        seen: Vec::new(),
                        count: count.clone(),
                    },
                    In1::from_ends(vec![vec![in_end(0, rx)]]),
                    NoOutputs,
                    &env,
                );
                q.set_pending(rc, None);
                let q = work(Box::new(q), &sq, |committed| {
                    committed && count.load(Ordering::SeqCst) == 2
                });
                assert_eq!(count.load(Ordering::SeqCst), 2);
                drop(q);
            })
        };
        let mut p = node(
            "p",
            Emit { left: 2 },
            NoInputs,
            Out1::from_ends(vec![out_end(0, tx)]),
            &env,
        );
        // Two packets: one fills the ring, one stays staged behind it.
        let _ = p.step(BUDGET).unwrap();
        p.set_pending(part(&sync, vec![], vec![0], Some((vec![], vec![0]))), None);
        sync.arm();
        let _p = work(Box::new(p), &sp, |committed| committed);
        q.join().unwrap();
        assert!(finished(&sync));
        assert!(sync.failure().is_none());
        assert_eq!(sync.decision(), Decision::Commit);
    });
}

/// Marker alignment between two workers: two producers each send a packet,
/// the marker and another packet through rings of capacity 1 into one
/// input of `y`. Whatever the interleaving, `y` handles no packet from
/// behind a marker before it has the marker of both arcs (the arc that
/// delivered it first is held), and it handles every packet once.
#[test]
fn loom_alignment_holds_what_follows_the_marker_until_both_arrived() {
    let mut model = loom::model::Builder::new();
    model.preemption_bound = Some(2);
    model.check(|| {
        let sy = Sleeper::new();
        let sync = StdArc::new(UpdateSync::new(
            1,
            false,
            Vec::new(),
            names(&["y"]),
            vec![sy.waker()],
        ));
        let mut ends = Vec::new();
        let mut producers = Vec::new();
        for arc in 0..2u64 {
            let sp = Sleeper::new();
            let (tx, rx) = queue::ring::<u64>(1, sp.waker(), sy.waker());
            ends.push(in_end(arc, rx));
            producers.push(thread::spawn(move || {
                let mut tx = Tx::from(tx);
                tx.send(Item::Data(10 + arc));
                tx.send(Item::Marker(1));
                tx.send(Item::Data(20 + arc));
                while !tx.is_flushed() {
                    if !tx.flush() {
                        sp.park_unless(None, || tx.can_flush());
                    }
                }
            }));
        }
        let count = Arc::new(AtomicUsize::new(0));
        let env = StdArc::new(Env::default());
        let mut y = node(
            "y",
            Sink {
                seen: Vec::new(),
                count: count.clone(),
            },
            In1::from_ends(vec![ends]),
            NoOutputs,
            &env,
        );
        y.set_pending(part(&sync, vec![0, 1], vec![], None), None);
        sync.arm();
        let y = work(Box::new(y), &sy, |_| {
            finished(&sync) && count.load(Ordering::SeqCst) == 4
        });
        for p in producers {
            p.join().unwrap();
        }
        let sink = y.into_component().downcast::<Sink>().ok().unwrap();
        let seen = &sink.seen;
        let before = |x: &u64| *x < 20;
        let last_before = seen.iter().rposition(before).unwrap();
        let first_after = seen.iter().position(|x| !before(x)).unwrap();
        assert!(
            last_before < first_after,
            "a packet behind a marker was handled before alignment: {seen:?}"
        );
        assert_eq!(seen.len(), 4);
    });
}

/// The mailbox against its worker: a part posted while the worker is about
/// to park is never slept through; and a part posted while the worker exits
/// (closes its mailbox) is handled exactly once, by the worker or returned
/// to the poster, never lost.
#[test]
fn loom_a_posted_part_is_never_slept_through_nor_lost() {
    for exiting in [false, true] {
        loom::model(move || {
            let sleeper = Sleeper::new();
            let waker = sleeper.waker();
            let mailbox = StdArc::new(Mailbox::default());
            let sync = StdArc::new(UpdateSync::new(
                1,
                false,
                Vec::new(),
                names(&["x"]),
                Vec::new(),
            ));
            let handled = Arc::new(AtomicUsize::new(0));
            let control = {
                let (mailbox, sync, handled) = (mailbox.clone(), sync.clone(), handled.clone());
                thread::spawn(move || {
                    let command = Command::Reconfig {
                        instance: "x".to_owned(),
                        rc: part(&sync, Vec::new(), Vec::new(), None),
                        watch: None,
                    };
                    match mailbox.post(command) {
                        Ok(()) => waker.force(),
                        Err(command) => {
                            handled.fetch_add(1, Ordering::SeqCst);
                            refuse(*command, NotRun::WorkerStopped(0));
                        }
                    }
                })
            };
            let take = |commands: Vec<Command>| {
                for c in commands {
                    handled.fetch_add(1, Ordering::SeqCst);
                    refuse(c, NotRun::GraphFinished);
                }
            };
            if exiting {
                take(mailbox.take());
                take(mailbox.close());
            } else {
                loop {
                    let mail = mailbox.take();
                    if !mail.is_empty() {
                        take(mail);
                        break;
                    }
                    sleeper.park_unless(None, || mailbox.has_mail());
                }
            }
            control.join().unwrap();
            assert_eq!(handled.load(Ordering::SeqCst), 1);
            assert!(finished(&sync));
        });
    }
}

/// A watched instance's panic, the end of the watch's window and the
/// update keeping the replaced version race (worker, watcher, worker):
/// exactly one of the panic (a rollback) and the window's end wins; a
/// rollback is announced once and finds the kept version; once the window
/// has ended nothing stays kept.
#[test]
fn loom_a_watch_ends_in_a_rollback_or_at_its_window_never_both() {
    use crate::exec::contract::Watch;
    use crate::exec::node::IncomingOf;
    use crate::exec::watch::RestoreNote;
    loom::model(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        let w = StdArc::new(Watch::new(
            1,
            std::time::Duration::from_secs(3600),
            vec!["x".to_owned()],
            tx,
        ));
        let keeper = {
            let w = w.clone();
            thread::spawn(move || {
                let old = IncomingOf::fresh(Emit { left: 0 });
                w.keep("x", Box::new(old), RestoreNote::default());
            })
        };
        let panicker = {
            let w = w.clone();
            thread::spawn(move || w.panicked("x", "boom"))
        };
        let expired = w.expire();
        keeper.join().unwrap();
        let rolling_back = panicker.join().unwrap();
        assert_ne!(expired, rolling_back, "exactly one of them wins");
        assert_eq!(rx.try_iter().count(), usize::from(rolling_back));
        assert_eq!(w.kept(), usize::from(rolling_back));
    });
}

/// A ring whose control items fill their ring (one slot under loom): two
/// markers in a row, then a packet and the end of stream, with both sides
/// parking. The producer, parked on the full control ring, must be woken
/// by the consumer taking a marker alone (no packet); every item arrives
/// once and in order.
#[test]
fn loom_a_full_ring_of_control_items_is_never_slept_through() {
    let mut model = loom::model::Builder::new();
    model.preemption_bound = Some(3);
    model.check(|| {
        let (sp, sc) = (Sleeper::new(), Sleeper::new());
        let (tx, rx) = queue::ring::<u64>(1, sp.waker(), sc.waker());
        let producer = thread::spawn(move || {
            let mut tx = Tx::from(tx);
            let items = [Item::Data(1), Item::Marker(1), Item::Marker(2)];
            for item in items.into_iter().chain([Item::Data(2), Item::End]) {
                tx.send(item);
            }
            while !tx.is_flushed() {
                if !tx.flush() {
                    sp.park_unless(None, || tx.can_flush());
                }
            }
        });
        let mut rx = Rx::Ring(rx);
        let mut seen = Vec::new();
        loop {
            let (_, stop) = rx.drain(4, |x| seen.push(Item::Data(x)));
            match stop {
                Stop::None => sc.park_unless(None, || rx.has_item()),
                Stop::Marker(id) => seen.push(Item::Marker(id)),
                Stop::End => break,
            }
        }
        producer.join().unwrap();
        let expected = [
            Item::Data(1),
            Item::Marker(1),
            Item::Marker(2),
            Item::Data(2),
        ];
        assert_eq!(seen, expected);
    });
}
