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

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::testkit::{chain, fresh, labels, map, shape, sink, source, stateful_map, Meta};
    use crate::update::draft::Draft;

    /// A graph that has not run: `g` and a fresh instance of each of its
    /// instances' components.
    fn target(g: Shape) -> (Shape, Vec<Unbuilt>) {
        let plans = g
            .order
            .iter()
            .map(|n| (n.as_str().into(), fresh(g.instances[n].meta)))
            .collect();
        (g, plans)
    }

    fn evolve(running: &Shape, g: Shape) -> Evolution {
        Evolution::between(running, target(g)).unwrap_or_else(|e| panic!("refused: {e}"))
    }

    fn refused(running: &Shape, g: Shape) -> String {
        match Evolution::between(running, target(g)) {
            Ok(e) => panic!("accepted: {:?}", fates(&e)),
            Err(e) => e.to_string(),
        }
    }

    fn fates(e: &Evolution) -> Vec<(&str, Fate)> {
        e.instances
            .iter()
            .map(|i| (i.name.as_str(), i.fate))
            .collect()
    }

    /// The update's edits, in order, written out.
    fn edits(e: &Evolution) -> Vec<String> {
        e.update
            .edits
            .iter()
            .map(|e| match e {
                Edit::Replace { instance, incoming } => format!(
                    "replace {instance} by {} v{}{}",
                    incoming.meta().name,
                    incoming.meta().version,
                    if incoming.migrates() {
                        " migrated"
                    } else {
                        " fresh"
                    }
                ),
                Edit::Insert {
                    instance, worker, ..
                } => format!("insert {instance} on {worker:?}"),
                Edit::Remove { instance } => format!("remove {instance}"),
                Edit::Connect { from, to, capacity } => {
                    format!("connect {from} -> {to} ({capacity:?})")
                }
                Edit::Disconnect { from, to } => format!("disconnect {from} -> {to}"),
            })
            .collect()
    }

    /// `chain()` with `b` replaced by `meta`.
    fn chain_with_b(meta: &'static ComponentMeta) -> Shape {
        let mut g = chain();
        g.instances.get_mut("b").unwrap().meta = meta;
        g
    }

    #[test]
    fn the_same_graph_keeps_everything_and_changes_nothing() {
        let e = evolve(&chain(), chain());
        assert!(e.is_empty());
        assert!(e.instances.iter().all(|i| i.fate == Fate::Kept));
        assert_eq!(
            e.instances
                .iter()
                .map(|i| i.name.as_str())
                .collect::<Vec<_>>(),
            ["src", "a", "b", "c", "sink"]
        );
        assert_eq!(e.arcs.len(), 4);
    }

    #[test]
    fn a_new_version_of_a_component_with_state_is_migrated() {
        let e = evolve(
            &chain_with_b(stateful_map(1, &[0])),
            chain_with_b(stateful_map(2, &[1])),
        );
        assert_eq!(fates(&e)[2], ("b", Fate::Replaced { migrated: true }));
        assert_eq!(edits(&e), ["replace b by Map v2 migrated"]);
        let b = &e.instances[2];
        assert_eq!(
            (b.before.map(|m| m.version), b.after.map(|m| m.version)),
            (Some(1), Some(2))
        );
    }

    #[test]
    fn a_new_version_without_state_starts_fresh() {
        let e = evolve(&chain(), chain_with_b(map(2)));
        assert_eq!(fates(&e)[2], ("b", Fate::Replaced { migrated: false }));
        assert_eq!(edits(&e), ["replace b by Map v2 fresh"]);
        // State on one side only: fresh too.
        let e = evolve(&chain_with_b(stateful_map(1, &[0])), chain_with_b(map(2)));
        assert_eq!(edits(&e), ["replace b by Map v2 fresh"]);
    }

    #[test]
    fn another_component_replaces_fresh_unless_both_keep_state() {
        let other = Meta::new("Other", 1)
            .input::<u64>("in")
            .output::<u64>("out")
            .leak();
        let e = evolve(&chain_with_b(stateful_map(1, &[0])), chain_with_b(other));
        assert_eq!(fates(&e)[2], ("b", Fate::Replaced { migrated: false }));
        assert_eq!(edits(&e), ["replace b by Other v1 fresh"]);

        let stateful_other = Meta::new("Other", 1)
            .input::<u64>("in")
            .output::<u64>("out")
            .state()
            .leak();
        let why = refused(
            &chain_with_b(stateful_map(1, &[0])),
            chain_with_b(stateful_other),
        );
        for name in ["`b`", "Map", "Other"] {
            assert!(why.contains(name), "`{name}` is not named in: {why}");
        }
    }

    #[test]
    fn a_different_number_of_workers_is_refused() {
        let one = shape(
            1,
            &[("src", source(), 0), ("sink", sink(), 0)],
            &[("src.out", "sink.in")],
        );
        let two = shape(
            2,
            &[("src", source(), 0), ("sink", sink(), 1)],
            &[("src.out", "sink.in")],
        );
        let why = refused(&one, two);
        assert!(why.contains('1') && why.contains('2'), "{why}");
    }

    /// `src -> a -> m -> b -> sink` on two workers, `m` on worker 1: the
    /// chain with `m` inserted and `c` gone.
    fn rewired() -> Shape {
        shape(
            2,
            &[
                ("src", source(), 0),
                ("a", map(1), 0),
                ("m", map(1), 1),
                ("b", map(1), 0),
                ("sink", sink(), 0),
            ],
            &[
                ("src.out", "a.in"),
                ("a.out", "m.in"),
                ("m.out", "b.in"),
                ("b.out", "sink.in"),
            ],
        )
    }

    /// `chain()` on two workers.
    fn chain2() -> Shape {
        let mut g = chain();
        g.workers = 2;
        g
    }

    #[test]
    fn instances_only_in_the_target_are_inserted_and_only_running_ones_removed() {
        let e = evolve(&chain2(), rewired());
        assert_eq!(
            fates(&e),
            [
                ("src", Fate::Kept),
                ("a", Fate::Kept),
                ("m", Fate::Inserted),
                ("b", Fate::Kept),
                ("sink", Fate::Kept),
                ("c", Fate::Removed),
            ]
        );
        let m = &e.instances[2];
        assert_eq!(
            (m.worker, m.scheduled, m.before.is_none()),
            (None, Some(1), true)
        );
        let c = &e.instances[5];
        assert_eq!(
            (c.worker, c.scheduled, c.after.is_none()),
            (Some(0), None, true)
        );
        assert_eq!(
            edits(&e),
            [
                "insert m on Some(1)",
                "remove c",
                // Arcs of `c` go with it; only arcs between instances that
                // stay are disconnected.
                "disconnect a.out -> b.in",
                "connect a.out -> m.in (Some(4))",
                "connect b.out -> sink.in (Some(4))",
                "connect m.out -> b.in (Some(4))",
            ]
        );
        assert_eq!(e.arcs.len(), 4);
    }

    #[test]
    fn the_update_of_an_evolution_is_valid_and_yields_the_target() {
        let mut running = chain2();
        let e = evolve(&running, rewired());
        Draft::new(&running, e.into_update().edits)
            .unwrap_or_else(|e| panic!("refused: {e}"))
            .apply(&mut running);
        assert_eq!(labels(&running), labels(&rewired()));
        assert_eq!(running.instances["m"].worker, 1);
        assert!(!running.instances.contains_key("c"));
    }

    #[test]
    fn two_new_versions_that_change_the_type_between_them_yield_a_valid_update() {
        let mut running = chain();
        let mut g = chain();
        let a2 = Meta::new("Map", 2)
            .input::<u64>("in")
            .output::<String>("out")
            .leak();
        let b2 = Meta::new("Map", 2)
            .input::<String>("in")
            .output::<u64>("out")
            .leak();
        g.instances.get_mut("a").unwrap().meta = a2;
        g.instances.get_mut("b").unwrap().meta = b2;
        // `chain()` typed the arc `u64`; the target graph types it `String`.
        let id = g.instances["a"].outs[0];
        g.arcs.get_mut(&id).unwrap().packet = (a2.outputs[0].packet)();
        let e = evolve(&running, g);
        assert_eq!(
            edits(&e),
            ["replace a by Map v2 fresh", "replace b by Map v2 fresh"],
            "the arc keeps its ports: no rewiring"
        );
        let d =
            Draft::new(&running, e.into_update().edits).unwrap_or_else(|e| panic!("refused: {e}"));
        d.apply(&mut running);
        let arc = &running.arcs[&running.instances["a"].outs[0]];
        assert!(arc.packet.name.contains("String"), "{}", arc.packet.name);
    }

    #[test]
    fn a_kept_arc_keeps_its_capacity() {
        let running = chain();
        let mut g = chain();
        g.arcs.values_mut().for_each(|a| a.capacity = 99);
        let e = evolve(&running, g);
        assert!(e.is_empty(), "{:?}", edits(&e));
    }
}
