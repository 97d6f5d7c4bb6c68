//! The contract between a user's component and the runtime.
//!
//! `#[component]` implements [`Component`] for the user's type; the runtime
//! only ever talks to components through it, so a later version of a
//! component (a different Rust type) can take over the same ports.

use crate::channel::arc::ArcFactory;
use crate::channel::port::{Drained, InputSet, OutputSet};
use crate::model::state::{Resources, State, StateError};
use std::any::{type_name, TypeId};
use std::hash::{Hash, Hasher};

/// What a source reports after one call of its `#[source]` method (and a
/// poller after its `#[poll]` method).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Flow {
    /// It may have more to emit right away: call again.
    Continue,
    /// Nothing to emit now: call again soon (the worker polls it every
    /// 50 µs to 1 ms). Prefer [`Flow::Wait`] when something can say when.
    Idle,
    /// Nothing to emit until what [`Wait`] says (a readable descriptor, a
    /// time) or — for a poller — a packet: the worker parks until then,
    /// costing nothing while idle. It may be called earlier, when its
    /// worker wakes for other work. Made by [`Flow::readable`],
    /// [`Flow::after`] and [`Flow::packets`].
    Wait(Wait),
    /// The source is exhausted: its outputs end and the graph drains.
    Done,
}

/// What a waiting source or poller waits for: a descriptor (low 32 bits,
/// all ones for none) and the longest wait in microseconds (high 32 bits,
/// all ones for none; longer waits are cut to about 71 minutes). One
/// word, so that a [`Flow`] is returned in registers on every call of a
/// source.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Wait(u64);

const NONE: u32 = u32::MAX;

impl Wait {
    const fn new(fd: u32, timeout_us: u32) -> Self {
        Wait(fd as u64 | (timeout_us as u64) << 32)
    }

    /// The descriptor waited for.
    pub fn fd(&self) -> Option<std::os::fd::RawFd> {
        let fd = self.0 as u32;
        (fd != NONE).then_some(fd as std::os::fd::RawFd)
    }

    /// The longest wait.
    pub fn timeout(&self) -> Option<std::time::Duration> {
        let us = (self.0 >> 32) as u32;
        (us != NONE).then(|| std::time::Duration::from_micros(u64::from(us)))
    }
}

impl Flow {
    /// Wait until `fd` is readable: a socket, a listener, or an epoll/mio
    /// `Poll` that watches many.
    pub fn readable(fd: &impl std::os::fd::AsRawFd) -> Flow {
        Flow::Wait(Wait::new(fd.as_raw_fd() as u32, NONE))
    }

    /// Wait for packets only (a poller with nothing left to do).
    pub const fn packets() -> Flow {
        Flow::Wait(Wait::new(NONE, NONE))
    }

    /// Wait until `timeout` has passed.
    pub fn after(timeout: std::time::Duration) -> Flow {
        Flow::packets().within(timeout)
    }

    /// The same wait, for at most `timeout`.
    pub fn within(self, timeout: std::time::Duration) -> Flow {
        match self {
            Flow::Wait(w) => Flow::Wait(Wait::new(
                w.0 as u32,
                timeout.as_micros().min(u128::from(NONE - 1)) as u32,
            )),
            other => other,
        }
    }
}

/// The type of packet a port carries, as the runtime compares it.
///
/// Within one process two ports are compatible exactly when their
/// [`TypeId`]s are equal: that is what the arc ends' downcasts check, and
/// names are not unique (two versions of a crate name their types alike).
/// Across builds of a component library, where a rebuilt type keeps its
/// `TypeId` even if its definition changed, the reload checks compare
/// definition hashes on top.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct PacketType {
    /// Identity of the type in this process.
    pub id: TypeId,
    /// `std::any::type_name` of the packet type (for messages).
    pub name: &'static str,
    /// Size in bytes.
    pub size: usize,
    /// Alignment in bytes.
    pub align: usize,
    /// Hash of name, size and alignment: equal fingerprints are how a later
    /// build of the program recognises an unchanged port.
    pub fingerprint: u64,
}

impl PacketType {
    /// Describes `T`.
    pub fn of<T: 'static>() -> Self {
        let name = type_name::<T>();
        let (size, align) = (std::mem::size_of::<T>(), std::mem::align_of::<T>());
        // FNV-1a keeps the fingerprint independent of std's randomly keyed
        // SipHash, so it is stable across processes and builds.
        let mut h = fnv::FnvHasher::default();
        (name, size, align).hash(&mut h);
        PacketType {
            id: TypeId::of::<T>(),
            name,
            size,
            align,
            fingerprint: h.finish(),
        }
    }
}

/// One port of a component: its name and packet type.
#[derive(Copy, Clone, Debug)]
#[non_exhaustive]
pub struct PortMeta {
    /// Port name as written in the component.
    pub name: &'static str,
    /// Packet type, resolved at run time (`type_name` is not const).
    pub packet: fn() -> PacketType,
    /// Makes arcs of this packet type.
    #[doc(hidden)]
    pub arcs: ArcFactory,
}

/// One step of state migration a component declares with
/// `#[migrate(from = ..)]`: it reads state of version `from` and produces
/// version `to`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Migration {
    /// Version read.
    pub from: u32,
    /// Version produced.
    pub to: u32,
}

/// Static description of a component type, generated by `#[component]`.
#[derive(Copy, Clone, Debug)]
#[non_exhaustive]
pub struct ComponentMeta {
    /// Type name as written by the user.
    pub name: &'static str,
    /// The component's declared version.
    pub version: u32,
    /// Input ports, in declaration order (the index is the port number).
    pub inputs: &'static [PortMeta],
    /// Output ports, in declaration order.
    pub outputs: &'static [PortMeta],
    /// True if the component has a `#[source]` or `#[poll]` method that the
    /// runtime calls to produce packets without input.
    pub polls: bool,
    /// True if the component exports its state (`#[component(state)]`).
    pub state: bool,
    /// Migration steps it declares.
    pub migrations: &'static [Migration],
    /// Versions it can give its state back to (`#[migrate(down = N)]`),
    /// for the rollback of a watched update.
    pub downgrades: &'static [u32],
    /// Hash of the component's definition as written (its `impl` block and
    /// attribute): tells a rebuilt component whose code changed but whose
    /// version did not from an unchanged one.
    pub code: u64,
}

impl PortMeta {
    /// A port named `name` carrying packets of type `T`.
    pub const fn of<T: Send + 'static>(name: &'static str) -> Self {
        PortMeta {
            name,
            packet: PacketType::of::<T>,
            arcs: ArcFactory::of::<T>(),
        }
    }
}

impl Migration {
    /// A step that reads state of version `from` and produces version `to`.
    pub const fn new(from: u32, to: u32) -> Self {
        Migration { from, to }
    }
}

impl ComponentMeta {
    /// A component named `name` at `version` with these ports, no state,
    /// nothing polled; the other `const fn`s below add the rest, so fields
    /// can be added later without breaking generated code.
    pub const fn new(
        name: &'static str,
        version: u32,
        inputs: &'static [PortMeta],
        outputs: &'static [PortMeta],
    ) -> Self {
        ComponentMeta {
            name,
            version,
            inputs,
            outputs,
            polls: false,
            state: false,
            migrations: &[],
            downgrades: &[],
            code: 0,
        }
    }

    /// It has a `#[source]` or `#[poll]` method.
    pub const fn polling(mut self, polls: bool) -> Self {
        self.polls = polls;
        self
    }

    /// It exports and imports its state, reading the versions `migrations`
    /// lead from and giving it back to the versions in `downgrades`.
    pub const fn with_state(
        mut self,
        migrations: &'static [Migration],
        downgrades: &'static [u32],
    ) -> Self {
        self.state = true;
        self.migrations = migrations;
        self.downgrades = downgrades;
        self
    }

    /// The hash of its definition as written.
    pub const fn with_code(mut self, code: u64) -> Self {
        self.code = code;
        self
    }

    /// True for components without inputs: the runtime calls them to produce.
    pub const fn is_source(&self) -> bool {
        self.inputs.is_empty()
    }

    /// True if state exported at `version` can become this component's
    /// state: the same version, or a chain of declared migration steps.
    pub fn can_import(&self, version: u32) -> bool {
        let mut v = version;
        for _ in 0..=self.migrations.len() {
            if v == self.version {
                return true;
            }
            match self.migrations.iter().find(|m| m.from == v) {
                Some(m) => v = m.to,
                None => return false,
            }
        }
        false
    }

    /// Input port named `name`.
    pub fn input(&self, name: &str) -> Option<(usize, &'static PortMeta)> {
        self.inputs.iter().enumerate().find(|(_, p)| p.name == name)
    }

    /// Output port named `name`.
    pub fn output(&self, name: &str) -> Option<(usize, &'static PortMeta)> {
        self.outputs
            .iter()
            .enumerate()
            .find(|(_, p)| p.name == name)
    }
}

/// A dataflow component. Implemented by `#[component]`; the `__`-prefixed
/// items are the generated glue and not meant to be called by hand.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an evoflow component",
    label = "not a component",
    note = "put `#[evoflow::component]` on an `impl {Self} {{ ... }}` block with `#[input]` handlers or a `#[source]` method"
)]
pub trait Component: Send + Sized + 'static {
    /// The component's input ports (generated).
    type Inputs: InputSet;
    /// The component's output ports; handlers emit through it (generated).
    type Outputs: OutputSet;
    /// Names, types and version.
    const META: ComponentMeta;

    /// Runs the handler of input `port` on up to `budget` packets of arc `arc`.
    #[doc(hidden)]
    fn __drain(
        &mut self,
        inputs: &mut Self::Inputs,
        outputs: &mut Self::Outputs,
        port: usize,
        arc: usize,
        budget: usize,
    ) -> Drained;

    /// Calls the `#[source]` or `#[poll]` method once.
    #[doc(hidden)]
    fn __generate(&mut self, _outputs: &mut Self::Outputs) -> Flow {
        Flow::Done
    }

    /// Calls the `#[on_end]` method, once, after every input has ended.
    #[doc(hidden)]
    fn __finish(&mut self, _outputs: &mut Self::Outputs) {}

    /// Serialises the component's state (`#[component(state)]`).
    #[doc(hidden)]
    fn __export(&self) -> Result<State, StateError> {
        Err(StateError(format!(
            "`{}` does not export its state; add `state` to its #[component] and derive Serialize and Deserialize",
            Self::META.name
        )))
    }

    /// Builds the component from exported state, migrating as declared.
    #[doc(hidden)]
    fn __import(state: State) -> Result<Self, StateError> {
        Err(StateError(format!(
            "`{}` cannot import the state of `{}` v{}; add `state` to its #[component]",
            Self::META.name,
            state.component,
            state.version
        )))
    }

    /// The state as version `to` of the component reads it, through the
    /// `#[migrate(down = to)]` method; `None` if there is none.
    #[doc(hidden)]
    fn __downgrade(&self, _to: u32) -> Option<Result<State, StateError>> {
        None
    }

    /// Calls the `#[recover]` method of input `port` with a packet whose
    /// handler panicked, once the instance was resumed or restarted.
    #[doc(hidden)]
    fn __recover(
        &mut self,
        _port: usize,
        _packet: Box<dyn std::any::Any + Send>,
        _outputs: &mut Self::Outputs,
    ) {
    }

    /// Calls the `#[handover]` method: give away what cannot be serialised.
    #[doc(hidden)]
    fn __handover(&mut self, _resources: &mut Resources) {}

    /// Calls the `#[takeover]` method: take what the old version handed over.
    #[doc(hidden)]
    fn __takeover(&mut self, _resources: &mut Resources) {}

    /// Adds `self` to a builder. `graph!` calls this rather than the
    /// builder's own method so that a type that is not a component yields
    /// one error, at the type, instead of one per use.
    #[doc(hidden)]
    fn __add_to<B: Assemble>(self, builder: &mut B, name: &str, section: usize) -> B::Id {
        builder.add(name, section, self)
    }

    /// Adds the component built by `factory`, kept for restarts (as
    /// [`Component::__add_to`]).
    #[doc(hidden)]
    fn __add_built_by<B: Assemble>(
        factory: impl Fn() -> Self + Send + Sync + 'static,
        builder: &mut B,
        name: &str,
        section: usize,
    ) -> B::Id {
        builder.add_built_by(name, section, factory)
    }
}

/// What [`Component::__add_to`] adds an instance to: the graph builder.
/// A trait so that the component contract does not depend on the builder
/// (which is built on it).
#[doc(hidden)]
pub trait Assemble {
    /// Handle of an added instance.
    type Id;
    /// Adds an instance to `section`.
    fn add<C: Component>(&mut self, name: &str, section: usize, component: C) -> Self::Id;
    /// Adds an instance built (and rebuilt on restarts) by `factory`.
    fn add_built_by<C: Component>(
        &mut self,
        name: &str,
        section: usize,
        factory: impl Fn() -> C + Send + Sync + 'static,
    ) -> Self::Id;
}

/// The outputs handle a handler receives: `out: &mut Outputs<Self>`.
pub type Outputs<C> = <C as Component>::Outputs;

#[cfg(all(test, not(loom)))]
mod tests {
    use super::PacketType;

    mod a {
        pub struct Msg(#[allow(dead_code)] pub u64);
    }
    mod b {
        pub struct Msg(#[allow(dead_code)] pub u64);
    }

    /// Two types that agree on name, size and alignment (as one type of
    /// two versions of a crate does) are still different packet types.
    #[test]
    fn packet_types_are_told_apart_by_type_id_not_by_name() {
        let (x, y) = (PacketType::of::<a::Msg>(), PacketType::of::<b::Msg>());
        let y = PacketType {
            name: x.name,
            fingerprint: x.fingerprint,
            ..y
        };
        assert_eq!((x.size, x.align), (y.size, y.align));
        assert_ne!(x, y);
        assert_eq!(x, PacketType::of::<a::Msg>());
        let refused =
            evoflow_graph::check_packet_type("a.out -> b.inp", "b.inp", &y, &x, |p| p.name)
                .unwrap_err()
                .to_string();
        assert!(refused.contains("another type named"), "{refused}");
    }
}
