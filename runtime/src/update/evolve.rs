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
use std::fmt;

/// Why a graph cannot evolve into another while it runs.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EvolutionError {
    /// The worker count differs; it is fixed while the program runs.
    Workers {
        /// Workers of the new graph.
        target: usize,
        /// Workers of the running one.
        running: usize,
    },
    /// An instance would change component while both keep state: state
    /// only migrates between versions of one component.
    StateAcrossComponents {
        /// The instance.
        instance: String,
        /// Its component now.
        from: String,
        /// Its component in the new graph.
        to: String,
    },
}

impl fmt::Display for EvolutionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EvolutionError::Workers { target, running } => write!(
                f,
                "the new graph has {target} workers but the running one has {running}; the number of workers is fixed while the program runs: restart it to change that"
            ),
            EvolutionError::StateAcrossComponents { instance, from, to } => write!(
                f,
                "instance `{instance}` would change from component `{from}` to `{to}`; state only migrates \
                 between versions of one component: keep the name `{from}` and bump its version, or give \
                 the instance a new name to start it afresh"
            ),
        }
    }
}

impl std::error::Error for EvolutionError {}

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
    pub fn is_empty(&self) -> bool {
        self.update.edits.is_empty()
    }

    /// The update that performs the evolution.
    pub fn into_update(self) -> Update {
        self.update
    }

    /// Computes the evolution of `running` into `target` (the shape and
    /// the unbuilt instances of a graph that has not run).
    pub(crate) fn between(
        running: &Shape,
        (shape, plans): (Shape, Vec<Unbuilt>),
    ) -> Result<Evolution, EvolutionError> {
        if shape.workers != running.workers {
            return Err(EvolutionError::Workers {
                target: shape.workers,
                running: running.workers,
            });
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
                    return Err(EvolutionError::StateAcrossComponents {
                        instance: name.clone(),
                        from: b.name.to_owned(),
                        to: after.name.to_owned(),
                    });
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
