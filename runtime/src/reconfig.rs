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
//!    version; report success or failure. Then pause, handling nothing.
//! 4. *Decide*: when every changing instance has prepared, the update
//!    commits: each installs its new version and arcs. If any failed, it
//!    aborts: each keeps its old version, with its state and arcs, and
//!    releases its held arcs. Either way no packet was handled by a version
//!    that should not see it.

use crate::component::{Component, ComponentMeta};
use crate::guard::Guarded;
use crate::node::{ComponentNode, Node};
use crate::plan::{EndPlan, Locals};
use crate::port::{ArcId, End, InputSet, OutputSet};
use crate::state::{Resources, State};
use crate::sync::{AtomicBool, AtomicU8, AtomicUsize, Condvar, Mutex, Ordering};
use crate::wake::Waker;
use std::any::Any;
use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

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

/// Shared by the instances of one update and the thread that submitted it.
pub(crate) struct UpdateSync {
    pub id: u64,
    armed: AtomicBool,
    to_prepare: AtomicUsize,
    decision: AtomicU8,
    /// The first failure: instance, reason, and whether it came after the
    /// update committed.
    failure: Mutex<Option<(String, String, bool)>>,
    to_finish: AtomicUsize,
    finished: Mutex<bool>,
    finished_cv: Condvar,
    wakers: Vec<Arc<Waker>>,
}

impl UpdateSync {
    pub(crate) fn new(
        id: u64,
        changing: usize,
        participants: usize,
        wakers: Vec<Arc<Waker>>,
    ) -> Self {
        UpdateSync {
            id,
            armed: AtomicBool::new(false),
            to_prepare: AtomicUsize::new(changing),
            decision: AtomicU8::new(UNDECIDED),
            failure: Mutex::new(None),
            to_finish: AtomicUsize::new(participants),
            finished: Mutex::new(participants == 0),
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

    fn wake(&self) {
        self.wakers.iter().for_each(|w| w.force());
    }

    /// One changing instance is ready; the last one commits the update.
    pub(crate) fn prepared(&self) {
        if self.to_prepare.fetch_sub(1, Ordering::AcqRel) == 1
            && self
                .decision
                .compare_exchange(UNDECIDED, COMMIT, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            self.wake();
        }
    }

    /// An instance could not install its committed change: the update
    /// cannot be undone, and the graph stops.
    fn broke(&self, instance: &str, reason: String) {
        self.failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert((instance.to_owned(), reason, true));
    }

    /// An instance could not prepare: the update aborts.
    pub(crate) fn failed(&self, instance: &str, reason: String) {
        self.failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert((instance.to_owned(), reason, false));
        if self
            .decision
            .compare_exchange(UNDECIDED, ABORT, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            self.wake();
        }
    }

    /// An instance's part will never run: the update fails, and the
    /// instance counts as done.
    pub(crate) fn give_up(&self, instance: &str, why: &str) {
        self.failed(instance, why.to_owned());
        self.finish_one();
    }

    /// One instance is done with the update.
    pub(crate) fn finish_one(&self) {
        if self.to_finish.fetch_sub(1, Ordering::AcqRel) == 1 {
            *self.finished.lock().unwrap_or_else(|e| e.into_inner()) = true;
            self.finished_cv.notify_all();
        }
    }

    /// Waits until every instance is done; returns the failure, if any.
    pub(crate) fn wait(&self) -> Result<(), (String, String, bool)> {
        let mut done = self.finished.lock().unwrap_or_else(|e| e.into_inner());
        while !*done {
            done = self
                .finished_cv
                .wait(done)
                .unwrap_or_else(|e| e.into_inner());
        }
        drop(done);
        match self
            .failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            Some(f) => Err(f),
            None => Ok(()),
        }
    }
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
        stop: Arc<std::sync::atomic::AtomicBool>,
    ) -> Result<Box<dyn Node>, String>;
    /// Makes the node of a graph's first run (nothing to take over).
    fn into_node(
        self: Box<Self>,
        name: Arc<str>,
        inputs: Vec<Vec<End>>,
        outputs: Vec<End>,
        stop: Arc<std::sync::atomic::AtomicBool>,
    ) -> Result<Box<dyn Node>, String>;
    /// The same component type, to be built from the old instance's state
    /// instead (the given instance is dropped).
    fn into_migrated(self: Box<Self>) -> Box<dyn Incoming>;
    /// The new component's metadata.
    fn meta(&self) -> &'static ComponentMeta;
    /// True if it is built from the old state rather than given fresh.
    fn migrates(&self) -> bool;
}

/// [`Incoming`] for component type `C`.
pub(crate) struct IncomingOf<C: Component> {
    instance: Option<Guarded<C>>,
}

impl<C: Component> IncomingOf<C> {
    pub(crate) fn migrated() -> Self {
        IncomingOf { instance: None }
    }
    pub(crate) fn fresh(component: C) -> Self {
        IncomingOf {
            instance: Some(Guarded::new(component)),
        }
    }
}

/// Text of a panic payload.
pub fn panic_text(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

impl<C: Component> Incoming for IncomingOf<C> {
    fn prepare(&mut self, state: Option<State>) -> Result<(), String> {
        let Some(state) = state else { return Ok(()) };
        let from = format!("`{}` v{}", state.component, state.version);
        match catch_unwind(AssertUnwindSafe(|| C::__import(state))) {
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
        stop: Arc<std::sync::atomic::AtomicBool>,
    ) -> Result<Box<dyn Node>, String> {
        let mut c = self.instance.expect("prepared before commit");
        catch_unwind(AssertUnwindSafe(|| c.__takeover(handed)))
            .map_err(|p| format!("#[takeover] panicked: {}", panic_text(p.as_ref())))?;
        Box::new(IncomingOf { instance: Some(c) }).into_node(name, inputs, outputs, stop)
    }

    fn into_node(
        self: Box<Self>,
        name: Arc<str>,
        inputs: Vec<Vec<End>>,
        outputs: Vec<End>,
        stop: Arc<std::sync::atomic::AtomicBool>,
    ) -> Result<Box<dyn Node>, String> {
        let c = self.instance.expect("a fresh instance or a prepared one");
        catch_unwind(AssertUnwindSafe(move || {
            Box::new(ComponentNode::new(
                name,
                c.into_inner(),
                C::Inputs::from_ends(inputs),
                C::Outputs::from_ends(outputs),
                stop,
            )) as Box<dyn Node>
        }))
        .map_err(|p| format!("building the instance panicked: {}", panic_text(p.as_ref())))
    }

    fn into_migrated(self: Box<Self>) -> Box<dyn Incoming> {
        Box::new(IncomingOf::<C>::migrated())
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
        self.update.finish_one();
    }
}

/// Takes a committed update's change out of `pending`, with the guard that
/// counts the instance done once the change is installed (or panics).
pub(crate) fn begin_commit(
    pending: &mut Option<(Reconfig, Stage)>,
    instance: &Arc<str>,
) -> (Change, Finishing) {
    let (rc, _) = pending.take().expect("commit follows a pending update");
    let change = rc.change.expect("only changing instances commit");
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

/// Advances an instance's part in its pending update.
pub(crate) fn advance(pending: &mut Option<(Reconfig, Stage)>, p: &mut dyn Participant) -> Advance {
    let Some((rc, stage)) = pending else {
        return Advance::Run;
    };
    let sync = rc.update.clone();
    if !sync.is_armed() {
        return Advance::Run;
    }
    if let Stage::Align = stage {
        if !p.aligned(&rc.wait, sync.id) {
            return Advance::Run;
        }
        p.forward(&rc.forward, sync.id);
        let Some(change) = &mut rc.change else {
            p.release();
            *pending = None;
            sync.finish_one();
            return Advance::Run;
        };
        if sync.decision() == Decision::Undecided {
            match prepare(change, p) {
                Ok(()) => sync.prepared(),
                Err(reason) => sync.failed(p.name(), reason),
            }
        }
        *stage = Stage::Decide;
    }
    match sync.decision() {
        Decision::Undecided => Advance::Pause,
        Decision::Commit => Advance::Commit,
        Decision::Abort => {
            p.release();
            *pending = None;
            sync.finish_one();
            Advance::Run
        }
    }
}

fn prepare(change: &mut Change, p: &mut dyn Participant) -> Result<(), String> {
    if !p.running() {
        return Err(format!(
            "instance `{}` has already finished its stream",
            p.name()
        ));
    }
    match &mut change.component {
        ComponentChange::Keep | ComponentChange::Remove => Ok(()),
        ComponentChange::Replace(incoming) => {
            let state = if incoming.migrates() {
                Some(p.export()?)
            } else {
                None
            };
            incoming.prepare(state)
        }
    }
}
