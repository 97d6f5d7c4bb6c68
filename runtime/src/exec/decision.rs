//! The decision of one live update, shared by its instances (which vote by
//! preparing or failing) and the thread that submitted it (which aborts at
//! the deadline).

use crate::channel::wake::Waker;
use crate::model::failure::{InstanceFailure, NotRun};
use crate::sync::{lock, AtomicBool, AtomicU8, Condvar, Mutex, Ordering};
use std::sync::Arc;
use std::time::Instant;

const UNDECIDED: u8 = 0;
const COMMIT: u8 = 1;
const ABORT: u8 = 2;

/// The outcome all instances of an update agree on.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    Undecided,
    Commit,
    Abort,
}

/// Why an update did not complete, as its instances (or its deadline)
/// reported it. The first failure wins.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    /// An instance could not prepare (export, migrate, build) before the
    /// decision: the update aborted and nothing changed.
    Prepare {
        instance: String,
        reason: InstanceFailure,
    },
    /// An instance could not install its change after the update had
    /// committed: it cannot be undone.
    AfterCommit {
        instance: String,
        reason: InstanceFailure,
    },
    /// The deadline passed before these changing instances had prepared:
    /// the update aborted and nothing changed.
    TimedOut { unprepared: Vec<String> },
}

/// Shared by the instances of one update and the thread that submitted it.
///
/// The decision is one atomic, set once (compare-exchange) by whoever
/// settles it: the last instance to prepare (commit), the first to fail,
/// or the submitter at the deadline (abort). Everything else here is
/// control-plane bookkeeping behind mutexes, off the packet path.
pub(crate) struct UpdateSync {
    pub id: u64,
    armed: AtomicBool,
    decision: AtomicU8,
    /// Changing instances that have not prepared yet.
    unprepared: Mutex<Vec<String>>,
    /// The first failure. Recorded under this lock together with the
    /// decision it caused, so a reader sees both or neither.
    failure: Mutex<Option<Failure>>,
    /// Participants not done with the update yet.
    unfinished: Mutex<Vec<String>>,
    finished_cv: Condvar,
    wakers: Vec<Arc<Waker>>,
}

impl UpdateSync {
    /// An update whose `changing` instances must prepare before it commits,
    /// and which is complete once every one of `participants` is done.
    pub(crate) fn new(
        id: u64,
        changing: Vec<String>,
        participants: Vec<String>,
        wakers: Vec<Arc<Waker>>,
    ) -> Self {
        UpdateSync {
            id,
            armed: AtomicBool::new(false),
            decision: AtomicU8::new(if changing.is_empty() {
                COMMIT
            } else {
                UNDECIDED
            }),
            unprepared: Mutex::new(changing),
            failure: Mutex::new(None),
            unfinished: Mutex::new(participants),
            finished_cv: Condvar::new(),
            wakers,
        }
    }

    /// Lets the instances start: every command has been delivered.
    pub(crate) fn arm(&self) {
        self.armed.store(true, Ordering::Release);
        self.wake();
    }

    pub(crate) fn is_armed(&self) -> bool {
        self.armed.load(Ordering::Acquire)
    }

    pub(crate) fn decision(&self) -> Decision {
        match self.decision.load(Ordering::Acquire) {
            UNDECIDED => Decision::Undecided,
            COMMIT => Decision::Commit,
            _ => Decision::Abort,
        }
    }

    fn decide(&self, to: u8) -> bool {
        self.decision
            .compare_exchange(UNDECIDED, to, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    fn wake(&self) {
        self.wakers.iter().for_each(|w| w.force());
    }

    /// Changing instance `instance` is ready; the last one commits.
    pub(crate) fn prepared(&self, instance: &str) {
        let mut unprepared = lock(&self.unprepared);
        unprepared.retain(|n| n != instance);
        if unprepared.is_empty() && self.decide(COMMIT) {
            self.wake();
        }
    }

    /// Reports how `instance`'s preparation ended.
    pub(crate) fn report_prepared(&self, instance: &str, outcome: Result<(), InstanceFailure>) {
        match outcome {
            Ok(()) => self.prepared(instance),
            Err(why) => self.failed(instance, why),
        }
    }

    /// An instance could not install its committed change: the update
    /// cannot be undone, and the graph stops.
    pub(crate) fn broke(&self, instance: &str, reason: InstanceFailure) {
        lock(&self.failure).get_or_insert(Failure::AfterCommit {
            instance: instance.to_owned(),
            reason,
        });
    }

    /// An instance failed. Before the decision this aborts the update;
    /// after a commit it is a failure after the commit, never reported as
    /// a rollback.
    pub(crate) fn failed(&self, instance: &str, reason: InstanceFailure) {
        let mut failure = lock(&self.failure);
        let aborted = self.decide(ABORT);
        let instance = instance.to_owned();
        failure.get_or_insert(if !aborted && self.decision() == Decision::Commit {
            Failure::AfterCommit { instance, reason }
        } else {
            Failure::Prepare { instance, reason }
        });
        drop(failure);
        if aborted {
            self.wake();
        }
    }

    /// The submitter's deadline passed: aborts the update if it is still
    /// undecided, recording which changing instances had not prepared
    /// ([`Failure::TimedOut`]). Returns whether it aborted.
    pub(crate) fn abort_late(&self) -> bool {
        let mut failure = lock(&self.failure);
        // Held across the decision, so that no instance reports prepared in
        // between: the list names exactly those that had not when it aborted.
        let unprepared = lock(&self.unprepared);
        if !self.decide(ABORT) {
            return false;
        }
        *failure = Some(Failure::TimedOut {
            unprepared: unprepared.clone(),
        });
        drop((unprepared, failure));
        self.wake();
        true
    }

    /// An instance's part will never run: the update fails, and the
    /// instance counts as done.
    pub(crate) fn give_up(&self, instance: &str, why: NotRun) {
        self.failed(instance, InstanceFailure::NotRun(why));
        self.finish_one(instance);
    }

    /// Participant `instance` is done with the update.
    pub(crate) fn finish_one(&self, instance: &str) {
        let mut unfinished = lock(&self.unfinished);
        if let Some(i) = unfinished.iter().position(|n| n == instance) {
            unfinished.swap_remove(i);
        }
        if unfinished.is_empty() {
            self.finished_cv.notify_all();
        }
    }

    /// Waits until every participant is done, or until `deadline`.
    /// Returns the participants still not done (empty once complete).
    pub(crate) fn wait_until(&self, deadline: Instant) -> Vec<String> {
        let mut unfinished = lock(&self.unfinished);
        while !unfinished.is_empty() {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            unfinished = self
                .finished_cv
                .wait_timeout(unfinished, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        unfinished.clone()
    }

    /// The failure, if any.
    pub(crate) fn failure(&self) -> Option<Failure> {
        lock(&self.failure).clone()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    /// A part that gives up after the commit (its worker exits before it
    /// installs) is a failure after the commit, never a rollback.
    #[test]
    fn a_failure_after_the_commit_is_not_reported_as_a_rollback() {
        let sync = UpdateSync::new(1, names(&["a", "b"]), names(&["a", "b"]), Vec::new());
        sync.prepared("a");
        sync.prepared("b");
        assert_eq!(sync.decision(), Decision::Commit);
        sync.give_up("b", NotRun::GraphFinished);
        assert!(
            matches!(sync.failure(), Some(Failure::AfterCommit { instance, .. }) if instance == "b")
        );
        assert_eq!(sync.decision(), Decision::Commit);
    }

    /// At the deadline an undecided update aborts and names exactly the
    /// instances that had not prepared; a decided one is left alone.
    #[test]
    fn the_deadline_aborts_only_an_undecided_update() {
        let sync = UpdateSync::new(
            2,
            names(&["a", "b", "c"]),
            names(&["a", "b", "c"]),
            Vec::new(),
        );
        sync.prepared("b");
        assert!(sync.abort_late());
        assert_eq!(sync.decision(), Decision::Abort);
        let timed_out = Failure::TimedOut {
            unprepared: names(&["a", "c"]),
        };
        assert_eq!(sync.failure(), Some(timed_out.clone()));
        // A late preparation cannot turn the abort into a commit.
        sync.prepared("a");
        sync.prepared("c");
        assert_eq!(sync.decision(), Decision::Abort);
        assert_eq!(sync.failure(), Some(timed_out));

        let done = UpdateSync::new(3, names(&["a"]), names(&["a"]), Vec::new());
        done.prepared("a");
        assert!(!done.abort_late());
        assert_eq!(done.decision(), Decision::Commit);
    }

    /// Waiting returns by the deadline with the participants not done.
    #[test]
    fn waiting_is_bounded_by_the_deadline() {
        let sync = UpdateSync::new(4, names(&["a"]), names(&["a", "f"]), Vec::new());
        sync.finish_one("f");
        let t = Instant::now();
        let left = sync.wait_until(t + std::time::Duration::from_millis(30));
        assert_eq!(left, names(&["a"]));
        assert!(t.elapsed() >= std::time::Duration::from_millis(30));
        sync.finish_one("a");
        assert!(sync.wait_until(Instant::now()).is_empty());
    }
}
