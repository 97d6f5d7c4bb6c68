//! One evoflow graph over several machines.
//!
//! `graph!` with `machines = { front: 1, back: 2 };` and `#[machine(..)]`
//! on instances makes a [`Program`]: every machine runs the same program
//! and calls [`Program::run_on`] with its name. Each machine holds a lease
//! in etcd ([`evoflow_cluster`]); the part of the graph on a machine
//! starts once every machine has joined. Arcs the placement cuts are one
//! gRPC stream each ([`evoflow_net`]): packets, update markers and the end
//! of the stream in one FIFO, with credits counted in packets so an arc's
//! capacity means the same as within one machine.
//!
//! A machine that is lost (killed, frozen, cut off: its arcs fail, or its
//! lease ends) halts the parts that depend on it at once; their own arcs
//! then fail, so the loss stops the graph everywhere, each machine's
//! [`MachineRun::join`] naming the machine and the cause. Recovery is not
//! automatic: start the machines again.
//!
//! An update may span machines ([`MachineRun::update_everywhere`], see
//! the `span` module): every machine takes part, markers cross machines
//! in-band, and the decision is one etcd transaction — all install it or
//! none does. An update on one machine
//! ([`MachineRun::update`]) may replace any of its instances, but one
//! whose region takes in a path through another machine is refused
//! (`Refusal::AcrossMachines`).

#![deny(missing_docs)]

mod error;
mod link;
mod news;
mod program;
mod run;
mod span;
mod status;

pub use error::MachineError;
pub use program::{Cut, Links, Part, Portable, Program};
pub use run::{MachineConfig, MachineRun};
pub use span::{PartUpdates, Replacements, Spanning, SpanningReport};
pub use status::{GraphStatus, InstanceSummary, MachineStatus};
