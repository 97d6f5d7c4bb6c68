//! Model checks of the concurrency protocols with loom, over every
//! interleaving: run with
//! `RUSTFLAGS="--cfg loom" cargo test -p evoflow-runtime --release loom`.

use crate::reconfig::{Decision, UpdateSync};
use crate::wake::Sleeper;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;

/// A producer publishes work and notifies; the consumer checks for work and
/// parks. The consumer must never sleep through the work (loom reports a
/// deadlock if it could).
#[test]
fn loom_a_wake_up_is_never_lost() {
    loom::model(|| {
        let sleeper = Sleeper::new();
        let waker = sleeper.waker();
        let work = Arc::new(AtomicUsize::new(0));
        let w = work.clone();
        let producer = thread::spawn(move || {
            w.store(1, Ordering::Release);
            waker.notify();
        });
        while work.load(Ordering::Acquire) == 0 {
            sleeper.park_unless(None, || work.load(Ordering::Acquire) != 0);
        }
        producer.join().unwrap();
    });
}

/// Two changing instances prepare (one may fail) while a forwarder finishes
/// and the submitter waits: the submitter returns only after every instance
/// is done; the update commits exactly when nobody failed, and then the
/// decision was taken only after both had prepared.
#[test]
fn loom_the_update_commits_only_if_everyone_prepared() {
    for fail in [false, true] {
        let mut model = loom::model::Builder::new();
        model.preemption_bound = Some(3);
        model.check(move || {
            let sync = Arc::new(UpdateSync::new(7, 2, 3, Vec::new()));
            let done = Arc::new(AtomicUsize::new(0));
            let part = |failing: bool| {
                let (sync, done) = (sync.clone(), done.clone());
                thread::spawn(move || {
                    if failing {
                        sync.failed("b", "refused".to_owned());
                    } else {
                        assert_ne!(
                            sync.decision(),
                            Decision::Commit,
                            "committed before this instance prepared"
                        );
                        sync.prepared();
                    }
                    done.fetch_add(1, Ordering::SeqCst);
                    sync.finish_one();
                })
            };
            let (a, b) = (part(false), part(fail));
            let forwarder = {
                let (sync, done) = (sync.clone(), done.clone());
                thread::spawn(move || {
                    done.fetch_add(1, Ordering::SeqCst);
                    sync.finish_one();
                })
            };
            sync.arm();
            let outcome = sync.wait();
            assert_eq!(
                done.load(Ordering::SeqCst),
                3,
                "wait returned before every instance was done"
            );
            assert_eq!(sync.decision() == Decision::Abort, fail);
            assert_eq!(outcome.is_err(), fail);
            for t in [a, b, forwarder] {
                t.join().unwrap();
            }
        });
    }
}
