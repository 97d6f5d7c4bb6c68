//! Assembles a graph from instances and arcs. `graph!` emits calls to this
//! after checking everything at compile time; used by hand, it checks the
//! same rules at run time and reports them as [`BuildError`]s.

use crate::channel::arc::{remote_receiver, remote_sender, EndPlan};
use crate::channel::port::ArcId;
use crate::channel::remote::{RemoteReceiver, RemoteSender};
use crate::channel::wake::Sleeper;
use crate::exec::contract::Incoming;
use crate::exec::node::IncomingOf;
use crate::exec::plan::InstancePlan;
use crate::exec::restart::Factory;
use crate::exec::worker::Worker;
use crate::graph::Graph;
use crate::model::component::{Assemble, Component, ComponentMeta, PacketType, PortMeta};
use crate::model::shape::{CArc, RemoteArc, Shape};
use crate::model::supervise::{OnPanic, Supervision};
use evoflow_graph::{
    check_packet_type, check_port_number, check_wiring, topological_order, GraphError, Side,
};
use std::fmt;

/// Handle of an instance added to a [`GraphBuilder`].
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct InstanceId(usize);

struct Pending {
    name: String,
    meta: &'static ComponentMeta,
    section: usize,
    inputs: Vec<Vec<EndPlan>>,
    outputs: Vec<Option<EndPlan>>,
    component: Box<dyn Incoming>,
    /// Its own supervision, if not the graph's.
    supervision: Option<Supervision>,
    /// True if it can be rebuilt (it was added with its constructor).
    restartable: bool,
}

impl Pending {
    /// Checks that the instance's section is one of the graph's `sections`.
    fn placed(&self, sections: usize) -> Result<(), BuildError> {
        if self.section < sections {
            return Ok(());
        }
        Err(GraphError::NoSuchWorker {
            instance: self.name.clone(),
            worker: self.section,
            workers: sections,
        }
        .into())
    }
}

/// Builds a [`Graph`]: add instances in run order per section, then arcs.
pub struct GraphBuilder {
    name: String,
    sleepers: Vec<Sleeper>,
    instances: Vec<Pending>,
    arcs: Vec<(InstanceId, InstanceId, CArc)>,
    default_capacity: usize,
    supervision: Supervision,
    /// Workers dedicated to one instance (`#[blocking]`).
    dedicated: Vec<bool>,
    /// The next id of an arc with an end on another machine, and those
    /// arcs.
    remote_arcs: ArcId,
    remote: Vec<RemoteArc>,
    through: Vec<(String, String)>,
}

/// Ids of arcs to other machines start here, apart from the ids the
/// graph and its updates give local arcs (counted from 0).
const REMOTE_ARCS: ArcId = 1 << 62;

/// A rule of graph construction that was broken.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildError {
    /// A rule of graphs (ports, packet types, wiring, cycles, workers),
    /// in the words `graph!` and live updates use too.
    Graph(Box<GraphError>),
    /// An instance's supervision cannot be carried out.
    CannotRestart {
        /// Instance name.
        instance: String,
        /// Why, and what would fix it.
        why: &'static str,
    },
    /// The end of an arc on another machine is not written `instance.port`.
    NotAPort {
        /// What was given.
        text: String,
    },
}

impl From<GraphError> for BuildError {
    fn from(e: GraphError) -> Self {
        BuildError::Graph(Box::new(e))
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::Graph(e) => e.fmt(f),
            BuildError::CannotRestart { instance, why } => {
                write!(
                    f,
                    "instance `{instance}` cannot be supervised as asked: {why}"
                )
            }
            BuildError::NotAPort { text } => write!(
                f,
                "`{text}` is not an instance's port: write the other machine's end of the arc as `instance.port`"
            ),
        }
    }
}

impl std::error::Error for BuildError {}

impl Assemble for GraphBuilder {
    type Id = InstanceId;
    fn add<C: Component>(&mut self, name: &str, section: usize, component: C) -> InstanceId {
        self.instance(name, section, component)
    }
    fn add_built_by<C: Component>(
        &mut self,
        name: &str,
        section: usize,
        factory: impl Fn() -> C + Send + Sync + 'static,
    ) -> InstanceId {
        self.instance_built_by(name, section, factory)
    }
}

impl GraphBuilder {
    /// A graph named `name` with `workers` sections (at least one).
    ///
    /// ```
    /// # use evoflow::{component, Flow, GraphBuilder, Outputs};
    /// # struct Count { next: u64 }
    /// # #[component(outputs(out: u64))]
    /// # impl Count {
    /// #     #[source]
    /// #     fn emit(&mut self, out: &mut Outputs<Self>) -> Flow {
    /// #         if self.next == 100 { return Flow::Done; }
    /// #         out.out(self.next);
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
    /// let mut builder = GraphBuilder::new("by-hand", 2);
    /// let count = builder.instance("count", 0, Count { next: 0 });
    /// let sum = builder.instance("sum", 1, Sum::default());
    /// builder.connect::<u64>(count, 0, sum, 0, 16).unwrap();
    /// let graph = builder.build().unwrap();
    /// assert_eq!(graph.schedule().sections.len(), 2);
    ///
    /// let mut report = graph.run_to_end().unwrap();
    /// assert_eq!(report.take::<Sum>("sum").unwrap().total, (0..100).sum::<u64>());
    /// ```
    pub fn new(name: impl Into<String>, workers: usize) -> Self {
        GraphBuilder {
            name: name.into(),
            sleepers: (0..workers.max(1)).map(|_| Sleeper::new()).collect(),
            instances: Vec::new(),
            arcs: Vec::new(),
            default_capacity: 1024,
            supervision: Supervision::STOP,
            dedicated: vec![false; workers.max(1)],
            remote_arcs: REMOTE_ARCS,
            remote: Vec::new(),
            through: Vec::new(),
        }
    }

    /// Dedicates `worker` to the one instance placed on it (what
    /// `#[blocking]` in `graph!` does): live updates insert nothing else
    /// there, since it would wait whenever that instance blocks.
    pub fn dedicate(&mut self, worker: usize) {
        if let Some(d) = self.dedicated.get_mut(worker) {
            *d = true;
        }
    }

    /// Supervision of every instance that has none of its own (and of the
    /// instances updates insert). Default: [`Supervision::STOP`].
    ///
    /// ```
    /// # use evoflow::{component, Flow, GraphBuilder, Outputs, Supervision};
    /// # struct Count { next: u64 }
    /// # #[component(outputs(out: u64))]
    /// # impl Count {
    /// #     #[source]
    /// #     fn emit(&mut self, out: &mut Outputs<Self>) -> Flow {
    /// #         if self.next == 100 { return Flow::Done; }
    /// #         out.out(self.next);
    /// #         self.next += 1;
    /// #         Flow::Continue
    /// #     }
    /// # }
    /// # /// Counts what it handled; panics on 13.
    /// # #[derive(Default)]
    /// # struct Picky { seen: u64 }
    /// # #[component]
    /// # impl Picky {
    /// #     #[input]
    /// #     fn inp(&mut self, x: u64) {
    /// #         assert!(x != 13, "13 is unlucky");
    /// #         self.seen += 1;
    /// #     }
    /// # }
    /// # std::panic::set_hook(Box::new(|_| {})); // the panics are expected
    /// let mut builder = GraphBuilder::new("resumes", 1);
    /// builder.supervision(Supervision::resume());
    /// let count = builder.instance("count", 0, Count { next: 0 });
    /// let picky = builder.instance("picky", 0, Picky::default());
    /// builder.connect::<u64>(count, 0, picky, 0, 16).unwrap();
    /// // Packet 13 panics; `picky` goes on with the next one.
    /// let mut report = builder.build().unwrap().run_to_end().unwrap();
    /// assert_eq!(report.take::<Picky>("picky").unwrap().seen, 99);
    /// ```
    pub fn supervision(&mut self, supervision: Supervision) -> &mut Self {
        self.supervision = supervision;
        self
    }

    /// Supervision of instance `id`, instead of the graph's.
    ///
    /// ```
    /// # use evoflow::{component, Flow, GraphBuilder, Outputs, RunError, Supervision};
    /// # struct Count { next: u64 }
    /// # #[component(outputs(out: u64))]
    /// # impl Count {
    /// #     #[source]
    /// #     fn emit(&mut self, out: &mut Outputs<Self>) -> Flow {
    /// #         if self.next == 100 { return Flow::Done; }
    /// #         out.out(self.next);
    /// #         self.next += 1;
    /// #         Flow::Continue
    /// #     }
    /// # }
    /// # /// Counts what it handled; panics on 13.
    /// # #[derive(Default)]
    /// # struct Picky { seen: u64 }
    /// # #[component]
    /// # impl Picky {
    /// #     #[input]
    /// #     fn inp(&mut self, x: u64) {
    /// #         assert!(x != 13, "13 is unlucky");
    /// #         self.seen += 1;
    /// #     }
    /// # }
    /// # std::panic::set_hook(Box::new(|_| {})); // the panics are expected
    /// let run = |resume_picky: bool| {
    ///     let mut builder = GraphBuilder::new("per-instance", 1);
    ///     let count = builder.instance("count", 0, Count { next: 0 });
    ///     let picky = builder.instance("picky", 0, Picky::default());
    ///     if resume_picky {
    ///         builder.supervise(picky, Supervision::resume());
    ///     }
    ///     builder.connect::<u64>(count, 0, picky, 0, 16).unwrap();
    ///     builder.build().unwrap().run_to_end()
    /// };
    /// assert!(run(true).is_ok());
    /// assert!(matches!(run(false), Err(RunError::Panicked(_)))); // the graph's default: stop
    /// ```
    pub fn supervise(&mut self, id: InstanceId, supervision: Supervision) -> &mut Self {
        self.instances[id.0].supervision = Some(supervision);
        self
    }

    /// Adds an instance built by `factory`, which also rebuilds it when its
    /// supervision restarts it (as OTP restarts a child from `init`).
    ///
    /// ```
    /// # use evoflow::{component, Flow, GraphBuilder, Outputs, Supervision};
    /// # struct Count { next: u64 }
    /// # #[component(outputs(out: u64))]
    /// # impl Count {
    /// #     #[source]
    /// #     fn emit(&mut self, out: &mut Outputs<Self>) -> Flow {
    /// #         if self.next == 100 { return Flow::Done; }
    /// #         out.out(self.next);
    /// #         self.next += 1;
    /// #         Flow::Continue
    /// #     }
    /// # }
    /// # /// Counts what it handled; panics on 13.
    /// # #[derive(Default)]
    /// # struct Picky { seen: u64 }
    /// # #[component]
    /// # impl Picky {
    /// #     #[input]
    /// #     fn inp(&mut self, x: u64) {
    /// #         assert!(x != 13, "13 is unlucky");
    /// #         self.seen += 1;
    /// #     }
    /// # }
    /// # std::panic::set_hook(Box::new(|_| {})); // the panics are expected
    /// let mut builder = GraphBuilder::new("restarts", 1);
    /// let count = builder.instance("count", 0, Count { next: 0 });
    /// let picky = builder.instance_built_by("picky", 0, Picky::default);
    /// builder.supervise(picky, Supervision::restart());
    /// builder.connect::<u64>(count, 0, picky, 0, 16).unwrap();
    /// let mut report = builder.build().unwrap().run_to_end().unwrap();
    /// // Rebuilt after packet 13: the new instance saw packets 14 to 99.
    /// assert_eq!(report.take::<Picky>("picky").unwrap().seen, 86);
    /// ```
    pub fn instance_built_by<C: Component>(
        &mut self,
        name: impl Into<String>,
        section: usize,
        factory: impl Fn() -> C + Send + Sync + 'static,
    ) -> InstanceId {
        let factory: Factory<C> = std::sync::Arc::new(factory);
        let component = IncomingOf::fresh(factory()).with_factory(factory);
        self.push::<C>(name.into(), section, Box::new(component), true)
    }

    /// Capacity (at least 1, default 1024) of the arcs that live updates
    /// add without naming one, where the update removes no arc from the same
    /// output or into the same input to take it from
    /// (see [`Update::connect`](crate::Update::connect)).
    ///
    /// ```
    /// # use evoflow::{component, Flow, GraphBuilder, Outputs, Update};
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
    /// let mut builder = GraphBuilder::new("defaults", 1);
    /// builder.default_capacity(4);
    /// let ticks = builder.instance("ticks", 0, Ticks { next: 0 });
    /// let sum = builder.instance("sum", 0, Sum::default());
    /// builder.connect::<u64>(ticks, 0, sum, 0, 64).unwrap();
    /// let running = builder.build().unwrap().run().unwrap();
    ///
    /// let update = Update::new()
    ///     .insert("ticks2", Ticks { next: 0 })
    ///     .insert("sum2", Sum::default())
    ///     .connect("ticks2.out", "sum2.inp");
    /// running.update(update).unwrap();
    /// let arc = running.schedule().arcs.into_iter().find(|a| a.to.0 == "sum2").unwrap();
    /// assert_eq!(arc.capacity, 4);
    /// # running.stop();
    /// # running.join().unwrap();
    /// ```
    pub fn default_capacity(&mut self, capacity: usize) -> &mut Self {
        self.default_capacity = capacity.max(1);
        self
    }

    /// Adds an instance to `section`; instances of a section run in the
    /// order they are added.
    ///
    /// ```
    /// # use evoflow::{component, Flow, GraphBuilder, Outputs};
    /// # struct Count { next: u64 }
    /// # #[component(outputs(out: u64))]
    /// # impl Count {
    /// #     #[source]
    /// #     fn emit(&mut self, out: &mut Outputs<Self>) -> Flow {
    /// #         if self.next == 100 { return Flow::Done; }
    /// #         out.out(self.next);
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
    /// let mut builder = GraphBuilder::new("order", 1);
    /// let sum = builder.instance("sum", 0, Sum::default());
    /// let count = builder.instance("count", 0, Count { next: 0 });
    /// builder.connect::<u64>(count, 0, sum, 0, 16).unwrap();
    /// let graph = builder.build().unwrap();
    /// let order: Vec<String> = graph.schedule().sections[0].iter().map(|i| i.name.clone()).collect();
    /// assert_eq!(order, ["sum", "count"]);
    /// ```
    pub fn instance<C: Component>(
        &mut self,
        name: impl Into<String>,
        section: usize,
        component: C,
    ) -> InstanceId {
        let component = Box::new(IncomingOf::fresh(component));
        self.push::<C>(name.into(), section, component, false)
    }

    fn push<C: Component>(
        &mut self,
        name: String,
        section: usize,
        component: Box<dyn Incoming>,
        restartable: bool,
    ) -> InstanceId {
        self.instances.push(Pending {
            name,
            meta: &C::META,
            section,
            inputs: (0..C::META.inputs.len()).map(|_| Vec::new()).collect(),
            outputs: (0..C::META.outputs.len()).map(|_| None).collect(),
            component,
            supervision: None,
            restartable,
        });
        InstanceId(self.instances.len() - 1)
    }

    /// Connects output `out` of `from` to input `inp` of `to` with an arc of
    /// `capacity` packets (at least 1) of type `T`, which must be both
    /// ports' packet type. Ports are numbered in declaration order.
    ///
    /// ```
    /// # use evoflow::{component, Flow, GraphBuilder, Outputs, BuildError, GraphError};
    /// # struct Count { next: u64 }
    /// # #[component(outputs(out: u64))]
    /// # impl Count {
    /// #     #[source]
    /// #     fn emit(&mut self, out: &mut Outputs<Self>) -> Flow {
    /// #         if self.next == 100 { return Flow::Done; }
    /// #         out.out(self.next);
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
    /// let mut builder = GraphBuilder::new("checked", 1);
    /// let count = builder.instance("count", 0, Count { next: 0 });
    /// let sum = builder.instance("sum", 0, Sum::default());
    ///
    /// let wrong = builder.connect::<i32>(count, 0, sum, 0, 16);
    /// assert!(matches!(wrong, Err(BuildError::Graph(ref e))
    ///     if matches!(**e, GraphError::TypeMismatch { .. })), "{wrong:?}");
    /// builder.connect::<u64>(count, 0, sum, 0, 16).unwrap();
    /// // Packets are moved, not cloned: an output has one arc.
    /// let again = builder.connect::<u64>(count, 0, sum, 0, 16);
    /// assert!(matches!(again, Err(BuildError::Graph(ref e))
    ///     if matches!(**e, GraphError::OutputShared { .. })), "{again:?}");
    /// ```
    pub fn connect<T: Send + 'static>(
        &mut self,
        from: InstanceId,
        out: usize,
        to: InstanceId,
        inp: usize,
        capacity: usize,
    ) -> Result<(), BuildError> {
        let (f, t) = (&self.instances[from.0], &self.instances[to.0]);
        let names = |ports: &'static [PortMeta]| ports.iter().map(|p| p.name);
        check_port_number(
            Side::Output,
            &f.name,
            f.meta.name,
            out,
            names(f.meta.outputs),
        )?;
        check_port_number(Side::Input, &t.name, t.meta.name, inp, names(t.meta.inputs))?;
        let (out_meta, in_meta) = (&f.meta.outputs[out], &t.meta.inputs[inp]);
        let arc = CArc {
            id: self.arcs.len() as ArcId,
            from: (f.name.clone(), out_meta.name.to_owned()),
            to: (t.name.clone(), in_meta.name.to_owned()),
            packet: PacketType::of::<T>(),
            capacity: capacity.max(1),
            factory: out_meta.arcs,
        };
        let label = arc.label();
        for (end, port) in [(&arc.from, out_meta), (&arc.to, in_meta)] {
            let port_name = format!("{}.{}", end.0, end.1);
            check_packet_type(&label, &port_name, &arc.packet, &(port.packet)(), |p| {
                p.name
            })?;
        }
        if f.outputs[out].is_some() {
            return Err(GraphError::OutputShared {
                port: format!("{}.{}", f.name, out_meta.name),
                arcs: 2,
            }
            .into());
        }
        for p in [f, t] {
            p.placed(self.sleepers.len())?;
        }
        let (wf, wt) = (
            self.sleepers[f.section].waker(),
            self.sleepers[t.section].waker(),
        );
        let (tx, rx) = arc
            .factory
            .plan(arc.id, arc.capacity, (f.section, &wf), (t.section, &wt));
        self.instances[from.0].outputs[out] = Some(tx);
        self.instances[to.0].inputs[inp].push(rx);
        self.arcs.push((from, to, arc));
        Ok(())
    }

    /// Connects output `out` of `from` to input `to` (`instance.port`) on
    /// another machine, sending through `link`. `graph!` calls this for
    /// the arcs a `machines` graph cuts. The stream is fixed: live updates
    /// may replace `from` (keeping the port) but not rewire the arc.
    pub fn connect_to_machine<T: Send + 'static>(
        &mut self,
        from: InstanceId,
        out: usize,
        to: &str,
        link: Box<dyn RemoteSender<T>>,
    ) -> Result<(), BuildError> {
        let f = &self.instances[from.0];
        if f.outputs.get(out).is_some_and(Option::is_some) {
            return Err(GraphError::OutputShared {
                port: format!("{}.{}", f.name, f.meta.outputs[out].name),
                arcs: 2,
            }
            .into());
        }
        self.remote_port::<T>(from, Side::Output, out, to)?;
        let f = &self.instances[from.0];
        let waker = self.sleepers[f.section].waker();
        let plan = remote_sender(self.remote_arcs, link, waker);
        self.remote_arcs += 1;
        self.instances[from.0].outputs[out] = Some(plan);
        Ok(())
    }

    /// Connects input `inp` of `to` to output `from` (`instance.port`) on
    /// another machine, receiving through `link` (as
    /// [`GraphBuilder::connect_to_machine`]).
    pub fn connect_from_machine<T: Send + 'static>(
        &mut self,
        to: InstanceId,
        inp: usize,
        from: &str,
        link: Box<dyn RemoteReceiver<T>>,
    ) -> Result<(), BuildError> {
        self.remote_port::<T>(to, Side::Input, inp, from)?;
        let waker = self.sleepers[self.instances[to.0].section].waker();
        let plan = remote_receiver(self.remote_arcs, link, waker);
        self.remote_arcs += 1;
        self.instances[to.0].inputs[inp].push(plan);
        Ok(())
    }

    /// Records that a path leaves this machine at `from` (through an arc
    /// to another machine) and comes back at `to`: an update on this
    /// machine alone that changes instances on both sides of it would need
    /// markers to cross machines, and is refused (a coordinated update,
    /// which every machine takes part in, is not). `graph!` records every
    /// such path.
    pub fn path_through_machines(&mut self, from: InstanceId, to: InstanceId) {
        let name = |i: InstanceId| self.instances[i.0].name.clone();
        let pair = (name(from), name(to));
        self.through.push(pair);
    }

    /// Checks the end here of an arc whose other end, `foreign`
    /// (`instance.port`), is on another machine: the port exists, carries
    /// `T`, and its instance is placed. Records the arc (under the id it
    /// is about to get).
    fn remote_port<T: 'static>(
        &mut self,
        id: InstanceId,
        side: Side,
        port: usize,
        foreign: &str,
    ) -> Result<&'static PortMeta, BuildError> {
        let Some((other, _)) = foreign
            .split_once('.')
            .filter(|(i, p)| !i.is_empty() && !p.is_empty())
        else {
            return Err(BuildError::NotAPort {
                text: foreign.to_owned(),
            });
        };
        let p = &self.instances[id.0];
        let ports = match side {
            Side::Input => p.meta.inputs,
            Side::Output => p.meta.outputs,
        };
        check_port_number(
            side,
            &p.name,
            p.meta.name,
            port,
            ports.iter().map(|m| m.name),
        )?;
        let meta = &ports[port];
        let port_name = format!("{}.{}", p.name, meta.name);
        let incoming = side == Side::Input;
        let label = match incoming {
            true => format!("{foreign} -> {port_name}"),
            false => format!("{port_name} -> {foreign}"),
        };
        let packet = PacketType::of::<T>();
        check_packet_type(&label, &port_name, &packet, &(meta.packet)(), |t| t.name)?;
        p.placed(self.sleepers.len())?;
        self.remote.push(RemoteArc {
            id: self.remote_arcs,
            local: (p.name.clone(), meta.name.to_owned()),
            foreign: other.to_owned(),
            incoming,
            packet,
            label,
        });
        Ok(meta)
    }

    /// Checks that every port is connected, the arcs are acyclic and each
    /// instance's supervision can be carried out, and produces the runnable
    /// graph.
    ///
    /// ```
    /// # use evoflow::{component, Flow, GraphBuilder, Outputs, BuildError, GraphError};
    /// # struct Count { next: u64 }
    /// # #[component(outputs(out: u64))]
    /// # impl Count {
    /// #     #[source]
    /// #     fn emit(&mut self, out: &mut Outputs<Self>) -> Flow {
    /// #         if self.next == 100 { return Flow::Done; }
    /// #         out.out(self.next);
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
    /// let mut builder = GraphBuilder::new("unfinished", 1);
    /// builder.instance("count", 0, Count { next: 0 });
    /// builder.instance("sum", 0, Sum::default());
    /// match builder.build() {
    ///     Err(BuildError::Graph(e)) => match *e {
    ///         GraphError::Unconnected { port, .. } => assert_eq!(port, "count.out"),
    ///         other => panic!("{other}"),
    ///     },
    ///     other => panic!("{:?}", other.err()),
    /// }
    /// ```
    pub fn build(self) -> Result<Graph, BuildError> {
        let mut names = std::collections::HashSet::new();
        for p in &self.instances {
            if !names.insert(p.name.as_str()) {
                return Err(GraphError::DuplicateInstance {
                    name: p.name.clone(),
                }
                .into());
            }
            p.placed(self.sleepers.len())?;
        }
        for p in &self.instances {
            let inputs = p.meta.inputs.iter().zip(&p.inputs);
            let outputs = p.meta.outputs.iter().zip(&p.outputs);
            let wiring = check_wiring(
                &p.name,
                inputs.map(|(m, arcs)| (m.name, arcs.len())),
                outputs.map(|(m, arc)| (m.name, usize::from(arc.is_some()))),
            );
            if let Some(e) = wiring.into_iter().next() {
                return Err(e.into());
            }
        }
        self.check_acyclic()?;
        for p in &self.instances {
            let why = match p.supervision.unwrap_or(self.supervision).on_panic {
                OnPanic::Restart if !p.restartable => "it restarts from its constructor, but was added without one; add it with `instance_built_by` (graph! does when the instance is restarted)",
                OnPanic::Snapshot { .. } if !p.meta.state => "it restarts from a snapshot of its state, but its component has none; add `state` to its #[component] or restart it from its constructor",
                _ => continue,
            };
            return Err(BuildError::CannotRestart {
                instance: p.name.clone(),
                why,
            });
        }
        let mut control = Shape::new(
            self.name,
            self.sleepers.len(),
            self.default_capacity,
            self.instances
                .iter()
                .map(|p| (p.name.clone(), p.meta, p.section))
                .collect(),
            self.arcs.into_iter().map(|(_, _, a)| a).collect(),
        );
        control.dedicated = self.dedicated;
        control.remote = self.remote;
        control.through = self.through;
        let mut plans: Vec<Vec<InstancePlan>> = self.sleepers.iter().map(|_| Vec::new()).collect();
        for p in self.instances {
            let outputs = p
                .outputs
                .into_iter()
                .map(|o| o.expect("checked above"))
                .collect();
            plans[p.section].push(InstancePlan {
                name: p.name.as_str().into(),
                inputs: p.inputs,
                outputs,
                component: p.component,
                supervision: p.supervision.unwrap_or(self.supervision),
            });
        }
        let workers = plans
            .into_iter()
            .zip(self.sleepers)
            .enumerate()
            .map(|(index, (instances, sleeper))| Worker {
                index,
                instances,
                sleeper,
                mailbox: Default::default(),
            })
            .collect();
        Ok(Graph::new(control, workers, self.supervision))
    }

    /// The arcs must not form a cycle; if they do, names one.
    fn check_acyclic(&self) -> Result<(), BuildError> {
        let mut successors = vec![Vec::new(); self.instances.len()];
        for (f, t, _) in &self.arcs {
            successors[f.0].push(t.0);
        }
        let cycle = match topological_order(&successors) {
            Ok(_) => return Ok(()),
            Err(cycle) => cycle,
        };
        let (u, v) = (cycle.nodes[0], cycle.nodes[1 % cycle.nodes.len()]);
        let (.., arc) = self
            .arcs
            .iter()
            .find(|(f, t, _)| f.0 == u && t.0 == v)
            .expect("a cycle's first step is an arc");
        Err(cycle
            .named(arc.label(), |i| self.instances[i].name.clone())
            .into())
    }
}
