//! Why the cluster refused or could not answer.

use std::fmt;

/// Why a cluster operation did not happen.
#[derive(Debug)]
#[non_exhaustive]
pub enum ClusterError {
    /// etcd cannot be reached or answered with an error: no decision is
    /// taken (an update aborts), nothing is joined.
    Etcd(etcd_client::Error),
    /// Another process holds this machine's name.
    NameTaken {
        /// The machine.
        machine: String,
        /// Where the holder says it is.
        holder: String,
    },
    /// This machine runs another build than the machines already joined:
    /// every machine must run the same program.
    OtherBuild {
        /// The machine refused.
        machine: String,
        /// Its build fingerprint.
        build: String,
        /// A machine already joined, and its fingerprint.
        joined: String,
        /// That machine's build fingerprint.
        expected: String,
    },
    /// A value in etcd that evoflow did not write (or a newer format).
    Malformed(String),
}

impl fmt::Display for ClusterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClusterError::Etcd(e) => write!(f, "etcd: {e}"),
            ClusterError::NameTaken { machine, holder } => write!(
                f,
                "machine `{machine}` has joined already (at {holder}); run each machine once, or wait for its lease to expire"
            ),
            ClusterError::OtherBuild {
                machine,
                build,
                joined,
                expected,
            } => write!(
                f,
                "machine `{machine}` runs build {build}, but `{joined}` runs build {expected}: every machine must run the same build"
            ),
            ClusterError::Malformed(what) => write!(f, "unexpected value in etcd: {what}"),
        }
    }
}

impl std::error::Error for ClusterError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ClusterError::Etcd(e) => Some(e),
            _ => None,
        }
    }
}

impl From<etcd_client::Error> for ClusterError {
    fn from(e: etcd_client::Error) -> Self {
        ClusterError::Etcd(e)
    }
}
