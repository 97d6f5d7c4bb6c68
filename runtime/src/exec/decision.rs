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
    /// An update spanning machines aborted for a reason outside this
    /// machine (another machine refused it, failed or was lost).
    Elsewhere { why: String },
}

/// How the changing instances of a coordinated update stand here, as this
/// machine's vote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Standing {
    /// Every one prepared.
    Prepared,
    /// One failed (the update aborted here; see [`UpdateSync::failure`]).
    Failed,
    /// The deadline came first; these had not prepared.
    Late(Vec<String>),
}

/// Shared by the instances of one update and the thread that submitted it.
///
/// The decision is one atomic, set once (compare-exchange) by whoever
/// settles it: the last instance to prepare (commit), the first to fail,
/// or the submitter at the deadline (abort). Everything else here is
/// control-plane bookkeeping behind mutexes, off the packet path.
pub(crate) struct UpdateSync {
    pub id: u64,
    /// Part of an update spanning machines: the decision is taken outside
    /// (see [`UpdateSync::settle`]), not by the last instance to prepare.
    coordinated: bool,
    /// This machine voted to commit (coordinated only): from then on a
    /// failure here cannot abort the update; the decision settles it.
    voted: AtomicBool,
    armed: AtomicBool,
    decision: AtomicU8,
    /// Changing instances that have not prepared yet.
    unprepared: Mutex<Vec<String>>,
    /// Told when the last one prepares, or one fails (coordinated only).
    standing_cv: Condvar,
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
    /// A coordinated update starts undecided even without changing
    /// instances here: the others decide it.
    pub(crate) fn new(
        id: u64,
        coordinated: bool,
        changing: Vec<String>,
        participants: Vec<String>,
        wakers: Vec<Arc<Waker>>,
    ) -> Self {
        UpdateSync {
            id,
            coordinated,
            voted: AtomicBool::new(false),
            armed: AtomicBool::new(false),
            decision: AtomicU8::new(if changing.is_empty() && !coordinated {
                COMMIT
            } else {
                UNDECIDED
            }),
            unprepared: Mutex::new(changing),
            standing_cv: Condvar::new(),
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

    /// Changing instance `instance` is ready; the last one commits (or,
    /// coordinated, lets this machine vote).
    pub(crate) fn prepared(&self, instance: &str) {
        let mut unprepared = lock(&self.unprepared);
        unprepared.retain(|n| n != instance);
        if !unprepared.is_empty() {
            return;
        }
        if self.coordinated {
            self.standing_cv.notify_all();
        } else if self.decide(COMMIT) {
            self.wake();
        }
    }

    /// Waits (until `deadline`) until every changing instance here has
    /// prepared or one has failed (coordinated updates).
    pub(crate) fn wait_standing(&self, deadline: Instant) -> Standing {
        let mut unprepared = lock(&self.unprepared);
        loop {
            if self.decision() == Decision::Abort {
                return Standing::Failed;
            }
            if unprepared.is_empty() {
                return Standing::Prepared;
            }
            let now = Instant::now();
            if now >= deadline {
                return Standing::Late(unprepared.clone());
            }
            unprepared = self
                .standing_cv
                .wait_timeout(unprepared, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Records that this machine votes to commit, unless a failure came
    /// first (then it must vote to abort). Returns whether it may.
    pub(crate) fn vote_commit(&self) -> bool {
        let failure = lock(&self.failure);
        let may = failure.is_none() && self.decision() == Decision::Undecided;
        self.voted.store(may, Ordering::Release);
        may
    }

    /// The decision taken outside (coordinated updates). A failure here
    /// after this machine voted to commit becomes a failure after the
    /// commit; an abort without a failure here records `elsewhere`.
    pub(crate) fn settle(&self, commit: bool, elsewhere: &str) {
        let mut failure = lock(&self.failure);
        let decided = self.decide(if commit { COMMIT } else { ABORT });
        if commit {
            if let Some(Failure::Prepare { instance, reason }) = failure.take() {
                *failure = Some(Failure::AfterCommit { instance, reason });
            }
        } else if failure.is_none() {
            *failure = Some(Failure::Elsewhere {
                why: elsewhere.to_owned(),
            });
        }
        drop(failure);
        if decided {
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
        // Coordinated, after this machine voted to commit: the others may
        // have committed; the decision settles it.
        let aborted = !self.voted.load(Ordering::Acquire) && self.decide(ABORT);
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
        if self.coordinated {
            drop(lock(&self.unprepared));
            self.standing_cv.notify_all();
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
        let sync = UpdateSync::new(1, false, names(&["a", "b"]), names(&["a", "b"]), Vec::new());
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
            false,
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

        let done = UpdateSync::new(3, false, names(&["a"]), names(&["a"]), Vec::new());
        done.prepared("a");
        assert!(!done.abort_late());
        assert_eq!(done.decision(), Decision::Commit);
    }

    /// Waiting returns by the deadline with the participants not done.
    #[test]
    fn waiting_is_bounded_by_the_deadline() {
        let sync = UpdateSync::new(4, false, names(&["a"]), names(&["a", "f"]), Vec::new());
        sync.finish_one("f");
        let t = Instant::now();
        let left = sync.wait_until(t + std::time::Duration::from_millis(30));
        assert_eq!(left, names(&["a"]));
        assert!(t.elapsed() >= std::time::Duration::from_millis(30));
        sync.finish_one("a");
        assert!(sync.wait_until(Instant::now()).is_empty());
    }
}
