//! An update's edits recorded over a [`Shape`] and validated without
//! copying it, so checking and applying an update costs what the update
//! touches, not the graph's size.

use crate::channel::port::ArcId;
use crate::exec::contract::Incoming;
use crate::model::component::{ComponentMeta, PortMeta};
use crate::model::shape::{CArc, CInstance, Shape, VersionChange, HISTORY};
use crate::update::request::{Edit, UpdateReport};
use std::collections::{HashMap, HashSet};

/// An update's edits over a [`Shape`], validated.
pub(crate) struct Draft {
    /// New metadata of replaced and inserted instances.
    pub metas: HashMap<String, &'static ComponentMeta>,
    pub incoming: HashMap<String, Box<dyn Incoming>>,
    /// Inserted instances and their workers.
    pub inserted: HashMap<String, usize>,
    pub removed: HashSet<String>,
    pub added: Vec<CArc>,
    pub dropped: HashSet<ArcId>,
    pub next_arc: ArcId,
    pub report: UpdateReport,
}

/// Splits `"inst.port"`.
fn endpoint(s: &str) -> Result<(String, String), String> {
    match s.split_once('.') {
        Some((i, p)) if !i.is_empty() && !p.is_empty() => Ok((i.to_owned(), p.to_owned())),
        _ => Err(format!("`{s}` is not a port; write it as `instance.port`")),
    }
}

fn port_list(ports: &[PortMeta]) -> String {
    ports
        .iter()
        .map(|p| format!("`{}`", p.name))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Draft {
    /// Applies the validated draft to `shape`.
    pub(crate) fn apply(self, shape: &mut Shape) {
        for id in &self.dropped {
            shape.remove_arc(*id);
        }
        for name in &self.removed {
            shape.instances.remove(name);
        }
        shape.order.retain(|n| !self.removed.contains(n));
        for (name, change) in &self.report.replaced {
            let inst = shape
                .instances
                .get_mut(name)
                .expect("replaced instance exists");
            inst.meta = self.metas[name];
            inst.changes += 1;
            if inst.history.len() == HISTORY {
                inst.history.remove(0);
            }
            inst.history.push(change.clone());
        }
        for (name, worker) in &self.inserted {
            let meta = self.metas[name];
            shape.instances.insert(
                name.clone(),
                CInstance {
                    meta,
                    worker: *worker,
                    changes: 0,
                    history: Vec::new(),
                    ins: Vec::new(),
                    outs: Vec::new(),
                },
            );
            shape.order.push(name.clone());
        }
        for a in self.added {
            shape.add_arc(a);
        }
        shape.next_arc = self.next_arc;
    }

    /// Metadata of `name` after the update, if it exists then.
    pub(crate) fn meta(&self, shape: &Shape, name: &str) -> Option<&'static ComponentMeta> {
        if self.removed.contains(name) {
            return None;
        }
        self.metas
            .get(name)
            .copied()
            .or_else(|| shape.instances.get(name).map(|i| i.meta))
    }

    /// Worker of `name` after the update.
    pub(crate) fn worker(&self, shape: &Shape, name: &str) -> usize {
        self.inserted
            .get(name)
            .copied()
            .unwrap_or_else(|| shape.instances[name].worker)
    }

    /// Arcs into (`incoming`) or out of `name` after the update.
    pub(crate) fn arcs<'a>(
        &'a self,
        shape: &'a Shape,
        name: &str,
        incoming: bool,
    ) -> Vec<&'a CArc> {
        let base = shape
            .instances
            .get(name)
            .map(|i| if incoming { &i.ins } else { &i.outs });
        let kept = base
            .into_iter()
            .flatten()
            .filter(|id| !self.dropped.contains(id))
            .map(|id| &shape.arcs[id]);
        let added = self.added.iter().filter(|a| {
            if incoming {
                a.to.0 == name
            } else {
                a.from.0 == name
            }
        });
        kept.chain(added).collect()
    }

    /// Records and checks `edits` against `shape`.
    pub(crate) fn new(shape: &Shape, edits: Vec<Edit>) -> Result<Draft, String> {
        if edits.is_empty() {
            return Err("the update is empty".to_owned());
        }
        let mut d = Draft {
            metas: HashMap::new(),
            incoming: HashMap::new(),
            inserted: HashMap::new(),
            removed: HashSet::new(),
            added: Vec::new(),
            dropped: HashSet::new(),
            next_arc: shape.next_arc,
            report: UpdateReport::default(),
        };
        let mut connects = Vec::new();
        let mut insert_workers = Vec::new();
        for edit in edits {
            match edit {
                Edit::Replace { instance, incoming } => d.replace(shape, instance, incoming)?,
                Edit::Insert {
                    instance,
                    worker,
                    incoming,
                } => {
                    if d.removed.contains(&instance) {
                        return Err(format!(
                            "`{instance}` is removed and inserted in one update; replace it instead"
                        ));
                    }
                    if d.meta(shape, &instance).is_some() || d.inserted.contains_key(&instance) {
                        return Err(format!("an instance named `{instance}` already exists"));
                    }
                    if let Some(w) = worker.filter(|&w| w >= shape.workers) {
                        return Err(format!(
                            "worker {w} does not exist: the graph has {} workers",
                            shape.workers
                        ));
                    }
                    d.metas.insert(instance.clone(), incoming.meta());
                    d.incoming.insert(instance.clone(), incoming);
                    d.inserted.insert(instance.clone(), worker.unwrap_or(0));
                    insert_workers.push((instance.clone(), worker));
                    d.report.inserted.push(instance);
                }
                Edit::Remove { instance } => {
                    d.existing(shape, &instance)?;
                    if d.metas.contains_key(&instance) {
                        return Err(format!(
                            "`{instance}` is both replaced and removed in one update"
                        ));
                    }
                    for id in shape.instances[&instance]
                        .ins
                        .iter()
                        .chain(&shape.instances[&instance].outs)
                    {
                        d.dropped.insert(*id);
                    }
                    d.added
                        .retain(|a| a.from.0 != instance && a.to.0 != instance);
                    d.metas.remove(&instance);
                    d.incoming.remove(&instance);
                    d.removed.insert(instance.clone());
                    d.report.removed.push(instance);
                }
                Edit::Disconnect { from, to } => {
                    let (f, t) = (endpoint(&from)?, endpoint(&to)?);
                    let found = d
                        .arcs(shape, &f.0, false)
                        .into_iter()
                        .find(|a| a.from == f && a.to == t)
                        .map(|a| a.id);
                    let id = found
                        .ok_or_else(|| format!("there is no arc `{from} -> {to}` to disconnect"))?;
                    d.added.retain(|a| a.id != id);
                    if shape.arcs.contains_key(&id) {
                        d.dropped.insert(id);
                    }
                }
                Edit::Connect { from, to, capacity } => connects.push((from, to, capacity)),
            }
        }
        for (from, to, capacity) in connects {
            d.connect(shape, &from, &to, capacity)?;
        }
        // An inserted instance runs on the worker of its first producer
        // unless placed explicitly.
        for (name, worker) in insert_workers {
            let producer = d.arcs(shape, &name, true).first().map(|a| a.from.0.clone());
            let w = worker
                .or_else(|| producer.map(|p| d.worker(shape, &p)))
                .unwrap_or(0);
            d.inserted.insert(name, w);
        }
        d.check_touched(shape)?;
        d.check_acyclic(shape)?;
        d.report.connected = d.added.iter().map(CArc::label).collect();
        d.report.disconnected = d.dropped.iter().map(|id| shape.arcs[id].label()).collect();
        Ok(d)
    }

    fn existing(&self, shape: &Shape, name: &str) -> Result<(), String> {
        if self.inserted.contains_key(name) {
            return Err(format!(
                "`{name}` is inserted by this update and cannot be changed in it too"
            ));
        }
        if self.meta(shape, name).is_none() {
            let mut names: Vec<&str> = shape.order.iter().map(String::as_str).take(20).collect();
            if shape.order.len() > 20 {
                names.push("...");
            }
            return Err(format!(
                "no instance named `{name}` (instances: {})",
                names.join(", ")
            ));
        }
        Ok(())
    }

    fn replace(
        &mut self,
        shape: &Shape,
        instance: String,
        incoming: Box<dyn Incoming>,
    ) -> Result<(), String> {
        self.existing(shape, &instance)?;
        if self.metas.contains_key(&instance) {
            return Err(format!("`{instance}` is replaced twice in one update"));
        }
        let (from, to) = (shape.instances[&instance].meta, incoming.meta());
        if incoming.migrates() {
            if !from.state {
                return Err(format!(
                    "`{instance}` runs `{}` v{}, which does not export its state, so `{}` cannot migrate it: \
                     add `state` to its #[component], or use `replace_with` to start from a fresh instance",
                    from.name, from.version, to.name
                ));
            }
            if !to.state {
                return Err(format!(
                    "`{}` does not import state, so it cannot take over `{instance}`: add `state` to its \
                     #[component], or use `replace_with` to start from a fresh instance",
                    to.name
                ));
            }
            if !to.can_import(from.version) {
                let steps: Vec<String> = to
                    .migrations
                    .iter()
                    .map(|m| format!("v{} -> v{}", m.from, m.to))
                    .collect();
                return Err(format!(
                    "`{}` v{} has no migration path from `{}` v{} (it declares {}); add `#[migrate(from = {})]` to `{}`",
                    to.name,
                    to.version,
                    from.name,
                    from.version,
                    if steps.is_empty() { "none".to_owned() } else { steps.join(", ") },
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
        self.report.replaced.push((instance.clone(), change));
        self.metas.insert(instance.clone(), to);
        self.incoming.insert(instance, incoming);
        Ok(())
    }

    fn connect(
        &mut self,
        shape: &Shape,
        from: &str,
        to: &str,
        capacity: Option<usize>,
    ) -> Result<(), String> {
        let (f, t) = (endpoint(from)?, endpoint(to)?);
        let fm = self
            .meta(shape, &f.0)
            .ok_or_else(|| format!("no instance named `{}` for arc `{from} -> {to}`", f.0))?;
        let tm = self
            .meta(shape, &t.0)
            .ok_or_else(|| format!("no instance named `{}` for arc `{from} -> {to}`", t.0))?;
        let (_, out) = fm.output(&f.1).ok_or_else(|| {
            format!(
                "`{}` (`{}`) has no output port `{}`; its outputs are: {}",
                f.0,
                fm.name,
                f.1,
                port_list(fm.outputs)
            )
        })?;
        let (_, inp) = tm.input(&t.1).ok_or_else(|| {
            format!(
                "`{}` (`{}`) has no input port `{}`; its inputs are: {}",
                t.0,
                tm.name,
                t.1,
                port_list(tm.inputs)
            )
        })?;
        let dropped_like = self
            .dropped
            .iter()
            .map(|id| &shape.arcs[id])
            .find(|a| a.from == f || a.to == t);
        let capacity = capacity
            .or(dropped_like.map(|a| a.capacity))
            .unwrap_or(shape.default_capacity);
        let arc = CArc {
            id: self.next_arc,
            from: f,
            to: t,
            packet: (out.packet)(),
            capacity,
            factory: out.arcs,
        };
        self.next_arc += 1;
        let expected = (inp.packet)();
        if expected != arc.packet {
            return Err(format!(
                "arc `{}`: the output sends {} but the input expects {}",
                arc.label(),
                arc.packet.describe_against(&expected),
                expected.describe_against(&arc.packet)
            ));
        }
        self.added.push(arc);
        Ok(())
    }

    /// Every instance the update touches must have well-typed arcs on every
    /// port, exactly one per output. An arc whose packet type changed at
    /// both ends is replaced by a new one at the marker.
    fn check_touched(&mut self, shape: &Shape) -> Result<(), String> {
        let mut touched: HashSet<String> = self.metas.keys().cloned().collect();
        for a in self
            .added
            .iter()
            .chain(self.dropped.iter().map(|id| &shape.arcs[id]))
        {
            touched.insert(a.from.0.clone());
            touched.insert(a.to.0.clone());
        }
        touched.retain(|n| self.meta(shape, n).is_some());
        let mut touched: Vec<String> = touched.into_iter().collect();
        touched.sort();
        let mut retyped = Vec::new();
        for name in &touched {
            let meta = self.meta(shape, name).expect("retained");
            for arc in self
                .arcs(shape, name, true)
                .into_iter()
                .chain(self.arcs(shape, name, false))
            {
                let (fm, tm) = (
                    self.meta(shape, &arc.from.0).expect("arc ends exist"),
                    self.meta(shape, &arc.to.0).expect("arc ends exist"),
                );
                let out = fm.output(&arc.from.1).map(|(_, p)| p).ok_or_else(|| {
                    format!(
                        "`{}` (`{}`) has no output port `{}`, which arc `{}` uses; remove or rewire that arc in the same update",
                        arc.from.0, fm.name, arc.from.1, arc.label()
                    )
                })?;
                let inp = tm.input(&arc.to.1).map(|(_, p)| p).ok_or_else(|| {
                    format!(
                        "`{}` (`{}`) has no input port `{}`, which arc `{}` uses; remove or rewire that arc in the same update",
                        arc.to.0, tm.name, arc.to.1, arc.label()
                    )
                })?;
                let (sent, expected) = ((out.packet)(), (inp.packet)());
                if sent != expected {
                    return Err(format!(
                        "arc `{}` would carry {} into a port that expects {}; update both ends together",
                        arc.label(),
                        sent.describe_against(&expected),
                        expected.describe_against(&sent)
                    ));
                }
                if sent != arc.packet
                    && shape.arcs.contains_key(&arc.id)
                    && !retyped.iter().any(|(id, _)| *id == arc.id)
                {
                    retyped.push((
                        arc.id,
                        CArc {
                            packet: sent,
                            factory: out.arcs,
                            ..arc.clone()
                        },
                    ));
                }
            }
            for port in meta.inputs {
                if !self
                    .arcs(shape, name, true)
                    .iter()
                    .any(|a| a.to.1 == port.name)
                {
                    return Err(format!(
                        "input `{name}.{}` would have no arc; connect it in the same update",
                        port.name
                    ));
                }
            }
            for port in meta.outputs {
                match self.arcs(shape, name, false).iter().filter(|a| a.from.1 == port.name).count() {
                    1 => {}
                    0 => {
                        return Err(format!(
                            "output `{name}.{}` would have no arc, so its packets would be lost; connect it in the same update",
                            port.name
                        ))
                    }
                    n => {
                        return Err(format!(
                            "output `{name}.{}` would have {n} arcs; packets are moved, not cloned",
                            port.name
                        ))
                    }
                }
            }
        }
        for (old, mut arc) in retyped {
            self.dropped.insert(old);
            arc.id = self.next_arc;
            self.next_arc += 1;
            self.added.push(arc);
        }
        Ok(())
    }

    /// A new arc `u -> v` closes a cycle iff `u` is reachable from `v`.
    fn check_acyclic(&self, shape: &Shape) -> Result<(), String> {
        for arc in &self.added {
            let mut seen = HashSet::new();
            let mut todo = vec![arc.to.0.as_str()];
            while let Some(n) = todo.pop() {
                if n == arc.from.0 {
                    return Err(format!(
                        "arc `{}` would close a cycle; evoflow graphs are acyclic",
                        arc.label()
                    ));
                }
                if seen.insert(n) {
                    todo.extend(
                        self.arcs(shape, n, false)
                            .into_iter()
                            .map(|a| a.to.0.as_str()),
                    );
                }
            }
        }
        Ok(())
    }
}
