//! Watched updates: for a while after an update commits, the versions it
//! replaced are kept, as they were at the swap; if a new version panics in
//! that window, the runtime swaps every replaced instance of the update
//! back, as one update with the usual marker protocol.
//!
//! A [`Watch`] is shared by the update's new instances (which report a
//! panic) and the graph's watcher thread (which applies the rollback, or
//! drops the kept versions when the window ends). Whoever moves it out of
//! `WATCHING` first decides: a panic (rollback) or the end of the window.
//!
//! Generic over what a kept version is (`K`), so that this protocol depends
//! on nothing of the executor: `exec::contract` names the instance.

use crate::sync::{lock, AtomicU8, Mutex, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::{Duration, Instant};

const WATCHING: u8 = 0;
const ROLLING_BACK: u8 = 1;
const OVER: u8 = 2;

/// What the watcher thread hears.
pub(crate) enum NoticeOf<K> {
    /// A new watch: drop its kept versions when its window ends.
    Started(Arc<WatchOf<K>>),
    /// A watched instance panicked: roll the update back.
    Panicked {
        watch: Arc<WatchOf<K>>,
        instance: String,
        message: String,
    },
}

/// A replaced version kept by a watch.
pub(crate) struct KeptVersionOf<K> {
    pub instance: String,
    pub incoming: K,
    pub note: RestoreNote,
}

/// One watched update.
pub(crate) struct WatchOf<K> {
    /// The update watched.
    pub update: u64,
    /// The end of the window.
    pub until: Instant,
    /// The instances it replaces: the rollback waits until each has
    /// installed its new version and kept its old one.
    pub instances: Vec<String>,
    state: AtomicU8,
    /// The replaced versions, ready to be swapped back in, with what the
    /// rollback will have done with their state.
    kept: Mutex<Vec<KeptVersionOf<K>>>,
    notices: Sender<NoticeOf<K>>,
}

impl<K> WatchOf<K> {
    pub(crate) fn new(
        update: u64,
        window: Duration,
        instances: Vec<String>,
        notices: Sender<NoticeOf<K>>,
    ) -> Self {
        WatchOf {
            update,
            until: Instant::now() + window,
            instances,
            state: AtomicU8::new(WATCHING),
            kept: Mutex::new(Vec::new()),
            notices,
        }
    }

    /// Keeps the version `instance` had before the update.
    pub(crate) fn keep(&self, instance: &str, old: K, note: RestoreNote) {
        // Checked under the lock that `expire` clears under: a version
        // kept after the window ended would live as long as the watch.
        let mut kept = lock(&self.kept);
        if self.state.load(Ordering::Acquire) != OVER {
            kept.push(KeptVersionOf {
                instance: instance.to_owned(),
                incoming: old,
                note,
            });
        }
    }

    /// A new version of `instance` panicked. True if a rollback is (now)
    /// on its way: the instance should only resume until it arrives.
    pub(crate) fn panicked(self: &Arc<Self>, instance: &str, message: &str) -> bool {
        let started = Instant::now() <= self.until
            && self
                .state
                .compare_exchange(WATCHING, ROLLING_BACK, Ordering::AcqRel, Ordering::Acquire)
                .is_ok();
        if started {
            let sent = self.notices.send(NoticeOf::Panicked {
                watch: self.clone(),
                instance: instance.to_owned(),
                message: message.to_owned(),
            });
            if sent.is_err() {
                // No watcher to roll back: the instance's supervision
                // decides, as after the window.
                self.close();
            }
        }
        self.state.load(Ordering::Acquire) == ROLLING_BACK
    }

    /// The window ended without a panic: frees the kept versions. False if
    /// a rollback got there first.
    pub(crate) fn expire(&self) -> bool {
        let over = self
            .state
            .compare_exchange(WATCHING, OVER, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if over {
            lock(&self.kept).clear();
        }
        over
    }

    /// How many versions are kept now.
    #[cfg(all(loom, test))]
    pub(crate) fn kept(&self) -> usize {
        lock(&self.kept).len()
    }

    /// The kept versions, once every replaced instance has kept its own
    /// (or `deadline` passed: then `None`).
    pub(crate) fn take_kept(&self, deadline: Instant) -> Option<Vec<KeptVersionOf<K>>> {
        loop {
            {
                let mut kept = lock(&self.kept);
                if kept.len() >= self.instances.len() {
                    return Some(std::mem::take(&mut *kept));
                }
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// The rollback is over (done or failed): later panics are the
    /// instances' supervision's again.
    pub(crate) fn close(&self) {
        self.state.store(OVER, Ordering::Release);
        lock(&self.kept).clear();
    }
}

/// What a rollback did with an instance's state, for its report.
pub(crate) type RestoreNote = Arc<Mutex<String>>;
