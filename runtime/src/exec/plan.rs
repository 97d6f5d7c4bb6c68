//! What a worker builds nodes from: per instance, its component (still
//! `Send`, type-erased) and the plans of its arc ends, opened on the
//! worker's own thread.

use crate::channel::arc::{EndPlan, Locals};
use crate::exec::contract::{Env, Incoming, Node};
use crate::model::failure::InstanceFailure;
use crate::model::supervise::Supervision;
use std::sync::Arc;

/// One instance to build on a worker.
pub(crate) struct InstancePlan {
    pub name: Arc<str>,
    pub inputs: Vec<Vec<EndPlan>>,
    pub outputs: Vec<EndPlan>,
    pub component: Box<dyn Incoming>,
    pub supervision: Supervision,
}

impl InstancePlan {
    /// Opens the arc ends and builds the node; a panic (in the component's
    /// build) comes back as its message, with the instance's name.
    pub(crate) fn build(
        self,
        locals: &mut Locals,
        env: &Arc<Env>,
    ) -> Result<Box<dyn Node>, (Arc<str>, InstanceFailure)> {
        let inputs = self
            .inputs
            .into_iter()
            .map(|arcs| arcs.into_iter().map(|e| e.open(locals)).collect())
            .collect();
        let outputs = self.outputs.into_iter().map(|e| e.open(locals)).collect();
        let name = self.name.clone();
        self.component
            .into_node(self.name, inputs, outputs, env.clone(), self.supervision)
            .map_err(|why| (name, why))
    }
}
