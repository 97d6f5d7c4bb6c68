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
//! Not yet: updates that span machines. An update on one machine may
//! change the instances there that have no arc to another machine; one
//! that would change such an instance is refused
//! (`Refusal::AcrossMachines`).

#![deny(missing_docs)]

mod error;
mod link;
mod program;
mod run;
mod status;

pub use error::MachineError;
pub use program::{Links, Portable, Program};
pub use run::{MachineConfig, MachineRun};
pub use status::{GraphStatus, InstanceSummary, MachineStatus};
