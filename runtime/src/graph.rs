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
    /// Pin each worker to a CPU of its own ([`Graph::pin_workers`]).
    pub(crate) pin: bool,
}

impl Graph {
    pub(crate) fn new(control: Shape, workers: Vec<Worker>, supervision: Supervision) -> Self {
        Graph {
            control,
            workers,
            supervision,
            pin: false,
        }
    }

    /// Runs each worker on a CPU of its own, of those this process may use,
    /// if there are as many (else, with a warning, none is pinned); the
    /// thread of a `#[blocking]` instance is never pinned.
    ///
    /// Why: workers that hand packets to each other wake each other, and
    /// Linux then tends to move the woken thread onto the waker's CPU, so a
    /// pipeline split over two workers can run on one CPU, one worker at a
    /// time, for long stretches (measured in `cargo bench --bench
    /// pipeline`, compute-bound rows). Off by default: a pinned worker
    /// cannot move away from a CPU that another process keeps busy.
    pub fn pin_workers(mut self) -> Self {
        self.pin = true;
        self
    }

    /// The static schedule: sections, run order, arcs.
    ///
    /// ```
    /// # use evoflow::{component, graph, Flow, Outputs};
    /// # struct Count { next: u64 }
    /// # #[component(outputs(out: u64))]
    /// # impl Count {
    /// #     #[source]
    /// #     fn emit(&mut self, out: &mut Outputs<Self>) -> Flow {
    /// #         if self.next == 100 { return Flow::Done; }
    /// #         out.out(self.next); self.next += 1; Flow::Continue
    /// #     }
    /// # }
    /// # #[derive(Default)] struct Sum { total: u64 }
    /// # #[component] impl Sum { #[input] fn inp(&mut self, x: u64) { self.total += x; } }
    /// let graph = graph! {
    ///     workers = 2;
    ///     count: Count = Count { next: 0 };
    ///     #[worker(1)]
    ///     sum: Sum;
    ///     count.out -> sum.inp;
    /// };
    /// let schedule = graph.schedule();
    /// let names: Vec<Vec<&str>> = schedule.sections.iter()
    ///     .map(|s| s.iter().map(|i| i.name.as_str()).collect())
    ///     .collect();
    /// assert_eq!(names, [["count"], ["sum"]]);
    /// assert!(schedule.arcs[0].cross_section); // an SPSC ring between workers
    /// ```
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
