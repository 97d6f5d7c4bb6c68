//! The contract between a worker, its nodes and the live-update handshake:
//! the few types that refer to one another ([`Node`] takes a [`Reconfig`],
//! whose replacement is an [`Incoming`], which builds a [`Node`]), kept in
//! one small file so that every other module of `exec` depends on it, never
//! the other way.

use crate::channel::arc::{EndPlan, Locals};
use crate::channel::port::{ArcId, End};
use crate::exec::decision::UpdateSync;
use crate::exec::migrate::Migrator;
use crate::exec::restart::Fatal;
use crate::exec::watch::{NoticeOf, WatchOf};
use crate::model::component::ComponentMeta;
use crate::model::failure::InstanceFailure;
use crate::model::state::{Resources, State};
use crate::model::supervise::{DeadLetters, Supervision};
use crate::sync::{AtomicBool, Mutex};
use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;

/// What every node of a running graph shares.
#[derive(Default)]
pub(crate) struct Env {
    /// Set by `Running::stop`: sources end within a few calls.
    pub stop: AtomicBool,
    /// Where panicking packets are recorded.
    pub dead_letters: DeadLetters,
    /// The supervision of instances an update inserts.
    pub supervision: Supervision,
}

/// What a step did.
#[derive(Copy, Clone, Debug, Default)]
pub(crate) struct Step {
    /// Something moved: a packet handled, emitted or flushed.
    pub progress: bool,
    /// A source reported [`Flow::Idle`]: the worker should poll it again
    /// soon even if nothing else wakes it.
    pub polling: bool,
    /// The pending update committed: the worker must call [`Node::commit`].
    pub commit: bool,
    /// A source or poller waits ([`Flow::Wait`]): wake the worker when
    /// this is readable or by then.
    pub wait: Option<Waiting>,
}

/// What an instance waits for (see [`Flow::Wait`]).
#[derive(Copy, Clone, Debug, Default)]
pub(crate) struct Waiting {
    pub fd: Option<std::os::fd::RawFd>,
    pub until: Option<std::time::Instant>,
}

/// The worker's view of an instance.
pub(crate) trait Node {
    /// Runs one batch. A panic in component code is caught here, in the
    /// component's own build (a component loaded from a library has its
    /// own panic runtime, and its panics must not unwind into the host's
    /// frames), and handed to the instance's supervisor; what it does not
    /// absorb comes back as [`Fatal`].
    fn step(&mut self, budget: usize) -> Result<Step, Fatal>;
    /// True once the end of stream has been emitted and flushed, and no
    /// update is pending.
    fn is_finished(&self) -> bool;
    /// True if a step could make progress now (checked before parking).
    fn has_work(&mut self) -> bool;
    /// Instance name.
    fn name(&self) -> &str;
    /// Gives the instance its part in an update; `watch` if the update
    /// replaces it and is watched.
    fn set_pending(&mut self, rc: Reconfig, watch: Option<Arc<Watch>>);
    /// Installs the committed update: the node that replaces this one, or
    /// `None` if the instance was removed. A panic in a `#[handover]` or
    /// `#[takeover]` hook is caught (as in `step`) and returned.
    fn commit(self: Box<Self>, locals: &mut Locals) -> Result<Option<Box<dyn Node>>, Fatal>;
    /// The worker is exiting: fail and finish any pending update.
    fn abandon(&mut self);
    /// The component itself, for the final report.
    fn into_component(self: Box<Self>) -> Box<dyn Any + Send>;
    /// Watches this (new) version for a panic within `watch`'s window.
    fn watch(&mut self, _watch: Arc<Watch>) {}
    /// True for a placeholder whose update aborted: the worker drops it.
    fn is_retired(&self) -> bool {
        false
    }
}

/// A new implementation of an instance, before and after it is built.
pub(crate) trait Incoming: Send {
    /// Builds the new component: from the old one's exported state, or
    /// (fresh) from the instance given with the update.
    fn prepare(&mut self, state: Option<State>) -> Result<(), InstanceFailure>;
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
    ) -> Result<Box<dyn Node>, InstanceFailure>;
    /// Makes the node of a graph's first run (nothing to take over).
    fn into_node(
        self: Box<Self>,
        name: Arc<str>,
        inputs: Vec<Vec<End>>,
        outputs: Vec<End>,
        env: Arc<Env>,
        supervision: Supervision,
    ) -> Result<Box<dyn Node>, InstanceFailure>;
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
    fn downgrade_failed(&mut self, _why: &InstanceFailure) {}
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

/// A watch over an update's new versions, keeping the replaced ones.
pub(crate) type Watch = WatchOf<Box<dyn Incoming>>;
/// What the watcher thread hears.
pub(crate) type Notice = NoticeOf<Box<dyn Incoming>>;

/// An instance of a graph that has not run: its name and component.
pub(crate) type Unbuilt = (Arc<str>, Box<dyn Incoming>);
