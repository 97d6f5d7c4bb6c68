//! The shape of a graph as the control side knows it: instances, their
//! versions and history, arcs, indexed by name. Plain data: no threads,
//! no queues.

use crate::channel::arc::ArcFactory;
use crate::channel::port::ArcId;
use crate::model::component::{ComponentMeta, PacketType};
use crate::model::schedule::{ArcInfo, InstanceInfo, RemoteArcInfo, Schedule};
use std::collections::HashMap;

/// An instance.
#[derive(Clone)]
pub(crate) struct CInstance {
    pub meta: &'static ComponentMeta,
    pub worker: usize,
    /// Version changes in all, and the last [`HISTORY`] of them.
    pub changes: u64,
    pub history: Vec<VersionChange>,
    /// Arcs into and out of the instance.
    pub ins: Vec<ArcId>,
    pub outs: Vec<ArcId>,
}

/// An arc between an instance here and one on another machine.
#[derive(Clone, Debug)]
pub(crate) struct RemoteArc {
    pub id: ArcId,
    /// The end on this machine: instance and port.
    pub local: (String, String),
    /// The instance at the other end, on another machine.
    pub foreign: String,
    /// True if packets come in from the other machine.
    pub incoming: bool,
    pub packet: PacketType,
    /// `a.out -> b.inp`.
    pub label: String,
}

/// An arc.
#[derive(Clone)]
pub(crate) struct CArc {
    pub id: ArcId,
    pub from: (String, String),
    pub to: (String, String),
    pub packet: PacketType,
    pub capacity: usize,
    pub factory: ArcFactory,
}

impl CArc {
    pub(crate) fn label(&self) -> String {
        format!(
            "{}.{} -> {}.{}",
            self.from.0, self.from.1, self.to.0, self.to.1
        )
    }
}

/// The current shape of a running graph.
pub(crate) struct Shape {
    pub name: String,
    pub workers: usize,
    /// Workers dedicated to one `#[blocking]` instance each: updates put
    /// nothing else there (it would wait whenever that instance blocks).
    pub dedicated: Vec<bool>,
    pub default_capacity: usize,
    pub instances: HashMap<String, CInstance>,
    /// Instance names in run order, for display.
    pub order: Vec<String>,
    pub arcs: HashMap<ArcId, CArc>,
    pub next_arc: ArcId,
    /// Arcs with one end here and the other on another machine. Their
    /// streams are fixed: an update may replace the instances at their
    /// ends (keeping the ports) but not rewire them.
    pub remote: Vec<RemoteArc>,
    /// `(u, v)`: a path leaves this machine at `u` and comes back at `v`
    /// (through arcs to and from other machines).
    pub through: Vec<(String, String)>,
}

impl Shape {
    /// The arcs between instance `name` and other machines.
    pub(crate) fn remote_of<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a RemoteArc> {
        self.remote.iter().filter(move |r| r.local.0 == name)
    }

    /// True if `worker` is dedicated to a `#[blocking]` instance.
    pub(crate) fn is_dedicated(&self, worker: usize) -> bool {
        self.dedicated.get(worker).copied().unwrap_or(false)
    }

    /// Builds the shape from instances (in run order) and arcs.
    pub(crate) fn new(
        name: String,
        workers: usize,
        default_capacity: usize,
        instances: Vec<(String, &'static ComponentMeta, usize)>,
        arcs: Vec<CArc>,
    ) -> Self {
        let mut shape = Shape {
            name,
            workers,
            dedicated: vec![false; workers],
            default_capacity,
            order: instances.iter().map(|i| i.0.clone()).collect(),
            instances: instances
                .into_iter()
                .map(|(n, meta, worker)| {
                    (
                        n,
                        CInstance {
                            meta,
                            worker,
                            changes: 0,
                            history: Vec::new(),
                            ins: Vec::new(),
                            outs: Vec::new(),
                        },
                    )
                })
                .collect(),
            arcs: HashMap::new(),
            next_arc: arcs.iter().map(|a| a.id + 1).max().unwrap_or(0),
            remote: Vec::new(),
            through: Vec::new(),
        };
        arcs.into_iter().for_each(|a| shape.add_arc(a));
        shape
    }

    pub(crate) fn add_arc(&mut self, a: CArc) {
        self.instances
            .get_mut(&a.from.0)
            .expect("arc from an instance")
            .outs
            .push(a.id);
        self.instances
            .get_mut(&a.to.0)
            .expect("arc to an instance")
            .ins
            .push(a.id);
        self.arcs.insert(a.id, a);
    }

    pub(crate) fn remove_arc(&mut self, id: ArcId) {
        if let Some(a) = self.arcs.remove(&id) {
            if let Some(i) = self.instances.get_mut(&a.from.0) {
                i.outs.retain(|&x| x != id);
            }
            if let Some(i) = self.instances.get_mut(&a.to.0) {
                i.ins.retain(|&x| x != id);
            }
        }
    }

    pub(crate) fn schedule(&self) -> Schedule {
        let mut sections = vec![Vec::new(); self.workers];
        for name in &self.order {
            let i = &self.instances[name];
            sections[i.worker].push(InstanceInfo {
                name: name.clone(),
                component: i.meta.name,
                version: i.meta.version,
                section: i.worker,
            });
        }
        let mut arcs: Vec<&CArc> = self.arcs.values().collect();
        arcs.sort_by_key(|a| a.id);
        let arcs = arcs
            .into_iter()
            .map(|a| ArcInfo {
                from: a.from.clone(),
                to: a.to.clone(),
                packet: a.packet,
                capacity: a.capacity,
                cross_section: self.instances[&a.from.0].worker != self.instances[&a.to.0].worker,
            })
            .collect();
        let remote = self
            .remote
            .iter()
            .map(|r| RemoteArcInfo {
                label: r.label.clone(),
                instance: r.local.0.clone(),
                foreign: r.foreign.clone(),
                incoming: r.incoming,
            })
            .collect();
        Schedule {
            name: self.name.clone(),
            sections,
            arcs,
            remote,
        }
    }
}

/// A version change of one instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionChange {
    /// Update that made it.
    pub update: u64,
    /// Component and version before.
    pub from: (String, u32),
    /// Component and version after.
    pub to: (String, u32),
}

/// An instance of a running graph, as it is now.
#[derive(Clone, Debug)]
pub struct InstanceStatus {
    /// Instance name.
    pub name: String,
    /// Component type name.
    pub component: String,
    /// Component version.
    pub version: u32,
    /// Worker that runs it.
    pub worker: usize,
    /// How many version changes it has had in all.
    pub changes: u64,
    /// The most recent version changes (at most [`HISTORY`]), oldest first.
    pub history: Vec<VersionChange>,
}

/// How many version changes [`InstanceStatus::history`] keeps per instance:
/// a long-running program updated again and again keeps bounded memory.
pub const HISTORY: usize = 16;

#[cfg(all(test, not(loom)))]
mod tests {
    use crate::testkit::{labels, map, shape, sink, source};

    fn two_workers() -> super::Shape {
        shape(
            2,
            &[
                ("src", source(), 0),
                ("a", map(1), 1),
                ("b", map(2), 1),
                ("sink", sink(), 0),
            ],
            &[("src.out", "a.in"), ("a.out", "b.in"), ("b.out", "sink.in")],
        )
    }

    #[test]
    fn a_new_shape_indexes_each_arc_at_both_ends_and_numbers_after_the_last() {
        let g = two_workers();
        assert_eq!(g.next_arc, 3);
        assert_eq!(
            (g.instances["a"].ins.clone(), g.instances["a"].outs.clone()),
            (vec![0], vec![1])
        );
        assert!(g.instances["src"].ins.is_empty());
        assert_eq!(g.instances["sink"].ins, [2]);
        assert_eq!(g.order, ["src", "a", "b", "sink"]);
    }

    #[test]
    fn removing_an_arc_unlinks_it_from_both_ends() {
        let mut g = two_workers();
        g.remove_arc(1);
        assert!(g.instances["a"].outs.is_empty());
        assert!(g.instances["b"].ins.is_empty());
        assert_eq!(labels(&g), ["b.out -> sink.in", "src.out -> a.in"]);
        g.remove_arc(1);
        g.remove_arc(42);
        assert_eq!(g.arcs.len(), 2, "removing an unknown arc changes nothing");
    }

    #[test]
    fn the_schedule_lists_sections_in_run_order_and_marks_arcs_across_sections() {
        let s = two_workers().schedule();
        let sections: Vec<Vec<(&str, u32)>> = s
            .sections
            .iter()
            .map(|sec| sec.iter().map(|i| (i.name.as_str(), i.version)).collect())
            .collect();
        assert_eq!(
            sections,
            [vec![("src", 1), ("sink", 1)], vec![("a", 1), ("b", 2)]]
        );
        assert!(s.sections[1].iter().all(|i| i.section == 1));
        let arcs: Vec<(&str, &str, bool)> = s
            .arcs
            .iter()
            .map(|a| (a.from.0.as_str(), a.to.0.as_str(), a.cross_section))
            .collect();
        assert_eq!(
            arcs,
            [("src", "a", true), ("a", "b", false), ("b", "sink", true)]
        );
    }
}
