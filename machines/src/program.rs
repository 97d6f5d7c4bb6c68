//! A graph over several machines, as every machine's process holds it:
//! the machines and their worker counts, and how to build the part that
//! runs on one of them. `graph!` with `machines = { .. }` makes one.

use crate::error::MachineError;
use crate::link::{Broken, NetReceiver, NetSender};
use crate::span::{per_instance, PartUpdates, Replacements};
use evoflow_net::{Health, Receiver, Sender, Transport, Unconnected};
use evoflow_runtime::remote::{RemoteReceiver, RemoteSender};
use evoflow_runtime::{Graph, Update, Updater};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

/// A packet type that may cross machines: serde on both ends. `graph!`
/// requires it of every arc its placement cuts, at the arc's arrow.
#[diagnostic::on_unimplemented(
    message = "`{Self}` travels between machines on this arc, so it must be a serde type",
    label = "this arc crosses machines",
    note = "derive `serde::Serialize` and `serde::Deserialize` for it, or put both instances on one machine with `#[machine(..)]`"
)]
pub trait Portable: Serialize + DeserializeOwned + Send + 'static {}

impl<T: Serialize + DeserializeOwned + Send + 'static> Portable for T {}

/// Builds the part of the graph on one machine, with the arcs it cuts.
type BuildPart = Box<dyn FnOnce(&str, &mut Links<'_>) -> Result<Graph, MachineError> + Send>;

/// A graph partitioned over machines. Every machine runs the same program
/// and calls [`Program::run_on`] with its own name.
pub struct Program {
    pub(crate) name: String,
    pub(crate) machines: Vec<(String, usize)>,
    pub(crate) build: BuildPart,
    pub(crate) parts: Option<PartUpdates>,
}

impl Program {
    /// A graph named `name` over `machines` (name, workers), whose part on
    /// a machine `build` makes (given the machine's name and the arcs to
    /// and from the others).
    pub fn new(
        name: impl Into<String>,
        machines: &[(&str, usize)],
        build: impl FnOnce(&str, &mut Links<'_>) -> Result<Graph, MachineError> + Send + 'static,
    ) -> Self {
        Program {
            name: name.into(),
            machines: machines.iter().map(|(m, w)| (m.to_string(), *w)).collect(),
            build: Box::new(build),
            parts: None,
        }
    }

    /// How this machine builds its part of an update spanning machines
    /// ([`MachineRun::update_everywhere`](crate::MachineRun::update_everywhere)):
    /// `make(part, instance, with)` adds the replacement of `instance` by
    /// what `with` names to `part`, or says why this machine refuses.
    pub fn replacements(
        mut self,
        make: impl Fn(Update, &str, &str) -> Result<Update, String> + Send + Sync + 'static,
    ) -> Self {
        let make: Replacements = Arc::new(make);
        self.parts = Some(per_instance(make));
        self
    }

    /// As [`Program::replacements`], building the machine's whole part at
    /// once from the running part and all the request's replacements
    /// (every machine the request names is asked, also one none of whose
    /// instances is replaced, and may refuse). Replaces the hook set
    /// before.
    pub fn part_updates(
        mut self,
        make: impl Fn(&Updater, &[(String, String)]) -> Result<Update, String> + Send + Sync + 'static,
    ) -> Self {
        self.parts = Some(Arc::new(make));
        self
    }

    /// The graph's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The machines, with their worker counts.
    pub fn machines(&self) -> impl Iterator<Item = (&str, usize)> {
        self.machines.iter().map(|(m, w)| (m.as_str(), *w))
    }

    /// The machines' names, if `machine` is one of them.
    pub(crate) fn names_with(&self, machine: &str) -> Result<Vec<String>, MachineError> {
        let names: Vec<String> = self.machines.iter().map(|(m, _)| m.clone()).collect();
        if !names.iter().any(|m| m == machine) {
            return Err(MachineError::UnknownMachine {
                machine: machine.to_owned(),
                machines: names,
            });
        }
        Ok(names)
    }

    /// Runs each build of a part (the graph's constructors) inside
    /// `around`, which gets the build to call once. `evoflow::library!`
    /// uses it so that what must happen around the constructors — catching
    /// their panics, telling them whether the program is starting — runs
    /// in the component library's code: the host cannot catch a library's
    /// panics (each has its own copy of std).
    pub fn around_build(
        mut self,
        around: impl FnOnce(&mut dyn FnMut() -> Result<Graph, MachineError>) -> Result<Graph, MachineError>
            + Send
            + 'static,
    ) -> Self {
        let build = self.build;
        self.build = Box::new(move |machine, links| {
            let mut build = Some(build);
            let mut once = || match build.take() {
                Some(build) => build(machine, links),
                None => Err(MachineError::BuildPanicked(
                    "a part was built twice (a bug in evoflow)".into(),
                )),
            };
            around(&mut once)
        });
        self
    }

    /// Builds the part on `machine` without running it or opening a
    /// stream: what a rebuilt program would run there, to compare with
    /// what runs. Its arcs to other machines go nowhere.
    pub fn describe(self, machine: &str) -> Result<Part, MachineError> {
        let names = self.names_with(machine)?;
        // Any address will do: nothing connects.
        let nowhere = SocketAddr::from(([0, 0, 0, 0], 0));
        let mut links = Links {
            transport: &Unconnected,
            peers: names.into_iter().map(|m| (m, nowhere)).collect(),
            watched: Vec::new(),
        };
        let graph = (self.build)(machine, &mut links)?;
        let cut = links.watched.into_iter().map(|w| w.cut).collect();
        Ok(Part { graph, cut })
    }
}

/// A machine's part of a program, built but not run
/// ([`Program::describe`]).
pub struct Part {
    /// The part's graph.
    pub graph: Graph,
    /// Its arcs to and from other machines.
    pub cut: Vec<Cut>,
}

/// An arc between this machine and another, as the part sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cut {
    /// `a.out -> b.inp`.
    pub label: String,
    /// The other machine.
    pub peer: String,
    /// This machine sends on it.
    pub outgoing: bool,
    /// The packet type's name (`std::any::type_name`).
    pub packet: &'static str,
}

/// An arc to or from another machine, as the monitor watches it (a clone
/// views the same arc).
#[derive(Clone)]
pub(crate) struct Watched {
    pub cut: Cut,
    pub health: Health,
    pub broken: Broken,
}

/// The arcs between this machine and the others, made while its part of
/// the graph is built: each is one stream through this machine's endpoint.
/// The ends are made through `transport`'s vtable and typed here, so the
/// code that opens streams is the host's also when the part is built by a
/// component library (see [`Transport`]).
pub struct Links<'a> {
    pub(crate) transport: &'a dyn Transport,
    pub(crate) peers: HashMap<String, SocketAddr>,
    pub(crate) watched: Vec<Watched>,
}

impl Links<'_> {
    fn peer(&self, machine: &str) -> Result<SocketAddr, MachineError> {
        self.peers
            .get(machine)
            .copied()
            .ok_or_else(|| MachineError::UnknownMachine {
                machine: machine.to_owned(),
                machines: self.peers.keys().cloned().collect(),
            })
    }

    /// The sending end of arc `arc` (`label`: `a.out -> b.inp`) to
    /// `machine`, with at most `capacity` packets in flight.
    pub fn sender<T: Portable>(
        &mut self,
        arc: u64,
        label: &str,
        machine: &str,
        capacity: usize,
    ) -> Result<Box<dyn RemoteSender<T>>, MachineError> {
        let peer = self.peer(machine)?;
        let end = self
            .transport
            .connect_raw(peer, arc, capacity)
            .map(Sender::<T>::from_raw)
            .map_err(|e| MachineError::Io(format!("arc {label} to `{machine}` ({peer})"), e))?;
        let broken = Broken::default();
        self.watch::<T>(label, machine, true, end.health(), &broken);
        Ok(Box::new(NetSender { end, broken }))
    }

    /// The receiving end of arc `arc` from `machine` (as
    /// [`Links::sender`]).
    pub fn receiver<T: Portable>(
        &mut self,
        arc: u64,
        label: &str,
        machine: &str,
        capacity: usize,
    ) -> Result<Box<dyn RemoteReceiver<T>>, MachineError> {
        self.peer(machine)?;
        let end = self
            .transport
            .accept_raw(arc, capacity)
            .map(Receiver::<T>::from_raw)
            .map_err(|e| MachineError::Io(format!("arc {label} from `{machine}`"), e))?;
        let broken = Broken::default();
        self.watch::<T>(label, machine, false, end.health(), &broken);
        Ok(Box::new(NetReceiver { end, broken }))
    }

    fn watch<T>(
        &mut self,
        label: &str,
        peer: &str,
        outgoing: bool,
        health: Health,
        broken: &Broken,
    ) {
        self.watched.push(Watched {
            cut: Cut {
                label: label.to_owned(),
                peer: peer.to_owned(),
                outgoing,
                packet: std::any::type_name::<T>(),
            },
            health,
            broken: broken.clone(),
        });
    }
}
