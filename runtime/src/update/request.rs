//! What a user asks of a running graph: an [`Update`], and what they get
//! back: an [`UpdateReport`] or an [`UpdateError`].

use crate::exec::contract::Incoming;
use crate::exec::node::IncomingOf;
use crate::model::component::Component;
use crate::model::shape::VersionChange;
use crate::update::refusal::Refusal;
use std::fmt;
use std::time::Duration;

/// One edit of an update.
pub(crate) enum Edit {
    Replace {
        instance: String,
        incoming: Box<dyn Incoming>,
    },
    Insert {
        instance: String,
        worker: Option<usize>,
        incoming: Box<dyn Incoming>,
    },
    Remove {
        instance: String,
    },
    Connect {
        from: String,
        to: String,
        capacity: Option<usize>,
    },
    Disconnect {
        from: String,
        to: String,
    },
}

impl Edit {
    /// The instances the edit changes (both ends of an arc).
    pub(crate) fn instances(&self) -> Vec<&str> {
        match self {
            Edit::Replace { instance, .. }
            | Edit::Insert { instance, .. }
            | Edit::Remove { instance } => vec![instance.as_str()],
            Edit::Connect { from, to, .. } | Edit::Disconnect { from, to } => [from, to]
                .into_iter()
                .map(|p| p.split_once('.').map_or(p.as_str(), |(i, _)| i))
                .collect(),
        }
    }
}

/// A set of changes applied to a running graph together, with the
/// guarantees of the design: nothing lost, duplicated or reordered; no
/// packet of a new version meets an old version of another changed
/// instance; the rest of the graph keeps running; all or nothing.
///
/// Ports are named `"instance.port"`.
/// Every update has a deadline: by then each instance that changes must
/// have prepared (exported, migrated, built its new version), or the update
/// is aborted everywhere and the graph stays exactly as it was.
#[derive(Default)]
#[must_use = "an update does nothing until passed to `Running::update`"]
pub struct Update {
    pub(crate) edits: Vec<Edit>,
    pub(crate) deadline: Option<Duration>,
    pub(crate) watch: Option<Duration>,
}

/// How long an update may take unless [`Update::deadline`] says otherwise:
/// long enough for markers to cross full queues into slow consumers and for
/// large migrations, short enough that a stuck update is noticed.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(10);

impl Update {
    /// An empty update.
    pub fn new() -> Self {
        Update::default()
    }

    /// Sets how long the update may take from submission (default
    /// [`DEFAULT_DEADLINE`]). If a changing instance has not prepared by
    /// then, the update is aborted everywhere and
    /// [`UpdateError::TimedOut`] names the instances that had not.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Watches the update for `window` after it commits: if an instance it
    /// replaced panics in that time, every instance it replaced is swapped
    /// back to the version it replaced, as that version was at the swap
    /// (see [`Rollback`](crate::Rollback)). The panicking packet becomes a
    /// dead letter; the new version only resumes until the rollback is in.
    /// A watched update may only replace instances.
    pub fn watch(mut self, window: Duration) -> Self {
        self.watch = Some(window);
        self
    }

    /// Its deadline.
    pub(crate) fn limit(&self) -> Duration {
        self.deadline.unwrap_or(DEFAULT_DEADLINE)
    }

    /// Replaces `instance` by component `C`, built from the old instance's
    /// exported state through `C`'s migrations.
    pub fn replace<C: Component>(mut self, instance: &str) -> Self {
        let incoming = Box::new(IncomingOf::<C>::migrated());
        self.edits.push(Edit::Replace {
            instance: instance.to_owned(),
            incoming,
        });
        self
    }

    /// Replaces `instance` by `component`, which starts from its own state
    /// (the old state is dropped; resources are still handed over).
    pub fn replace_with<C: Component>(mut self, instance: &str, component: C) -> Self {
        let incoming = Box::new(IncomingOf::fresh(component));
        self.edits.push(Edit::Replace {
            instance: instance.to_owned(),
            incoming,
        });
        self
    }

    /// Inserts a new instance, run by the worker of its first producer.
    pub fn insert<C: Component>(mut self, instance: &str, component: C) -> Self {
        let incoming = Box::new(IncomingOf::fresh(component));
        self.edits.push(Edit::Insert {
            instance: instance.to_owned(),
            worker: None,
            incoming,
        });
        self
    }

    /// Inserts a new instance on worker `worker`.
    pub fn insert_on<C: Component>(mut self, instance: &str, worker: usize, component: C) -> Self {
        let incoming = Box::new(IncomingOf::fresh(component));
        self.edits.push(Edit::Insert {
            instance: instance.to_owned(),
            worker: Some(worker),
            incoming,
        });
        self
    }

    /// Deletes an instance and the arcs at its ports. Its producers and
    /// consumers must be connected elsewhere in the same update.
    pub fn remove(mut self, instance: &str) -> Self {
        self.edits.push(Edit::Remove {
            instance: instance.to_owned(),
        });
        self
    }

    /// Adds an arc `from` (`"a.out"`) -> `to` (`"b.inp"`) with the capacity
    /// of the arc it replaces, or the graph's default.
    pub fn connect(mut self, from: &str, to: &str) -> Self {
        self.edits.push(Edit::Connect {
            from: from.to_owned(),
            to: to.to_owned(),
            capacity: None,
        });
        self
    }

    /// Adds an arc with an explicit capacity.
    pub fn connect_with_capacity(mut self, from: &str, to: &str, capacity: usize) -> Self {
        self.edits.push(Edit::Connect {
            from: from.to_owned(),
            to: to.to_owned(),
            capacity: Some(capacity),
        });
        self
    }

    /// Removes the arc `from` -> `to`.
    pub fn disconnect(mut self, from: &str, to: &str) -> Self {
        self.edits.push(Edit::Disconnect {
            from: from.to_owned(),
            to: to.to_owned(),
        });
        self
    }
}

/// Why an update did not complete. For every variant but
/// [`UpdateError::CommittedUnfinished`] and [`UpdateError::FailedAfterCommit`]
/// (which say so) the graph is exactly as it was before.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UpdateError {
    /// Validation refused it before anything changed.
    Refused(Refusal),
    /// An instance failed to export, migrate or build its new version; every
    /// instance of the update kept its old version and state.
    RolledBack {
        /// The instance that failed.
        instance: String,
        /// What went wrong.
        reason: String,
    },
    /// An instance failed to install its new version after the update had
    /// committed (a `#[handover]` or `#[takeover]` hook panicked): the
    /// update cannot be undone, and the graph stops as after any panic.
    FailedAfterCommit {
        /// The instance that failed.
        instance: String,
        /// What went wrong.
        reason: String,
    },
    /// The deadline passed before these changing instances had prepared
    /// (typically: the update's marker had not reached them yet, behind
    /// full queues, or a migration was still running). The update was
    /// aborted everywhere; every instance kept its old version and state.
    TimedOut {
        /// The update's deadline.
        deadline: Duration,
        /// Changing instances that had not prepared.
        unprepared: Vec<String>,
    },
    /// The update committed, and the new shape is in place, but these
    /// instances had not installed their new version by the deadline
    /// (their worker was busy in a handler); each installs it when its
    /// worker next runs it. Not a rollback.
    CommittedUnfinished {
        /// Instances still to install their change.
        instances: Vec<String>,
    },
    /// An earlier update whose deadline passed is still finishing on these
    /// instances (their worker has not run them since), or another update
    /// held the graph until this one's deadline. Nothing changed; try again.
    Busy {
        /// The earlier update still finishing, if that is the reason.
        update: Option<u64>,
        /// Its instances still to finish.
        instances: Vec<String>,
    },
    /// The graph has finished or aborted.
    NotRunning,
}

impl fmt::Display for UpdateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UpdateError::Refused(why) => write!(f, "update refused, nothing changed: {why}"),
            UpdateError::RolledBack { instance, reason } => {
                write!(
                    f,
                    "update rolled back, nothing changed: instance `{instance}`: {reason}"
                )
            }
            UpdateError::FailedAfterCommit { instance, reason } => write!(
                f,
                "update failed after it committed: instance `{instance}`: {reason}; the graph stops"
            ),
            UpdateError::TimedOut {
                deadline,
                unprepared,
            } => write!(
                f,
                "update aborted, nothing changed: its deadline of {deadline:?} passed before {} had prepared{}",
                names(unprepared),
                if unprepared.is_empty() { " the decision" } else { "" }
            ),
            UpdateError::CommittedUnfinished { instances } => write!(
                f,
                "update committed, but {} had not installed the new version by the deadline; each does when its worker next runs it",
                names(instances)
            ),
            UpdateError::Busy { update: Some(id), instances } => write!(
                f,
                "update refused, nothing changed: update #{id} is still finishing on {} (their worker has not run them since its deadline); try again",
                names(instances)
            ),
            UpdateError::Busy { update: None, .. } => f.write_str(
                "update refused, nothing changed: another update held the graph until this one's deadline; try again",
            ),
            UpdateError::NotRunning => {
                f.write_str("update refused: the graph is no longer running")
            }
        }
    }
}

impl std::error::Error for UpdateError {}

/// "`a`, `b`" for messages.
fn names(list: &[String]) -> String {
    let quoted: Vec<String> = list.iter().map(|n| format!("`{n}`")).collect();
    quoted.join(", ")
}

/// What an applied update changed.
#[derive(Clone, Debug, Default)]
pub struct UpdateReport {
    /// Sequence number of the update in this graph.
    pub id: u64,
    /// Instances that got a new implementation or version.
    pub replaced: Vec<(String, VersionChange)>,
    /// Instances inserted.
    pub inserted: Vec<String>,
    /// Instances removed.
    pub removed: Vec<String>,
    /// Arcs added, as `"a.out -> b.inp"`.
    pub connected: Vec<String>,
    /// Arcs removed.
    pub disconnected: Vec<String>,
    /// Instances that took part (changed, or passed the marker on).
    pub participants: usize,
    /// From submission to the last instance done.
    pub duration: Duration,
}

impl fmt::Display for UpdateReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "update #{} applied in {:?}", self.id, self.duration)?;
        for (name, c) in &self.replaced {
            write!(
                f,
                "; {name}: {} v{} -> {} v{}",
                c.from.0, c.from.1, c.to.0, c.to.1
            )?;
        }
        for (what, list) in [
            ("inserted", &self.inserted),
            ("removed", &self.removed),
            ("connected", &self.connected),
            ("disconnected", &self.disconnected),
        ] {
            if !list.is_empty() {
                write!(f, "; {what} {}", list.join(", "))?;
            }
        }
        Ok(())
    }
}

/// A rollback of a watched update, as it happened.
#[derive(Clone, Debug)]
pub struct Rollback {
    /// The update rolled back.
    pub update: u64,
    /// The instance whose panic triggered it.
    pub instance: String,
    /// Its panic message.
    pub message: String,
    /// The rollback itself: an update that swaps every instance the
    /// watched one replaced back to the version it replaced.
    pub outcome: Result<UpdateReport, UpdateError>,
    /// Per instance, what became of its state: downgraded by the new
    /// version's `#[migrate(down = N)]`, or, without one (or if it
    /// failed), the replaced version as it was at the update (changes
    /// since are lost).
    pub restored: Vec<(String, String)>,
}
