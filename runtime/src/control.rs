//! The control side of a running graph: applies updates. Validate the
//! edits into a [`Draft`], plan each instance's part, deliver the parts,
//! arm, wait until every instance is done, then record the new shape.

use crate::evolve::Evolution;
use crate::plan::EndPlan;
use crate::port::ArcId;
use crate::reconfig::{ArcSpec, Change, ComponentChange, Reconfig, UpdateSync};
use crate::run::Graph;
use crate::schedule::Schedule;
use crate::shape::{Draft, Shape};
use crate::update::{InstanceStatus, Update, UpdateError, UpdateReport};
use crate::wake::Waker;
use crate::worker::{refuse, Command, Mailbox};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Instances reachable from `from` along arcs (forwards or backwards).
fn reach(g: &Shape, from: &HashSet<String>, forward: bool) -> HashSet<String> {
    let mut seen: HashSet<String> = from.clone();
    let mut todo: Vec<String> = from.iter().cloned().collect();
    while let Some(n) = todo.pop() {
        let inst = &g.instances[&n];
        for id in if forward { &inst.outs } else { &inst.ins } {
            let a = &g.arcs[id];
            let next = if forward { &a.to.0 } else { &a.from.0 };
            if seen.insert(next.clone()) {
                todo.push(next.clone());
            }
        }
    }
    seen
}

/// The control side of a running graph.
pub(crate) struct Control {
    graph: Mutex<Shape>,
    mailboxes: Vec<Arc<Mailbox>>,
    wakers: Vec<Arc<Waker>>,
    next_update: AtomicU64,
}

impl Control {
    pub(crate) fn new(graph: Shape, mailboxes: Vec<Arc<Mailbox>>, wakers: Vec<Arc<Waker>>) -> Self {
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
        g.order
            .iter()
            .map(|name| (name, &g.instances[name]))
            .map(|(name, i)| InstanceStatus {
                name: name.clone(),
                component: i.meta.name.to_owned(),
                version: i.meta.version,
                worker: i.worker,
                history: i.history.clone(),
            })
            .collect()
    }

    pub(crate) fn evolution(&self, target: Graph) -> Result<Evolution, String> {
        Evolution::between(
            &self.graph.lock().unwrap_or_else(|e| e.into_inner()),
            target,
        )
    }

    /// Applies `update`; updates are serialised by the graph lock.
    pub(crate) fn apply(&self, update: Update) -> Result<UpdateReport, UpdateError> {
        let start = Instant::now();
        let mut graph = self.graph.lock().unwrap_or_else(|e| e.into_inner());
        let id = self.next_update.fetch_add(1, Ordering::Relaxed);
        let mut draft = Draft::new(&graph, update.edits).map_err(|why| {
            tracing::warn!(update = id, graph = %graph.name, "update refused: {why}");
            UpdateError::Refused(why)
        })?;
        let (sync, commands) = self.plan(&graph, &mut draft, id);
        let participants = commands.len();
        // Arming first is safe: a marker that reaches an instance before its
        // part of the update is held at the arc until the part arrives.
        sync.arm();
        for (worker, command) in commands {
            if let Err(command) = self.mailboxes[worker].post(command) {
                refuse(
                    *command,
                    &format!("worker {worker} has stopped: all its instances have finished"),
                );
            }
            self.wakers[worker].force();
        }
        let outcome = sync.wait();
        draft.report.id = id;
        draft.report.participants = participants;
        draft.report.duration = start.elapsed();
        match outcome {
            Ok(()) => {
                for (_, change) in &mut draft.report.replaced {
                    change.update = id;
                }
                let report = draft.report.clone();
                graph.apply(draft);
                tracing::info!(update = id, graph = %graph.name, "{report}");
                Ok(report)
            }
            Err((instance, reason, true)) => {
                tracing::error!(update = id, graph = %graph.name, "update failed after commit: `{instance}`: {reason}; the graph stops");
                Err(UpdateError::FailedAfterCommit { instance, reason })
            }
            Err((instance, reason, false)) => {
                tracing::warn!(update = id, graph = %graph.name, "update rolled back: `{instance}`: {reason}");
                Err(UpdateError::RolledBack { instance, reason })
            }
        }
    }

    /// Computes every instance's part in the update (see `reconfig`).
    fn plan(
        &self,
        old: &Shape,
        d: &mut Draft,
        id: u64,
    ) -> (Arc<UpdateSync>, Vec<(usize, Command)>) {
        // S: instances that change; R: S and every instance on a path
        // between two of them (only possible with two or more).
        let mut changing: HashSet<String> = d
            .metas
            .keys()
            .filter(|n| !d.inserted.contains_key(*n))
            .cloned()
            .collect();
        changing.extend(d.removed.iter().cloned());
        for a in d
            .added
            .iter()
            .chain(d.dropped.iter().map(|id| &old.arcs[id]))
        {
            for end in [&a.from.0, &a.to.0] {
                if old.instances.contains_key(end) {
                    changing.insert(end.clone());
                }
            }
        }
        let region: HashSet<String> = if changing.len() > 1 {
            let (down, up) = (reach(old, &changing, true), reach(old, &changing, false));
            down.intersection(&up)
                .cloned()
                .chain(changing.iter().cloned())
                .collect()
        } else {
            changing.clone()
        };

        // Both ends of every new arc.
        let (mut tx_plans, mut rx_plans): (HashMap<ArcId, EndPlan>, HashMap<ArcId, EndPlan>) =
            Default::default();
        for a in &d.added {
            let (wf, wt) = (d.worker(old, &a.from.0), d.worker(old, &a.to.0));
            let (tx, rx) = a.factory.plan(
                a.id,
                a.capacity,
                (wf, &self.wakers[wf]),
                (wt, &self.wakers[wt]),
            );
            tx_plans.insert(a.id, tx);
            rx_plans.insert(a.id, rx);
        }
        let mut change_of = |d: &Draft, name: &str, component: ComponentChange| -> Change {
            let Some(meta) = d.meta(old, name) else {
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
            let (ins, outs) = (d.arcs(old, name, true), d.arcs(old, name, false));
            let inputs = meta
                .inputs
                .iter()
                .map(|port| {
                    ins.iter()
                        .filter(|a| a.to.1 == port.name)
                        .map(|a| spec(a.id, &mut rx_plans))
                        .collect()
                })
                .collect();
            let outputs = meta
                .outputs
                .iter()
                .map(|port| {
                    let a = outs
                        .iter()
                        .find(|a| a.from.1 == port.name)
                        .expect("validated: one arc per output");
                    spec(a.id, &mut tx_plans)
                })
                .collect();
            Change {
                inputs,
                outputs,
                component,
            }
        };

        let inserted: Vec<String> = d.inserted.keys().cloned().collect();
        let changes = changing.len() + inserted.len();
        let sync = Arc::new(UpdateSync::new(
            id,
            changes,
            region.len() + inserted.len(),
            self.wakers.clone(),
        ));
        let mut commands = Vec::new();
        for name in &region {
            let inst = &old.instances[name];
            let wait = inst
                .ins
                .iter()
                .filter(|a| region.contains(&old.arcs[*a].from.0))
                .copied()
                .collect();
            let forward = inst
                .outs
                .iter()
                .filter(|a| region.contains(&old.arcs[*a].to.0))
                .copied()
                .collect();
            let change = changing.contains(name).then(|| {
                let component = if d.removed.contains(name) {
                    ComponentChange::Remove
                } else if let Some(incoming) = d.incoming.remove(name) {
                    ComponentChange::Replace(incoming)
                } else {
                    ComponentChange::Keep
                };
                change_of(d, name, component)
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
        for name in inserted {
            let incoming = d.incoming.remove(&name).expect("inserted with a component");
            let change = change_of(d, &name, ComponentChange::Replace(incoming));
            let rc = Reconfig {
                update: sync.clone(),
                wait: Vec::new(),
                forward: Vec::new(),
                change: Some(change),
            };
            commands.push((d.worker(old, &name), Command::Insert { instance: name, rc }));
        }
        (sync, commands)
    }
}
