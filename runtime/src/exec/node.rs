//! A running instance: a component with its ports, stepped by a worker.
//!
//! [`Node`] is the type-erased face the worker sees. One step flushes the
//! outputs, advances a pending live update, and, if every output has room,
//! runs one batch: a source is called up to `budget` times, an operator
//! drains up to `budget` packets from each open input arc in turn, where the
//! budget is at most what the fullest output can take. Ends of
//! stream are forwarded once every input has ended, behind everything
//! emitted before.

use crate::channel::arc::Locals;
use crate::channel::port::{with_local, ArcId, ArcState, End, InputSet, OutputSet};
use crate::exec::contract::{
    Change, ComponentChange, Env, Incoming, Node, Reconfig, Step, Waiting, Watch,
};
use crate::exec::guard::{panic_text, Guarded};
use crate::exec::reconfig::{
    abandon, advance, begin_commit, gate, Advance, Gate, Participant, Stage,
};
use crate::exec::restart::{Factory, Fatal, Recovery, Supervisor};
use crate::exec::watch::RestoreNote;
use crate::model::component::{Component, ComponentMeta, Flow};
use crate::model::failure::{Hook, InstanceFailure};
use crate::model::state::{Resources, State};
use crate::model::supervise::{DeadLetter, Supervision};
use crate::sync::{lock, Ordering};
use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::SystemTime;

/// Calls of a source (or `#[poll]` method) between two looks at the
/// graph's stop flag: a stop ends it within this many calls.
const STOP_EVERY: usize = 16;

#[derive(PartialEq, Eq)]
enum Phase {
    Running,
    /// End of stream staged; waiting for the outputs to take it.
    Ending,
    Finished,
}

/// A component instance and its ports.
pub(crate) struct ComponentNode<C: Component> {
    name: Arc<str>,
    component: Guarded<C>,
    inputs: C::Inputs,
    outputs: C::Outputs,
    phase: Phase,
    /// The source last reported [`Flow::Idle`] or [`Flow::Wait`]; only
    /// polling (or what it waits for) revives it.
    idle: bool,
    /// What it waits for, if it reported [`Flow::Wait`].
    waiting: Option<Waiting>,
    /// An operator's `#[poll]` method reported [`Flow::Done`].
    poll_done: bool,
    env: Arc<Env>,
    supervisor: Supervisor<C>,
    /// The code running now, for a panic's dead letter.
    site: Site,
    pending: Option<(Reconfig, Stage)>,
    /// The watch of the pending update, if it replaces this instance.
    watching: Option<Arc<Watch>>,
    /// The watch of the update that installed this version, if any: a
    /// panic within its window rolls that update back.
    watched: Option<Arc<Watch>>,
}

/// Which of a component's methods runs.
#[derive(Copy, Clone, Debug)]
enum Site {
    Input(usize),
    Generate,
    Finish,
}

impl<C: Component> ComponentNode<C> {
    pub(crate) fn new(
        name: Arc<str>,
        component: C,
        inputs: C::Inputs,
        outputs: C::Outputs,
        env: Arc<Env>,
        supervisor: Supervisor<C>,
    ) -> Self {
        ComponentNode {
            name,
            component: Guarded::new(component),
            inputs,
            outputs,
            phase: Phase::Running,
            idle: false,
            waiting: None,
            poll_done: false,
            env,
            supervisor,
            site: Site::Generate,
            pending: None,
            watching: None,
            watched: None,
        }
    }

    fn flush(&mut self) -> bool {
        let mut moved = false;
        for p in 0..C::Outputs::LEN {
            moved |= self.outputs.port(p).flush();
        }
        moved
    }

    /// True if an arc takes output staged behind it now (an update's
    /// marker may be among it).
    fn can_flush(&mut self) -> bool {
        (0..C::Outputs::LEN).any(|p| self.outputs.port(p).can_flush())
    }

    /// True if an input arc is held at the marker of an update this
    /// instance has no part in now. An instance's part is always delivered
    /// before a marker of its update can reach it (the control side posts
    /// every part before it arms the update, and a worker takes its mail
    /// before each step), so such a marker belongs to an update whose part
    /// here already ended: one aborted before its markers all arrived. It
    /// is passed over.
    fn is_stale(&self, state: ArcState) -> bool {
        let current = self.pending.as_ref().map(|(rc, _)| rc.update.id);
        matches!(state, ArcState::AtMarker(id) if Some(id) != current)
    }

    fn has_stale_markers(&self) -> bool {
        (0..C::Inputs::LEN).any(|p| {
            let port = self.inputs.port(p);
            (0..port.arc_count()).any(|a| self.is_stale(port.state(a)))
        })
    }

    /// Lets arcs held at a given-up update's marker flow again. Runs every
    /// step, so it walks the arcs in place rather than collect them.
    fn pass_stale_markers(&mut self) -> bool {
        let mut passed = false;
        for p in 0..C::Inputs::LEN {
            for a in 0..self.inputs.port(p).arc_count() {
                if self.is_stale(self.inputs.port(p).state(a)) {
                    self.inputs.port_mut(p).release(a);
                    passed = true;
                }
            }
        }
        passed
    }

    /// True if the instance could run a batch now (no update in the way).
    fn could_run(&mut self) -> bool {
        match self.phase {
            Phase::Finished => false,
            Phase::Ending => self.outputs_flushed(),
            Phase::Running => {
                self.output_room() > 0
                    && ((C::META.polls && !self.idle && !self.poll_done)
                        || (0..C::Inputs::LEN).any(|p| {
                            let port = self.inputs.port(p);
                            (0..port.arc_count()).any(|a| port.has_item(a))
                        }))
            }
        }
    }

    /// Packets the tightest output can take now: a batch's budget.
    fn output_room(&mut self) -> usize {
        (0..C::Outputs::LEN)
            .map(|p| self.outputs.port(p).room())
            .min()
            .unwrap_or(usize::MAX)
    }

    fn outputs_flushed(&mut self) -> bool {
        (0..C::Outputs::LEN).all(|p| self.outputs.port(p).is_flushed())
    }

    fn all_inputs_ended(&self) -> bool {
        (0..C::Inputs::LEN).all(|p| {
            let port = self.inputs.port(p);
            (0..port.arc_count()).all(|a| port.state(a) == ArcState::Ended)
        })
    }

    /// Runs the end hook and stages the end of stream on every output.
    fn begin_end(&mut self) {
        self.site = Site::Finish;
        self.component.__finish(&mut self.outputs);
        for p in 0..C::Outputs::LEN {
            self.outputs.port(p).end();
        }
        self.phase = Phase::Ending;
    }

    /// Calls the `#[source]`/`#[poll]` method up to `budget` times, until it
    /// is idle or done. Returns whether it is done.
    fn poll(&mut self, budget: usize, step: &mut Step) -> bool {
        self.idle = false;
        self.waiting = None;
        self.site = Site::Generate;
        let (component, stop) = (&mut self.component, &self.env.stop);
        let flow = with_local(&mut self.outputs, |outputs| {
            let mut left = budget;
            while left > 0 {
                if stop.load(Ordering::Relaxed) {
                    return Some(Flow::Done);
                }
                // Runs of calls with no atomic load between them: the
                // optimizer treats one as a possible write to memory, so
                // a source's own state was stored and loaded back around
                // every call (a store-to-load chain from one packet to
                // the next).
                let run = left.min(STOP_EVERY);
                left -= run;
                for _ in 0..run {
                    match component.__generate(outputs) {
                        Flow::Continue => step.progress = true,
                        other => return Some(other),
                    }
                }
            }
            None
        });
        match flow {
            None => false,
            Some(Flow::Idle) => {
                self.idle = true;
                step.polling = true;
                false
            }
            Some(Flow::Wait(w)) => {
                self.idle = true;
                self.waiting = Some(Waiting {
                    fd: w.fd(),
                    until: w.timeout().map(|t| std::time::Instant::now() + t),
                });
                false
            }
            // Done, or the graph stops (`Continue` never ends the loop).
            Some(Flow::Done | Flow::Continue) => true,
        }
    }

    /// True while a source sleeps: it waits for a time only (no
    /// descriptor), not yet come, and the graph is not stopping.
    fn asleep(&self) -> bool {
        match self.waiting {
            Some(Waiting {
                fd: None,
                until: Some(t),
            }) => std::time::Instant::now() < t && !self.env.stop.load(Ordering::Relaxed),
            _ => false,
        }
    }

    fn run_source(&mut self, budget: usize) -> Step {
        let mut step = Step::default();
        if self.poll(budget, &mut step) {
            self.begin_end();
            step.progress = true;
        }
        step
    }

    fn run_operator(&mut self, budget: usize) -> Step {
        let mut step = Step::default();
        for p in 0..C::Inputs::LEN {
            self.site = Site::Input(p);
            for a in 0..self.inputs.port(p).arc_count() {
                let d = self
                    .component
                    .__drain(&mut self.inputs, &mut self.outputs, p, a, budget);
                step.progress |= d.handled > 0 || d.stopped;
            }
        }
        // A poller's Done counts once its inputs have ended; before, more
        // input may come: it waits for packets (and is polled again when
        // they come).
        if C::META.polls && !self.poll_done && self.poll(budget, &mut step) {
            if self.all_inputs_ended() {
                self.poll_done = true;
            } else {
                self.idle = true;
                self.waiting = Some(Waiting::default());
            }
        }
        if self.all_inputs_ended() && (self.poll_done || !C::META.polls) {
            self.begin_end();
            step.progress = true;
        }
        step
    }

    /// Position of input arc `id`: (port, arc).
    fn find_input(&self, id: ArcId) -> Option<(usize, usize)> {
        (0..C::Inputs::LEN).find_map(|p| {
            let port = self.inputs.port(p);
            (0..port.arc_count())
                .find(|&a| port.arc_id(a) == id)
                .map(|a| (p, a))
        })
    }
}

impl<C: Component> Participant for ComponentNode<C> {
    fn name(&self) -> &str {
        &self.name
    }

    fn aligned(&self, wait: &[ArcId], id: u64) -> bool {
        wait.iter().all(|&arc| match self.find_input(arc) {
            Some((p, a)) => {
                matches!(self.inputs.port(p).state(a), ArcState::Ended)
                    || self.inputs.port(p).state(a) == ArcState::AtMarker(id)
            }
            None => true,
        })
    }

    fn forward(&mut self, arcs: &[ArcId], id: u64) {
        for p in 0..C::Outputs::LEN {
            let port = self.outputs.port(p);
            if arcs.contains(&port.arc_id()) {
                port.marker(id);
            }
        }
        self.flush();
    }

    fn release(&mut self) {
        for p in 0..C::Inputs::LEN {
            let port = self.inputs.port_mut(p);
            for a in 0..port.arc_count() {
                port.release(a);
            }
        }
    }

    fn running(&self) -> bool {
        self.phase == Phase::Running
    }

    fn export(&mut self) -> Result<State, InstanceFailure> {
        match catch_unwind(AssertUnwindSafe(|| self.component.__export())) {
            Ok(Ok(state)) => Ok(state),
            Ok(Err(e)) => Err(InstanceFailure::Export(e)),
            Err(p) => Err(panicked(Hook::Export, p)),
        }
    }

    fn export_down(&mut self, to: u32) -> Result<Option<State>, InstanceFailure> {
        if to == C::META.version && C::META.state {
            // Another build of the same version reads this state as it is.
            return self.export().map(Some);
        }
        match catch_unwind(AssertUnwindSafe(|| self.component.__downgrade(to))) {
            Ok(None) => Ok(None),
            Ok(Some(Ok(state))) => Ok(Some(state)),
            Ok(Some(Err(error))) => Err(InstanceFailure::Downgrade { to, error }),
            Err(p) => Err(panicked(Hook::Downgrade(to), p)),
        }
    }
}

impl<C: Component> ComponentNode<C> {
    /// Advances the pending update ([`advance`], which needs the instance
    /// and the update apart).
    #[inline(never)]
    fn advance_pending(&mut self) -> Advance {
        let mut pending = self.pending.take();
        let advanced = advance(&mut pending, self);
        self.pending = pending;
        advanced
    }

    fn run_step(&mut self, budget: usize) -> Step {
        let flushed = self.flush() | self.pass_stale_markers();
        let advanced = match self.pending {
            // Most steps: moving the update's state out and back in
            // (three copies of it) cost a few percent of a hop.
            None => Advance::Run,
            Some(_) => self.advance_pending(),
        };
        match advanced {
            Advance::Run => {}
            Advance::Pause => {
                return Step {
                    progress: flushed,
                    ..Step::default()
                }
            }
            Advance::Commit => {
                return Step {
                    progress: true,
                    commit: true,
                    ..Step::default()
                }
            }
        }
        let mut full = false;
        let mut step = match self.phase {
            Phase::Finished => {
                return Step {
                    progress: flushed,
                    ..Step::default()
                }
            }
            Phase::Ending => Step::default(),
            Phase::Running => match budget.min(self.output_room()) {
                0 => {
                    full = true;
                    Step::default()
                }
                // A source that asked to sleep (`Flow::after`) is not called
                // before its time, when its worker wakes for others; only a
                // stop cuts the sleep short.
                _ if C::META.is_source() && self.asleep() => Step::default(),
                budget if C::META.is_source() => self.run_source(budget),
                budget => self.run_operator(budget),
            },
        };
        if step.progress {
            self.supervisor.tick(&self.component);
        }
        step.progress |= self.flush() | flushed;
        // An idle source must be polled again even if it could not run
        // now; a waiting one only once what it waits for comes.
        // What it waited for last is not re-armed while its outputs are
        // full (a readable descriptor would wake the worker again and
        // again); the consumer's taking wakes it then.
        if self.idle && self.phase == Phase::Running {
            match self.waiting {
                Some(_) if full => {}
                Some(w) => step.wait = Some(w),
                None => step.polling = true,
            }
        }
        if self.phase == Phase::Ending && self.outputs_flushed() {
            self.phase = Phase::Finished;
            step.progress = true;
        }
        step
    }
}

impl<C: Component> ComponentNode<C> {
    /// Component code panicked with `message`: its packet becomes a dead
    /// letter, and the supervisor resumes the instance, restarts it or
    /// gives up. A resumed or restarted instance's `#[recover]` method then
    /// gets the packet back, if it was kept. The queues are untouched: the
    /// packet that panicked was taken, those behind it wait.
    fn supervise(&mut self, message: String) -> Result<Step, Fatal> {
        let (site, kept) = match self.site {
            Site::Input(p) => (
                format!("input `{}`", C::META.inputs[p].name),
                self.inputs.port_mut(p).take_kept().map(|k| (p, k)),
            ),
            Site::Generate if C::META.is_source() => ("#[source]".to_owned(), None),
            Site::Generate => ("#[poll]".to_owned(), None),
            Site::Finish => ("#[on_end]".to_owned(), None),
        };
        // Within its update's watch, a new version only resumes until the
        // rollback replaces it; its supervision is not asked.
        let rolling_back = self
            .watched
            .as_ref()
            .filter(|w| w.panicked(&self.name, &message))
            .map(|w| w.update);
        let decided = match rolling_back {
            Some(_) => Ok(Recovery::Resume),
            None => self.supervisor.on_panic(&message),
        };
        let outcome = match (&decided, rolling_back) {
            (_, Some(id)) => format!("resumed until update #{id} is rolled back"),
            (Ok(r), None) => r.outcome(&self.supervisor.policy()).to_owned(),
            (Err(_), None) => "the graph stops".to_owned(),
        };
        self.env.dead_letters.push(DeadLetter {
            instance: self.name.to_string(),
            site,
            message,
            at: SystemTime::now(),
            packet: kept.as_ref().map(|(_, k)| k.text.clone()),
            outcome,
        });
        if let Recovery::Restart(c) = decided? {
            // The old component's destructor runs here, guarded.
            self.component = Guarded::new(c);
        }
        if let Some((port, k)) = kept {
            let (c, out) = (&mut self.component, &mut self.outputs);
            catch_unwind(AssertUnwindSafe(|| c.__recover(port, k.packet, out))).map_err(|p| {
                Fatal::from(format!(
                    "#[recover] panicked (not retried): {}",
                    panic_text(p.as_ref())
                ))
            })?;
        }
        Ok(Step {
            progress: true,
            ..Step::default()
        })
    }
}

impl<C: Component> Node for ComponentNode<C> {
    fn step(&mut self, budget: usize) -> Result<Step, Fatal> {
        match catch_unwind(AssertUnwindSafe(|| self.run_step(budget))) {
            Ok(step) => Ok(step),
            // The packet's own code runs in here too (its `Debug`, its
            // destructor): a panic there stops the graph, never unwinds.
            Err(p) => {
                let message = panic_text(p.as_ref());
                catch_unwind(AssertUnwindSafe(|| self.supervise(message))).unwrap_or_else(|p| {
                    Err(Fatal::from(format!(
                        "handling a panic of `{}` panicked (a kept packet's `Debug` or destructor?): {}",
                        self.name,
                        panic_text(p.as_ref())
                    )))
                })
            }
        }
    }

    fn is_finished(&self) -> bool {
        self.phase == Phase::Finished && self.pending.is_none()
    }

    /// Mirrors `run_step`: staged output an arc now takes and given-up
    /// markers to pass over are work in every stage; then the update's
    /// [`Gate`] decides, as in [`advance`]; then the instance's own phase.
    fn has_work(&mut self) -> bool {
        if self.can_flush() || self.has_stale_markers() {
            return true;
        }
        match gate(&self.pending, self) {
            Gate::Act => true,
            Gate::Pause => false,
            Gate::Run => self.could_run(),
        }
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn set_pending(&mut self, rc: Reconfig, watch: Option<Arc<Watch>>) {
        debug_assert!(self.pending.is_none(), "updates are applied one at a time");
        self.pending = Some((rc, Stage::Align));
        self.watching = watch;
    }

    fn commit(mut self: Box<Self>, locals: &mut Locals) -> Result<Option<Box<dyn Node>>, Fatal> {
        let (
            Change {
                inputs,
                outputs,
                component,
            },
            done,
        ) = begin_commit(&mut self.pending, &self.name);
        // Everything here may run component code (hooks, the old version's
        // destructor): caught in this, the component's own, build.
        catch_unwind(AssertUnwindSafe(move || {
            let this = *self;
            let mut old: Vec<_> = this.inputs.into_ends().into_iter().flatten().collect();
            old.extend(this.outputs.into_ends());
            let (ins, outs) = Change::ends(inputs, outputs, old, locals);
            match component {
                ComponentChange::Keep => {
                    // Only arcs change: what the instance is stays.
                    let mut kept = ComponentNode::new(
                        this.name,
                        this.component.into_inner(),
                        C::Inputs::from_ends(ins),
                        C::Outputs::from_ends(outs),
                        this.env,
                        this.supervisor,
                    );
                    kept.watched = this.watched;
                    kept.poll_done = this.poll_done;
                    Ok(Some(Box::new(kept) as Box<dyn Node>))
                }
                ComponentChange::Replace(incoming) => {
                    let mut handed = Resources::default();
                    let mut old = this.component;
                    catch_unwind(AssertUnwindSafe(|| old.__handover(&mut handed)))
                        .map_err(|p| panicked(Hook::Handover, p))?;
                    // A watched update keeps the old version, as it is now,
                    // to swap it back in if the new one panics.
                    if let Some(w) = &this.watching {
                        let note = RestoreNote::default();
                        let back = IncomingOf::kept(old.into_inner(), note.clone());
                        let back = match this.supervisor.factory() {
                            Some(f) => back.with_factory(f),
                            None => back,
                        };
                        w.keep(&this.name, Box::new(back), note);
                    } else {
                        drop(old);
                    }
                    let mut new = incoming.assemble(
                        this.name,
                        &mut handed,
                        ins,
                        outs,
                        this.env,
                        this.supervisor.policy(),
                    )?;
                    if let Some(w) = this.watching {
                        new.watch(w);
                    }
                    Ok(Some(new))
                }
                ComponentChange::Remove => Ok(None),
                ComponentChange::Migrating(_) => unreachable!("resolved by begin_commit"),
            }
        }))
        .unwrap_or_else(|p| Err(panicked(Hook::Install, p)))
        .map_err(|why| done.fail(why).into())
    }

    fn abandon(&mut self) {
        abandon(&mut self.pending, &self.name);
    }

    fn into_component(self: Box<Self>) -> Box<dyn Any + Send> {
        Box::new(self.component.into_inner())
    }

    fn watch(&mut self, watch: Arc<Watch>) {
        self.watched = Some(watch);
    }
}

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
    fn prepare(&mut self, state: Option<State>) -> Result<(), InstanceFailure> {
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
        let from = (state.component.clone(), state.version);
        let to = (C::META.name.to_owned(), C::META.version);
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
            Ok(Err(error)) => Err(InstanceFailure::Migrate { from, to, error }),
            Err(p) => Err(panicked(Hook::Migrate, p)),
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
    ) -> Result<Box<dyn Node>, InstanceFailure> {
        let mut this = *self;
        let c = this.instance.as_mut().expect("prepared before commit");
        catch_unwind(AssertUnwindSafe(|| c.__takeover(handed)))
            .map_err(|p| panicked(Hook::Takeover, p))?;
        Box::new(this).into_node(name, inputs, outputs, env, supervision)
    }

    fn into_node(
        self: Box<Self>,
        name: Arc<str>,
        inputs: Vec<Vec<End>>,
        outputs: Vec<End>,
        env: Arc<Env>,
        supervision: Supervision,
    ) -> Result<Box<dyn Node>, InstanceFailure> {
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
        .map_err(|p| panicked(Hook::Build, p))
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

    fn downgrade_failed(&mut self, why: &InstanceFailure) {
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

/// A panic of component code during `hook` of an update.
fn panicked(hook: Hook, payload: Box<dyn Any + Send>) -> InstanceFailure {
    InstanceFailure::Panicked {
        during: hook,
        message: panic_text(payload.as_ref()),
    }
}
