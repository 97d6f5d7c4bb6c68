//! Where migrations of large states run (see
//! `reconfig::MIGRATE_OFF_WORKER`): on migrator threads, off the workers. A
//! migration is user code whose cost grows with the state (decoding and
//! converting it); run on a worker it would stop every other instance of
//! that worker's section for its duration. Here only the instance being
//! replaced waits for it, paused at its packet boundary.
//!
//! A job never waits behind another: each one either claims a thread that
//! is idle or starts a new one, so a migration abandoned at its update's
//! deadline (still running, or never returning) delays no later one. The
//! threads stay for the graph's lifetime, as many as ever ran at once.

use crate::sync::{lock, AtomicUsize, Mutex, Ordering};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{mpsc, Arc};

/// A migration to run: builds the new version and reports to its update.
pub(crate) type Job = Box<dyn FnOnce() + Send>;

struct Pool {
    graph: String,
    jobs: mpsc::Sender<Job>,
    /// Shared by the threads, which end once `jobs` is dropped with the
    /// pool.
    queue: Arc<Mutex<mpsc::Receiver<Job>>>,
    /// Threads waiting for a job that no job has claimed yet.
    idle: Arc<AtomicUsize>,
}

/// The handle instances hand their migrations to. The threads end when the
/// last handle is dropped.
#[derive(Clone)]
pub(crate) struct Migrator(Arc<Pool>);

impl Migrator {
    /// The migrators of graph `graph`; threads start on demand.
    pub(crate) fn new(graph: &str) -> Migrator {
        let (jobs, queue) = mpsc::channel();
        Migrator(Arc::new(Pool {
            graph: graph.to_owned(),
            jobs,
            queue: Arc::new(Mutex::new(queue)),
            idle: Arc::new(AtomicUsize::new(0)),
        }))
    }

    /// Runs `job` on a migrator thread, or here if none can be started
    /// (the job still runs exactly once). A panic in it is contained; jobs
    /// catch their user code's panics themselves and report them.
    pub(crate) fn run(&self, job: Job) {
        let pool = &self.0;
        let claimed = pool
            .idle
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok();
        if !claimed && !self.start_thread() {
            return contain(job);
        }
        if let Err(mpsc::SendError(job)) = pool.jobs.send(job) {
            contain(job);
        }
    }

    /// Starts a thread that takes jobs until the pool is dropped.
    fn start_thread(&self) -> bool {
        let (queue, idle) = (self.0.queue.clone(), self.0.idle.clone());
        std::thread::Builder::new()
            .name(format!("evoflow-{}-migrate", self.0.graph))
            .spawn(move || loop {
                let job = lock(&queue).recv();
                let Ok(job) = job else { return };
                contain(job);
                idle.fetch_add(1, Ordering::AcqRel);
            })
            .is_ok()
    }
}

fn contain(job: Job) {
    if let Err(p) = catch_unwind(AssertUnwindSafe(job)) {
        tracing::error!(
            "a migration job panicked outside component code: {}",
            crate::exec::guard::panic_text(p.as_ref())
        );
    }
}
