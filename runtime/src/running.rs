//! Running a graph: one thread per section, a handle to stop, wait for,
//! inspect and update it, and the final report.

use crate::exec::contract::Env;
use crate::exec::migrate::Migrator;
use crate::exec::readiness::Readiness;
use crate::exec::worker::{Finals, Panic, Shared};
use crate::graph::Graph;
use crate::model::schedule::Schedule;
use crate::model::shape::InstanceStatus;
use crate::model::supervise::DeadLetter;
use crate::sync::{lock, AtomicBool, AtomicUsize, Mutex, Ordering};
use crate::update::control::Control;
use crate::update::evolve::{Evolution, EvolutionError};
use crate::update::request::{Rollback, Update, UpdateError, UpdateReport};
use crate::update::watcher;
use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::thread::JoinHandle;

/// Why a run failed.
#[derive(Debug)]
pub enum RunError {
    /// An instance panicked; the other workers were stopped.
    Panicked(Panic),
    /// A worker thread could not be started.
    Spawn(std::io::Error),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Panicked(p) => {
                write!(f, "instance `{}` panicked: {}", p.instance, p.message)?;
                if !p.earlier.is_empty() {
                    write!(f, "; earlier panics: {}", p.earlier.join("; "))?;
                }
                Ok(())
            }
            RunError::Spawn(e) => write!(f, "cannot start a worker thread: {e}"),
        }
    }
}

impl std::error::Error for RunError {}

impl Graph {
    /// Starts one worker thread per non-empty section.
    pub fn run(self) -> Result<Running, RunError> {
        let shared = Arc::new(Shared {
            abort: AtomicBool::new(false),
            panic: Mutex::new(None),
            wakers: self.workers.iter().map(|w| w.sleeper.waker()).collect(),
            readiness: Readiness::new(self.workers.iter().map(|w| w.sleeper.waker()).collect()),
            env: Arc::new(Env {
                supervision: self.supervision,
                ..Env::default()
            }),
            running: AtomicUsize::new(self.workers.len()),
        });
        let migrator = Migrator::new(&self.control.name);
        let (notices, heard) = std::sync::mpsc::channel();
        let control = Arc::new(Control::new(
            self.control,
            self.workers.iter().map(|w| w.mailbox.clone()).collect(),
            shared.wakers.clone(),
            migrator,
            notices,
        ));
        let name = control.schedule().name;
        watcher::spawn(&name, Arc::downgrade(&control), heard).map_err(RunError::Spawn)?;
        let mut threads = Vec::with_capacity(self.workers.len());
        for (i, worker) in self.workers.into_iter().enumerate() {
            let sh = shared.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("evoflow-{name}-{i}"))
                .spawn(move || worker.run(&sh));
            match spawned {
                Ok(t) => threads.push(t),
                Err(e) => {
                    shared.abort.store(true, Ordering::Release);
                    shared.wake_all();
                    threads.into_iter().for_each(|t| drop(t.join()));
                    return Err(RunError::Spawn(e));
                }
            }
        }
        Ok(Running {
            control,
            threads,
            shared,
        })
    }

    /// Runs the graph until its sources are done and it has drained.
    pub fn run_to_end(self) -> Result<Report, RunError> {
        self.run()?.join()
    }
}

/// A running graph. Dropping it stops the graph and waits for it to drain
/// (see the `Drop` impl); `join` waits for the end without stopping it.
pub struct Running {
    control: Arc<Control>,
    threads: Vec<JoinHandle<Finals>>,
    shared: Arc<Shared>,
}

impl Running {
    /// The schedule the graph runs with now (updates change it).
    pub fn schedule(&self) -> Schedule {
        self.control.schedule()
    }

    /// Every instance with its current version and version history.
    pub fn instances(&self) -> Vec<InstanceStatus> {
        self.control.instances()
    }

    /// Applies a live update and waits until it is complete: every
    /// instance it touches has passed its marker. Other instances keep
    /// running throughout, and it returns by the update's deadline. On
    /// error the graph is exactly as before, except after the two errors
    /// that say the update committed ([`UpdateError::CommittedUnfinished`],
    /// [`UpdateError::FailedAfterCommit`]).
    pub fn update(&self, update: Update) -> Result<UpdateReport, UpdateError> {
        if self.shared.abort.load(Ordering::Acquire) || self.is_finished() {
            return Err(UpdateError::NotRunning);
        }
        self.control.apply(update)
    }

    /// How this graph would become `target` (typically the graph of a
    /// rebuilt program): what each instance's fate is, and the update that
    /// does it. Nothing changes until that update is applied.
    pub fn evolution(&self, target: Graph) -> Result<Evolution, EvolutionError> {
        self.control.evolution(target.into_parts())
    }

    /// Asks every source to finish at its next call; the graph then drains
    /// (every packet already emitted is still processed) and `join` returns.
    pub fn stop(&self) {
        self.shared.env.stop.store(true, Ordering::Release);
        self.shared.wake_all();
    }

    /// The most recent dead letters (at most [`DEAD_LETTERS`](crate::DEAD_LETTERS)), oldest
    /// first, and how many there have been in all.
    pub fn dead_letters(&self) -> (Vec<DeadLetter>, u64) {
        self.shared.env.dead_letters.read()
    }

    /// The most recent rollbacks of watched updates (at most
    /// [`HISTORY`](crate::HISTORY)), oldest first.
    pub fn rollbacks(&self) -> Vec<Rollback> {
        self.control.rollbacks()
    }

    /// True once every worker has finished.
    pub fn is_finished(&self) -> bool {
        self.threads.iter().all(JoinHandle::is_finished)
    }

    /// Waits until the graph has drained, or for the first panic.
    pub fn join(mut self) -> Result<Report, RunError> {
        let mut components = HashMap::new();
        for t in std::mem::take(&mut self.threads) {
            // Workers catch component panics, so a join error would be a
            // bug in the runtime itself.
            let finals = t
                .join()
                .expect("evoflow worker thread panicked outside a component");
            components.extend(finals);
        }
        if let Some(p) = lock(&self.shared.panic).take() {
            return Err(RunError::Panicked(p));
        }
        Ok(Report { components })
    }
}

impl Drop for Running {
    /// Stops the graph and waits for it to drain, as [`Running::stop`] and
    /// [`Running::join`] (whose report is dropped): a graph whose handle is
    /// gone must not keep running unseen. While the dropping thread is
    /// unwinding from a panic, the workers are told to abort at their next
    /// step and are not waited for, so that a failing caller fails rather
    /// than hangs.
    fn drop(&mut self) {
        if self.threads.is_empty() {
            return;
        }
        if std::thread::panicking() {
            self.shared.abort.store(true, Ordering::Release);
            self.shared.wake_all();
            return;
        }
        self.stop();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// The instances of a finished graph, with their final state.
pub struct Report {
    components: HashMap<String, Box<dyn Any + Send>>,
}

impl Report {
    /// Takes instance `name` out of the report, if it exists and is a `C`.
    pub fn take<C: 'static>(&mut self, name: &str) -> Option<C> {
        let c = self.components.remove(name)?;
        match c.downcast::<C>() {
            Ok(c) => Some(*c),
            Err(c) => {
                self.components.insert(name.to_owned(), c);
                None
            }
        }
    }
}
