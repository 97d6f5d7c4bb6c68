//! The control side of a running graph: its current shape (instances,
//! versions, arcs) and the application of updates: validate, plan each
//! instance's part, deliver, arm, wait, then record the new shape.

use crate::component::{ComponentMeta, PacketType};
use crate::plan::{ArcFactory, EndPlan};
use crate::port::ArcId;
use crate::reconfig::{ArcSpec, Change, ComponentChange, Incoming, Reconfig, UpdateSync};
use crate::schedule::{ArcInfo, InstanceInfo, Schedule};
use crate::update::{Edit, InstanceStatus, Update, UpdateError, UpdateReport, VersionChange};
use crate::wake::Waker;
use crate::worker::{refuse, Command, Mailbox};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// An instance as the control side knows it.
#[derive(Clone)]
pub(crate) struct CInstance {
    pub name: String,
    pub meta: &'static ComponentMeta,
    pub worker: usize,
    pub history: Vec<VersionChange>,
}

/// An arc as the control side knows it.
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
    fn label(&self) -> String {
        format!(
            "{}.{} -> {}.{}",
            self.from.0, self.from.1, self.to.0, self.to.1
        )
    }
}

/// The current shape of a running graph.
#[derive(Clone)]
pub(crate) struct ControlGraph {
    pub name: String,
    pub workers: usize,
    pub instances: Vec<CInstance>,
    pub arcs: Vec<CArc>,
    pub next_arc: ArcId,
    pub default_capacity: usize,
}

impl ControlGraph {
    fn instance(&self, name: &str) -> Option<&CInstance> {
        self.instances.iter().find(|i| i.name == name)
    }

    pub(crate) fn schedule(&self) -> Schedule {
        let mut sections = vec![Vec::new(); self.workers];
        for i in &self.instances {
            sections[i.worker].push(InstanceInfo {
                name: i.name.clone(),
                component: i.meta.name,
                version: i.meta.version,
                section: i.worker,
            });
        }
        let worker = |n: &str| self.instance(n).map(|i| i.worker);
        let arcs = self
            .arcs
            .iter()
            .map(|a| ArcInfo {
                from: (a.from.0.clone(), a.from.1.clone()),
                to: (a.to.0.clone(), a.to.1.clone()),
                packet: a.packet,
                capacity: a.capacity,
                cross_section: worker(&a.from.0) != worker(&a.to.0),
            })
            .collect();
        Schedule {
            name: self.name.clone(),
            sections,
            arcs,
        }
    }
}

/// Splits `"inst.port"`.
fn endpoint(s: &str) -> Result<(String, String), String> {
    match s.split_once('.') {
        Some((i, p)) if !i.is_empty() && !p.is_empty() => Ok((i.to_owned(), p.to_owned())),
        _ => Err(format!("`{s}` is not a port; write it as `instance.port`")),
    }
}

/// The validated result of an update, before anything runs.
struct Planned {
    new: ControlGraph,
    replaced: HashMap<String, Box<dyn Incoming>>,
    inserted: HashMap<String, Box<dyn Incoming>>,
    removed: HashSet<String>,
    added: Vec<ArcId>,
    dropped: Vec<ArcId>,
    report: UpdateReport,
}

/// Checks an update against `old` and computes the new shape.
fn validate(old: &ControlGraph, edits: Vec<Edit>) -> Result<Planned, String> {
    let mut new = old.clone();
    let mut p = Planned {
        new: old.clone(),
        replaced: HashMap::new(),
        inserted: HashMap::new(),
        removed: HashSet::new(),
        added: Vec::new(),
        dropped: Vec::new(),
        report: UpdateReport::default(),
    };
    if edits.is_empty() {
        return Err("the update is empty".to_owned());
    }
    let mut connects = Vec::new();
    let mut inserted_workers = HashMap::new();
    let existing = |new: &ControlGraph, p: &Planned, name: &str| -> Result<(), String> {
        if p.inserted.contains_key(name) {
            return Err(format!(
                "`{name}` is inserted by this update and cannot be changed in it too"
            ));
        }
        if new.instance(name).is_none() {
            let names: Vec<&str> = new.instances.iter().map(|i| i.name.as_str()).collect();
            return Err(format!(
                "no instance named `{name}` (instances: {})",
                names.join(", ")
            ));
        }
        Ok(())
    };
    for edit in edits {
        match edit {
            Edit::Replace { instance, incoming } => {
                existing(&new, &p, &instance)?;
                if p.replaced.contains_key(&instance) {
                    return Err(format!("`{instance}` is replaced twice in one update"));
                }
                let cur = new
                    .instances
                    .iter_mut()
                    .find(|i| i.name == instance)
                    .expect("exists");
                let (from, to) = (cur.meta, incoming.meta());
                if incoming.migrates() {
                    if !from.state {
                        return Err(format!(
                            "`{instance}` runs `{}` v{}, which does not export its state, so `{}` cannot migrate it: \
                             add `state` to its #[component], or use `replace_with` to start from a fresh instance",
                            from.name, from.version, to.name
                        ));
                    }
                    if !to.can_import(from.version) {
                        let steps: Vec<String> = to
                            .migrations
                            .iter()
                            .map(|m| format!("v{} -> v{}", m.from, m.to))
                            .collect();
                        return Err(format!(
                            "`{}` v{} has no migration path from `{}` v{} (it declares {}); add \
                             `#[migrate(from = {})]` to `{}`",
                            to.name,
                            to.version,
                            from.name,
                            from.version,
                            if steps.is_empty() {
                                "none".to_owned()
                            } else {
                                steps.join(", ")
                            },
                            from.version,
                            to.name
                        ));
                    }
                }
                let change = VersionChange {
                    update: 0,
                    from: (from.name.to_owned(), from.version),
                    to: (to.name.to_owned(), to.version),
                };
                cur.meta = to;
                p.report.replaced.push((instance.clone(), change));
                p.replaced.insert(instance, incoming);
            }
            Edit::Insert {
                instance,
                worker,
                incoming,
            } => {
                if new.instance(&instance).is_some() {
                    return Err(format!("an instance named `{instance}` already exists"));
                }
                if let Some(w) = worker.filter(|&w| w >= new.workers) {
                    return Err(format!(
                        "worker {w} does not exist: the graph has {} workers",
                        new.workers
                    ));
                }
                new.instances.push(CInstance {
                    name: instance.clone(),
                    meta: incoming.meta(),
                    worker: worker.unwrap_or(0),
                    history: Vec::new(),
                });
                inserted_workers.insert(instance.clone(), worker);
                p.report.inserted.push(instance.clone());
                p.inserted.insert(instance, incoming);
            }
            Edit::Remove { instance } => {
                existing(&new, &p, &instance)?;
                new.instances.retain(|i| i.name != instance);
                new.arcs
                    .retain(|a| a.from.0 != instance && a.to.0 != instance);
                p.report.removed.push(instance.clone());
                p.removed.insert(instance);
            }
            Edit::Disconnect { from, to } => {
                let (f, t) = (endpoint(&from)?, endpoint(&to)?);
                let before = new.arcs.len();
                new.arcs.retain(|a| !(a.from == f && a.to == t));
                if new.arcs.len() == before {
                    return Err(format!("there is no arc `{from} -> {to}` to disconnect"));
                }
            }
            Edit::Connect { from, to, capacity } => connects.push((from, to, capacity)),
        }
    }
    for (from, to, capacity) in connects {
        let (f, t) = (endpoint(&from)?, endpoint(&to)?);
        let fi = new
            .instance(&f.0)
            .ok_or_else(|| format!("no instance named `{}` for arc `{from} -> {to}`", f.0))?;
        let ti = new
            .instance(&t.0)
            .ok_or_else(|| format!("no instance named `{}` for arc `{from} -> {to}`", t.0))?;
        let (_, out) = fi.meta.output(&f.1).ok_or_else(|| {
            let names: Vec<&str> = fi.meta.outputs.iter().map(|p| p.name).collect();
            format!(
                "`{}` (`{}`) has no output port `{}`; its outputs are: {}",
                f.0,
                fi.meta.name,
                f.1,
                names.join(", ")
            )
        })?;
        let (_, inp) = ti.meta.input(&t.1).ok_or_else(|| {
            let names: Vec<&str> = ti.meta.inputs.iter().map(|p| p.name).collect();
            format!(
                "`{}` (`{}`) has no input port `{}`; its inputs are: {}",
                t.0,
                ti.meta.name,
                t.1,
                names.join(", ")
            )
        })?;
        let capacity = capacity
            .or_else(|| {
                old.arcs
                    .iter()
                    .find(|a| a.from == f || a.to == t)
                    .map(|a| a.capacity)
            })
            .unwrap_or(new.default_capacity);
        let arc = CArc {
            id: new.next_arc,
            from: f,
            to: t,
            packet: (out.packet)(),
            capacity,
            factory: out.arcs,
        };
        new.next_arc += 1;
        if (inp.packet)() != arc.packet {
            return Err(format!(
                "arc `{}`: the output sends `{}` but the input expects `{}`",
                arc.label(),
                arc.packet.name,
                (inp.packet)().name
            ));
        }
        new.arcs.push(arc);
    }
    // Arcs at replaced instances must still fit; an arc whose packet type
    // changed at both ends is replaced by a new arc at the marker.
    let mut arcs = std::mem::take(&mut new.arcs);
    for arc in &mut arcs {
        let (fi, ti) = (
            new.instance(&arc.from.0).expect("kept"),
            new.instance(&arc.to.0).expect("kept"),
        );
        let out = fi.meta.output(&arc.from.1).map(|(_, p)| p).ok_or_else(|| {
            format!("`{}` (`{}`) has no output port `{}`, which arc `{}` uses; remove or rewire that arc in the same update", arc.from.0, fi.meta.name, arc.from.1, arc.label())
        })?;
        let inp = ti.meta.input(&arc.to.1).map(|(_, p)| p).ok_or_else(|| {
            format!("`{}` (`{}`) has no input port `{}`, which arc `{}` uses; remove or rewire that arc in the same update", arc.to.0, ti.meta.name, arc.to.1, arc.label())
        })?;
        let (sent, expected) = ((out.packet)(), (inp.packet)());
        if sent != expected {
            return Err(format!(
                "arc `{}` would carry `{}` into a port that expects `{}`; update both ends together",
                arc.label(),
                sent.name,
                expected.name
            ));
        }
        if sent != arc.packet {
            arc.id = new.next_arc;
            new.next_arc += 1;
            arc.packet = sent;
            arc.factory = out.arcs;
        }
    }
    new.arcs = arcs;
    for i in &new.instances {
        for port in i.meta.inputs {
            if !new
                .arcs
                .iter()
                .any(|a| a.to.0 == i.name && a.to.1 == port.name)
            {
                return Err(format!(
                    "input `{}.{}` would have no arc; connect it in the same update",
                    i.name, port.name
                ));
            }
        }
        for port in i.meta.outputs {
            let n = new
                .arcs
                .iter()
                .filter(|a| a.from.0 == i.name && a.from.1 == port.name)
                .count();
            if n == 0 {
                return Err(format!(
                    "output `{}.{}` would have no arc, so its packets would be lost; connect it in the same update",
                    i.name, port.name
                ));
            }
            if n > 1 {
                return Err(format!(
                    "output `{}.{}` would have {n} arcs; packets are moved, not cloned",
                    i.name, port.name
                ));
            }
        }
    }
    check_acyclic(&new)?;
    for (name, worker) in inserted_workers {
        let producer = new
            .arcs
            .iter()
            .find(|a| a.to.0 == name)
            .and_then(|a| new.instance(&a.from.0));
        let w = worker.or(producer.map(|i| i.worker)).unwrap_or(0);
        new.instances
            .iter_mut()
            .find(|i| i.name == name)
            .expect("inserted")
            .worker = w;
    }
    let old_ids: HashSet<ArcId> = old.arcs.iter().map(|a| a.id).collect();
    let new_ids: HashSet<ArcId> = new.arcs.iter().map(|a| a.id).collect();
    p.added = new
        .arcs
        .iter()
        .filter(|a| !old_ids.contains(&a.id))
        .map(|a| a.id)
        .collect();
    p.dropped = old
        .arcs
        .iter()
        .filter(|a| !new_ids.contains(&a.id))
        .map(|a| a.id)
        .collect();
    p.report.connected = new
        .arcs
        .iter()
        .filter(|a| !old_ids.contains(&a.id))
        .map(CArc::label)
        .collect();
    p.report.disconnected = old
        .arcs
        .iter()
        .filter(|a| !new_ids.contains(&a.id))
        .map(CArc::label)
        .collect();
    p.new = new;
    Ok(p)
}

fn check_acyclic(g: &ControlGraph) -> Result<(), String> {
    let mut indegree: HashMap<&str, usize> =
        g.instances.iter().map(|i| (i.name.as_str(), 0)).collect();
    for a in &g.arcs {
        *indegree
            .get_mut(a.to.0.as_str())
            .expect("arcs join instances") += 1;
    }
    let mut ready: Vec<&str> = indegree
        .iter()
        .filter(|(_, &d)| d == 0)
        .map(|(n, _)| *n)
        .collect();
    let mut seen = 0;
    while let Some(n) = ready.pop() {
        seen += 1;
        for a in g.arcs.iter().filter(|a| a.from.0 == n) {
            let d = indegree
                .get_mut(a.to.0.as_str())
                .expect("arcs join instances");
            *d -= 1;
            if *d == 0 {
                ready.push(&a.to.0);
            }
        }
    }
    if seen == g.instances.len() {
        return Ok(());
    }
    let mut left: Vec<&str> = indegree
        .iter()
        .filter(|(_, &d)| d > 0)
        .map(|(n, _)| *n)
        .collect();
    left.sort();
    Err(format!(
        "the new arcs would form a cycle through {}",
        left.join(", ")
    ))
}

/// Instances reachable from `from` along arcs (forwards or backwards).
fn reach(g: &ControlGraph, from: &HashSet<String>, forward: bool) -> HashSet<String> {
    let mut seen: HashSet<String> = from.clone();
    let mut todo: Vec<String> = from.iter().cloned().collect();
    while let Some(n) = todo.pop() {
        for a in &g.arcs {
            let (src, dst) = if forward {
                (&a.from.0, &a.to.0)
            } else {
                (&a.to.0, &a.from.0)
            };
            if *src == n && seen.insert(dst.clone()) {
                todo.push(dst.clone());
            }
        }
    }
    seen
}

/// The control side of a running graph.
pub(crate) struct Control {
    graph: Mutex<ControlGraph>,
    mailboxes: Vec<Arc<Mailbox>>,
    wakers: Vec<Arc<Waker>>,
    next_update: AtomicU64,
}

impl Control {
    pub(crate) fn new(
        graph: ControlGraph,
        mailboxes: Vec<Arc<Mailbox>>,
        wakers: Vec<Arc<Waker>>,
    ) -> Self {
        Control {
            graph: Mutex::new(graph),
            mailboxes,
            wakers,
            next_update: AtomicU64::new(1),
        }
    }

    pub(crate) fn schedule(&self) -> Schedule {
        self.graph
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .schedule()
    }

    pub(crate) fn instances(&self) -> Vec<InstanceStatus> {
        let g = self.graph.lock().unwrap_or_else(|e| e.into_inner());
        g.instances
            .iter()
            .map(|i| InstanceStatus {
                name: i.name.clone(),
                component: i.meta.name.to_owned(),
                version: i.meta.version,
                worker: i.worker,
                history: i.history.clone(),
            })
            .collect()
    }

    /// Applies `update`; updates are serialised by the graph lock.
    pub(crate) fn apply(&self, update: Update) -> Result<UpdateReport, UpdateError> {
        let start = Instant::now();
        let mut graph = self.graph.lock().unwrap_or_else(|e| e.into_inner());
        let id = self.next_update.fetch_add(1, Ordering::Relaxed);
        let mut planned = validate(&graph, update.edits).map_err(|why| {
            tracing::warn!(update = id, graph = %graph.name, "update refused: {why}");
            UpdateError::Refused(why)
        })?;
        let (sync, commands) = self.plan(&graph, &mut planned, id);
        let participants = commands.len();
        for (worker, command) in commands {
            if let Err(command) = self.mailboxes[worker].post(command) {
                refuse(command);
            }
        }
        sync.arm();
        let outcome = sync.wait();
        planned.report.id = id;
        planned.report.participants = participants;
        planned.report.duration = start.elapsed();
        match outcome {
            Ok(()) => {
                for (name, change) in &mut planned.report.replaced {
                    change.update = id;
                    let inst = planned
                        .new
                        .instances
                        .iter_mut()
                        .find(|i| &i.name == name)
                        .expect("replaced");
                    inst.history.push(change.clone());
                }
                *graph = planned.new;
                tracing::info!(update = id, graph = %graph.name, "{}", planned.report);
                Ok(planned.report)
            }
            Err((instance, reason)) => {
                tracing::warn!(update = id, graph = %graph.name, "update rolled back: `{instance}`: {reason}");
                Err(UpdateError::RolledBack { instance, reason })
            }
        }
    }

    /// Computes every instance's part in the update (see `reconfig`).
    fn plan(
        &self,
        old: &ControlGraph,
        p: &mut Planned,
        id: u64,
    ) -> (Arc<UpdateSync>, Vec<(usize, Command)>) {
        let new = &p.new;
        // S: instances that change; R: S and everything between two of them.
        let mut changing: HashSet<String> = p.replaced.keys().cloned().collect();
        changing.extend(p.removed.iter().cloned());
        for a in old
            .arcs
            .iter()
            .filter(|a| p.dropped.contains(&a.id))
            .chain(new.arcs.iter().filter(|a| p.added.contains(&a.id)))
        {
            for end in [&a.from.0, &a.to.0] {
                if old.instance(end).is_some() {
                    changing.insert(end.clone());
                }
            }
        }
        let (down, up) = (reach(old, &changing, true), reach(old, &changing, false));
        let region: HashSet<String> = down
            .intersection(&up)
            .cloned()
            .chain(changing.iter().cloned())
            .collect();

        // Both ends of every new arc.
        let worker_of = |n: &str| new.instance(n).expect("in the new graph").worker;
        let (mut tx_plans, mut rx_plans): (HashMap<ArcId, EndPlan>, HashMap<ArcId, EndPlan>) =
            Default::default();
        for a in new.arcs.iter().filter(|a| p.added.contains(&a.id)) {
            let (wf, wt) = (worker_of(&a.from.0), worker_of(&a.to.0));
            let (tx, rx) = a.factory.plan(
                a.id,
                a.capacity,
                (wf, &self.wakers[wf]),
                (wt, &self.wakers[wt]),
            );
            tx_plans.insert(a.id, tx);
            rx_plans.insert(a.id, rx);
        }
        let mut change_of = |name: &str, component: ComponentChange| -> Change {
            let Some(inst) = new.instance(name) else {
                return Change {
                    inputs: Vec::new(),
                    outputs: Vec::new(),
                    component,
                };
            };
            let spec = |id: ArcId, plans: &mut HashMap<ArcId, EndPlan>| match plans.remove(&id) {
                Some(plan) => ArcSpec::New(plan),
                None => ArcSpec::Keep(id),
            };
            let inputs = inst
                .meta
                .inputs
                .iter()
                .map(|port| {
                    new.arcs
                        .iter()
                        .filter(|a| a.to.0 == name && a.to.1 == port.name)
                        .map(|a| spec(a.id, &mut rx_plans))
                        .collect()
                })
                .collect();
            let outputs = inst
                .meta
                .outputs
                .iter()
                .map(|port| {
                    let a = new
                        .arcs
                        .iter()
                        .find(|a| a.from.0 == name && a.from.1 == port.name)
                        .expect("validated");
                    spec(a.id, &mut tx_plans)
                })
                .collect();
            Change {
                inputs,
                outputs,
                component,
            }
        };

        let changes = changing.len() + p.inserted.len();
        let sync = Arc::new(UpdateSync::new(
            id,
            changes,
            region.len() + p.inserted.len(),
            self.wakers.clone(),
        ));
        let mut commands = Vec::new();
        for inst in old.instances.iter().filter(|i| region.contains(&i.name)) {
            let name = &inst.name;
            let wait = old
                .arcs
                .iter()
                .filter(|a| &a.to.0 == name && region.contains(&a.from.0))
                .map(|a| a.id)
                .collect();
            let forward = old
                .arcs
                .iter()
                .filter(|a| &a.from.0 == name && region.contains(&a.to.0))
                .map(|a| a.id)
                .collect();
            let change = changing.contains(name).then(|| {
                let component = if p.removed.contains(name) {
                    ComponentChange::Remove
                } else if let Some(incoming) = p.replaced.remove(name) {
                    ComponentChange::Replace(incoming)
                } else {
                    ComponentChange::Keep
                };
                change_of(name, component)
            });
            let rc = Reconfig {
                update: sync.clone(),
                wait,
                forward,
                change,
            };
            commands.push((
                inst.worker,
                Command::Reconfig {
                    instance: name.clone(),
                    rc,
                },
            ));
        }
        for (name, incoming) in p.inserted.drain() {
            let change = change_of(&name, ComponentChange::Replace(incoming));
            let rc = Reconfig {
                update: sync.clone(),
                wait: Vec::new(),
                forward: Vec::new(),
                change: Some(change),
            };
            commands.push((worker_of(&name), Command::Insert { instance: name, rc }));
        }
        (sync, commands)
    }
}
