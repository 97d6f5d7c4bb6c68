//! Where state migrations run: one thread per running graph, off the
//! workers. A migration is user code of unknown cost (deserialising and
//! converting a large state, say); run on a worker it would stop every
//! other instance of that worker's section for its duration. Here only the
//! instance being replaced waits for it, paused at its packet boundary.

use std::sync::mpsc;

/// A migration to run: builds the new version and reports to its update.
pub(crate) type Job = Box<dyn FnOnce() + Send>;

/// The handle instances hand their migrations to.
#[derive(Clone)]
pub(crate) struct Migrator {
    jobs: mpsc::Sender<Job>,
}

impl Migrator {
    /// Starts the migrator thread of graph `graph`. The thread ends when
    /// the last handle is dropped.
    pub(crate) fn spawn(graph: &str) -> std::io::Result<Migrator> {
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name(format!("evoflow-{graph}-migrate"))
            .spawn(move || queue.into_iter().for_each(|job| job()))?;
        Ok(Migrator { jobs })
    }

    /// Under loom, whose models may not start threads of their own: every
    /// job runs where it is handed over.
    #[cfg(loom)]
    pub(crate) fn inline() -> Migrator {
        Migrator {
            jobs: mpsc::channel().0,
        }
    }

    /// Runs `job` on the migrator thread, or here if that thread is gone
    /// (the job still runs exactly once).
    pub(crate) fn run(&self, job: Job) {
        if let Err(mpsc::SendError(job)) = self.jobs.send(job) {
            job()
        }
    }
}
