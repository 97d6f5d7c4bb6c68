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
use evoflow_graph::{
    check_packet_type, check_wiring, find_port, path, reachable, GraphError, Side,
};
use std::collections::{BTreeSet, HashMap, HashSet};

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
        Draft::of(shape, edits)
    }

    /// As [`Draft::new`], and no edits at all is a draft too: this
    /// machine's part of an update spanning machines may only pass its
    /// markers on.
    pub(crate) fn of(shape: &Shape, edits: Vec<Edit>) -> Result<Draft, Refusal> {
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
                    if let Some(w) = worker.filter(|&w| shape.is_dedicated(w)) {
                        return Err(Refusal::DedicatedWorker {
                            instance,
                            worker: w,
                        });
                    }
                    d.metas.insert(instance.clone(), incoming.meta());
                    d.incoming.insert(instance.clone(), incoming);
                    d.inserted.insert(instance.clone(), worker.unwrap_or(0));
                    insert_workers.push((instance.clone(), worker));
                    d.report.inserted.push(instance);
                }
                Edit::Remove { instance } => {
                    d.existing(shape, &instance)?;
                    fixed(shape, &instance, None)?;
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
                    // An arc of an instance this update removes is gone
                    // already, whichever edit comes first.
                    let removed_with_an_end = || {
                        let outs = shape.instances.get(&f.0).into_iter().flat_map(|i| &i.outs);
                        outs.map(|id| &shape.arcs[id]).any(|a| {
                            a.from == f
                                && a.to == t
                                && (d.removed.contains(&f.0) || d.removed.contains(&t.0))
                        })
                    };
                    if found.is_none() && removed_with_an_end() {
                        continue;
                    }
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
        // unless placed explicitly (on worker 0 if that worker is
        // dedicated to a `#[blocking]` instance). That producer may be inserted too, and
        // placed later in the list: repeat until nothing moves (a chain of
        // inserts settles in as many rounds as it is long).
        for _ in 0..insert_workers.len() {
            let mut moved = false;
            for (name, worker) in &insert_workers {
                let producer = d.arcs(shape, name, true).first().map(|a| a.from.0.clone());
                let w = worker
                    .or_else(|| producer.map(|p| d.worker(shape, &p)))
                    .filter(|&w| worker.is_some() || !shape.is_dedicated(w))
                    .unwrap_or(0);
                moved |= d.inserted.insert(name.clone(), w) != Some(w);
            }
            if !moved {
                break;
            }
        }
        d.check_touched(shape)?;
        d.check_acyclic(shape)?;
        d.check_joins(shape)?;
        d.report.connected = d.added.iter().map(CArc::label).collect();
        let mut dropped: Vec<ArcId> = d.dropped.iter().copied().collect();
        dropped.sort_unstable();
        d.report.disconnected = dropped.iter().map(|id| shape.arcs[id].label()).collect();
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
        for r in shape.remote_of(&instance) {
            let ports = if r.incoming { to.inputs } else { to.outputs };
            let kept = ports.iter().find(|p| p.name == r.local.1);
            if kept.is_none_or(|p| (p.packet)() != r.packet) {
                return Err(Refusal::RemotePortChanged {
                    instance: instance.clone(),
                    arc: r.label.clone(),
                    by: to.name.to_owned(),
                });
            }
        }
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
        fixed(shape, &f.0, Some(&f.1))?;
        fixed(shape, &t.0, Some(&t.1))?;
        let fm = self.meta(shape, &f.0).ok_or_else(|| unknown(shape, &f.0))?;
        let tm = self.meta(shape, &t.0).ok_or_else(|| unknown(shape, &t.0))?;
        let label = format!("{from} -> {to}");
        let (packet, factory) = ends(&label, (&f, fm), (&t, tm))?;
        // The arc it replaces: the one that left the same output, else one
        // into the same input (the first such), whatever the set's order.
        let dropped_like = self
            .dropped
            .iter()
            .map(|id| &shape.arcs[id])
            .filter(|a| a.from == f || a.to == t)
            .min_by_key(|a| (a.from != f, a.id));
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
            // Arcs to other machines count too (kept: see `replace`).
            let count = |incoming: bool, port: &str| {
                let (arcs, end): (_, fn(&CArc) -> &str) = match incoming {
                    true => (&ins, |a| &a.to.1),
                    false => (&outs, |a| &a.from.1),
                };
                let remote = shape.remote_of(name);
                arcs.iter().filter(|a| end(a) == port).count()
                    + remote
                        .filter(|r| r.incoming == incoming && r.local.1 == port)
                        .count()
            };
            let wiring = check_wiring(
                name,
                meta.inputs.iter().map(|p| (p.name, count(true, p.name))),
                meta.outputs.iter().map(|p| (p.name, count(false, p.name))),
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

    /// Refuses a new path from an instance that receives from another
    /// machine to one that sends to another machine. Each machine records
    /// the paths that leave it and come back through the others when the
    /// graph starts, and refuses an update of its own whose markers would
    /// have to follow one (`Refusal::AcrossMachines`); a new such path —
    /// made here, unseen there — would let that update through.
    fn check_joins(&self, shape: &Shape) -> Result<(), Refusal> {
        if shape.remote.is_empty() || self.added.is_empty() {
            return Ok(());
        }
        let after = |forward: bool| {
            move |n: &String| -> Vec<String> {
                let arcs = self.arcs(shape, n, !forward).into_iter();
                arcs.map(|a| if forward { &a.to.0 } else { &a.from.0 })
                    .cloned()
                    .collect()
            }
        };
        let before = |n: &String| -> Vec<String> {
            let outs = shape.instances.get(n).map(|i| i.outs.as_slice());
            outs.unwrap_or_default()
                .iter()
                .map(|id| shape.arcs[id].to.0.clone())
                .collect()
        };
        let sends =
            |n: &&String, incoming: bool| shape.remote_of(n).any(|r| r.incoming == incoming);
        // In name order, so the refusal names the same pair every time.
        let walk = |from: &String, next| -> BTreeSet<String> {
            reachable([from.clone()], next).into_iter().collect()
        };
        for arc in &self.added {
            let outs = walk(&arc.to.0, after(true));
            for from in walk(&arc.from.0, after(false))
                .iter()
                .filter(|n| sends(n, true))
            {
                let was = reachable([from.clone()], before);
                let new = outs
                    .iter()
                    .filter(|n| sends(n, false))
                    .find(|n| !was.contains(*n));
                if let Some(to) = new {
                    return Err(Refusal::JoinsMachines {
                        from: from.clone(),
                        to: to.clone(),
                    });
                }
            }
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

/// Refuses removing `instance`, or wiring its `port`, if it has an arc to
/// or from another machine there: that stream is fixed.
fn fixed(shape: &Shape, instance: &str, port: Option<&str>) -> Result<(), Refusal> {
    let mut at = shape
        .remote_of(instance)
        .filter(|r| port.is_none_or(|p| r.local.1 == p));
    match at.next() {
        Some(r) => Err(Refusal::FixedRemoteArc {
            instance: instance.to_owned(),
            arc: r.label.clone(),
        }),
        None => Ok(()),
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

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::testkit::edit::{connect, disconnect, insert, remove, replace};
    use crate::testkit::{
        chain, fresh, labels, map, migrated, shape, sink, source, stateful_map, Meta,
    };

    /// The refusal of `edits` over `shape`, as text. Messages are checked
    /// for the names they must give, not word for word.
    fn refused(shape: &Shape, edits: Vec<Edit>) -> String {
        match Draft::new(shape, edits) {
            Ok(d) => panic!(
                "accepted; it would connect {:?} and disconnect {:?}",
                d.report.connected, d.report.disconnected
            ),
            Err(e) => e.to_string(),
        }
    }

    fn assert_names(why: &str, names: &[&str]) {
        for n in names {
            assert!(why.contains(n), "`{n}` is not named in: {why}");
        }
    }

    fn accepted(shape: &Shape, edits: Vec<Edit>) -> Draft {
        Draft::new(shape, edits).unwrap_or_else(|e| panic!("refused: {e}"))
    }

    /// `src -> a -> b -> c -> sink`, with `b` a stateful `Map` v1.
    fn chain_with_stateful_b() -> Shape {
        let mut g = chain();
        g.instances.get_mut("b").unwrap().meta = stateful_map(1, &[]);
        g
    }

    /// A component whose ports carry `String`.
    fn text_map() -> &'static ComponentMeta {
        Meta::new("TextMap", 1)
            .input::<String>("in")
            .output::<String>("out")
            .leak()
    }

    // ---- refusals ----

    #[test]
    fn an_empty_update_is_refused() {
        assert!(Draft::new(&chain(), Vec::new()).is_err());
    }

    #[test]
    fn an_unknown_instance_is_refused_by_name() {
        let g = chain();
        assert_names(
            &refused(&g, vec![replace("nope", fresh(map(2)))]),
            &["nope"],
        );
        assert_names(&refused(&g, vec![remove("nope")]), &["nope"]);
        assert_names(
            &refused(
                &g,
                vec![disconnect("a.out", "b.in"), connect("a.out", "nope.in")],
            ),
            &["nope"],
        );
    }

    #[test]
    fn an_unknown_output_port_is_refused_with_the_ports_that_exist() {
        let g = chain();
        let why = refused(
            &g,
            vec![disconnect("a.out", "b.in"), connect("a.nope", "b.in")],
        );
        assert_names(&why, &["nope", "`a`", "out"]);
    }

    #[test]
    fn an_unknown_input_port_is_refused_with_the_ports_that_exist() {
        let g = chain();
        let why = refused(
            &g,
            vec![disconnect("a.out", "b.in"), connect("a.out", "b.nope")],
        );
        assert_names(&why, &["nope", "`b`", "in"]);
    }

    #[test]
    fn an_endpoint_without_a_port_is_refused() {
        let g = chain();
        let why = refused(&g, vec![disconnect("a.out", "b.in"), connect("a", "b.in")]);
        assert_names(&why, &["`a`"]);
    }

    #[test]
    fn disconnecting_an_arc_that_does_not_exist_is_refused() {
        let why = refused(&chain(), vec![disconnect("a.out", "c.in")]);
        assert_names(&why, &["a.out", "c.in"]);
    }

    #[test]
    fn a_new_arc_between_ports_of_different_types_is_refused_naming_both_types() {
        let g = chain();
        let why = refused(
            &g,
            vec![
                insert("t", None, fresh(text_map())),
                disconnect("a.out", "b.in"),
                connect("a.out", "t.in"),
                connect("t.out", "b.in"),
            ],
        );
        assert_names(&why, &["a.out", "t.in", "u64", "String"]);
    }

    #[test]
    fn a_replacement_whose_port_type_differs_from_its_kept_arc_is_refused() {
        let g = chain();
        // `b` would take `String` from `a`, which still sends `u64`.
        let why = refused(&g, vec![replace("b", fresh(text_map()))]);
        assert_names(&why, &["a.out", "b.in", "u64", "String"]);
    }

    #[test]
    fn a_replacement_without_a_port_its_arcs_use_is_refused() {
        let renamed = Meta::new("Map", 2)
            .input::<u64>("input")
            .output::<u64>("out")
            .leak();
        let why = refused(&chain(), vec![replace("b", fresh(renamed))]);
        assert_names(&why, &["`b`", "in", "a.out -> b.in"]);
    }

    #[test]
    fn an_inserted_instance_with_an_unconnected_input_is_refused() {
        let why = refused(
            &join(),
            vec![
                remove("src2"),
                insert("k", None, fresh(map(1))),
                connect("k.out", "j.y"),
            ],
        );
        assert_names(&why, &["k.in"]);
    }

    #[test]
    fn an_output_left_without_an_arc_is_refused() {
        let why = refused(&chain(), vec![remove("sink")]);
        assert_names(&why, &["c.out"]);
    }

    #[test]
    fn an_output_with_two_arcs_is_refused() {
        let why = refused(
            &chain(),
            vec![insert("s2", None, fresh(sink())), connect("c.out", "s2.in")],
        );
        assert_names(&why, &["c.out", "2"]);
    }

    #[test]
    fn an_input_left_without_an_arc_is_refused() {
        // `j.y` loses its only arc when `src2` goes.
        let why = refused(&join(), vec![remove("src2")]);
        assert_names(&why, &["j.y"]);
    }

    /// `src -> j.x`, `src2 -> j.y`, `j.out -> m.in`, `m.out -> sink.in`.
    fn join() -> Shape {
        let j = Meta::new("Join", 1)
            .input::<u64>("x")
            .input::<u64>("y")
            .output::<u64>("out")
            .leak();
        shape(
            1,
            &[
                ("src", source(), 0),
                ("src2", source(), 0),
                ("j", j, 0),
                ("m", map(1), 0),
                ("sink", sink(), 0),
            ],
            &[
                ("src.out", "j.x"),
                ("src2.out", "j.y"),
                ("j.out", "m.in"),
                ("m.out", "sink.in"),
            ],
        )
    }

    #[test]
    fn a_new_arc_that_closes_a_cycle_is_refused() {
        let why = refused(
            &join(),
            vec![remove("src2"), remove("sink"), connect("m.out", "j.y")],
        );
        assert_names(&why, &["m.out", "j.y", "cycle"]);
    }

    #[test]
    fn a_new_arc_that_closes_a_cycle_through_an_inserted_instance_is_refused() {
        let why = refused(
            &join(),
            vec![
                remove("src2"),
                insert("k", None, fresh(map(1))),
                disconnect("m.out", "sink.in"),
                connect("m.out", "k.in"),
                connect("k.out", "j.y"),
                remove("sink"),
            ],
        );
        assert_names(&why, &["cycle"]);
    }

    #[test]
    fn replacing_and_removing_one_instance_is_refused() {
        let g = chain();
        let why = refused(&g, vec![replace("b", fresh(map(2))), remove("b")]);
        assert_names(&why, &["`b`"]);
        let why = refused(&g, vec![remove("b"), replace("b", fresh(map(2)))]);
        assert_names(&why, &["`b`"]);
    }

    #[test]
    fn removing_and_inserting_one_name_is_refused() {
        let why = refused(
            &chain(),
            vec![remove("b"), insert("b", None, fresh(map(2)))],
        );
        assert_names(&why, &["`b`"]);
    }

    #[test]
    fn replacing_an_instance_twice_is_refused() {
        let why = refused(
            &chain(),
            vec![replace("b", fresh(map(2))), replace("b", fresh(map(3)))],
        );
        assert_names(&why, &["`b`"]);
    }

    #[test]
    fn inserting_a_name_twice_or_an_existing_name_is_refused() {
        let why = refused(
            &chain(),
            vec![
                insert("m", None, fresh(map(1))),
                insert("m", None, fresh(map(1))),
            ],
        );
        assert_names(&why, &["`m`"]);
        let why = refused(&chain(), vec![insert("b", None, fresh(map(1)))]);
        assert_names(&why, &["`b`"]);
    }

    #[test]
    fn changing_an_instance_inserted_by_the_same_update_is_refused() {
        let why = refused(
            &chain(),
            vec![
                insert("m", None, fresh(map(1))),
                replace("m", fresh(map(2))),
            ],
        );
        assert_names(&why, &["`m`"]);
    }

    #[test]
    fn inserting_on_a_worker_that_does_not_exist_is_refused() {
        let why = refused(&chain(), vec![insert("m", Some(3), fresh(map(1)))]);
        assert_names(&why, &["3"]);
    }

    #[test]
    fn a_migration_without_a_path_is_refused_naming_both_versions() {
        let g = chain_with_stateful_b();
        // v3 declares only 2 -> 3: nothing reads v1.
        let why = refused(&g, vec![replace("b", migrated(stateful_map(3, &[2])))]);
        assert_names(&why, &["Map", "v1", "v3"]);
    }

    #[test]
    fn a_chain_of_migration_steps_is_a_path() {
        let g = chain_with_stateful_b();
        accepted(&g, vec![replace("b", migrated(stateful_map(3, &[1, 2])))]);
    }

    #[test]
    fn migrating_from_or_into_a_component_without_state_is_refused() {
        // The running `b` exports no state.
        let why = refused(
            &chain(),
            vec![replace("b", migrated(stateful_map(2, &[1])))],
        );
        assert_names(&why, &["`b`", "Map"]);
        // The new version imports none.
        let why = refused(
            &chain_with_stateful_b(),
            vec![replace("b", migrated(map(2)))],
        );
        assert_names(&why, &["Map", "`b`"]);
        // Given fresh, neither matters.
        accepted(&chain(), vec![replace("b", fresh(map(2)))]);
    }

    #[test]
    fn a_refused_draft_leaves_the_shape_as_it_was() {
        let g = chain();
        let before = labels(&g);
        let _ = refused(&g, vec![remove("sink")]);
        assert_eq!(labels(&g), before);
        assert_eq!(g.instances.len(), 5);
    }

    // ---- valid drafts, applied ----

    #[test]
    fn a_replacement_applied_changes_the_version_and_records_history() {
        let mut g = chain_with_stateful_b();
        let arcs = labels(&g);
        let d = accepted(&g, vec![replace("b", migrated(stateful_map(2, &[1])))]);
        assert_eq!(d.report.replaced.len(), 1);
        assert!(d.added.is_empty() && d.dropped.is_empty());
        d.apply(&mut g);
        let b = &g.instances["b"];
        assert_eq!((b.meta.name, b.meta.version, b.changes), ("Map", 2, 1));
        assert_eq!(
            b.history,
            [VersionChange {
                update: 0,
                from: ("Map".to_owned(), 1),
                to: ("Map".to_owned(), 2),
            }]
        );
        assert_eq!(labels(&g), arcs, "arcs are kept");
        assert_eq!(g.instances["a"].changes, 0);
    }

    #[test]
    fn the_history_keeps_the_last_changes_only() {
        let mut g = chain();
        for v in 2..(HISTORY as u32 + 4) {
            accepted(&g, vec![replace("b", fresh(map(v)))]).apply(&mut g);
        }
        let b = &g.instances["b"];
        assert_eq!(b.changes, HISTORY as u64 + 2);
        assert_eq!(b.history.len(), HISTORY);
        assert_eq!(b.history.last().unwrap().to.1, HISTORY as u32 + 3);
        assert_eq!(b.history.first().unwrap().from.1, 3, "the oldest dropped");
    }

    #[test]
    fn an_insertion_applied_adds_the_instance_and_rewires_its_arcs() {
        let mut g = shape(
            2,
            &[
                ("src", source(), 0),
                ("a", map(1), 1),
                ("b", map(1), 0),
                ("sink", sink(), 0),
            ],
            &[("src.out", "a.in"), ("a.out", "b.in"), ("b.out", "sink.in")],
        );
        let next = g.next_arc;
        let d = accepted(
            &g,
            vec![
                insert("m", None, fresh(map(7))),
                disconnect("a.out", "b.in"),
                connect("a.out", "m.in"),
                connect("m.out", "b.in"),
            ],
        );
        assert_eq!(d.inserted["m"], 1, "runs on the worker of its producer `a`");
        assert_eq!(d.report.inserted, ["m"]);
        assert_eq!(d.report.disconnected, ["a.out -> b.in"]);
        let mut connected = d.report.connected.clone();
        connected.sort();
        assert_eq!(connected, ["a.out -> m.in", "m.out -> b.in"]);
        d.apply(&mut g);
        assert_eq!(
            labels(&g),
            [
                "a.out -> m.in",
                "b.out -> sink.in",
                "m.out -> b.in",
                "src.out -> a.in"
            ]
        );
        let m = &g.instances["m"];
        assert_eq!((m.meta.version, m.worker, m.changes), (7, 1, 0));
        assert_eq!((m.ins.len(), m.outs.len()), (1, 1));
        assert_eq!(g.order.last().map(String::as_str), Some("m"));
        assert_eq!(g.next_arc, next + 2);
        assert!(g.arcs.keys().all(|&id| id < g.next_arc));
    }

    #[test]
    fn an_inserted_instance_runs_where_it_is_placed() {
        let g = shape(
            2,
            &[("src", source(), 0), ("sink", sink(), 0)],
            &[("src.out", "sink.in")],
        );
        let d = accepted(
            &g,
            vec![
                insert("m", Some(1), fresh(map(1))),
                disconnect("src.out", "sink.in"),
                connect("src.out", "m.in"),
                connect("m.out", "sink.in"),
            ],
        );
        assert_eq!(d.inserted["m"], 1);
    }

    #[test]
    fn two_inserted_instances_in_a_row_run_on_the_worker_of_the_first_producer() {
        let g = shape(
            2,
            &[("src", source(), 1), ("sink", sink(), 0)],
            &[("src.out", "sink.in")],
        );
        // Either order of the inserts: `m2`'s producer is `m1`, on `src`'s
        // worker.
        for m2_first in [false, true] {
            let (i1, i2) = (
                insert("m1", None, fresh(map(1))),
                insert("m2", None, fresh(map(1))),
            );
            let mut edits = if m2_first { vec![i2, i1] } else { vec![i1, i2] };
            edits.extend([
                disconnect("src.out", "sink.in"),
                connect("src.out", "m1.in"),
                connect("m1.out", "m2.in"),
                connect("m2.out", "sink.in"),
            ]);
            let d = accepted(&g, edits);
            assert_eq!(
                (d.inserted["m1"], d.inserted["m2"]),
                (1, 1),
                "m2 inserted first: {m2_first}"
            );
        }
    }

    #[test]
    fn a_rewired_arc_keeps_the_capacity_of_the_arc_it_replaces() {
        let mut g = chain();
        let id = g.instances["a"].outs[0];
        g.arcs.get_mut(&id).unwrap().capacity = 9;
        let d = accepted(
            &g,
            vec![
                insert("m", None, fresh(map(1))),
                disconnect("a.out", "b.in"),
                connect("a.out", "m.in"),
                connect("m.out", "b.in"),
            ],
        );
        assert!(d.added.iter().all(|a| a.capacity == 9));
    }

    #[test]
    fn an_arc_that_replaces_two_gets_the_same_capacity_every_time() {
        // Removing `c` drops `b.out -> c.in` (capacity 5) and
        // `c.out -> sink.in` (9); the new `b.out -> sink.in` is like both.
        let mut g = chain();
        for (id, capacity) in [(g.instances["b"].outs[0], 5), (g.instances["c"].outs[0], 9)] {
            g.arcs.get_mut(&id).unwrap().capacity = capacity;
        }
        let capacities: HashSet<usize> = (0..32)
            .map(|_| {
                let d = accepted(&g, vec![remove("c"), connect("b.out", "sink.in")]);
                d.added[0].capacity
            })
            .collect();
        assert_eq!(capacities.len(), 1, "capacities seen: {capacities:?}");
        assert!(capacities.contains(&5), "that of the arc the output had");
    }

    #[test]
    fn the_report_lists_disconnected_arcs_in_the_order_of_the_graph() {
        for _ in 0..16 {
            let d = accepted(&chain(), vec![remove("c"), connect("b.out", "sink.in")]);
            assert_eq!(d.report.disconnected, ["b.out -> c.in", "c.out -> sink.in"]);
        }
    }

    #[test]
    fn disconnecting_the_arcs_of_a_removed_instance_is_accepted_in_either_order() {
        let disconnect_first = vec![
            disconnect("b.out", "c.in"),
            disconnect("c.out", "sink.in"),
            remove("c"),
            connect("b.out", "sink.in"),
        ];
        accepted(&chain(), disconnect_first);
        let remove_first = vec![
            remove("c"),
            disconnect("b.out", "c.in"),
            disconnect("c.out", "sink.in"),
            connect("b.out", "sink.in"),
        ];
        accepted(&chain(), remove_first);
    }

    #[test]
    fn a_removal_applied_drops_the_instance_and_its_arcs() {
        let mut g = chain();
        let d = accepted(&g, vec![remove("c"), connect("b.out", "sink.in")]);
        assert_eq!(d.report.removed, ["c"]);
        d.apply(&mut g);
        assert!(!g.instances.contains_key("c"));
        assert_eq!(g.order, ["src", "a", "b", "sink"]);
        assert_eq!(
            labels(&g),
            ["a.out -> b.in", "b.out -> sink.in", "src.out -> a.in"]
        );
        assert_eq!(g.instances["b"].outs.len(), 1);
        assert_eq!(g.instances["sink"].ins.len(), 1);
    }

    #[test]
    fn an_arc_whose_type_changes_at_both_ends_is_replaced_by_a_new_arc() {
        let mut g = chain();
        // `a` and `b` switch to sending `String` between them.
        let a2 = Meta::new("Map", 2)
            .input::<u64>("in")
            .output::<String>("out")
            .leak();
        let b2 = Meta::new("Map", 2)
            .input::<String>("in")
            .output::<u64>("out")
            .leak();
        let old = g.instances["a"].outs[0];
        let d = accepted(&g, vec![replace("a", fresh(a2)), replace("b", fresh(b2))]);
        assert!(d.dropped.contains(&old));
        assert_eq!(d.added.len(), 1);
        assert_eq!(d.added[0].label(), "a.out -> b.in");
        assert!(d.added[0].packet.name.contains("String"));
        d.apply(&mut g);
        let new = g.instances["a"].outs[0];
        assert_ne!(new, old);
        assert!(g.arcs[&new].packet.name.contains("String"));
        assert_eq!(g.instances["b"].ins, [new]);
    }

    #[test]
    fn a_draft_answers_for_the_shape_after_the_update_without_changing_it() {
        let g = chain();
        let d = accepted(
            &g,
            vec![
                remove("c"),
                connect("b.out", "sink.in"),
                replace("a", fresh(map(5))),
            ],
        );
        assert!(d.meta(&g, "c").is_none());
        assert_eq!(d.meta(&g, "a").map(|m| m.version), Some(5));
        assert_eq!(d.meta(&g, "b").map(|m| m.version), Some(1));
        let outs: Vec<String> = d.arcs(&g, "b", false).iter().map(|a| a.label()).collect();
        assert_eq!(outs, ["b.out -> sink.in"]);
        assert!(
            g.instances.contains_key("c"),
            "the shape itself is untouched"
        );
    }
}
