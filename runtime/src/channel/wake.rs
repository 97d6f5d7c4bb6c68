//! Idle workers park; whoever gives them work wakes them.
//!
//! A worker announces `sleeping` before its final check for work, and a
//! producer publishes work before it looks at `sleeping`. With a SeqCst fence
//! on both sides (Dekker), at least one of them sees the other, so a wake-up
//! can never be lost between the worker's last check and its park.

use crate::sync::{fence, AtomicBool, Ordering, Parker, Unparker};
use std::time::Duration;

/// The waking side of one worker, shared with every producer that feeds it.
#[derive(Debug)]
pub(crate) struct Waker {
    sleeping: AtomicBool,
    unparker: Unparker,
}

impl Waker {
    /// Wakes the worker if it is parked or about to park. Called after work
    /// was published (a push, a pop that freed room, a control request).
    pub(crate) fn notify(&self) {
        fence(Ordering::SeqCst);
        if self.sleeping.load(Ordering::Relaxed) {
            self.unparker.unpark();
        }
    }

    /// Wakes the worker unconditionally (stop, abort).
    pub(crate) fn force(&self) {
        self.unparker.unpark();
    }
}

/// The parking side of one worker, owned by its thread.
pub(crate) struct Sleeper {
    parker: Parker,
    waker: std::sync::Arc<Waker>,
}

impl Sleeper {
    pub(crate) fn new() -> Self {
        let parker = Parker::new();
        let waker = std::sync::Arc::new(Waker {
            sleeping: AtomicBool::new(false),
            unparker: parker.unparker().clone(),
        });
        Sleeper { parker, waker }
    }

    pub(crate) fn waker(&self) -> std::sync::Arc<Waker> {
        self.waker.clone()
    }

    /// Parks unless `has_work` (evaluated after announcing sleep) finds work.
    /// `timeout` bounds the sleep for sections that must poll (idle sources).
    pub(crate) fn park_unless(&self, timeout: Option<Duration>, has_work: impl FnOnce() -> bool) {
        self.waker.sleeping.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        if !has_work() {
            match timeout {
                Some(t) => self.parker.park_timeout(t),
                None => self.parker.park(),
            }
        }
        self.waker.sleeping.store(false, Ordering::Relaxed);
    }
}
