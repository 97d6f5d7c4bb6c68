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

use crate::channel::port::ArcId;
use crate::exec::contract::{Change, ComponentChange, Reconfig};
use crate::exec::decision::{Decision, UpdateSync};
use crate::exec::migrate::Migrator;
use crate::model::failure::{InstanceFailure, NotRun};
use crate::model::state::State;
use crate::sync::{lock, Mutex};
use std::sync::Arc;

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
    fn export(&mut self) -> Result<State, InstanceFailure>;
    /// Serialises the state as version `to` reads it, if the component
    /// declares that downgrade (`Ok(None)` if not).
    fn export_down(&mut self, to: u32) -> Result<Option<State>, InstanceFailure>;
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
    pub(crate) fn fail(self, why: InstanceFailure) -> InstanceFailure {
        self.update.broke(&self.instance, why.clone());
        why
    }
}

impl Drop for Finishing {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let why = InstanceFailure::NotRun(NotRun::RuntimePanicked);
            self.update.broke(&self.instance, why);
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
        rc.update.give_up(name, NotRun::GraphFinished);
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
            // when they arrive (see `ComponentNode::is_stale`).
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
        let why = InstanceFailure::NotRun(NotRun::StreamFinished);
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
