//! An update's edits recorded over a [`Shape`] and validated without
//! copying it, so checking and applying an update costs what the update
//! touches, not the graph's size.

use crate::channel::arc::ArcFactory;
use crate::channel::port::ArcId;
use crate::exec::contract::Incoming;
use crate::model::component::{ComponentMeta, PacketType, PortMeta};
use crate::model::shape::{CArc, CInstance, Shape, VersionChange, HISTORY};
use crate::update::refusal::Refusal;
use crate::update::request::{Edit, UpdateReport};
use evoflow_graph::{check_packet_type, check_wiring, find_port, path, GraphError, Side};
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
fn endpoint(s: &str) -> Result<(String, String), Refusal> {
    match s.split_once('.') {
        Some((i, p)) if !i.is_empty() && !p.is_empty() => Ok((i.to_owned(), p.to_owned())),
        _ => Err(Refusal::NotAPort { text: s.to_owned() }),
    }
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
    pub(crate) fn new(shape: &Shape, edits: Vec<Edit>) -> Result<Draft, Refusal> {
        if edits.is_empty() {
            return Err(Refusal::Empty);
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
                        return Err(Refusal::RemovedAndInserted { instance });
                    }
                    if d.meta(shape, &instance).is_some() || d.inserted.contains_key(&instance) {
                        return Err(Refusal::AlreadyExists { instance });
                    }
                    if let Some(w) = worker.filter(|&w| w >= shape.workers) {
                        return Err(GraphError::NoSuchWorker {
                            instance,
                            worker: w,
                            workers: shape.workers,
                        }
                        .into());
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
                        return Err(Refusal::ReplacedAndRemoved { instance });
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
                    let id = found.ok_or(Refusal::NoSuchArc { from, to })?;
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

    fn existing(&self, shape: &Shape, name: &str) -> Result<(), Refusal> {
        if self.inserted.contains_key(name) {
            return Err(Refusal::InsertedAndChanged {
                instance: name.to_owned(),
            });
        }
        if self.meta(shape, name).is_none() {
            return Err(unknown(shape, name));
        }
        Ok(())
    }

    fn replace(
        &mut self,
        shape: &Shape,
        instance: String,
        incoming: Box<dyn Incoming>,
    ) -> Result<(), Refusal> {
        self.existing(shape, &instance)?;
        if self.metas.contains_key(&instance) {
            return Err(Refusal::ReplacedTwice { instance });
        }
        let (from, to) = (shape.instances[&instance].meta, incoming.meta());
        if incoming.migrates() {
            if !from.state {
                return Err(Refusal::NoStateExport {
                    instance,
                    component: (from.name.to_owned(), from.version),
                    by: to.name.to_owned(),
                });
            }
            if !to.state {
                return Err(Refusal::NoStateImport {
                    instance,
                    by: to.name.to_owned(),
                });
            }
            if !to.can_import(from.version) {
                return Err(Refusal::NoMigrationPath {
                    from: (from.name.to_owned(), from.version),
                    to: (to.name.to_owned(), to.version),
                    declared: to.migrations.iter().map(|m| (m.from, m.to)).collect(),
                });
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
    ) -> Result<(), Refusal> {
        let (f, t) = (endpoint(from)?, endpoint(to)?);
        let fm = self.meta(shape, &f.0).ok_or_else(|| unknown(shape, &f.0))?;
        let tm = self.meta(shape, &t.0).ok_or_else(|| unknown(shape, &t.0))?;
        let label = format!("{from} -> {to}");
        let (packet, factory) = ends(&label, (&f, fm), (&t, tm))?;
        let dropped_like = self
            .dropped
            .iter()
            .map(|id| &shape.arcs[id])
            .find(|a| a.from == f || a.to == t);
        let capacity = capacity
            .or(dropped_like.map(|a| a.capacity))
            .unwrap_or(shape.default_capacity);
        self.added.push(CArc {
            id: self.next_arc,
            from: f,
            to: t,
            packet,
            capacity,
            factory,
        });
        self.next_arc += 1;
        Ok(())
    }

    /// Every instance the update touches must have well-typed arcs on every
    /// port, exactly one per output. An arc whose packet type changed at
    /// both ends is replaced by a new one at the marker.
    fn check_touched(&mut self, shape: &Shape) -> Result<(), Refusal> {
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
            let (ins, outs) = (self.arcs(shape, name, true), self.arcs(shape, name, false));
            for arc in ins.iter().chain(&outs) {
                let (fm, tm) = (
                    self.meta(shape, &arc.from.0).expect("arc ends exist"),
                    self.meta(shape, &arc.to.0).expect("arc ends exist"),
                );
                let (sent, factory) = ends(&arc.label(), (&arc.from, fm), (&arc.to, tm))?;
                if sent != arc.packet
                    && shape.arcs.contains_key(&arc.id)
                    && !retyped.iter().any(|(id, _)| *id == arc.id)
                {
                    retyped.push((
                        arc.id,
                        CArc {
                            packet: sent,
                            factory,
                            ..(*arc).clone()
                        },
                    ));
                }
            }
            let count = |arcs: &[&CArc], port: &str, end: fn(&CArc) -> &str| {
                arcs.iter().filter(|a| end(a) == port).count()
            };
            let wiring = check_wiring(
                name,
                meta.inputs
                    .iter()
                    .map(|p| (p.name, count(&ins, p.name, |a| &a.to.1))),
                meta.outputs
                    .iter()
                    .map(|p| (p.name, count(&outs, p.name, |a| &a.from.1))),
            );
            if let Some(e) = wiring.into_iter().next() {
                return Err(e.into());
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

    /// A new arc `u -> v` closes a cycle iff `u` is reachable from `v`; the
    /// search visits only what `v` reaches.
    fn check_acyclic(&self, shape: &Shape) -> Result<(), Refusal> {
        for arc in &self.added {
            let successors = |n: &&str| {
                self.arcs(shape, n, false)
                    .into_iter()
                    .map(|a| a.to.0.as_str())
                    .collect::<Vec<_>>()
            };
            if let Some(p) = path(arc.to.0.as_str(), &arc.from.0.as_str(), successors) {
                let mut instances = vec![arc.from.0.clone()];
                instances.extend(p[..p.len() - 1].iter().map(|s| s.to_string()));
                return Err(GraphError::Cycle {
                    arc: arc.label(),
                    instances,
                }
                .into());
            }
        }
        Ok(())
    }
}

/// [`GraphError::UnknownInstance`], listing the graph's instances.
fn unknown(shape: &Shape, name: &str) -> Refusal {
    GraphError::UnknownInstance {
        name: name.to_owned(),
        instances: shape.order.clone(),
    }
    .into()
}

/// Checks the two ends of arc `label` from `from` (instance and port, with
/// the instance's component after the update) to `to`: both ports exist
/// and agree on the packet type. Returns the type and its arc factory.
fn ends(
    label: &str,
    (from, fm): (&(String, String), &ComponentMeta),
    (to, tm): (&(String, String), &ComponentMeta),
) -> Result<(PacketType, ArcFactory), Refusal> {
    let names = |ports: &'static [PortMeta]| ports.iter().map(|p| p.name);
    let o = find_port(
        label,
        Side::Output,
        (&from.0, &from.1),
        fm.name,
        names(fm.outputs),
    )?;
    let i = find_port(
        label,
        Side::Input,
        (&to.0, &to.1),
        tm.name,
        names(tm.inputs),
    )?;
    let (out, inp) = (&fm.outputs[o], &tm.inputs[i]);
    let (sent, expected) = ((out.packet)(), (inp.packet)());
    let port = format!("{}.{}", to.0, to.1);
    check_packet_type(label, &port, &sent, &expected, |p| p.name)?;
    Ok((sent, out.arcs))
}
