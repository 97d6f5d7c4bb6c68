//! The difference between a running graph and another graph, as one
//! [`Update`]: how a rebuilt program's graph is applied to the running one.
//!
//! An instance keeps running as it is while its component and version are
//! unchanged; a new version replaces it, migrating its state when both
//! versions keep state (the update engine then checks the migration path);
//! another component replaces it fresh, unless both keep state (refused:
//! state only migrates within one component); instances only in the target are inserted on the
//! target's worker, instances only in the running graph are removed. Arcs
//! are matched by their ports; the capacity of a kept arc is kept.

use crate::exec::contract::Unbuilt;
use crate::model::component::ComponentMeta;
use crate::model::schedule::ArcInfo;
use crate::model::shape::Shape;
use crate::update::request::{Edit, Update};
use std::collections::{HashMap, HashSet};

/// What becomes of one instance.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Fate {
    /// Same component and version: it keeps running, with its state.
    Kept,
    /// Another component or version takes over; `migrated` if it is built
    /// from the old instance's state, otherwise it starts as the target
    /// graph constructed it.
    Replaced {
        /// Built from the old state.
        migrated: bool,
    },
    /// Only in the target graph.
    Inserted,
    /// Only in the running graph.
    Removed,
}

/// One instance of either graph and its fate.
#[derive(Clone, Debug)]
pub struct InstanceEvolution {
    /// Instance name.
    pub name: String,
    /// Component that runs it now (`None` if inserted).
    pub before: Option<&'static ComponentMeta>,
    /// Component that runs it after the update (`None` if removed).
    pub after: Option<&'static ComponentMeta>,
    /// What the update does to it.
    pub fate: Fate,
    /// The worker that runs it now (`None` if inserted).
    pub worker: Option<usize>,
    /// The worker the target graph's schedule puts it on (`None` if
    /// removed). An instance that stays keeps its worker.
    pub scheduled: Option<usize>,
}

/// How a running graph becomes a target graph: the [`Update`] to apply and
/// what it changes, for checks and reports before it is applied.
#[must_use = "an evolution does nothing until its update is applied"]
pub struct Evolution {
    update: Update,
    /// Instances of the target graph in run order, then the removed ones.
    pub instances: Vec<InstanceEvolution>,
    /// The target graph's arcs: the arcs after the update.
    pub arcs: Vec<ArcInfo>,
}

impl Evolution {
    /// True if the target graph is the running one: nothing to apply.
    ///
    /// ```
    /// # use evoflow::{component, graph, Flow, Outputs};
    /// # struct Ticks { next: u64 }
    /// # #[component(outputs(out: u64))]
    /// # impl Ticks {
    /// #     #[source]
    /// #     fn emit(&mut self, out: &mut Outputs<Self>) -> Flow {
    /// #         out.out(self.next); // until `stop`
    /// #         self.next += 1;
    /// #         Flow::Continue
    /// #     }
    /// # }
    /// # #[derive(Default)]
    /// # struct Sum { total: u64 }
    /// # #[component]
    /// # impl Sum {
    /// #     #[input]
    /// #     fn inp(&mut self, x: u64) { self.total += x; }
    /// # }
    /// let running = graph! {
    ///     ticks: Ticks = Ticks { next: 0 };
    ///     sum: Sum;
    ///     ticks.out -> sum.inp;
    /// }
    /// .run()
    /// .unwrap();
    /// let same = graph! {
    ///     ticks: Ticks = Ticks { next: 0 };
    ///     sum: Sum;
    ///     ticks.out -> sum.inp;
    /// };
    /// assert!(running.evolution(same).unwrap().is_empty());
    /// # running.stop();
    /// # running.join().unwrap();
    /// ```
    pub fn is_empty(&self) -> bool {
        self.update.edits.is_empty()
    }

    /// The update that performs the evolution, to apply with
    /// [`Running::update`](crate::Running::update).
    ///
    /// ```
    /// # use evoflow::{component, graph, Flow, Outputs};
    /// # struct Ticks { next: u64 }
    /// # #[component(outputs(out: u64))]
    /// # impl Ticks {
    /// #     #[source]
    /// #     fn emit(&mut self, out: &mut Outputs<Self>) -> Flow {
    /// #         out.out(self.next); // until `stop`
    /// #         self.next += 1;
    /// #         Flow::Continue
    /// #     }
    /// # }
    /// # #[derive(Default)]
    /// # struct Sum { total: u64 }
    /// # #[component]
    /// # impl Sum {
    /// #     #[input]
    /// #     fn inp(&mut self, x: u64) { self.total += x; }
    /// # }
    /// # #[derive(Default)]
    /// # struct SumV2 { total: u64 }
    /// # #[component(version = 2)]
    /// # impl SumV2 {
    /// #     #[input]
    /// #     fn inp(&mut self, x: u64) { self.total += x; }
    /// # }
    /// let running = graph! {
    ///     ticks: Ticks = Ticks { next: 0 };
    ///     sum: Sum;
    ///     ticks.out -> sum.inp;
    /// }
    /// .run()
    /// .unwrap();
    /// let rebuilt = graph! {
    ///     ticks: Ticks = Ticks { next: 0 };
    ///     sum: SumV2;
    ///     ticks.out -> sum.inp;
    /// };
    /// let update = running.evolution(rebuilt).unwrap().into_update();
    /// let report = running.update(update).unwrap();
    /// assert_eq!(report.replaced[0].1.to, ("SumV2".to_string(), 2));
    /// # running.stop();
    /// # running.join().unwrap();
    /// ```
    pub fn into_update(self) -> Update {
        self.update
    }

    /// Computes the evolution of `running` into `target` (the shape and
    /// the unbuilt instances of a graph that has not run).
    pub(crate) fn between(
        running: &Shape,
        (shape, plans): (Shape, Vec<Unbuilt>),
    ) -> Result<Evolution, String> {
        if shape.workers != running.workers {
            return Err(format!(
                "the new graph has {} workers but the running one has {}; the number of workers is fixed while the program runs: restart it to change that",
                shape.workers, running.workers
            ));
        }
        let mut components: HashMap<_, _> = plans.into_iter().collect();
        let mut edits = Vec::new();
        let mut instances = Vec::new();
        for name in &shape.order {
            let after = shape.instances[name].meta;
            let before = running.instances.get(name).map(|i| i.meta);
            let incoming = components
                .remove(name.as_str())
                .expect("a plan per instance");
            let fate = match before {
                None => {
                    edits.push(Edit::Insert {
                        instance: name.clone(),
                        worker: Some(shape.instances[name].worker),
                        incoming,
                    });
                    Fate::Inserted
                }
                Some(b) if b.name == after.name && b.version == after.version => Fate::Kept,
                Some(b) if b.state && after.state && b.name != after.name => {
                    return Err(format!(
                        "instance `{name}` would change from component `{}` to `{}`; state only migrates \
                         between versions of one component: keep the name `{}` and bump its version, or give \
                         the instance a new name to start it afresh",
                        b.name, after.name, b.name
                    ));
                }
                Some(b) => {
                    let migrated = b.state && after.state;
                    let incoming = if migrated {
                        incoming.into_migrated()
                    } else {
                        incoming
                    };
                    edits.push(Edit::Replace {
                        instance: name.clone(),
                        incoming,
                    });
                    Fate::Replaced { migrated }
                }
            };
            instances.push(InstanceEvolution {
                name: name.clone(),
                before,
                after: Some(after),
                fate,
                worker: running.instances.get(name).map(|i| i.worker),
                scheduled: Some(shape.instances[name].worker),
            });
        }
        let mut removed = HashSet::new();
        for name in running
            .order
            .iter()
            .filter(|n| !shape.instances.contains_key(*n))
        {
            removed.insert(name.as_str());
            edits.push(Edit::Remove {
                instance: name.clone(),
            });
            instances.push(InstanceEvolution {
                name: name.clone(),
                before: Some(running.instances[name].meta),
                after: None,
                fate: Fate::Removed,
                worker: Some(running.instances[name].worker),
                scheduled: None,
            });
        }
        let label = |from: &(String, String), to: &(String, String)| {
            (
                format!("{}.{}", from.0, from.1),
                format!("{}.{}", to.0, to.1),
            )
        };
        let now: HashSet<_> = running
            .arcs
            .values()
            .map(|a| label(&a.from, &a.to))
            .collect();
        let then: HashSet<_> = shape.arcs.values().map(|a| label(&a.from, &a.to)).collect();
        let mut gone: Vec<_> = running
            .arcs
            .values()
            .filter(|a| !removed.contains(a.from.0.as_str()) && !removed.contains(a.to.0.as_str()))
            .map(|a| label(&a.from, &a.to))
            .filter(|l| !then.contains(l))
            .collect();
        gone.sort();
        edits.extend(
            gone.into_iter()
                .map(|(from, to)| Edit::Disconnect { from, to }),
        );
        let mut new: Vec<_> = shape
            .arcs
            .values()
            .map(|a| (label(&a.from, &a.to), a.capacity))
            .filter(|(l, _)| !now.contains(l))
            .collect();
        new.sort();
        edits.extend(new.into_iter().map(|((from, to), capacity)| Edit::Connect {
            from,
            to,
            capacity: Some(capacity),
        }));
        Ok(Evolution {
            update: Update {
                edits,
                ..Update::default()
            },
            instances,
            arcs: shape.schedule().arcs,
        })
    }
}
