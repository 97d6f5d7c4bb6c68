#![deny(missing_docs)]
//! Runtime of evoflow: typed arcs, one worker per section of a static
//! schedule, the graph handle, and the live update engine. Users depend on
//! the `evoflow` crate, which re-exports this together with the macros.
//!
//! # Layers
//!
//! Each folder is a layer; a module only uses the layers below its own:
//!
//! ```text
//! builder, graph, running, __private   what users and generated code call
//!        │
//!      update/    live updates, control side: request, draft, control,
//!        │        evolve, watcher
//!      exec/      running instances: contract, node, worker, reconfig
//!        │        (worker side of an update), supervision, threads
//!      model/     what a graph is: component contract, state, shape,
//!        │        schedule, supervision policies
//!     channel/    arcs, ports, wake-ups, arc factories
//!        │
//!      sync/      std or loom primitives, the SPSC ring
//! ```
//!
//! Inside `exec`, the types that refer to one another (a node takes an
//! update's part, whose new version builds a node) sit together in
//! `exec::contract`. Starting a graph (`Graph::run`) lives in `running.rs`,
//! so the unstarted graph knows nothing of threads or of the update engine.

mod builder;
mod channel;
mod exec;
mod graph;
mod model;
mod running;
mod sync;
mod update;

#[cfg(all(test, loom))]
mod loom_tests;
#[cfg(all(test, not(loom)))]
mod testkit;

#[doc(hidden)]
pub mod __private;

pub use builder::{BuildError, GraphBuilder, InstanceId};
pub use channel::port::Recoverable;
pub use channel::remote;
pub use evoflow_graph::{GraphError, Side};
pub use exec::guard::panic_text;
pub use exec::worker::Panic;
pub use graph::Graph;
pub use model::component::{
    Component, ComponentMeta, Flow, Migration, Outputs, PacketType, PortMeta, Wait,
};
pub use model::failure::{Hook, InstanceFailure, NotRun};
pub use model::schedule::{ArcInfo, InstanceInfo, RemoteArcInfo, Schedule};
pub use model::shape::{InstanceStatus, VersionChange, HISTORY};
pub use model::state::{Resources, State, StateError};
pub use model::supervise::{DeadLetter, OnPanic, Supervision, DEAD_LETTERS};
pub use running::{Report, RunError, Running, Stopper, Updater};
pub use update::evolve::{Evolution, EvolutionError, Fate, InstanceEvolution};
pub use update::refusal::Refusal;
pub use update::request::{Rollback, Update, UpdateError, UpdateReport, DEFAULT_DEADLINE};
pub use update::span::{Coordinator, Verdict, SPANNING_IDS};
