//! One worker thread per section: runs its instances in the schedule's
//! fixed order, backs off when idle, and stops the graph on a panic.

use crate::plan::SectionPlan;
use crate::wake::{Sleeper, Waker};
use crossbeam_utils::Backoff;
use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Packets (or source calls) per instance per visit: large enough to
/// amortise a visit, small enough to keep the pipeline flowing.
const BUDGET: usize = 512;

/// How long a worker whose source is idle (waiting for I/O) sleeps before
/// polling it again.
const POLL_INTERVAL: Duration = Duration::from_micros(200);

/// A panic inside an instance: which one and what it said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Panic {
    /// Instance name as declared in the graph.
    pub instance: String,
    /// The panic message.
    pub message: String,
}

/// State every worker of one running graph shares.
pub(crate) struct Shared {
    /// Set on the first panic: every worker stops.
    pub abort: AtomicBool,
    /// The first panic.
    pub panic: Mutex<Option<Panic>>,
    /// Wakers of all workers, to wake them for stop or abort.
    pub wakers: Vec<Arc<Waker>>,
    /// Set by `Running::stop`: sources end at their next call.
    pub stop: Arc<AtomicBool>,
}

impl Shared {
    fn fail(&self, instance: &str, payload: Box<dyn Any + Send>) {
        let message = if let Some(s) = payload.downcast_ref::<&str>() {
            (*s).to_owned()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            "non-string panic payload".to_owned()
        };
        let mut first = self.panic.lock().unwrap_or_else(|e| e.into_inner());
        first.get_or_insert(Panic {
            instance: instance.to_owned(),
            message,
        });
        drop(first);
        self.abort.store(true, Ordering::Release);
        self.wake_all();
    }

    pub(crate) fn wake_all(&self) {
        self.wakers.iter().for_each(|w| w.force());
    }
}

/// The final states of a section's instances, by name.
pub(crate) type Finals = Vec<(String, Box<dyn Any + Send>)>;

/// A section, ready to run on its own thread.
pub(crate) struct Worker {
    pub plan: SectionPlan,
    pub sleeper: Sleeper,
}

impl Worker {
    /// Builds the section's nodes, then runs them until every instance has
    /// finished or the graph aborts.
    pub(crate) fn run(self, shared: &Shared) -> Finals {
        let mut nodes = self.plan.build(&shared.stop);
        let backoff = Backoff::new();
        while !shared.abort.load(Ordering::Acquire) {
            let (mut progress, mut polling) = (false, false);
            for node in nodes.iter_mut().filter(|n| !n.is_finished()) {
                match catch_unwind(AssertUnwindSafe(|| node.step(BUDGET))) {
                    Ok(step) => {
                        progress |= step.progress;
                        polling |= step.polling;
                    }
                    Err(payload) => {
                        shared.fail(node.name(), payload);
                        return Vec::new();
                    }
                }
            }
            if nodes.iter().all(|n| n.is_finished()) {
                break;
            }
            if progress {
                backoff.reset();
            } else if !backoff.is_completed() {
                backoff.snooze();
            } else {
                let nodes = &mut nodes;
                self.sleeper
                    .park_unless(polling.then_some(POLL_INTERVAL), || {
                        shared.abort.load(Ordering::Acquire)
                            || nodes.iter_mut().any(|n| n.has_work())
                    });
            }
        }
        nodes
            .into_iter()
            .map(|n| (n.name().to_owned(), n.into_component()))
            .collect()
    }
}
