//! Runtime of evoflow: typed arcs, one worker per section of a static
//! schedule, and the graph handle. Users depend on the `evoflow` crate,
//! which re-exports this together with the macros.

mod builder;
mod component;
mod node;
mod plan;
mod port;
mod queue;
mod run;
mod schedule;
mod wake;
mod worker;

#[doc(hidden)]
pub mod __private;

pub use builder::{BuildError, GraphBuilder, InstanceId};
pub use component::{Component, ComponentMeta, Flow, Outputs, PacketType, PortMeta};
pub use port::{
    Drained, ErasedEnd, ErasedInPort, ErasedOutPort, InPort, InputSet, NoInputs, NoOutputs,
    OutPort, OutputSet,
};
pub use run::{Graph, Report, RunError, Running};
pub use schedule::{ArcInfo, InstanceInfo, Schedule};
pub use worker::Panic;
