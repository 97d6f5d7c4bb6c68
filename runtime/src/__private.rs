//! Support for the code that `#[component]` and `graph!` generate. Not a
//! public API: names and signatures may change in any release.
//!
//! The checks are `const fn`s evaluated in constants that `graph!` spans at
//! the user's tokens, so a wrong port name is a compile error pointing at
//! that name, with a message listing the ports that exist.

use crate::model::component::{ComponentMeta, PortMeta};
pub use evoflow_graph::Place;
use evoflow_graph::PlacementError;

use crate::builder::GraphBuilder;
pub use crate::channel::arc::ArcFactory;
pub use crate::channel::port::{
    with_local, ArcId, ArcState, Drained, End, ErasedInPort, ErasedOutPort, InPort, InputSet, Kept,
    NoInputs, NoOutputs, OutPort, OutputSet,
};
use crate::graph::Graph;
pub use crate::model::component::Assemble;

/// Stands in for the graph when `graph!` reports an error, so that code
/// using the graph does not add errors of its own. Never runs: the program
/// does not compile.
pub fn invalid_graph() -> Graph {
    unreachable!("graph! reported a compile error")
}

/// Packet type of input port number `I`: implemented by a component's
/// `Component::Inputs`, so only its one `Component` impl names its type.
pub trait InputAt<const I: usize> {
    /// The packet type.
    type Packet: Send + 'static;
}

/// Packet type of output port number `I`, implemented by a component's
/// `Component::Outputs`.
pub trait OutputAt<const I: usize> {
    /// The packet type.
    type Packet: Send + 'static;
}

/// Implemented only for identical types: `graph!` requires
/// `Output: SamePacket<Input>` on every arc.
#[diagnostic::on_unimplemented(
    message = "packet type mismatch: this arc's output sends `{Self}` but its input expects `{Input}`",
    label = "output sends `{Self}`, input expects `{Input}`",
    note = "an arc moves packets unchanged: make both ports carry the same type, or put a converting component between them"
)]
pub trait SamePacket<Input> {}

impl<T> SamePacket<T> for T {}

/// Compiles only if `Out` and `In` are the same type.
pub const fn assert_same_packet<Out: SamePacket<In>, In>() {}

/// Adds an arc that `graph!` checked (`Out` and `In` are its packet types,
/// the same: [`assert_same_packet`] checked them). A function rather than a
/// closure at each arc: one closure per arc made rustc's check of a large
/// graph's code superlinear.
#[track_caller]
pub fn connect<Out: Send + 'static, In>(
    builder: &mut GraphBuilder,
    from: crate::InstanceId,
    out: usize,
    to: crate::InstanceId,
    inp: usize,
    capacity: usize,
) {
    if let Err(e) = builder.connect::<Out>(from, out, to, inp, capacity) {
        panic!("evoflow: graph! accepted an arc the runtime refuses: {e}");
    }
}

/// The worker of each instance of a `graph!` whose worker count is known
/// only at run time: the scheduler `graph!` runs for a literal count, run on
/// the costs, pins, arcs and topological order it emitted, so a count gives
/// the same schedule either way (with a section of its own for each
/// `#[blocking]` instance after the `workers`). Panics, as `graph!` does on a graph the
/// runtime refuses, if the count is 0 or a `#[worker(k)]` pin does not fit.
#[track_caller]
pub fn sections_at_run_time(
    graph: &str,
    workers: usize,
    names: &[&str],
    cost: &[u64],
    place: &[Place],
    arcs: &[(usize, usize)],
    topo: &[usize],
) -> Vec<usize> {
    match evoflow_graph::sections(workers, cost, place, arcs, topo) {
        Ok(sections) => {
            let mut at = vec![0; names.len()];
            for (w, members) in sections.iter().enumerate() {
                for &i in members {
                    at[i] = w;
                }
            }
            at
        }
        Err(PlacementError::NoWorkers) => panic!(
            "evoflow: graph `{graph}` was given `workers = 0` at run time; it needs at least 1 worker \
             (one per core: `std::thread::available_parallelism()`)"
        ),
        Err(PlacementError::PinnedOutside { instance, worker, workers }) => panic!(
            "evoflow: graph `{graph}` was given `workers = {workers}` at run time, but instance `{}` is pinned \
             to worker {worker} by `#[worker({worker})]` (workers are numbered from 0): give it at least {} \
             workers, or drop the pin and let the schedule place the instance (`#[cost(N)]` moves the cut)",
            names[instance],
            worker + 1,
        ),
    }
}

/// A diagnostic assembled at compile time. `graph!` panics with it in its
/// own constant, so rustc reports it at the user's token.
pub struct Msg {
    buf: [u8; 1024],
    len: usize,
}

impl Msg {
    const fn new() -> Self {
        Msg {
            buf: [0; 1024],
            len: 0,
        }
    }

    const fn push(mut self, s: &str) -> Self {
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() && self.len < self.buf.len() {
            self.buf[self.len] = b[i];
            self.len += 1;
            i += 1;
        }
        self
    }

    /// Appends `` `a`, `b` `` for the ports in `ports`.
    const fn push_ports(mut self, ports: &[PortMeta]) -> Self {
        let mut i = 0;
        while i < ports.len() {
            if i > 0 {
                self = self.push(", ");
            }
            self = self.push("`").push(ports[i].name).push("`");
            i += 1;
        }
        self
    }

    /// The message text.
    pub const fn as_str(&self) -> &str {
        match core::str::from_utf8(self.buf.split_at(self.len).0) {
            Ok(s) => s,
            Err(_) => "evoflow: invalid port reference",
        }
    }
}

const fn eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

const fn find(ports: &[PortMeta], name: &str) -> Option<usize> {
    let mut i = 0;
    while i < ports.len() {
        if eq(ports[i].name, name) {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// Index of output `port` of `instance`, or a message saying what exists.
#[allow(clippy::result_large_err)] // only ever evaluated by the compiler
pub const fn output_index(meta: &ComponentMeta, instance: &str, port: &str) -> Result<usize, Msg> {
    if let Some(i) = find(meta.outputs, port) {
        return Ok(i);
    }
    let m = Msg::new();
    let m = if find(meta.inputs, port).is_some() {
        m.push("`")
            .push(instance)
            .push(".")
            .push(port)
            .push("` is an input port of `")
            .push(meta.name)
            .push("`, not an output; arcs go from an output to an input: `producer.output -> consumer.input`")
    } else if meta.outputs.is_empty() {
        m.push("`")
            .push(instance)
            .push("` (`")
            .push(meta.name)
            .push("`) is a sink: it has no output ports")
    } else {
        m.push("`")
            .push(instance)
            .push("` (`")
            .push(meta.name)
            .push("`) has no output port `")
            .push(port)
            .push("`; its output ports are: ")
            .push_ports(meta.outputs)
    };
    Err(m)
}

/// Index of input `port` of `instance`, or a message saying what exists.
#[allow(clippy::result_large_err)] // only ever evaluated by the compiler
pub const fn input_index(meta: &ComponentMeta, instance: &str, port: &str) -> Result<usize, Msg> {
    if let Some(i) = find(meta.inputs, port) {
        return Ok(i);
    }
    let m = Msg::new();
    let m = if find(meta.outputs, port).is_some() {
        m.push("`")
            .push(instance)
            .push(".")
            .push(port)
            .push("` is an output port of `")
            .push(meta.name)
            .push("`, not an input; arcs go from an output to an input: `producer.output -> consumer.input`")
    } else if meta.inputs.is_empty() {
        m.push("`")
            .push(instance)
            .push("` (`")
            .push(meta.name)
            .push("`) is a source: it has no input ports")
    } else {
        m.push("`")
            .push(instance)
            .push("` (`")
            .push(meta.name)
            .push("`) has no input port `")
            .push(port)
            .push("`; its input ports are: ")
            .push_ports(meta.inputs)
    };
    Err(m)
}

/// A message if a port of `instance` is not among the connected ones. Says
/// nothing if an arc names a port that does not exist: that arc's own error
/// explains it, and "not connected" would only repeat it.
pub const fn check_connected(
    meta: &ComponentMeta,
    instance: &str,
    inputs: &[&str],
    outputs: &[&str],
) -> Option<Msg> {
    if !all_known(meta.inputs, inputs) || !all_known(meta.outputs, outputs) {
        return None;
    }
    let mut i = 0;
    while i < meta.inputs.len() {
        if !contains(inputs, meta.inputs[i].name) {
            return Some(
                Msg::new()
                    .push("input port `")
                    .push(meta.inputs[i].name)
                    .push("` of `")
                    .push(instance)
                    .push("` (`")
                    .push(meta.name)
                    .push("`) is not connected; add an arc `<instance>.<output> -> ")
                    .push(instance)
                    .push(".")
                    .push(meta.inputs[i].name)
                    .push("`"),
            );
        }
        i += 1;
    }
    let mut o = 0;
    while o < meta.outputs.len() {
        if !contains(outputs, meta.outputs[o].name) {
            return Some(
                Msg::new()
                    .push("output port `")
                    .push(meta.outputs[o].name)
                    .push("` of `")
                    .push(instance)
                    .push("` (`")
                    .push(meta.name)
                    .push("`) is not connected, so its packets would be lost; add an arc `")
                    .push(instance)
                    .push(".")
                    .push(meta.outputs[o].name)
                    .push(" -> <instance>.<input>`"),
            );
        }
        o += 1;
    }
    None
}

const fn contains(names: &[&str], name: &str) -> bool {
    let mut i = 0;
    while i < names.len() {
        if eq(names[i], name) {
            return true;
        }
        i += 1;
    }
    false
}

const fn all_known(ports: &[PortMeta], names: &[&str]) -> bool {
    let mut i = 0;
    while i < names.len() {
        if find(ports, names[i]).is_none() {
            return false;
        }
        i += 1;
    }
    true
}

/// Picks how an input's packets are drained where their type is concrete:
/// `(&DrainProbe::<T>::NEW).drain(..)` with both traits below in scope
/// resolves to [`DrainKeeping`] if `T` is [`Recoverable`](crate::Recoverable)
/// (method lookup tries `&DrainProbe` before `&&DrainProbe`), else to
/// [`DrainPlain`]: other types keep the plain loop, at no cost.
pub struct DrainProbe<T>(std::marker::PhantomData<T>);

impl<T> DrainProbe<T> {
    /// The probe.
    pub const NEW: Self = DrainProbe(std::marker::PhantomData);
}

/// The probe's choice for `Recoverable` packet types: keep each packet
/// while its handler runs.
pub trait DrainKeeping<T> {
    /// [`InPort::drain_keeping`].
    fn drain(
        &self,
        port: &mut InPort<T>,
        arc: usize,
        budget: usize,
        handler: impl FnMut(T),
    ) -> Drained;
}

impl<T: crate::Recoverable> DrainKeeping<T> for DrainProbe<T> {
    #[inline]
    fn drain(
        &self,
        port: &mut InPort<T>,
        arc: usize,
        budget: usize,
        handler: impl FnMut(T),
    ) -> Drained {
        port.drain_keeping(arc, budget, handler)
    }
}

/// The probe's choice for all other packet types: the plain drain.
pub trait DrainPlain<T> {
    /// [`InPort::drain`].
    fn drain(
        &self,
        port: &mut InPort<T>,
        arc: usize,
        budget: usize,
        handler: impl FnMut(T),
    ) -> Drained;
}

impl<T: Send + 'static> DrainPlain<T> for &DrainProbe<T> {
    #[inline]
    fn drain(
        &self,
        port: &mut InPort<T>,
        arc: usize,
        budget: usize,
        handler: impl FnMut(T),
    ) -> Drained {
        port.drain(arc, budget, handler)
    }
}
