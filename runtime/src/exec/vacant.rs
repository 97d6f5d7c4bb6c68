//! The node of an instance an update inserts, until the update commits
//! (it passes the marker on and takes part in the decision), and the
//! placeholder of one an update removed.

use crate::channel::arc::Locals;
use crate::channel::port::ArcId;
use crate::exec::contract::{Change, ComponentChange, Env, Node, Reconfig, Step, Watch};
use crate::exec::reconfig::{
    abandon, advance, begin_commit, gate, Advance, Gate, Participant, Stage,
};
use crate::exec::restart::Fatal;
use crate::model::failure::{InstanceFailure, NotRun};
use crate::model::state::{Resources, State};
use std::any::Any;
use std::sync::Arc;

/// An instance an update inserts, until the update commits.
pub(crate) struct VacantNode {
    name: Arc<str>,
    env: Arc<Env>,
    pending: Option<(Reconfig, Stage)>,
}

impl VacantNode {
    pub(crate) fn new(name: Arc<str>, rc: Reconfig, env: Arc<Env>) -> Self {
        VacantNode {
            name,
            env,
            pending: Some((rc, Stage::Align)),
        }
    }

    /// The place of an instance an update removed, until swept away.
    pub(crate) fn retired(name: Arc<str>, env: Arc<Env>) -> Self {
        VacantNode {
            name,
            env,
            pending: None,
        }
    }
}

impl Participant for VacantNode {
    fn name(&self) -> &str {
        &self.name
    }
    fn aligned(&self, _: &[ArcId], _: u64) -> bool {
        true
    }
    fn forward(&mut self, _: &[ArcId], _: u64) {}
    fn release(&mut self) {}
    fn running(&self) -> bool {
        true
    }
    fn export(&mut self) -> Result<State, InstanceFailure> {
        // Never asked: an inserted instance is not replaced by its update.
        Err(InstanceFailure::NotRun(NotRun::InsertedAndChanged))
    }
    fn export_down(&mut self, _: u32) -> Result<Option<State>, InstanceFailure> {
        Ok(None)
    }
}

impl Node for VacantNode {
    fn step(&mut self, _: usize) -> Result<Step, Fatal> {
        let mut pending = self.pending.take();
        let advanced = advance(&mut pending, self);
        self.pending = pending;
        Ok(match advanced {
            Advance::Commit => Step {
                progress: true,
                commit: true,
                ..Step::default()
            },
            Advance::Run | Advance::Pause => Step::default(),
        })
    }
    fn is_finished(&self) -> bool {
        self.pending.is_none()
    }
    fn is_retired(&self) -> bool {
        // The insert aborted: nothing to run, and the report omits it.
        self.pending.is_none()
    }
    fn has_work(&mut self) -> bool {
        gate(&self.pending, self) == Gate::Act
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn set_pending(&mut self, rc: Reconfig, _: Option<Arc<Watch>>) {
        rc.update.give_up(&self.name, NotRun::InsertedAndChanged);
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
        let (ins, outs) = Change::ends(inputs, outputs, Vec::new(), locals);
        let supervision = self.env.supervision;
        match component {
            ComponentChange::Replace(incoming) => incoming
                .assemble(
                    self.name,
                    &mut Resources::default(),
                    ins,
                    outs,
                    self.env,
                    supervision,
                )
                .map(Some)
                .map_err(|why| done.fail(why).into()),
            ComponentChange::Keep | ComponentChange::Remove => Ok(None),
            ComponentChange::Migrating(_) => unreachable!("resolved by begin_commit"),
        }
    }
    fn abandon(&mut self) {
        abandon(&mut self.pending, &self.name);
    }
    fn into_component(self: Box<Self>) -> Box<dyn Any + Send> {
        Box::new(())
    }
}
