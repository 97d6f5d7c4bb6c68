//! The worker side of a live update: what one instance must do, and the
//! state the instances of one update share.
//!
//! Protocol, per instance of the update's region (section 5 of the design):
//! 1. *Align*: once the update is armed, wait until the marker (or the end
//!    of stream) has arrived on every input arc in `wait`; arcs that
//!    delivered it are held, the others keep flowing.
//! 2. *Forward*: send the marker on the output arcs in `forward`, behind
//!    everything the old version emitted.
//! 3. *Prepare* (instances that change): export the state and build the new
//!    version (a large state's migration on a migrator thread); report
//!    success or failure. Then pause, handling nothing.
//! 4. *Decide*: when every changing instance has prepared, the update
//!    commits: each installs its new version and arcs. If any failed, or
//!    the submitter's deadline passed first, it aborts: each keeps its old
//!    version, with its state and arcs, and releases its held arcs; an
//!    instance still aligning gives up at once, and markers of the update
//!    that reach it later are passed over. Either way no packet was handled
//!    by a version that should not see it.
//!
//! [`gate`] reads where an instance stands without changing anything;
//! [`advance`] acts on the same reading, and a node's park check asks it
//! too, so a kind of pending work cannot be forgotten by one of them.

use crate::component::{Component, ComponentMeta};
use crate::guard::{panic_text, Guarded};
use crate::migrate::Migrator;
use crate::node::{ComponentNode, Env, Node};
use crate::plan::{EndPlan, Locals};
use crate::port::{ArcId, End, InputSet, OutputSet};
use crate::restart::{Factory, Supervisor};
use crate::state::{Resources, State};
use crate::supervise::Supervision;
use crate::sync::{AtomicBool, AtomicU8, Condvar, Mutex, MutexGuard, Ordering};
use crate::wake::Waker;
use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Instant;

const UNDECIDED: u8 = 0;
const COMMIT: u8 = 1;
const ABORT: u8 = 2;

/// The outcome all instances of an update agree on.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    Undecided,
    Commit,
    Abort,
}

/// Why an update did not complete, as its instances (or its deadline)
/// reported it. The first failure wins.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    /// An instance could not prepare (export, migrate, build) before the
    /// decision: the update aborted and nothing changed.
    Prepare { instance: String, reason: String },
    /// An instance could not install its change after the update had
    /// committed: it cannot be undone.
    AfterCommit { instance: String, reason: String },
    /// The deadline passed before these changing instances had prepared:
    /// the update aborted and nothing changed.
    TimedOut { unprepared: Vec<String> },
}

/// Shared by the instances of one update and the thread that submitted it.
///
/// The decision is one atomic, set once (compare-exchange) by whoever
/// settles it: the last instance to prepare (commit), the first to fail,
/// or the submitter at the deadline (abort). Everything else here is
/// control-plane bookkeeping behind mutexes, off the packet path.
pub(crate) struct UpdateSync {
    pub id: u64,
    armed: AtomicBool,
    decision: AtomicU8,
    /// Changing instances that have not prepared yet.
    unprepared: Mutex<Vec<String>>,
    /// The first failure. Recorded under this lock together with the
    /// decision it caused, so a reader sees both or neither.
    failure: Mutex<Option<Failure>>,
    /// Participants not done with the update yet.
    unfinished: Mutex<Vec<String>>,
    finished_cv: Condvar,
    wakers: Vec<Arc<Waker>>,
}

impl UpdateSync {
    /// An update whose `changing` instances must prepare before it commits,
    /// and which is complete once every one of `participants` is done.
    pub(crate) fn new(
        id: u64,
        changing: Vec<String>,
        participants: Vec<String>,
        wakers: Vec<Arc<Waker>>,
    ) -> Self {
        UpdateSync {
            id,
            armed: AtomicBool::new(false),
            decision: AtomicU8::new(if changing.is_empty() {
                COMMIT
            } else {
                UNDECIDED
            }),
            unprepared: Mutex::new(changing),
            failure: Mutex::new(None),
            unfinished: Mutex::new(participants),
            finished_cv: Condvar::new(),
            wakers,
        }
    }

    /// Lets the instances start: every command has been delivered.
    pub(crate) fn arm(&self) {
        self.armed.store(true, Ordering::Release);
        self.wake();
    }

    pub(crate) fn is_armed(&self) -> bool {
        self.armed.load(Ordering::Acquire)
    }

    pub(crate) fn decision(&self) -> Decision {
        match self.decision.load(Ordering::Acquire) {
            UNDECIDED => Decision::Undecided,
            COMMIT => Decision::Commit,
            _ => Decision::Abort,
        }
    }

    fn decide(&self, to: u8) -> bool {
        self.decision
            .compare_exchange(UNDECIDED, to, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    fn wake(&self) {
        self.wakers.iter().for_each(|w| w.force());
    }

    /// Changing instance `instance` is ready; the last one commits.
    pub(crate) fn prepared(&self, instance: &str) {
        let mut unprepared = lock(&self.unprepared);
        unprepared.retain(|n| n != instance);
        if unprepared.is_empty() && self.decide(COMMIT) {
            self.wake();
        }
    }

    /// Reports how `instance`'s preparation ended.
    fn report_prepared(&self, instance: &str, outcome: Result<(), String>) {
        match outcome {
            Ok(()) => self.prepared(instance),
            Err(why) => self.failed(instance, why),
        }
    }

    /// An instance could not install its committed change: the update
    /// cannot be undone, and the graph stops.
    fn broke(&self, instance: &str, reason: String) {
        lock(&self.failure).get_or_insert(Failure::AfterCommit {
            instance: instance.to_owned(),
            reason,
        });
    }

    /// An instance failed. Before the decision this aborts the update;
    /// after a commit it is a failure after the commit, never reported as
    /// a rollback.
    pub(crate) fn failed(&self, instance: &str, reason: String) {
        let mut failure = lock(&self.failure);
        let aborted = self.decide(ABORT);
        let instance = instance.to_owned();
        failure.get_or_insert(if !aborted && self.decision() == Decision::Commit {
            Failure::AfterCommit { instance, reason }
        } else {
            Failure::Prepare { instance, reason }
        });
        drop(failure);
        if aborted {
            self.wake();
        }
    }

    /// The submitter's deadline passed: aborts the update if it is still
    /// undecided, recording which changing instances had not prepared
    /// ([`Failure::TimedOut`]). Returns whether it aborted.
    pub(crate) fn abort_late(&self) -> bool {
        let mut failure = lock(&self.failure);
        // Held across the decision, so that no instance reports prepared in
        // between: the list names exactly those that had not when it aborted.
        let unprepared = lock(&self.unprepared);
        if !self.decide(ABORT) {
            return false;
        }
        *failure = Some(Failure::TimedOut {
            unprepared: unprepared.clone(),
        });
        drop((unprepared, failure));
        self.wake();
        true
    }

    /// An instance's part will never run: the update fails, and the
    /// instance counts as done.
    pub(crate) fn give_up(&self, instance: &str, why: &str) {
        self.failed(instance, why.to_owned());
        self.finish_one(instance);
    }

    /// Participant `instance` is done with the update.
    pub(crate) fn finish_one(&self, instance: &str) {
        let mut unfinished = lock(&self.unfinished);
        if let Some(i) = unfinished.iter().position(|n| n == instance) {
            unfinished.swap_remove(i);
        }
        if unfinished.is_empty() {
            self.finished_cv.notify_all();
        }
    }

    /// Waits until every participant is done, or until `deadline`.
    /// Returns the participants still not done (empty once complete).
    pub(crate) fn wait_until(&self, deadline: Instant) -> Vec<String> {
        let mut unfinished = lock(&self.unfinished);
        while !unfinished.is_empty() {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            unfinished = self
                .finished_cv
                .wait_timeout(unfinished, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        unfinished.clone()
    }

    /// The failure, if any.
    pub(crate) fn failure(&self) -> Option<Failure> {
        lock(&self.failure).clone()
    }
}

/// Locks a control-plane mutex; a panic elsewhere cannot poison it for us
/// (the data it guards is valid after any partial update).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A new implementation of an instance, before and after it is built.
pub(crate) trait Incoming: Send {
    /// Builds the new component: from the old one's exported state, or
    /// (fresh) from the instance given with the update.
    fn prepare(&mut self, state: Option<State>) -> Result<(), String>;
    /// Installs it with its ports after its `#[takeover]` took what the
    /// old version handed over; runs on the worker. A panic in the hook is
    /// caught in the component's own build and returned.
    fn assemble(
        self: Box<Self>,
        name: Arc<str>,
        handed: &mut Resources,
        inputs: Vec<Vec<End>>,
        outputs: Vec<End>,
        env: Arc<Env>,
        supervision: Supervision,
    ) -> Result<Box<dyn Node>, String>;
    /// Makes the node of a graph's first run (nothing to take over).
    fn into_node(
        self: Box<Self>,
        name: Arc<str>,
        inputs: Vec<Vec<End>>,
        outputs: Vec<End>,
        env: Arc<Env>,
        supervision: Supervision,
    ) -> Result<Box<dyn Node>, String>;
    /// The same component type, to be built from the old instance's state
    /// instead (the given instance is dropped).
    fn into_migrated(self: Box<Self>) -> Box<dyn Incoming>;
    /// The new component's metadata.
    fn meta(&self) -> &'static ComponentMeta;
    /// True if it is built from the old state rather than given fresh.
    fn migrates(&self) -> bool;
    /// For a version kept by a watched update and now swapped back in: its
    /// own version, to which the instance's state is downgraded if the
    /// replacing version declares how (else the kept version is used as
    /// it was at the update).
    fn downgrade_to(&self) -> Option<u32> {
        None
    }
    /// The downgrade failed: the kept version is used as it was.
    fn downgrade_failed(&mut self, _why: &str) {}
}

/// What a rollback did with an instance's state, for its report.
pub(crate) type RestoreNote = Arc<Mutex<String>>;

/// [`Incoming`] for component type `C`.
pub(crate) struct IncomingOf<C: Component> {
    instance: Option<Guarded<C>>,
    /// Its constructor, for restarts.
    factory: Option<Factory<C>>,
    /// Set for a kept version swapped back in by a rollback: what became
    /// of the state.
    restore: Option<RestoreNote>,
}

impl<C: Component> IncomingOf<C> {
    pub(crate) fn migrated() -> Self {
        IncomingOf {
            instance: None,
            factory: None,
            restore: None,
        }
    }
    pub(crate) fn fresh(component: C) -> Self {
        IncomingOf {
            instance: Some(Guarded::new(component)),
            factory: None,
            restore: None,
        }
    }
    /// The kept version of a watched update, to be swapped back in: its
    /// state comes through a downgrade if there is one; `note` says.
    pub(crate) fn kept(component: C, note: RestoreNote) -> Self {
        IncomingOf {
            restore: Some(note),
            ..Self::fresh(component)
        }
    }
    /// With the constructor that rebuilds it on a restart.
    pub(crate) fn with_factory(mut self, factory: Factory<C>) -> Self {
        self.factory = Some(factory);
        self
    }
}

impl<C: Component> Incoming for IncomingOf<C> {
    fn prepare(&mut self, state: Option<State>) -> Result<(), String> {
        let Some(state) = state else {
            if let Some(note) = &self.restore {
                let mut note = lock(note);
                if note.is_empty() {
                    *note =
                        "kept as it was at the update: the new version declares no downgrade to it"
                            .to_owned();
                }
            }
            return Ok(());
        };
        let from = format!("`{}` v{}", state.component, state.version);
        let downgraded = format!(
            "state downgraded to v{} by the new `{}`",
            state.version, state.component
        );
        let imported = catch_unwind(AssertUnwindSafe(|| C::__import(state)));
        if let Some(note) = &self.restore {
            // A rollback never fails for want of a downgrade: the kept
            // version is there.
            *lock(note) = match imported {
                Ok(Ok(c)) => {
                    self.instance = Some(Guarded::new(c));
                    downgraded
                }
                Ok(Err(e)) => format!(
                    "kept as it was at the update: importing the downgraded state failed: {e}"
                ),
                Err(p) => format!(
                    "kept as it was at the update: importing the downgraded state panicked: {}",
                    panic_text(p.as_ref())
                ),
            };
            return Ok(());
        }
        match imported {
            Ok(Ok(c)) => {
                self.instance = Some(Guarded::new(c));
                Ok(())
            }
            Ok(Err(e)) => Err(format!(
                "migrating {from} to `{}` v{} failed: {e}",
                C::META.name,
                C::META.version
            )),
            Err(p) => Err(format!(
                "migrating {from} to `{}` v{} panicked: {}",
                C::META.name,
                C::META.version,
                panic_text(p.as_ref())
            )),
        }
    }

    fn assemble(
        self: Box<Self>,
        name: Arc<str>,
        handed: &mut Resources,
        inputs: Vec<Vec<End>>,
        outputs: Vec<End>,
        env: Arc<Env>,
        supervision: Supervision,
    ) -> Result<Box<dyn Node>, String> {
        let mut this = *self;
        let c = this.instance.as_mut().expect("prepared before commit");
        catch_unwind(AssertUnwindSafe(|| c.__takeover(handed)))
            .map_err(|p| format!("#[takeover] panicked: {}", panic_text(p.as_ref())))?;
        Box::new(this).into_node(name, inputs, outputs, env, supervision)
    }

    fn into_node(
        self: Box<Self>,
        name: Arc<str>,
        inputs: Vec<Vec<End>>,
        outputs: Vec<End>,
        env: Arc<Env>,
        supervision: Supervision,
    ) -> Result<Box<dyn Node>, String> {
        let IncomingOf {
            instance, factory, ..
        } = *self;
        let c = instance.expect("a fresh instance or a prepared one");
        catch_unwind(AssertUnwindSafe(move || {
            let supervisor = Supervisor::new(supervision, factory, &c);
            Box::new(ComponentNode::new(
                name,
                c.into_inner(),
                C::Inputs::from_ends(inputs),
                C::Outputs::from_ends(outputs),
                env,
                supervisor,
            )) as Box<dyn Node>
        }))
        .map_err(|p| format!("building the instance panicked: {}", panic_text(p.as_ref())))
    }

    fn into_migrated(self: Box<Self>) -> Box<dyn Incoming> {
        Box::new(IncomingOf::<C> {
            instance: None,
            factory: self.factory,
            restore: None,
        })
    }

    fn downgrade_to(&self) -> Option<u32> {
        self.restore.as_ref().map(|_| C::META.version)
    }

    fn downgrade_failed(&mut self, why: &str) {
        if let Some(note) = &self.restore {
            *lock(note) = format!("kept as it was at the update: {why}");
        }
    }

    fn meta(&self) -> &'static ComponentMeta {
        &C::META
    }

    fn migrates(&self) -> bool {
        self.instance.is_none()
    }
}

/// Where one port's arc comes from after the update.
pub(crate) enum ArcSpec {
    /// An arc the instance already has.
    Keep(ArcId),
    /// A new arc.
    New(EndPlan),
}

/// What becomes of the component itself.
pub(crate) enum ComponentChange {
    /// Same component, same state; only arcs change.
    Keep,
    /// Another implementation or version takes over.
    Replace(Box<dyn Incoming>),
    /// The instance is deleted.
    Remove,
    /// A replacement whose migration runs on the migrator thread; it puts
    /// the built component back here before it reports.
    Migrating(Arc<Mutex<Option<Box<dyn Incoming>>>>),
}

/// The new shape of a changing instance.
pub(crate) struct Change {
    /// Arcs per input port of the (new) component.
    pub inputs: Vec<Vec<ArcSpec>>,
    /// Arc per output port of the (new) component.
    pub outputs: Vec<ArcSpec>,
    pub component: ComponentChange,
}

/// One instance's part in an update.
pub(crate) struct Reconfig {
    pub update: Arc<UpdateSync>,
    /// Input arcs whose marker must arrive first.
    pub wait: Vec<ArcId>,
    /// Output arcs to send the marker on.
    pub forward: Vec<ArcId>,
    /// `None` for instances that only pass the marker on.
    pub change: Option<Change>,
    /// Where a migration from exported state runs.
    pub migrator: Migrator,
}

impl Change {
    /// Rebuilds the arc ends after commit: keeps, opens and drops arcs.
    pub(crate) fn ends(
        inputs: Vec<Vec<ArcSpec>>,
        outputs: Vec<ArcSpec>,
        old: Vec<End>,
        locals: &mut Locals,
    ) -> (Vec<Vec<End>>, Vec<End>) {
        let mut old: HashMap<ArcId, End> = old.into_iter().map(|e| (e.id, e)).collect();
        let mut open = |spec: ArcSpec| match spec {
            ArcSpec::Keep(id) => old.remove(&id).expect("the instance has the arcs it keeps"),
            ArcSpec::New(plan) => plan.open(locals),
        };
        let inputs = inputs
            .into_iter()
            .map(|p| p.into_iter().map(&mut open).collect())
            .collect();
        let outputs = outputs.into_iter().map(&mut open).collect();
        // Whatever is left in `old` is an arc the update removed: it has
        // delivered its marker and nothing follows it.
        (inputs, outputs)
    }
}

/// Where an instance is in an update.
pub(crate) enum Stage {
    Align,
    Decide,
}

/// What the instance must do now.
pub(crate) enum Advance {
    /// Run normally (held arcs stay held).
    Run,
    /// Handle nothing: waiting for the decision.
    Pause,
    /// Install the new version now.
    Commit,
}

/// What a pending update lets its instance do, read without changing
/// anything. [`advance`] acts on it and a node's park check asks it, so
/// the two cannot disagree about whether a step has something to do.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Gate {
    /// Nothing of the update is due: the instance runs normally (arcs held
    /// at the marker stay held).
    Run,
    /// The update can move on (aligned, or decided): a step must come.
    Act,
    /// Waiting for the decision, which wakes the worker; the instance
    /// handles nothing (output staged before the pause may still move).
    Pause,
}

/// What the update state machine needs from an instance.
pub(crate) trait Participant {
    fn name(&self) -> &str;
    /// True if every arc in `wait` is at the marker of `id` or ended.
    fn aligned(&self, wait: &[ArcId], id: u64) -> bool;
    /// Sends marker `id` on the given output arcs.
    fn forward(&mut self, arcs: &[ArcId], id: u64);
    /// Lets every held arc flow again.
    fn release(&mut self);
    /// True while the instance still runs (has not finished its stream).
    fn running(&self) -> bool;
    /// Serialises the component's state.
    fn export(&mut self) -> Result<State, String>;
    /// Serialises the state as version `to` reads it, if the component
    /// declares that downgrade (`Ok(None)` if not).
    fn export_down(&mut self, to: u32) -> Result<Option<State>, String>;
}

/// Counts an instance as done with its update when dropped, also when a
/// commit-time hook panics: the submitter is never left waiting. A panic
/// there comes after the decision, so it cannot roll back: it is reported
/// and, like any component panic, stops the graph.
pub(crate) struct Finishing {
    update: Arc<UpdateSync>,
    instance: Arc<str>,
}

impl Finishing {
    /// The installation failed after the decision: reported as the update's
    /// failure; the caller stops the graph. Returns the reason.
    pub(crate) fn fail(self, why: String) -> String {
        self.update.broke(&self.instance, why.clone());
        why
    }
}

impl Drop for Finishing {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let why = "the runtime panicked while installing the new version";
            self.update.broke(&self.instance, why.to_owned());
        }
        self.update.finish_one(&self.instance);
    }
}

/// Takes a committed update's change out of `pending`, with the guard that
/// counts the instance done once the change is installed (or panics).
pub(crate) fn begin_commit(
    pending: &mut Option<(Reconfig, Stage)>,
    instance: &Arc<str>,
) -> (Change, Finishing) {
    let (rc, _) = pending.take().expect("commit follows a pending update");
    let mut change = rc.change.expect("only changing instances commit");
    if let ComponentChange::Migrating(slot) = change.component {
        let incoming = lock(&slot)
            .take()
            .expect("a migration is back before its instance reports it prepared");
        change.component = ComponentChange::Replace(incoming);
    }
    (
        change,
        Finishing {
            update: rc.update,
            instance: instance.clone(),
        },
    )
}

/// Fails and finishes a pending update part that will never run (its
/// worker is exiting).
pub(crate) fn abandon(pending: &mut Option<(Reconfig, Stage)>, name: &str) {
    if let Some((rc, _)) = pending.take() {
        rc.update.give_up(
            name,
            "the graph finished before the update could be applied",
        );
    }
}

/// Reads what the pending update lets the instance do (see [`Gate`]).
pub(crate) fn gate(pending: &Option<(Reconfig, Stage)>, p: &dyn Participant) -> Gate {
    let Some((rc, stage)) = pending else {
        return Gate::Run;
    };
    let sync = &rc.update;
    if !sync.is_armed() {
        return Gate::Run;
    }
    match (stage, sync.decision()) {
        // Aborted (a failure, or the deadline) before it aligned: give up
        // at once rather than wait for markers that may never come.
        (Stage::Align, Decision::Abort) => Gate::Act,
        (Stage::Align, _) if p.aligned(&rc.wait, sync.id) => Gate::Act,
        (Stage::Align, _) => Gate::Run,
        (Stage::Decide, Decision::Undecided) => Gate::Pause,
        (Stage::Decide, _) => Gate::Act,
    }
}

/// Advances an instance's part in its pending update, as [`gate`] allows.
pub(crate) fn advance(pending: &mut Option<(Reconfig, Stage)>, p: &mut dyn Participant) -> Advance {
    match gate(pending, p) {
        Gate::Run => return Advance::Run,
        Gate::Pause => return Advance::Pause,
        Gate::Act => {}
    }
    let (rc, stage) = pending.as_mut().expect("the gate acts on a pending update");
    let sync = rc.update.clone();
    if let Stage::Align = stage {
        if sync.decision() == Decision::Abort {
            // Markers of this update still on their way are passed over
            // when they arrive (see `ComponentNode::stale_markers`).
            return done(pending, p, &sync);
        }
        p.forward(&rc.forward, sync.id);
        let Some(change) = &mut rc.change else {
            return done(pending, p, &sync);
        };
        if sync.decision() == Decision::Undecided {
            prepare(change, p, &sync, &rc.migrator);
        }
        *stage = Stage::Decide;
    }
    match sync.decision() {
        Decision::Undecided => Advance::Pause,
        Decision::Commit => Advance::Commit,
        Decision::Abort => done(pending, p, &sync),
    }
}

/// The instance's part ends without a change: held arcs flow again.
fn done(
    pending: &mut Option<(Reconfig, Stage)>,
    p: &mut dyn Participant,
    sync: &UpdateSync,
) -> Advance {
    p.release();
    *pending = None;
    sync.finish_one(p.name());
    Advance::Run
}

/// Exported states at least this large are migrated off the worker.
/// Migration costs grow with the state (decoding, converting, building);
/// below this a migration takes microseconds, less than handing it to
/// another thread and coming back, which would then dominate every swap.
pub(crate) const MIGRATE_OFF_WORKER: usize = 64 * 1024;

/// Prepares a changing instance and reports the outcome to `sync`. The
/// state is exported here, on the worker (it needs the running
/// component); a migration from a large state runs on a migrator thread,
/// so it pauses only this instance, not its worker.
fn prepare(change: &mut Change, p: &mut dyn Participant, sync: &Arc<UpdateSync>, m: &Migrator) {
    if !p.running() {
        let why = format!("instance `{}` has already finished its stream", p.name());
        return sync.failed(p.name(), why);
    }
    let (migrating, down) = match &change.component {
        ComponentChange::Replace(incoming) => (incoming.migrates(), incoming.downgrade_to()),
        _ => (false, None),
    };
    let state = match (migrating, down) {
        (true, _) => match p.export() {
            Ok(state) => Some(state),
            Err(why) => return sync.failed(p.name(), why),
        },
        // A rollback: a downgrade that fails leaves the kept version.
        (false, Some(to)) => match p.export_down(to) {
            Ok(state) => state,
            Err(why) => {
                if let ComponentChange::Replace(incoming) = &mut change.component {
                    incoming.downgrade_failed(&why);
                }
                None
            }
        },
        (false, None) => None,
    };
    if state.as_ref().is_none_or(|s| s.len() < MIGRATE_OFF_WORKER) {
        let outcome = match &mut change.component {
            ComponentChange::Replace(incoming) => incoming.prepare(state),
            _ => Ok(()),
        };
        return sync.report_prepared(p.name(), outcome);
    }
    let state = state.expect("checked above");
    let slot = Arc::new(Mutex::new(None));
    let ComponentChange::Replace(mut incoming) = std::mem::replace(
        &mut change.component,
        ComponentChange::Migrating(slot.clone()),
    ) else {
        unreachable!("checked above")
    };
    let (sync, name) = (sync.clone(), p.name().to_owned());
    m.run(Box::new(move || {
        let outcome = incoming.prepare(Some(state));
        *lock(&slot) = Some(incoming);
        sync.report_prepared(&name, outcome);
    }));
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    /// A part that gives up after the commit (its worker exits before it
    /// installs) is a failure after the commit, never a rollback.
    #[test]
    fn a_failure_after_the_commit_is_not_reported_as_a_rollback() {
        let sync = UpdateSync::new(1, names(&["a", "b"]), names(&["a", "b"]), Vec::new());
        sync.prepared("a");
        sync.prepared("b");
        assert_eq!(sync.decision(), Decision::Commit);
        sync.give_up("b", "the graph finished before the update could be applied");
        assert!(
            matches!(sync.failure(), Some(Failure::AfterCommit { instance, .. }) if instance == "b")
        );
        assert_eq!(sync.decision(), Decision::Commit);
    }

    /// At the deadline an undecided update aborts and names exactly the
    /// instances that had not prepared; a decided one is left alone.
    #[test]
    fn the_deadline_aborts_only_an_undecided_update() {
        let sync = UpdateSync::new(
            2,
            names(&["a", "b", "c"]),
            names(&["a", "b", "c"]),
            Vec::new(),
        );
        sync.prepared("b");
        assert!(sync.abort_late());
        assert_eq!(sync.decision(), Decision::Abort);
        let timed_out = Failure::TimedOut {
            unprepared: names(&["a", "c"]),
        };
        assert_eq!(sync.failure(), Some(timed_out.clone()));
        // A late preparation cannot turn the abort into a commit.
        sync.prepared("a");
        sync.prepared("c");
        assert_eq!(sync.decision(), Decision::Abort);
        assert_eq!(sync.failure(), Some(timed_out));

        let done = UpdateSync::new(3, names(&["a"]), names(&["a"]), Vec::new());
        done.prepared("a");
        assert!(!done.abort_late());
        assert_eq!(done.decision(), Decision::Commit);
    }

    /// Waiting returns by the deadline with the participants not done.
    #[test]
    fn waiting_is_bounded_by_the_deadline() {
        let sync = UpdateSync::new(4, names(&["a"]), names(&["a", "f"]), Vec::new());
        sync.finish_one("f");
        let t = Instant::now();
        let left = sync.wait_until(t + std::time::Duration::from_millis(30));
        assert_eq!(left, names(&["a"]));
        assert!(t.elapsed() >= std::time::Duration::from_millis(30));
        sync.finish_one("a");
        assert!(sync.wait_until(Instant::now()).is_empty());
    }
}
