//! The control side of a running graph: applies updates. Validate the
//! edits into a [`Draft`], plan each instance's part, deliver the parts,
//! arm, wait until every instance is done (or the deadline), then publish
//! the new shape if the update committed.

use crate::channel::arc::EndPlan;
use crate::channel::port::ArcId;
use crate::channel::wake::Waker;
use crate::exec::contract::{ArcSpec, Change, ComponentChange, Notice, Reconfig, Unbuilt, Watch};
use crate::exec::decision::{Decision, Failure, Standing, UpdateSync};
use crate::exec::migrate::Migrator;
use crate::exec::worker::{refuse, Command, Mailbox};
use crate::model::failure::NotRun;
use crate::model::schedule::Schedule;
use crate::model::shape::{InstanceStatus, Shape, HISTORY};
use crate::sync::{lock, AtomicU64, Condvar, Mutex, Ordering};
use crate::update::draft::Draft;
use crate::update::evolve::{Evolution, EvolutionError};
use crate::update::refusal::Refusal;
use crate::update::request::{Edit, Rollback, Update, UpdateError, UpdateReport};
use crate::update::span::{Coordinator, Verdict, SPANNING_IDS};
use evoflow_graph::reachable;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Instances reachable from `from` along arcs (forwards or backwards).
/// Paths through other machines count: a packet that leaves this
/// machine at `u` and comes back at `v` is on a path from `u` to `v`.
fn reach(g: &Shape, from: &HashSet<String>, forward: bool) -> HashSet<String> {
    reachable(from.iter().cloned(), |n: &String| {
        let inst = &g.instances[n];
        let arcs = if forward { &inst.outs } else { &inst.ins };
        let local = arcs.iter().map(|id| {
            let a = &g.arcs[id];
            if forward {
                &a.to.0
            } else {
                &a.from.0
            }
        });
        let through = g.through.iter().filter_map(|(u, v)| match forward {
            true if u == n => Some(v),
            false if v == n => Some(u),
            _ => None,
        });
        local.chain(through).cloned().collect::<Vec<_>>()
    })
}

/// How long the parts of a spanning update get to install the decision
/// when it comes at (or after) the deadline.
const FINISH_AFTER_DECISION: Duration = Duration::from_secs(1);

/// The error a failure of an update is reported as.
fn error_of(failure: Failure, limit: Duration) -> UpdateError {
    match failure {
        Failure::TimedOut { unprepared } => UpdateError::TimedOut {
            deadline: limit,
            unprepared,
        },
        Failure::AfterCommit { instance, reason } => {
            UpdateError::FailedAfterCommit { instance, reason }
        }
        Failure::Prepare { instance, reason } => UpdateError::RolledBack { instance, reason },
        Failure::Elsewhere { why } => UpdateError::AbortedElsewhere { why },
    }
}

/// Why this machine votes against a spanning update that aborted here.
fn refusal(sync: &UpdateSync, limit: Duration) -> String {
    match sync.failure() {
        Some(f) => error_of(f, limit).to_string(),
        None => "it aborted".to_owned(),
    }
}

/// The instances an update changes (S), and its region (R): S and every
/// instance on a path between two of them (only possible with two or
/// more).
struct Region {
    changing: HashSet<String>,
    all: HashSet<String>,
}

/// The instances an update changes: replaced, removed, or at an end of
/// an arc it adds or drops.
fn changing(old: &Shape, d: &Draft) -> HashSet<String> {
    let mut changing: HashSet<String> = d
        .metas
        .keys()
        .filter(|n| !d.inserted.contains_key(*n))
        .cloned()
        .collect();
    changing.extend(d.removed.iter().cloned());
    for a in d
        .added
        .iter()
        .chain(d.dropped.iter().map(|id| &old.arcs[id]))
    {
        for end in [&a.from.0, &a.to.0] {
            if old.instances.contains_key(end) {
                changing.insert(end.clone());
            }
        }
    }
    changing
}

fn region(old: &Shape, d: &Draft) -> Region {
    let changing = changing(old, d);
    let all = if changing.len() > 1 {
        let (down, up) = (reach(old, &changing, true), reach(old, &changing, false));
        down.intersection(&up)
            .cloned()
            .chain(changing.iter().cloned())
            .collect()
    } else {
        changing.clone()
    };
    Region { changing, all }
}

/// Refuses a region that a path through another machine is part of: its
/// markers would have to cross machines, which only that machine could
/// send on.
fn across_machines(old: &Shape, region: &Region) -> Result<(), Refusal> {
    match old
        .through
        .iter()
        .find(|(u, v)| region.all.contains(u) && region.all.contains(v))
    {
        Some((u, _)) => Err(Refusal::AcrossMachines {
            instance: u.clone(),
        }),
        None => Ok(()),
    }
}

/// The control side of a running graph.
///
/// Readers never wait for an update in progress: the shape's lock is held
/// only to validate and plan an update and to record it once committed,
/// never while an update waits for its instances. Writers take turns; each
/// waits at most until its deadline, for its turn and for its update.
pub(crate) struct Control {
    /// The shape as of the last committed update.
    shape: Mutex<Shape>,
    turn: Mutex<Turn>,
    turn_free: Condvar,
    mailboxes: Vec<Arc<Mailbox>>,
    wakers: Vec<Arc<Waker>>,
    migrator: Migrator,
    next_update: AtomicU64,
    /// To the watcher thread (see `watch`).
    notices: Sender<Notice>,
    /// The most recent rollbacks of watched updates, oldest first.
    rollbacks: Mutex<VecDeque<Rollback>>,
    /// Watches whose window may still be open.
    watches: Mutex<Vec<std::sync::Weak<Watch>>>,
}

/// Whose turn it is to update.
#[derive(Default)]
struct Turn {
    busy: bool,
    /// An update whose caller stopped waiting at its deadline while some
    /// of its parts had not finished (they abort, or install, when their
    /// worker next runs them). The next update waits for it first: no
    /// instance ever holds parts of two updates.
    lingering: Option<Arc<UpdateSync>>,
}

/// Gives the turn back, also if the update panics.
struct Holding<'a> {
    control: &'a Control,
    lingering: Option<Arc<UpdateSync>>,
}

impl Drop for Holding<'_> {
    fn drop(&mut self) {
        let mut turn = lock(&self.control.turn);
        turn.busy = false;
        turn.lingering = self.lingering.take();
        drop(turn);
        self.control.turn_free.notify_one();
    }
}

impl Control {
    pub(crate) fn new(
        graph: Shape,
        mailboxes: Vec<Arc<Mailbox>>,
        wakers: Vec<Arc<Waker>>,
        migrator: Migrator,
        notices: Sender<Notice>,
    ) -> Self {
        Control {
            shape: Mutex::new(graph),
            turn: Mutex::new(Turn::default()),
            turn_free: Condvar::new(),
            mailboxes,
            wakers,
            migrator,
            next_update: AtomicU64::new(1),
            notices,
            rollbacks: Mutex::new(VecDeque::new()),
            watches: Mutex::new(Vec::new()),
        }
    }

    /// Ends early the watches of earlier updates whose instances update
    /// `id` changes: their rollback would undo this update's work on them
    /// (or no longer apply); panics there are their supervision's again.
    fn end_watches_touched(&self, touched: &HashSet<&str>, id: u64) {
        lock(&self.watches).retain(|w| {
            let Some(w) = w.upgrade() else { return false };
            if !w.instances.iter().any(|i| touched.contains(i.as_str())) {
                return true;
            }
            if w.expire() {
                tracing::info!(
                    update = id,
                    "ends the watch of update #{} early: it changes an instance that update replaced",
                    w.update
                );
            }
            false
        });
    }

    /// The most recent rollbacks (at most [`HISTORY`]), oldest first.
    pub(crate) fn rollbacks(&self) -> Vec<Rollback> {
        lock(&self.rollbacks).iter().cloned().collect()
    }

    pub(crate) fn record_rollback(&self, rollback: Rollback) {
        let mut all = lock(&self.rollbacks);
        if all.len() == HISTORY {
            all.pop_front();
        }
        all.push_back(rollback);
    }

    pub(crate) fn schedule(&self) -> Schedule {
        lock(&self.shape).schedule()
    }

    pub(crate) fn instances(&self) -> Vec<InstanceStatus> {
        let g = lock(&self.shape);
        g.order
            .iter()
            .map(|name| (name, &g.instances[name]))
            .map(|(name, i)| InstanceStatus {
                name: name.clone(),
                component: i.meta.name.to_owned(),
                version: i.meta.version,
                worker: i.worker,
                changes: i.changes,
                history: i.history.clone(),
            })
            .collect()
    }

    pub(crate) fn evolution(
        &self,
        target: (Shape, Vec<Unbuilt>),
    ) -> Result<Evolution, EvolutionError> {
        Evolution::between(&lock(&self.shape), target)
    }

    /// Waits (until `deadline`) for the turn to update, then for the
    /// previous update's lingering parts to finish.
    fn take_turn(&self, deadline: Instant) -> Result<Holding<'_>, UpdateError> {
        let mut turn = lock(&self.turn);
        while turn.busy {
            let now = Instant::now();
            if now >= deadline {
                return Err(UpdateError::Busy {
                    update: None,
                    instances: Vec::new(),
                });
            }
            turn = self
                .turn_free
                .wait_timeout(turn, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        turn.busy = true;
        let mut holding = Holding {
            control: self,
            lingering: turn.lingering.take(),
        };
        drop(turn);
        if let Some(previous) = &holding.lingering {
            let unfinished = previous.wait_until(deadline);
            if !unfinished.is_empty() {
                return Err(UpdateError::Busy {
                    update: Some(previous.id),
                    instances: unfinished,
                });
            }
            holding.lingering = None;
        }
        Ok(holding)
    }

    /// Applies `update`, waiting for it at most until its deadline.
    pub(crate) fn apply(&self, update: Update) -> Result<UpdateReport, UpdateError> {
        self.run(update, None)
    }

    /// Applies `update` as this machine's part of an update spanning
    /// machines, coordinated by `c` (see [`Coordinator`]).
    pub(crate) fn apply_spanning(
        &self,
        update: Update,
        c: &mut dyn Coordinator,
    ) -> Result<UpdateReport, UpdateError> {
        assert!(
            c.id() >= SPANNING_IDS,
            "ids of spanning updates are at least SPANNING_IDS"
        );
        self.run(update, Some(c))
    }

    fn run(
        &self,
        update: Update,
        spanning: Option<&mut dyn Coordinator>,
    ) -> Result<UpdateReport, UpdateError> {
        let start = Instant::now();
        let limit = update.limit();
        let deadline = start + limit;
        if update.watch.is_some()
            && (spanning.is_some()
                || update
                    .edits
                    .iter()
                    .any(|e| !matches!(e, Edit::Replace { .. })))
        {
            return Err(UpdateError::Refused(Refusal::WatchedNotOnlyReplacing));
        }
        let mut holding = self.take_turn(deadline)?;
        let shape = lock(&self.shape);
        let name = shape.name.clone();
        let id = match &spanning {
            Some(c) => c.id(),
            None => self.next_update.fetch_add(1, Ordering::Relaxed),
        };
        let touched: Vec<String> = update
            .edits
            .iter()
            .flat_map(Edit::instances)
            .map(str::to_owned)
            .collect();
        let watch = update.watch.map(|window| {
            let w = Arc::new(Watch::new(
                id,
                window,
                touched.clone(),
                self.notices.clone(),
            ));
            // The watcher ends its window; it also handles a panic that
            // comes before this update returns.
            let _ = self.notices.send(Notice::Started(w.clone()));
            w
        });
        let refused = |why: Refusal| {
            tracing::warn!(update = id, graph = %name, "update refused: {why}");
            UpdateError::Refused(why)
        };
        let draft = match spanning {
            Some(_) => Draft::of(&shape, update.edits),
            None => Draft::new(&shape, update.edits),
        };
        let mut draft = draft.map_err(refused)?;
        let region = match &spanning {
            None => {
                let region = region(&shape, &draft);
                across_machines(&shape, &region).map_err(refused)?;
                region
            }
            Some(c) => {
                c.agrees(&shape.schedule())
                    .map_err(|why| refused(Refusal::RegionOutdated { why }))?;
                let changing = changing(&shape, &draft);
                if let Some(outside) = changing.iter().find(|n| !c.region().contains(*n)) {
                    return Err(refused(Refusal::OutsideRegion {
                        instance: outside.clone(),
                    }));
                }
                Region {
                    changing,
                    all: c.region().clone(),
                }
            }
        };
        self.end_watches_touched(&touched.iter().map(String::as_str).collect(), id);
        if let Some(w) = &watch {
            lock(&self.watches).push(Arc::downgrade(w));
        }
        let coordinated = spanning.is_some();
        let (sync, commands) =
            self.plan(&shape, &mut draft, &region, id, coordinated, watch.as_ref());
        drop(shape);
        for (_, change) in &mut draft.report.replaced {
            change.update = id;
        }
        draft.report.id = id;
        draft.report.participants = commands.len();
        let mut report = draft.report.clone();
        if Instant::now() >= deadline && !coordinated {
            return Err(UpdateError::Busy {
                update: None,
                instances: Vec::new(),
            });
        }
        // Every part is posted before the update is armed, so an instance
        // has its part before any marker of the update can reach it (see
        // `ComponentNode::is_stale`); across machines, every machine
        // posts before any arms.
        for (worker, command) in commands {
            if let Err(command) = self.mailboxes[worker].post(command) {
                refuse(*command, NotRun::WorkerStopped(worker));
            }
        }
        // Lingers (the next update waits for it) until every part is done.
        holding.lingering = Some(sync.clone());
        let mut finish_by = deadline;
        if let Some(c) = spanning {
            match c.posted() {
                // Armed aborted, the parts end at once.
                Err(why) => sync.settle(false, &why),
                Ok(()) => {
                    sync.arm();
                    let vote = match sync.wait_standing(deadline) {
                        Standing::Prepared if sync.vote_commit() => Ok(()),
                        Standing::Prepared | Standing::Failed => Err(refusal(&sync, limit)),
                        Standing::Late(_) => {
                            sync.abort_late();
                            Err(refusal(&sync, limit))
                        }
                    };
                    match c.vote(vote) {
                        Verdict::Commit => sync.settle(true, ""),
                        Verdict::Abort(why) => sync.settle(false, &why),
                        Verdict::Unknown(why) => {
                            let e = UpdateError::InDoubt { why };
                            tracing::error!(update = id, graph = %name, "{e}");
                            return Err(e);
                        }
                    }
                    // The decision may come at the deadline: the parts
                    // still get time to install it.
                    finish_by = deadline.max(Instant::now() + FINISH_AFTER_DECISION);
                }
            }
        }
        sync.arm();
        let unfinished = sync.wait_until(finish_by);
        if unfinished.is_empty() {
            holding.lingering = None;
        } else {
            sync.abort_late();
        }
        if sync.decision() == Decision::Commit {
            // Validated by the draft: recording it cannot fail.
            draft.apply(&mut lock(&self.shape));
        }
        report.duration = start.elapsed();
        let e = match sync.failure() {
            Some(f) => error_of(f, limit),
            None if !unfinished.is_empty() => UpdateError::CommittedUnfinished {
                instances: unfinished,
            },
            None => {
                tracing::info!(update = id, graph = %name, "{report}");
                return Ok(report);
            }
        };
        match e {
            UpdateError::FailedAfterCommit { .. } => {
                tracing::error!(update = id, graph = %name, "{e}")
            }
            _ => tracing::warn!(update = id, graph = %name, "{e}"),
        }
        Err(e)
    }

    /// Computes every instance's part in the update (see `reconfig`).
    fn plan(
        &self,
        old: &Shape,
        d: &mut Draft,
        Region {
            changing,
            all: region,
        }: &Region,
        id: u64,
        coordinated: bool,
        watch: Option<&Arc<Watch>>,
    ) -> (Arc<UpdateSync>, Vec<(usize, Command)>) {
        // Both ends of every new arc.
        let (mut tx_plans, mut rx_plans): (HashMap<ArcId, EndPlan>, HashMap<ArcId, EndPlan>) =
            Default::default();
        for a in &d.added {
            let (wf, wt) = (d.worker(old, &a.from.0), d.worker(old, &a.to.0));
            let (tx, rx) = a.factory.plan(
                a.id,
                a.capacity,
                (wf, &self.wakers[wf]),
                (wt, &self.wakers[wt]),
            );
            tx_plans.insert(a.id, tx);
            rx_plans.insert(a.id, rx);
        }
        let mut change_of = |d: &Draft, name: &str, component: ComponentChange| -> Change {
            let Some(meta) = d.meta(old, name) else {
                return Change {
                    inputs: Vec::new(),
                    outputs: Vec::new(),
                    component,
                };
            };
            let spec = |id: ArcId, plans: &mut HashMap<ArcId, EndPlan>| match plans.remove(&id) {
                Some(plan) => ArcSpec::New(plan),
                None => ArcSpec::Keep(id),
            };
            let (ins, outs) = (d.arcs(old, name, true), d.arcs(old, name, false));
            // Arcs to other machines are kept as they are (the draft
            // checked that the ports are).
            let remote = |incoming: bool, port: &'static str| {
                old.remote_of(name)
                    .filter(move |r| r.incoming == incoming && r.local.1 == port)
                    .map(|r| ArcSpec::Keep(r.id))
            };
            let inputs = meta
                .inputs
                .iter()
                .map(|port| {
                    ins.iter()
                        .filter(|a| a.to.1 == port.name)
                        .map(|a| spec(a.id, &mut rx_plans))
                        .chain(remote(true, port.name))
                        .collect()
                })
                .collect();
            let outputs = meta
                .outputs
                .iter()
                .map(|port| match outs.iter().find(|a| a.from.1 == port.name) {
                    Some(a) => spec(a.id, &mut tx_plans),
                    None => remote(false, port.name)
                        .next()
                        .expect("validated: one arc per output"),
                })
                .collect();
            Change {
                inputs,
                outputs,
                component,
            }
        };

        let inserted: Vec<String> = d.inserted.keys().cloned().collect();
        let prepare: Vec<String> = changing.iter().chain(&inserted).cloned().collect();
        let participants = region
            .iter()
            .filter(|n| old.instances.contains_key(*n))
            .chain(&inserted)
            .cloned()
            .collect();
        let sync = Arc::new(UpdateSync::new(
            id,
            coordinated,
            prepare,
            participants,
            self.wakers.clone(),
        ));
        let mut commands = Vec::new();
        // This machine's instances of the region (a spanning update's
        // region holds the other machines' too).
        for name in region.iter().filter(|n| old.instances.contains_key(*n)) {
            let inst = &old.instances[name];
            // Across machines too: the region is the whole graph's.
            let across = |incoming: bool| {
                old.remote_of(name)
                    .filter(move |r| r.incoming == incoming && region.contains(&r.foreign))
                    .map(|r| r.id)
            };
            let wait = inst
                .ins
                .iter()
                .filter(|a| region.contains(&old.arcs[*a].from.0))
                .copied()
                .chain(across(true))
                .collect();
            let forward = inst
                .outs
                .iter()
                .filter(|a| region.contains(&old.arcs[*a].to.0))
                .copied()
                .chain(across(false))
                .collect();
            let mut watched = None;
            let change = changing.contains(name).then(|| {
                let component = if d.removed.contains(name) {
                    ComponentChange::Remove
                } else if let Some(incoming) = d.incoming.remove(name) {
                    watched = watch.cloned();
                    ComponentChange::Replace(incoming)
                } else {
                    ComponentChange::Keep
                };
                change_of(d, name, component)
            });
            let rc = Reconfig {
                update: sync.clone(),
                wait,
                forward,
                change,
                migrator: self.migrator.clone(),
            };
            commands.push((
                inst.worker,
                Command::Reconfig {
                    instance: name.clone(),
                    rc,
                    watch: watched,
                },
            ));
        }
        for name in inserted {
            let incoming = d.incoming.remove(&name).expect("inserted with a component");
            let change = change_of(d, &name, ComponentChange::Replace(incoming));
            let rc = Reconfig {
                update: sync.clone(),
                wait: Vec::new(),
                forward: Vec::new(),
                change: Some(change),
                migrator: self.migrator.clone(),
            };
            commands.push((d.worker(old, &name), Command::Insert { instance: name, rc }));
        }
        (sync, commands)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::channel::wake::Sleeper;
    use crate::testkit::edit::{connect, disconnect, insert, remove, replace};
    use crate::testkit::{chain, fresh, map, shape, sink, Meta};
    use std::collections::BTreeMap;

    /// What becomes of an instance's component in its part.
    #[derive(Debug, PartialEq, Eq)]
    enum Does {
        /// Passes the marker on only.
        Forward,
        Keep,
        Replace,
        Remove,
    }

    /// How a port's arc comes after the update.
    #[derive(Debug, PartialEq, Eq)]
    enum Spec {
        Keep,
        Local,
        Ring,
    }

    /// One instance's part, with arcs as labels.
    #[derive(Debug)]
    struct Part {
        worker: usize,
        inserted: bool,
        wait: Vec<String>,
        forward: Vec<String>,
        does: Does,
        inputs: Vec<Vec<Spec>>,
        outputs: Vec<Spec>,
    }

    fn control(workers: usize) -> Control {
        let wakers = (0..workers).map(|_| Sleeper::new().waker()).collect();
        let mailboxes = (0..workers).map(|_| Arc::new(Mailbox::default())).collect();
        let (notices, _) = std::sync::mpsc::channel();
        Control::new(
            shape(workers, &[], &[]),
            mailboxes,
            wakers,
            Migrator::new("g"),
            notices,
        )
    }

    /// Every instance's part in the update `edits` of `g`, by name.
    fn parts(g: &Shape, edits: Vec<Edit>) -> BTreeMap<String, Part> {
        let mut d = Draft::new(g, edits).unwrap_or_else(|e| panic!("refused: {e}"));
        let region = region(g, &d);
        let (_, commands) = control(g.workers).plan(g, &mut d, &region, 1, false, None);
        let label = |id: &ArcId| {
            g.arcs
                .get(id)
                .or_else(|| d.added.iter().find(|a| a.id == *id))
                .map(|a| a.label())
                .expect("a known arc")
        };
        let spec = |s: &ArcSpec| match s {
            ArcSpec::Keep(_) => Spec::Keep,
            ArcSpec::New(EndPlan::Local { .. }) => Spec::Local,
            ArcSpec::New(EndPlan::Made { .. }) => Spec::Ring,
        };
        let mut all = BTreeMap::new();
        for (worker, command) in commands {
            let (instance, rc, inserted) = match command {
                Command::Reconfig { instance, rc, .. } => (instance, rc, false),
                Command::Insert { instance, rc } => (instance, rc, true),
            };
            let mut wait: Vec<String> = rc.wait.iter().map(label).collect();
            let mut forward: Vec<String> = rc.forward.iter().map(label).collect();
            wait.sort();
            forward.sort();
            let (does, inputs, outputs) = match &rc.change {
                None => (Does::Forward, Vec::new(), Vec::new()),
                Some(c) => (
                    match c.component {
                        ComponentChange::Keep => Does::Keep,
                        ComponentChange::Replace(_) => Does::Replace,
                        ComponentChange::Remove => Does::Remove,
                        ComponentChange::Migrating(_) => panic!("planned as migrating"),
                    },
                    c.inputs
                        .iter()
                        .map(|p| p.iter().map(spec).collect())
                        .collect(),
                    c.outputs.iter().map(spec).collect(),
                ),
            };
            let part = Part {
                worker,
                inserted,
                wait,
                forward,
                does,
                inputs,
                outputs,
            };
            assert!(
                all.insert(instance, part).is_none(),
                "one part per instance"
            );
        }
        all
    }

    fn names(parts: &BTreeMap<String, Part>) -> Vec<&str> {
        parts.keys().map(String::as_str).collect()
    }

    fn set(names: &[&str]) -> HashSet<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    #[test]
    fn reach_follows_arcs_forwards_or_backwards_from_every_start() {
        let g = chain();
        assert_eq!(reach(&g, &set(&["b"]), true), set(&["b", "c", "sink"]));
        assert_eq!(reach(&g, &set(&["b"]), false), set(&["src", "a", "b"]));
        assert_eq!(reach(&g, &set(&["sink"]), true), set(&["sink"]));
        assert_eq!(
            reach(&g, &set(&["a", "c"]), false),
            set(&["src", "a", "b", "c"])
        );
    }

    #[test]
    fn a_single_replace_is_a_region_of_one_that_waits_for_no_marker() {
        let p = parts(&chain(), vec![replace("b", fresh(map(2)))]);
        assert_eq!(names(&p), ["b"]);
        let b = &p["b"];
        assert_eq!(b.does, Does::Replace);
        assert!(b.wait.is_empty() && b.forward.is_empty());
        assert_eq!(b.inputs, [[Spec::Keep]]);
        assert_eq!(b.outputs, [Spec::Keep]);
        assert!(!b.inserted);
    }

    #[test]
    fn two_replaces_on_a_chain_take_in_the_instances_between_them() {
        let p = parts(
            &chain(),
            vec![replace("a", fresh(map(2))), replace("c", fresh(map(2)))],
        );
        assert_eq!(names(&p), ["a", "b", "c"], "not src or sink");
        let (a, b, c) = (&p["a"], &p["b"], &p["c"]);
        assert_eq!(
            (&a.does, &b.does, &c.does),
            (&Does::Replace, &Does::Forward, &Does::Replace)
        );
        assert!(a.wait.is_empty(), "src is outside the region");
        assert_eq!(a.forward, ["a.out -> b.in"]);
        assert_eq!(b.wait, ["a.out -> b.in"]);
        assert_eq!(b.forward, ["b.out -> c.in"]);
        assert_eq!(c.wait, ["b.out -> c.in"]);
        assert!(c.forward.is_empty(), "sink is outside the region");
    }

    #[test]
    fn two_replaces_on_parallel_branches_take_in_nothing_around_them() {
        // src.l -> a -> j.x, src.r -> b -> j.y, j -> sink
        let src = Meta::new("Split", 1)
            .output::<u64>("l")
            .output::<u64>("r")
            .leak();
        let j = Meta::new("Join", 1)
            .input::<u64>("x")
            .input::<u64>("y")
            .output::<u64>("out")
            .leak();
        let g = shape(
            1,
            &[
                ("src", src, 0),
                ("a", map(1), 0),
                ("b", map(1), 0),
                ("j", j, 0),
                ("sink", sink(), 0),
            ],
            &[
                ("src.l", "a.in"),
                ("src.r", "b.in"),
                ("a.out", "j.x"),
                ("b.out", "j.y"),
                ("j.out", "sink.in"),
            ],
        );
        let p = parts(
            &g,
            vec![replace("a", fresh(map(2))), replace("b", fresh(map(2)))],
        );
        assert_eq!(names(&p), ["a", "b"]);
        assert!(p
            .values()
            .all(|x| x.wait.is_empty() && x.forward.is_empty()));
        // Replacing `src` and `j` takes in both branches; `j` waits on both.
        let p = parts(&g, vec![replace("src", fresh(src)), replace("j", fresh(j))]);
        assert_eq!(names(&p), ["a", "b", "j", "src"]);
        assert_eq!(p["j"].wait, ["a.out -> j.x", "b.out -> j.y"]);
        assert_eq!(p["src"].forward, ["src.l -> a.in", "src.r -> b.in"]);
        assert_eq!(
            (&p["a"].does, &p["b"].does),
            (&Does::Forward, &Does::Forward)
        );
    }

    #[test]
    fn an_insert_changes_the_instances_it_is_wired_between_and_is_built_new() {
        let g = chain();
        let p = parts(
            &g,
            vec![
                insert("m", None, fresh(map(1))),
                disconnect("a.out", "b.in"),
                connect("a.out", "m.in"),
                connect("m.out", "b.in"),
            ],
        );
        assert_eq!(names(&p), ["a", "b", "m"]);
        let (a, b, m) = (&p["a"], &p["b"], &p["m"]);
        assert_eq!((&a.does, &b.does), (&Does::Keep, &Does::Keep));
        // The marker travels the old arc, which the update then drops.
        assert_eq!(a.forward, ["a.out -> b.in"]);
        assert_eq!(b.wait, ["a.out -> b.in"]);
        assert_eq!(a.outputs, [Spec::Local], "a new arc to `m`");
        assert_eq!(a.inputs, [[Spec::Keep]]);
        assert_eq!(b.inputs, [[Spec::Local]], "a new arc from `m`");
        assert!(m.inserted);
        assert_eq!(m.does, Does::Replace);
        assert!(m.wait.is_empty() && m.forward.is_empty());
        assert_eq!(
            (&m.inputs, &m.outputs),
            (&vec![vec![Spec::Local]], &vec![Spec::Local])
        );
    }

    #[test]
    fn an_insert_on_another_worker_gets_rings_and_runs_there() {
        let g = shape(
            2,
            &[("src", crate::testkit::source(), 0), ("sink", sink(), 0)],
            &[("src.out", "sink.in")],
        );
        let p = parts(
            &g,
            vec![
                insert("m", Some(1), fresh(map(1))),
                disconnect("src.out", "sink.in"),
                connect("src.out", "m.in"),
                connect("m.out", "sink.in"),
            ],
        );
        assert_eq!(p["m"].worker, 1);
        assert_eq!(
            (&p["m"].inputs, &p["m"].outputs),
            (&vec![vec![Spec::Ring]], &vec![Spec::Ring])
        );
        assert_eq!(p["src"].outputs, [Spec::Ring]);
        assert_eq!(p["sink"].inputs, [[Spec::Ring]]);
        assert_eq!((p["src"].worker, p["sink"].worker), (0, 0));
    }

    #[test]
    fn a_removal_changes_its_neighbours_and_forwards_through_itself() {
        let p = parts(&chain(), vec![remove("c"), connect("b.out", "sink.in")]);
        assert_eq!(names(&p), ["b", "c", "sink"]);
        assert_eq!(p["c"].does, Does::Remove);
        assert_eq!(p["c"].wait, ["b.out -> c.in"]);
        assert_eq!(p["c"].forward, ["c.out -> sink.in"]);
        assert_eq!(p["b"].does, Does::Keep);
        assert_eq!(p["b"].outputs, [Spec::Local]);
        assert_eq!(p["sink"].wait, ["c.out -> sink.in"]);
        assert_eq!(p["sink"].inputs, [[Spec::Local]]);
    }
}
