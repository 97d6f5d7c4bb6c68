//! Why a machine could not take part in its graph, or why the graph
//! stopped.

use evoflow_cluster::ClusterError;
use evoflow_runtime::{BuildError, RunError};
use std::fmt;

/// Why [`Program::run_on`](crate::Program::run_on) or
/// [`MachineRun::join`](crate::MachineRun::join) failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum MachineError {
    /// The graph has no machine of this name.
    UnknownMachine {
        /// The name asked for.
        machine: String,
        /// The graph's machines.
        machines: Vec<String>,
    },
    /// Peers could not be told where this machine is: it listens on an
    /// unspecified address (`0.0.0.0`) and no address to advertise was
    /// given.
    NoAddress(std::net::SocketAddr),
    /// etcd refused or could not answer (joining needs it).
    Cluster(ClusterError),
    /// Not every machine joined in time.
    NotJoined {
        /// The machines missing.
        missing: Vec<String>,
        /// How long it waited.
        waited: std::time::Duration,
    },
    /// A machine registered an address that is not `host:port`.
    BadAddress {
        /// The machine.
        machine: String,
        /// What it registered.
        addr: String,
    },
    /// A socket or thread could not be made; the text says for what.
    Io(String, std::io::Error),
    /// This machine's part of the graph was refused.
    Build(BuildError),
    /// Building this machine's part panicked (a constructor in `graph!`):
    /// the panic's message.
    BuildPanicked(String),
    /// The graph failed or was halted (a machine it runs with was lost).
    Run(RunError),
    /// This part finished, but other machines did not take all it sent
    /// them: each arc, with why.
    Undelivered(Vec<String>),
    /// An update spanning machines was refused before any machine took
    /// part: the text says what is wrong with it.
    SpanningRefused(String),
    /// An update spanning machines aborted: every machine kept its old
    /// versions and state.
    SpanningAborted {
        /// Its id.
        update: u64,
        /// Why (the first machine that refused or failed it, a lost
        /// machine, or the deadline).
        why: String,
    },
    /// An update spanning machines committed, but these machines failed
    /// to install it or did not say (each with what it said, or why
    /// nothing is known).
    SpanningUnfinished {
        /// Its id.
        update: u64,
        /// The machines, each with its outcome.
        machines: Vec<(String, String)>,
    },
}

impl fmt::Display for MachineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MachineError::UnknownMachine { machine, machines } => write!(
                f,
                "the graph has no machine `{machine}`; its machines are: {}",
                machines.join(", ")
            ),
            MachineError::NoAddress(a) => write!(
                f,
                "this machine listens on {a}, which peers cannot connect to; give the address they reach it at (`advertise`)"
            ),
            MachineError::Cluster(e) => write!(f, "{e}"),
            MachineError::NotJoined { missing, waited } => write!(
                f,
                "machine(s) {} did not join within {waited:?}; start them with the same program and etcd",
                missing.join(", ")
            ),
            MachineError::BadAddress { machine, addr } => {
                write!(f, "machine `{machine}` registered the address {addr:?}, not host:port")
            }
            MachineError::Io(what, e) => write!(f, "{what}: {e}"),
            MachineError::Build(e) => write!(f, "{e}"),
            MachineError::BuildPanicked(why) => {
                write!(f, "building this machine's part panicked: {why}")
            }
            MachineError::Run(e) => write!(f, "{e}"),
            MachineError::Undelivered(arcs) => write!(
                f,
                "finished, but not all it sent was taken: {}",
                arcs.join("; ")
            ),
            MachineError::SpanningRefused(why) => {
                write!(f, "update spanning machines refused, nothing changed: {why}")
            }
            MachineError::SpanningAborted { update, why } => write!(
                f,
                "update #{update} spanning machines aborted, every machine kept its old versions: {why}"
            ),
            MachineError::SpanningUnfinished { update, machines } => {
                let each: Vec<String> = machines.iter().map(|(m, o)| format!("`{m}`: {o}")).collect();
                write!(
                    f,
                    "update #{update} spanning machines committed, but not everywhere in full: {}",
                    each.join("; ")
                )
            }
        }
    }
}

impl std::error::Error for MachineError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            MachineError::Cluster(e) => Some(e),
            MachineError::Io(_, e) => Some(e),
            MachineError::Build(e) => Some(e),
            MachineError::Run(e) => Some(e),
            _ => None,
        }
    }
}

impl From<BuildError> for MachineError {
    fn from(e: BuildError) -> Self {
        MachineError::Build(e)
    }
}

impl From<ClusterError> for MachineError {
    fn from(e: ClusterError) -> Self {
        MachineError::Cluster(e)
    }
}

impl From<RunError> for MachineError {
    fn from(e: RunError) -> Self {
        MachineError::Run(e)
    }
}
