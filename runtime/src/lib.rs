#![warn(missing_docs)]
//! Runtime of evoflow: typed arcs, one worker per section of a static
//! schedule, the graph handle, and the live update engine. Users depend on
//! the `evoflow` crate, which re-exports this together with the macros.

mod builder;
mod component;
mod control;
mod evolve;
mod guard;
mod migrate;
mod node;
mod plan;
mod port;
mod queue;
mod readiness;
mod reconfig;
mod restart;
mod run;
mod schedule;
mod shape;
mod state;
mod supervise;
mod sync;
mod update;
mod wake;
mod watch;
mod watcher;
mod worker;

#[cfg(all(test, loom))]
mod loom_tests;

#[doc(hidden)]
pub mod __private;

pub use builder::{BuildError, GraphBuilder, InstanceId};
pub use component::{
    Component, ComponentMeta, Flow, Migration, Outputs, PacketType, PortMeta, Wait,
};
pub use evolve::{Evolution, Fate, InstanceEvolution};
pub use plan::ArcFactory;
pub use port::{
    ArcId, ArcState, Drained, End, ErasedInPort, ErasedOutPort, InPort, InputSet, NoInputs,
    NoOutputs, OutPort, OutputSet,
};
pub use restart::Factory;
pub use run::{Graph, Report, RunError, Running};
pub use schedule::{ArcInfo, InstanceInfo, Schedule};
pub use state::{Resources, State, StateError};
pub use supervise::{DeadLetter, Kept, OnPanic, Recoverable, Supervision, DEAD_LETTERS};
pub use update::{
    InstanceStatus, Update, UpdateError, UpdateReport, VersionChange, DEFAULT_DEADLINE, HISTORY,
};
pub use watch::Rollback;
pub use worker::Panic;
