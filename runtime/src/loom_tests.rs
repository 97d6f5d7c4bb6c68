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
            let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect();
            let sync = Arc::new(UpdateSync::new(
                7,
                names(&["a", "b"]),
                names(&["a", "b", "f"]),
                Vec::new(),
            ));
            let done = Arc::new(AtomicUsize::new(0));
            let part = |name: &'static str, failing: bool| {
                let (sync, done) = (sync.clone(), done.clone());
                thread::spawn(move || {
                    if failing {
                        sync.failed(name, "refused".to_owned());
                    } else {
                        assert_ne!(
                            sync.decision(),
                            Decision::Commit,
                            "committed before this instance prepared"
                        );
                        sync.prepared(name);
                    }
                    done.fetch_add(1, Ordering::SeqCst);
                    sync.finish_one(name);
                })
            };
            let (a, b) = (part("a", false), part("b", fail));
            let forwarder = {
                let (sync, done) = (sync.clone(), done.clone());
                thread::spawn(move || {
                    done.fetch_add(1, Ordering::SeqCst);
                    sync.finish_one("f");
                })
            };
            sync.arm();
            // Loom has no time: a timed wait is a wait for the notification.
            let unfinished = sync.wait_until(far_future());
            assert!(unfinished.is_empty());
            let outcome = sync.failure();
            assert_eq!(
                done.load(Ordering::SeqCst),
                3,
                "wait returned before every instance was done"
            );
            assert_eq!(sync.decision() == Decision::Abort, fail);
            assert_eq!(outcome.is_some(), fail);
            for t in [a, b, forwarder] {
                t.join().unwrap();
            }
        });
    }
}

fn far_future() -> std::time::Instant {
    std::time::Instant::now() + std::time::Duration::from_secs(3600)
}
