//! The static schedule of a graph, for people: printable and exportable as
//! Graphviz DOT.

use crate::model::component::PacketType;
use std::fmt::{self, Write as _};

/// One instance in the schedule.
#[derive(Clone, Debug)]
pub struct InstanceInfo {
    /// Instance name as declared in the graph.
    pub name: String,
    /// Component type name.
    pub component: &'static str,
    /// Component version.
    pub version: u32,
    /// Section (worker) that runs it.
    pub section: usize,
}

/// One arc in the schedule.
#[derive(Clone, Debug)]
pub struct ArcInfo {
    /// Producing instance and output port.
    pub from: (String, String),
    /// Consuming instance and input port.
    pub to: (String, String),
    /// Packet type carried.
    pub packet: PacketType,
    /// Capacity in packets.
    pub capacity: usize,
    /// True if the ends run on different workers (an SPSC ring).
    pub cross_section: bool,
}

/// An arc between an instance here and one on another machine (a graph
/// over machines).
#[derive(Clone, Debug)]
pub struct RemoteArcInfo {
    /// `a.out -> b.inp`.
    pub label: String,
    /// The instance on this machine.
    pub instance: String,
    /// The instance at the other end, on another machine.
    pub foreign: String,
    /// True if packets come in from the other machine.
    pub incoming: bool,
}

/// Which worker runs which instance, in which order, and the arcs.
#[derive(Clone, Debug)]
pub struct Schedule {
    /// Graph name.
    pub name: String,
    /// Instances per section, in run order.
    pub sections: Vec<Vec<InstanceInfo>>,
    /// All arcs within this machine.
    pub arcs: Vec<ArcInfo>,
    /// Arcs to and from other machines (none in a one-machine graph).
    pub remote: Vec<RemoteArcInfo>,
}

impl Schedule {
    /// The schedule as a Graphviz digraph: one cluster per section, arcs
    /// labelled with ports and packet types, cross-section arcs bold.
    pub fn to_dot(&self) -> String {
        let mut dot = format!(
            "digraph \"{}\" {{\n  rankdir=LR;\n  node [shape=box];\n",
            esc(&self.name)
        );
        for (s, section) in self.sections.iter().enumerate() {
            let _ = writeln!(dot, "  subgraph cluster_{s} {{\n    label=\"worker {s}\";");
            for i in section {
                let _ = writeln!(
                    dot,
                    "    \"{}\" [label=\"{}\\n{} v{}\"];",
                    esc(&i.name),
                    esc(&i.name),
                    esc(i.component),
                    i.version
                );
            }
            dot.push_str("  }\n");
        }
        for a in &self.arcs {
            let _ = writeln!(
                dot,
                "  \"{}\" -> \"{}\" [label=\"{} -> {}\\n{}\"{}];",
                esc(&a.from.0),
                esc(&a.to.0),
                a.from.1,
                a.to.1,
                esc(a.packet.name),
                if a.cross_section { ", style=bold" } else { "" }
            );
        }
        dot.push_str("}\n");
        dot
    }
}

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cross = self.arcs.iter().filter(|a| a.cross_section).count();
        let instances: usize = self.sections.iter().map(Vec::len).sum();
        writeln!(
            f,
            "graph `{}`: {} workers, {} instances, {} arcs ({} cross-section)",
            self.name,
            self.sections.len(),
            instances,
            self.arcs.len(),
            cross
        )?;
        for (s, section) in self.sections.iter().enumerate() {
            let order: Vec<String> = section
                .iter()
                .map(|i| format!("{} ({} v{})", i.name, i.component, i.version))
                .collect();
            writeln!(f, "  worker {s}: {}", order.join(" -> "))?;
        }
        for a in &self.arcs {
            writeln!(
                f,
                "  {}.{} -> {}.{}  [{}, capacity {}, {}]",
                a.from.0,
                a.from.1,
                a.to.0,
                a.to.1,
                if a.cross_section { "ring" } else { "local" },
                a.capacity,
                a.packet.name
            )?;
        }
        Ok(())
    }
}
