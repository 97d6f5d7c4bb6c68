//! What each machine runs, as every machine can see it: each publishes its
//! instances (name, component, version, worker) in etcd under its lease,
//! at start and after each update made through it, so `status` on any
//! machine shows the whole graph.

use crate::error::MachineError;
use evoflow_cluster::{Cluster, ClusterError, Membership};
use evoflow_runtime::{InstanceStatus, Schedule, Updater};
use std::collections::HashMap;
use std::fmt;
use std::hash::Hasher;
use std::sync::Mutex;

/// An instance as its machine published it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceSummary {
    /// Instance name.
    pub name: String,
    /// Component type.
    pub component: String,
    /// Component version.
    pub version: u32,
    /// Worker of its machine that runs it.
    pub worker: usize,
}

/// One machine of the graph.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MachineStatus {
    /// Its name in `graph!`.
    pub machine: String,
    /// Where its arcs reach it, if it is a member now.
    pub addr: Option<String>,
    /// Its instances, as it last published them (empty if it has not).
    pub instances: Vec<InstanceSummary>,
}

/// The whole graph: every machine, in the order `graph!` lists them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GraphStatus(pub Vec<MachineStatus>);

/// Publishes what `part` runs on `machine`: its instances (for
/// `status`) and its arcs, instance to instance, with those leaving for
/// other machines (for the region of an update spanning machines).
/// Writes only what changed since `last` (what was last written), and
/// `with` (always) in the same write.
pub(crate) fn publish(
    cluster: &Cluster,
    member: &Membership,
    machine: &str,
    part: &Updater,
    last: &Mutex<(String, String)>,
    with: &[(&str, &str)],
) -> Result<(), MachineError> {
    let arcs = arcs_text(&part.schedule());
    let now = (encode(&part.instances()), arcs);
    let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
    let (status, arcs) = (format!("status/{machine}"), format!("arcs/{machine}"));
    let mut told = with.to_vec();
    if *last != now {
        told.extend([(status.as_str(), now.0.as_str()), (&arcs, &now.1)]);
    }
    if told.is_empty() {
        return Ok(());
    }
    cluster.tell_all(member, &told)?;
    *last = now;
    Ok(())
}

/// Which machine runs each instance, from what every machine published
/// (the keys under `status/`: machine, instances).
pub(crate) fn owners(
    published: Vec<(String, String)>,
) -> Result<HashMap<String, String>, MachineError> {
    let mut owner = HashMap::new();
    for (machine, text) in published {
        for i in decode(&machine, &text)? {
            owner.insert(i.name, machine.clone());
        }
    }
    Ok(owner)
}

/// A machine's arcs as it publishes them: instance to instance, one a
/// line, with those leaving for other machines.
pub(crate) fn arcs_text(schedule: &Schedule) -> String {
    let local = schedule.arcs.iter().map(|a| (&a.from.0, &a.to.0));
    let leaving = schedule
        .remote
        .iter()
        .filter(|r| !r.incoming)
        .map(|r| (&r.instance, &r.foreign));
    local
        .chain(leaving)
        .map(|(from, to)| format!("{from}\t{to}\n"))
        .collect()
}

/// A digest of a machine's arcs text: the same on every machine (they run
/// one build, and SipHash's fixed keys hash alike in every process).
pub(crate) fn digest(arcs: &str) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    h.write(arcs.as_bytes());
    h.finish()
}

/// The arcs of an arcs text, instance to instance.
pub(crate) fn parse_arcs(machine: &str, text: &str) -> Result<Vec<(String, String)>, MachineError> {
    text.lines()
        .map(|line| match line.split_once('\t') {
            Some((from, to)) => Ok((from.to_owned(), to.to_owned())),
            None => Err(
                ClusterError::Malformed(format!("arcs of machine `{machine}`: {line:?}")).into(),
            ),
        })
        .collect()
}

/// The text a machine publishes: one instance a line, tab-separated.
pub(crate) fn encode(instances: &[InstanceStatus]) -> String {
    instances
        .iter()
        .map(|i| format!("{}\t{}\t{}\t{}\n", i.name, i.component, i.version, i.worker))
        .collect()
}

pub(crate) fn decode(machine: &str, text: &str) -> Result<Vec<InstanceSummary>, MachineError> {
    let malformed = |line: &str| {
        MachineError::Cluster(ClusterError::Malformed(format!(
            "status of machine `{machine}`: {line:?}"
        )))
    };
    text.lines()
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            let [name, component, version, worker] = f[..] else {
                return Err(malformed(line));
            };
            Ok(InstanceSummary {
                name: name.to_owned(),
                component: component.to_owned(),
                version: version.parse().map_err(|_| malformed(line))?,
                worker: worker.parse().map_err(|_| malformed(line))?,
            })
        })
        .collect()
}

impl fmt::Display for GraphStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for m in &self.0 {
            match &m.addr {
                Some(a) => writeln!(f, "machine {} at {a}", m.machine)?,
                None => writeln!(f, "machine {} (not a member)", m.machine)?,
            }
            for i in &m.instances {
                writeln!(
                    f,
                    "  {:<16} {} v{} (worker {})",
                    i.name, i.component, i.version, i.worker
                )?;
            }
        }
        Ok(())
    }
}
