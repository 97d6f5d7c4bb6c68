//! Test-only helpers for the modules' unit tests: component metadata made
//! by hand (what `#[component]` would generate, without the macros), small
//! shapes, a stand-in for a new component version, and the edits of an
//! update.
//!
//! All `ComponentMeta` and `PortMeta` values of the unit tests are built
//! here, so a field added to them changes this file only.

use crate::channel::arc::ArcFactory;
use crate::channel::port::End;
use crate::exec::contract::{Env, Incoming, Node};
use crate::model::component::{ComponentMeta, Migration, PacketType, PortMeta};
use crate::model::failure::InstanceFailure;
use crate::model::shape::{CArc, Shape};
use crate::model::state::{Resources, State};
use crate::model::supervise::Supervision;
use crate::update::request::Edit;
use std::sync::Arc;

/// A port carrying `T`.
pub(crate) fn port<T: Send + 'static>(name: &'static str) -> PortMeta {
    PortMeta {
        name,
        packet: PacketType::of::<T>,
        arcs: ArcFactory::of::<T>(),
    }
}

/// Component metadata, built up and then leaked (metadata is `'static`).
pub(crate) struct Meta {
    name: &'static str,
    version: u32,
    inputs: Vec<PortMeta>,
    outputs: Vec<PortMeta>,
    state: bool,
    migrations: Vec<Migration>,
}

impl Meta {
    /// Component `name` at `version`, without ports, state or migrations.
    pub(crate) fn new(name: &'static str, version: u32) -> Self {
        Meta {
            name,
            version,
            inputs: Vec::new(),
            outputs: Vec::new(),
            state: false,
            migrations: Vec::new(),
        }
    }

    /// Adds an input port carrying `T`.
    pub(crate) fn input<T: Send + 'static>(mut self, name: &'static str) -> Self {
        self.inputs.push(port::<T>(name));
        self
    }

    /// Adds an output port carrying `T`.
    pub(crate) fn output<T: Send + 'static>(mut self, name: &'static str) -> Self {
        self.outputs.push(port::<T>(name));
        self
    }

    /// Exports and imports its state.
    pub(crate) fn state(mut self) -> Self {
        self.state = true;
        self
    }

    /// Declares a migration step.
    pub(crate) fn migrates(mut self, from: u32, to: u32) -> Self {
        self.migrations.push(Migration { from, to });
        self
    }

    pub(crate) fn leak(self) -> &'static ComponentMeta {
        Box::leak(Box::new(ComponentMeta {
            name: self.name,
            version: self.version,
            inputs: self.inputs.leak(),
            outputs: self.outputs.leak(),
            polls: false,
            state: self.state,
            migrations: self.migrations.leak(),
            downgrades: &[],
            code: 0,
        }))
    }
}

/// `Src`: one `u64` output `out`.
pub(crate) fn source() -> &'static ComponentMeta {
    Meta::new("Src", 1).output::<u64>("out").leak()
}

/// `Map` at `version`: `u64` input `in`, `u64` output `out`.
pub(crate) fn map(version: u32) -> &'static ComponentMeta {
    Meta::new("Map", version)
        .input::<u64>("in")
        .output::<u64>("out")
        .leak()
}

/// `Map` at `version` with state and migration steps `from -> from+1`
/// for every `from` in `steps`.
pub(crate) fn stateful_map(version: u32, steps: &[u32]) -> &'static ComponentMeta {
    steps
        .iter()
        .fold(
            Meta::new("Map", version)
                .input::<u64>("in")
                .output::<u64>("out")
                .state(),
            |m, &from| m.migrates(from, from + 1),
        )
        .leak()
}

/// `Sink`: one `u64` input `in`.
pub(crate) fn sink() -> &'static ComponentMeta {
    Meta::new("Sink", 1).input::<u64>("in").leak()
}

/// Capacity of the arcs [`shape`] makes.
pub(crate) const CAPACITY: usize = 4;

/// A shape named "g" of `instances` (name, component, worker; in run
/// order) and `arcs` ("a.out", "b.in"), numbered from 0 in order. Each
/// arc carries its output port's packet type.
pub(crate) fn shape(
    workers: usize,
    instances: &[(&str, &'static ComponentMeta, usize)],
    arcs: &[(&str, &str)],
) -> Shape {
    let find = |name: &str| {
        instances
            .iter()
            .find(|i| i.0 == name)
            .unwrap_or_else(|| panic!("test shape has no instance `{name}`"))
            .1
    };
    let split = |s: &str| {
        let (i, p) = s.split_once('.').expect("instance.port");
        (i.to_owned(), p.to_owned())
    };
    let arcs = arcs
        .iter()
        .enumerate()
        .map(|(id, (from, to))| {
            let (from, to) = (split(from), split(to));
            let (_, out) = find(&from.0)
                .output(&from.1)
                .unwrap_or_else(|| panic!("test shape: no output `{}.{}`", from.0, from.1));
            CArc {
                id: id as u64,
                from,
                to,
                packet: (out.packet)(),
                capacity: CAPACITY,
                factory: out.arcs,
            }
        })
        .collect();
    Shape::new(
        "g".to_owned(),
        workers,
        CAPACITY,
        instances
            .iter()
            .map(|(n, m, w)| ((*n).to_owned(), *m, *w))
            .collect(),
        arcs,
    )
}

/// `src -> a -> b -> c -> sink` on one worker, all of `u64` (`Map` v1).
pub(crate) fn chain() -> Shape {
    shape(
        1,
        &[
            ("src", source(), 0),
            ("a", map(1), 0),
            ("b", map(1), 0),
            ("c", map(1), 0),
            ("sink", sink(), 0),
        ],
        &[
            ("src.out", "a.in"),
            ("a.out", "b.in"),
            ("b.out", "c.in"),
            ("c.out", "sink.in"),
        ],
    )
}

/// The arcs of `shape` as sorted labels ("a.out -> b.in").
pub(crate) fn labels(shape: &Shape) -> Vec<String> {
    let mut l: Vec<String> = shape.arcs.values().map(CArc::label).collect();
    l.sort();
    l
}

/// A new version that validation and planning can look at but nothing can
/// build: its metadata and whether it migrates the old state.
pub(crate) struct Stub {
    pub meta: &'static ComponentMeta,
    pub migrates: bool,
}

/// A version given fresh (as `Update::replace_with` and `insert` make).
pub(crate) fn fresh(meta: &'static ComponentMeta) -> Box<dyn Incoming> {
    Box::new(Stub {
        meta,
        migrates: false,
    })
}

/// A version built from the old state (as `Update::replace` makes).
pub(crate) fn migrated(meta: &'static ComponentMeta) -> Box<dyn Incoming> {
    Box::new(Stub {
        meta,
        migrates: true,
    })
}

impl Incoming for Stub {
    fn prepare(&mut self, _: Option<State>) -> Result<(), InstanceFailure> {
        Ok(())
    }
    fn assemble(
        self: Box<Self>,
        _: Arc<str>,
        _: &mut Resources,
        _: Vec<Vec<End>>,
        _: Vec<End>,
        _: Arc<Env>,
        _: Supervision,
    ) -> Result<Box<dyn Node>, InstanceFailure> {
        unreachable!("validation tests never build a stub")
    }
    fn into_node(
        self: Box<Self>,
        _: Arc<str>,
        _: Vec<Vec<End>>,
        _: Vec<End>,
        _: Arc<Env>,
        _: Supervision,
    ) -> Result<Box<dyn Node>, InstanceFailure> {
        unreachable!("validation tests never build a stub")
    }
    fn into_migrated(self: Box<Self>) -> Box<dyn Incoming> {
        migrated(self.meta)
    }
    fn meta(&self) -> &'static ComponentMeta {
        self.meta
    }
    fn migrates(&self) -> bool {
        self.migrates
    }
}

/// The edits of an update, written shortly.
pub(crate) mod edit {
    use super::*;

    pub(crate) fn replace(instance: &str, incoming: Box<dyn Incoming>) -> Edit {
        Edit::Replace {
            instance: instance.to_owned(),
            incoming,
        }
    }

    pub(crate) fn insert(
        instance: &str,
        worker: Option<usize>,
        incoming: Box<dyn Incoming>,
    ) -> Edit {
        Edit::Insert {
            instance: instance.to_owned(),
            worker,
            incoming,
        }
    }

    pub(crate) fn remove(instance: &str) -> Edit {
        Edit::Remove {
            instance: instance.to_owned(),
        }
    }

    pub(crate) fn connect(from: &str, to: &str) -> Edit {
        Edit::Connect {
            from: from.to_owned(),
            to: to.to_owned(),
            capacity: None,
        }
    }

    pub(crate) fn disconnect(from: &str, to: &str) -> Edit {
        Edit::Disconnect {
            from: from.to_owned(),
            to: to.to_owned(),
        }
    }
}
