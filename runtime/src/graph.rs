//! A graph built but not started: its shape and, per worker, the instances
//! to build. Starting it is [`Graph::run`], in `running.rs`, which is the
//! only part that knows threads and the update engine.

use crate::exec::contract::Unbuilt;
use crate::exec::worker::Worker;
use crate::model::schedule::Schedule;
use crate::model::shape::Shape;
use crate::model::supervise::Supervision;

/// A graph ready to run (what `graph!` returns).
pub struct Graph {
    pub(crate) control: Shape,
    pub(crate) workers: Vec<Worker>,
    /// Supervision of instances without their own, and of inserted ones.
    pub(crate) supervision: Supervision,
}

impl Graph {
    pub(crate) fn new(control: Shape, workers: Vec<Worker>, supervision: Supervision) -> Self {
        Graph {
            control,
            workers,
            supervision,
        }
    }

    /// The static schedule: sections, run order, arcs.
    pub fn schedule(&self) -> Schedule {
        self.control.schedule()
    }

    /// The shape and the unbuilt instances, by name (for an evolution).
    pub(crate) fn into_parts(self) -> (Shape, Vec<Unbuilt>) {
        let instances = self
            .workers
            .into_iter()
            .flat_map(|w| w.instances)
            .map(|i| (i.name, i.component))
            .collect();
        (self.control, instances)
    }
}
