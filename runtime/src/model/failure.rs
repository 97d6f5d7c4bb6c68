//! Why one instance could not take its part in a live update:
//! [`InstanceFailure`], carried by
//! [`UpdateError::RolledBack`](crate::UpdateError::RolledBack) and
//! [`UpdateError::FailedAfterCommit`](crate::UpdateError::FailedAfterCommit).

use crate::model::state::StateError;
use std::fmt;

/// Why an instance failed its part in an update.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum InstanceFailure {
    /// Serialising the running version's state failed.
    Export(StateError),
    /// The new version could not read the state it was given.
    Migrate {
        /// Component and version the state came from.
        from: (String, u32),
        /// Component and version that could not read it.
        to: (String, u32),
        /// What went wrong.
        error: StateError,
    },
    /// The state could not be given back to version `to` (for the
    /// rollback of a watched update).
    Downgrade {
        /// The version asked for.
        to: u32,
        /// What went wrong.
        error: StateError,
    },
    /// Component code panicked while the instance took its part.
    Panicked {
        /// Which of its hooks.
        during: Hook,
        /// The panic message.
        message: String,
    },
    /// The instance's part never ran.
    NotRun(NotRun),
}

/// The component code an update calls, for [`InstanceFailure::Panicked`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Hook {
    /// Exporting (serialising) its state.
    Export,
    /// Giving its state back to an earlier version (`#[migrate(down = N)]`).
    Downgrade(u32),
    /// The new version reading the state (`#[migrate(from = N)]` or
    /// decoding; the instance's versions are in `Running::instances`).
    Migrate,
    /// `#[handover]`.
    Handover,
    /// `#[takeover]`.
    Takeover,
    /// Building the new instance's ports and node.
    Build,
    /// Installing the committed change.
    Install,
}

/// Why an instance's part in an update never ran.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NotRun {
    /// The graph finished before the update reached the instance.
    GraphFinished,
    /// The instance had already ended its stream.
    StreamFinished,
    /// The instance is not on the worker the update expected.
    NotOnWorker,
    /// Its worker had stopped: all its instances had finished.
    WorkerStopped(usize),
    /// An instance panicked and the graph is stopping.
    GraphStopping,
    /// An instance the update inserts cannot also be changed by it.
    InsertedAndChanged,
    /// The runtime itself panicked while installing the new version.
    RuntimePanicked,
}

impl fmt::Display for InstanceFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InstanceFailure::Export(e) => write!(f, "exporting its state failed: {e}"),
            InstanceFailure::Migrate { from, to, error } => write!(
                f,
                "migrating `{}` v{} to `{}` v{} failed: {error}",
                from.0, from.1, to.0, to.1
            ),
            InstanceFailure::Downgrade { to, error } => {
                write!(f, "the downgrade to v{to} failed: {error}")
            }
            InstanceFailure::Panicked { during, message } => {
                write!(f, "{during} panicked: {message}")
            }
            InstanceFailure::NotRun(why) => why.fmt(f),
        }
    }
}

impl fmt::Display for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Hook::Export => f.write_str("exporting its state"),
            Hook::Downgrade(to) => write!(f, "the downgrade to v{to}"),
            Hook::Migrate => f.write_str("migrating its state to the new version"),
            Hook::Handover => f.write_str("#[handover]"),
            Hook::Takeover => f.write_str("#[takeover]"),
            Hook::Build => f.write_str("building the instance"),
            Hook::Install => f.write_str("installing the update"),
        }
    }
}

impl fmt::Display for NotRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotRun::GraphFinished => {
                f.write_str("the graph finished before the update could be applied")
            }
            NotRun::StreamFinished => f.write_str("it has already finished its stream"),
            NotRun::NotOnWorker => f.write_str("the instance is not on its worker"),
            NotRun::WorkerStopped(w) => {
                write!(f, "worker {w} has stopped: all its instances have finished")
            }
            NotRun::GraphStopping => f.write_str("an instance panicked; the graph stops"),
            NotRun::InsertedAndChanged => {
                f.write_str("an inserted instance cannot be changed in the same update")
            }
            NotRun::RuntimePanicked => {
                f.write_str("the runtime panicked while installing the new version")
            }
        }
    }
}

impl std::error::Error for InstanceFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            InstanceFailure::Export(e)
            | InstanceFailure::Migrate { error: e, .. }
            | InstanceFailure::Downgrade { error: e, .. } => Some(e),
            _ => None,
        }
    }
}
