//! Running a graph: one thread per section, a handle to stop, wait for,
//! inspect and update it, and the final report.

use crate::exec::contract::Env;
use crate::exec::migrate::Migrator;
use crate::exec::readiness::Readiness;
use crate::exec::worker::{Finals, Panic, Shared};
use crate::graph::Graph;
use crate::model::schedule::Schedule;
use crate::model::shape::{InstanceStatus, Shape};
use crate::model::supervise::DeadLetter;
use crate::sync::{lock, AtomicBool, AtomicUsize, Mutex, Ordering};
use crate::update::control::Control;
use crate::update::evolve::{Evolution, EvolutionError};
use crate::update::request::{Rollback, Update, UpdateError, UpdateReport};
use crate::update::span::Coordinator;
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
    /// The epoll set through which workers wait for readable descriptors
    /// (`Flow::readable`), or its thread, could not be made.
    Readiness(std::io::Error),
    /// The graph was halted through a [`Stopper`]: what it depends on outside
    /// this process failed (a machine it runs with was lost).
    Halted(String),
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
            RunError::Halted(why) => write!(f, "halted: {why}"),
            RunError::Readiness(e) => write!(
                f,
                "cannot set up waiting for readable descriptors (epoll, eventfd, a thread): {e}"
            ),
        }
    }
}

impl std::error::Error for RunError {}

/// The CPU to pin each worker of `shape` to, one each in order (none for
/// the dedicated ones): none at all if this process may use fewer CPUs
/// than there are workers.
fn pins(shape: &Shape) -> Vec<Option<core_affinity::CoreId>> {
    let pinned = |w: usize| !shape.is_dedicated(w);
    let workers = (0..shape.workers).filter(|&w| pinned(w)).count();
    let cpus = core_affinity::get_core_ids().unwrap_or_default();
    if cpus.len() < workers {
        tracing::warn!(
            "{workers} workers, {} CPUs this process may use: the workers are not pinned",
            cpus.len()
        );
        return vec![None; shape.workers];
    }
    let mut cpus = cpus.into_iter();
    (0..shape.workers)
        .map(|w| pinned(w).then(|| cpus.next()).flatten())
        .collect()
}

impl Graph {
    /// Starts the graph: one worker thread per section (an empty one too:
    /// updates may insert instances on it) and a thread that watches
    /// updates. Returns at once; the graph runs until [`Running::stop`],
    /// the end of its sources, or a panic that stops it.
    ///
    /// ```
    /// # use evoflow::{component, graph, Flow, Outputs, Update, UpdateError};
    /// # struct Ticks { next: u64 }
    /// # #[component(outputs(out: u64))]
    /// # impl Ticks {
    /// #     #[source]
    /// #     fn emit(&mut self, out: &mut Outputs<Self>) -> Flow {
    /// #         out.out(self.next); // until `stop`
    /// #         self.next += 1;
    /// #         Flow::Continue
    /// #     }
    /// # }
    /// # #[derive(Default)]
    /// # struct Sum { total: u64 }
    /// # #[component]
    /// # impl Sum {
    /// #     #[input]
    /// #     fn inp(&mut self, x: u64) { self.total += x; }
    /// # }
    /// let running = graph! {
    ///     ticks: Ticks = Ticks { next: 0 };
    ///     sum: Sum;
    ///     ticks.out -> sum.inp;
    /// }
    /// .run()
    /// .unwrap();
    /// assert!(!running.is_finished()); // `ticks` goes on until `stop`
    /// assert_eq!(running.instances().len(), 2);
    /// running.stop();
    /// running.join().unwrap();
    /// ```
    pub fn run(self) -> Result<Running, RunError> {
        let readiness = Readiness::start(self.workers.iter().map(|w| w.sleeper.waker()).collect())
            .map_err(RunError::Readiness)?;
        let shared = Arc::new(Shared {
            abort: AtomicBool::new(false),
            panic: Mutex::new(None),
            halted: Mutex::new(None),
            wakers: self.workers.iter().map(|w| w.sleeper.waker()).collect(),
            readiness,
            env: Arc::new(Env {
                supervision: self.supervision,
                ..Env::default()
            }),
            running: AtomicUsize::new(self.workers.len()),
        });
        let migrator = Migrator::new(&self.control.name);
        let (notices, heard) = std::sync::mpsc::channel();
        let pins = match self.pin {
            true => pins(&self.control),
            false => Vec::new(),
        };
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
            let cpu = pins.get(i).copied().flatten();
            let spawned = std::thread::Builder::new()
                .name(format!("evoflow-{name}-{i}"))
                .spawn(move || {
                    if let Some(cpu) = cpu {
                        if !core_affinity::set_for_current(cpu) {
                            tracing::warn!("worker {i} could not be pinned to CPU {}", cpu.id);
                        }
                    }
                    worker.run(&sh)
                });
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

    /// Runs the graph until its sources are done and it has drained:
    /// [`Graph::run`] then [`Running::join`].
    ///
    /// ```
    /// # use evoflow::{component, graph, Flow, Outputs};
    /// # struct Count { next: u64 }
    /// # #[component(outputs(out: u64))]
    /// # impl Count {
    /// #     #[source]
    /// #     fn emit(&mut self, out: &mut Outputs<Self>) -> Flow {
    /// #         if self.next == 100 { return Flow::Done; }
    /// #         out.out(self.next);
    /// #         self.next += 1;
    /// #         Flow::Continue
    /// #     }
    /// # }
    /// # #[derive(Default)]
    /// # struct Sum { total: u64 }
    /// # #[component]
    /// # impl Sum {
    /// #     #[input]
    /// #     fn inp(&mut self, x: u64) { self.total += x; }
    /// # }
    /// let mut report = graph! {
    ///     count: Count = Count { next: 0 };
    ///     sum: Sum;
    ///     count.out -> sum.inp;
    /// }
    /// .run_to_end()
    /// .unwrap();
    /// assert_eq!(report.take::<Sum>("sum").unwrap().total, (0..100).sum::<u64>());
    /// ```
    pub fn run_to_end(self) -> Result<Report, RunError> {
        self.run()?.join()
    }
}

/// A running graph. Dropping it stops the graph (see the `Drop` impl);
/// `join` waits for the end without stopping it.
#[must_use = "dropping the handle stops the graph: keep it while the graph should run, or `join` it"]
pub struct Running {
    control: Arc<Control>,
    threads: Vec<JoinHandle<Finals>>,
    shared: Arc<Shared>,
}

impl Running {
    /// The schedule the graph runs with now (updates change it).
    ///
    /// ```
    /// # use evoflow::{component, graph, Flow, Outputs, Update, UpdateError};
    /// # struct Ticks { next: u64 }
    /// # #[component(outputs(out: u64))]
    /// # impl Ticks {
    /// #     #[source]
    /// #     fn emit(&mut self, out: &mut Outputs<Self>) -> Flow {
    /// #         out.out(self.next); // until `stop`
    /// #         self.next += 1;
    /// #         Flow::Continue
    /// #     }
    /// # }
    /// # #[derive(Default)]
    /// # struct Sum { total: u64 }
    /// # #[component]
    /// # impl Sum {
    /// #     #[input]
    /// #     fn inp(&mut self, x: u64) { self.total += x; }
    /// # }
    /// # #[derive(Default)]
    /// # struct Double;
    /// # #[component(outputs(out: u64))]
    /// # impl Double {
    /// #     #[input]
    /// #     fn inp(&mut self, x: u64, out: &mut Outputs<Self>) { out.out(2 * x); }
    /// # }
    /// let running = graph! {
    ///     ticks: Ticks = Ticks { next: 0 };
    ///     double: Double;
    ///     sum: Sum;
    ///     ticks.out -> double.inp;
    ///     double.out -> sum.inp;
    /// }
    /// .run()
    /// .unwrap();
    /// running
    ///     .update(Update::new().remove("double").connect("ticks.out", "sum.inp"))
    ///     .unwrap();
    /// let schedule = running.schedule();
    /// let names: Vec<&str> = schedule.sections[0].iter().map(|i| i.name.as_str()).collect();
    /// assert_eq!(names, ["ticks", "sum"]);
    /// assert_eq!(schedule.arcs.len(), 1);
    /// # running.stop();
    /// # running.join().unwrap();
    /// ```
    pub fn schedule(&self) -> Schedule {
        self.control.schedule()
    }

    /// Every instance with its current version and version history.
    ///
    /// ```
    /// # use evoflow::{component, graph, Flow, Outputs, Update, UpdateError};
    /// # struct Ticks { next: u64 }
    /// # #[component(outputs(out: u64))]
    /// # impl Ticks {
    /// #     #[source]
    /// #     fn emit(&mut self, out: &mut Outputs<Self>) -> Flow {
    /// #         out.out(self.next); // until `stop`
    /// #         self.next += 1;
    /// #         Flow::Continue
    /// #     }
    /// # }
    /// # #[derive(Default)]
    /// # struct Sum { total: u64 }
    /// # #[component]
    /// # impl Sum {
    /// #     #[input]
    /// #     fn inp(&mut self, x: u64) { self.total += x; }
    /// # }
    /// # #[derive(Default)]
    /// # struct SumV2 { total: u64 }
    /// # #[component(version = 2)]
    /// # impl SumV2 {
    /// #     #[input]
    /// #     fn inp(&mut self, x: u64) { self.total += x; }
    /// # }
    /// let running = graph! {
    ///     ticks: Ticks = Ticks { next: 0 };
    ///     sum: Sum;
    ///     ticks.out -> sum.inp;
    /// }
    /// .run()
    /// .unwrap();
    /// running.update(Update::new().replace_with("sum", SumV2::default())).unwrap();
    /// let sum = running.instances().into_iter().find(|i| i.name == "sum").unwrap();
    /// assert_eq!((sum.version, sum.changes), (2, 1));
    /// assert_eq!(sum.history[0].from.1, 1);
    /// # running.stop();
    /// # running.join().unwrap();
    /// ```
    pub fn instances(&self) -> Vec<InstanceStatus> {
        self.control.instances()
    }

    /// Applies a live update and waits until it is complete: every
    /// instance it touches has passed its marker. Other instances keep
    /// running throughout, and it returns by the update's deadline. On
    /// error the graph is exactly as before, except after the two errors
    /// that say the update committed ([`UpdateError::CommittedUnfinished`],
    /// [`UpdateError::FailedAfterCommit`]).
    ///
    /// ```
    /// # use evoflow::{component, graph, Flow, Outputs, Update, UpdateError};
    /// # struct Ticks { next: u64 }
    /// # #[component(outputs(out: u64))]
    /// # impl Ticks {
    /// #     #[source]
    /// #     fn emit(&mut self, out: &mut Outputs<Self>) -> Flow {
    /// #         out.out(self.next); // until `stop`
    /// #         self.next += 1;
    /// #         Flow::Continue
    /// #     }
    /// # }
    /// # #[derive(Default)]
    /// # struct Sum { total: u64 }
    /// # #[component]
    /// # impl Sum {
    /// #     #[input]
    /// #     fn inp(&mut self, x: u64) { self.total += x; }
    /// # }
    /// # #[derive(Default)]
    /// # struct SumV2 { total: u64 }
    /// # #[component(version = 2)]
    /// # impl SumV2 {
    /// #     #[input]
    /// #     fn inp(&mut self, x: u64) { self.total += x; }
    /// # }
    /// let running = graph! {
    ///     ticks: Ticks = Ticks { next: 0 };
    ///     sum: Sum;
    ///     ticks.out -> sum.inp;
    /// }
    /// .run()
    /// .unwrap();
    /// let report = running.update(Update::new().replace_with("sum", SumV2::default())).unwrap();
    /// println!("{report}"); // update #1 applied in ...; sum: Sum v1 -> SumV2 v2
    /// assert_eq!(report.participants, 1);
    ///
    /// let typo = running.update(Update::new().replace_with("summ", Sum::default()));
    /// assert!(matches!(typo, Err(UpdateError::Refused(_))), "{typo:?}");
    /// # running.stop();
    /// # running.join().unwrap();
    /// ```
    pub fn update(&self, update: Update) -> Result<UpdateReport, UpdateError> {
        if self.shared.abort.load(Ordering::Acquire) || self.is_finished() {
            return Err(UpdateError::NotRunning);
        }
        self.control.apply(update)
    }

    /// How this graph would become `target` (typically the graph of a
    /// rebuilt program): what each instance's fate is, and the update that
    /// does it. Nothing changes until that update is applied. Fails if
    /// `target` has another number of workers, or would hand an
    /// instance's state to another component (state only migrates between
    /// versions of one component).
    ///
    /// ```
    /// # use evoflow::{component, graph, Fate, Flow, Outputs};
    /// # struct Ticks { next: u64 }
    /// # #[component(outputs(out: u64))]
    /// # impl Ticks {
    /// #     #[source]
    /// #     fn emit(&mut self, out: &mut Outputs<Self>) -> Flow {
    /// #         out.out(self.next); // until `stop`
    /// #         self.next += 1;
    /// #         Flow::Continue
    /// #     }
    /// # }
    /// # #[derive(Default)]
    /// # struct Sum { total: u64 }
    /// # #[component]
    /// # impl Sum {
    /// #     #[input]
    /// #     fn inp(&mut self, x: u64) { self.total += x; }
    /// # }
    /// # #[derive(Default)]
    /// # struct SumV2 { total: u64 }
    /// # #[component(version = 2)]
    /// # impl SumV2 {
    /// #     #[input]
    /// #     fn inp(&mut self, x: u64) { self.total += x; }
    /// # }
    /// # #[derive(Default)]
    /// # struct Double;
    /// # #[component(outputs(out: u64))]
    /// # impl Double {
    /// #     #[input]
    /// #     fn inp(&mut self, x: u64, out: &mut Outputs<Self>) { out.out(2 * x); }
    /// # }
    /// let running = graph! {
    ///     ticks: Ticks = Ticks { next: 0 };
    ///     sum: Sum;
    ///     ticks.out -> sum.inp;
    /// }
    /// .run()
    /// .unwrap();
    /// // The rebuilt program: `sum` at version 2, behind a new `double`.
    /// let target = graph! {
    ///     ticks: Ticks = Ticks { next: 0 };
    ///     double: Double;
    ///     sum: SumV2;
    ///     ticks.out -> double.inp;
    ///     double.out -> sum.inp;
    /// };
    /// let evolution = running.evolution(target).unwrap();
    /// for i in &evolution.instances {
    ///     println!("{}: {:?}", i.name, i.fate); // ticks: Kept, double: Inserted, ...
    /// }
    /// let fate = |name: &str| evolution.instances.iter().find(|i| i.name == name).unwrap().fate;
    /// assert_eq!(fate("ticks"), Fate::Kept);
    /// assert_eq!(fate("double"), Fate::Inserted);
    /// assert_eq!(fate("sum"), Fate::Replaced { migrated: false });
    ///
    /// running.update(evolution.into_update()).unwrap();
    /// # running.stop();
    /// # running.join().unwrap();
    /// ```
    pub fn evolution(&self, target: Graph) -> Result<Evolution, EvolutionError> {
        self.control.evolution(target.into_parts())
    }

    /// Asks the graph to finish: sources and `#[poll]` methods are not
    /// called again (a worker in the middle of a run of calls sees the
    /// stop within 16 of them); the graph then drains (every packet
    /// already emitted is still handled) and [`Running::join`] returns.
    /// Draining takes as long as handling what is queued — behind a slow
    /// consumer, up to its arcs' capacity times its time a packet; to end
    /// without draining, halt ([`Stopper::halt`] through
    /// [`Running::stopper`]).
    ///
    /// ```
    /// # use evoflow::{component, graph, Flow, Outputs, Update, UpdateError};
    /// # struct Ticks { next: u64 }
    /// # #[component(outputs(out: u64))]
    /// # impl Ticks {
    /// #     #[source]
    /// #     fn emit(&mut self, out: &mut Outputs<Self>) -> Flow {
    /// #         out.out(self.next); // until `stop`
    /// #         self.next += 1;
    /// #         Flow::Continue
    /// #     }
    /// # }
    /// # #[derive(Default)]
    /// # struct Sum { total: u64 }
    /// # #[component]
    /// # impl Sum {
    /// #     #[input]
    /// #     fn inp(&mut self, x: u64) { self.total += x; }
    /// # }
    /// let running = graph! {
    ///     ticks: Ticks = Ticks { next: 0 };
    ///     sum: Sum;
    ///     ticks.out -> sum.inp;
    /// }
    /// .run()
    /// .unwrap();
    /// running.stop();
    /// let mut report = running.join().unwrap();
    /// let sent = report.take::<Ticks>("ticks").unwrap().next;
    /// // Every packet sent before the stop was handled.
    /// assert_eq!(report.take::<Sum>("sum").unwrap().total, (0..sent).sum::<u64>());
    /// ```
    pub fn stop(&self) {
        self.stopper().stop();
    }

    /// A handle that stops or halts the graph from another thread: for
    /// what watches something the graph depends on outside this process.
    pub fn stopper(&self) -> Stopper {
        Stopper(self.shared.clone())
    }

    /// A handle that takes part in updates spanning machines from another
    /// thread: for the machines layer, whose coordination thread applies
    /// this machine's part of updates other machines start.
    pub fn updater(&self) -> Updater {
        Updater {
            control: self.control.clone(),
            shared: self.shared.clone(),
        }
    }

    /// The most recent dead letters (at most [`DEAD_LETTERS`](crate::DEAD_LETTERS)), oldest
    /// first, and how many there have been in all.
    ///
    /// ```
    /// # use evoflow::{component, graph, Flow, Outputs};
    /// # struct Count { next: u64 }
    /// # #[component(outputs(out: u64))]
    /// # impl Count {
    /// #     #[source]
    /// #     fn emit(&mut self, out: &mut Outputs<Self>) -> Flow {
    /// #         if self.next == 100 { return Flow::Done; }
    /// #         out.out(self.next);
    /// #         self.next += 1;
    /// #         Flow::Continue
    /// #     }
    /// # }
    /// # /// Counts what it handled; panics on 13.
    /// # #[derive(Default)]
    /// # struct Picky { seen: u64 }
    /// # #[component]
    /// # impl Picky {
    /// #     #[input]
    /// #     fn inp(&mut self, x: u64) {
    /// #         assert!(x != 13, "13 is unlucky");
    /// #         self.seen += 1;
    /// #     }
    /// # }
    /// # std::panic::set_hook(Box::new(|_| {})); // the panics are expected
    /// let running = graph! {
    ///     on_panic = resume;
    ///     count: Count = Count { next: 0 };
    ///     picky: Picky;
    ///     count.out -> picky.inp;
    /// }
    /// .run()
    /// .unwrap();
    /// while !running.is_finished() { std::thread::yield_now(); }
    ///
    /// let (letters, count) = running.dead_letters();
    /// assert_eq!(count, 1);
    /// assert_eq!(letters[0].instance, "picky");
    /// assert_eq!(letters[0].message, "13 is unlucky");
    /// assert_eq!(letters[0].outcome, "resumed");
    /// // Resumed: the run succeeds, and only packet 13 was lost.
    /// let mut report = running.join().unwrap();
    /// assert_eq!(report.take::<Picky>("picky").unwrap().seen, 99);
    /// ```
    pub fn dead_letters(&self) -> (Vec<DeadLetter>, u64) {
        self.shared.env.dead_letters.read()
    }

    /// The most recent rollbacks of watched updates (at most
    /// [`HISTORY`](crate::HISTORY)), oldest first.
    ///
    /// ```
    /// # use evoflow::{component, graph, Flow, Outputs, Update, UpdateError};
    /// # use std::time::Duration;
    /// # struct Ticks { next: u64 }
    /// # #[component(outputs(out: u64))]
    /// # impl Ticks {
    /// #     #[source]
    /// #     fn emit(&mut self, out: &mut Outputs<Self>) -> Flow {
    /// #         out.out(self.next); // until `stop`
    /// #         self.next += 1;
    /// #         Flow::Continue
    /// #     }
    /// # }
    /// # #[derive(Default)]
    /// # struct Sum { total: u64 }
    /// # #[component]
    /// # impl Sum {
    /// #     #[input]
    /// #     fn inp(&mut self, x: u64) { self.total += x; }
    /// # }
    /// # #[derive(Default)]
    /// # struct Broken;
    /// # #[component(version = 2)]
    /// # impl Broken {
    /// #     #[input]
    /// #     fn inp(&mut self, _x: u64) { panic!("broken"); }
    /// # }
    /// # std::panic::set_hook(Box::new(|_| {})); // the panics are expected
    /// let running = graph! {
    ///     ticks: Ticks = Ticks { next: 0 };
    ///     sum: Sum;
    ///     ticks.out -> sum.inp;
    /// }
    /// .run()
    /// .unwrap();
    /// // `Broken` panics on its first packet.
    /// let update = Update::new().replace_with("sum", Broken).watch(Duration::from_secs(60));
    /// running.update(update).unwrap();
    /// while running.rollbacks().is_empty() { std::thread::yield_now(); }
    ///
    /// let rollback = &running.rollbacks()[0];
    /// assert_eq!((rollback.instance.as_str(), rollback.message.as_str()), ("sum", "broken"));
    /// assert_eq!(rollback.outcome.as_ref().unwrap().replaced[0].1.to.0, "Sum");
    /// # let _ = std::panic::take_hook();
    /// # running.stop();
    /// # running.join().unwrap();
    /// ```
    pub fn rollbacks(&self) -> Vec<Rollback> {
        self.control.rollbacks()
    }

    /// True once every worker has finished (the graph drained or stopped
    /// after a panic); [`Running::join`] then returns at once.
    ///
    /// ```
    /// # use evoflow::{component, graph, Flow, Outputs, Update, UpdateError};
    /// # struct Ticks { next: u64 }
    /// # #[component(outputs(out: u64))]
    /// # impl Ticks {
    /// #     #[source]
    /// #     fn emit(&mut self, out: &mut Outputs<Self>) -> Flow {
    /// #         out.out(self.next); // until `stop`
    /// #         self.next += 1;
    /// #         Flow::Continue
    /// #     }
    /// # }
    /// # #[derive(Default)]
    /// # struct Sum { total: u64 }
    /// # #[component]
    /// # impl Sum {
    /// #     #[input]
    /// #     fn inp(&mut self, x: u64) { self.total += x; }
    /// # }
    /// let running = graph! {
    ///     ticks: Ticks = Ticks { next: 0 };
    ///     sum: Sum;
    ///     ticks.out -> sum.inp;
    /// }
    /// .run()
    /// .unwrap();
    /// running.stop();
    /// while !running.is_finished() { std::thread::yield_now(); }
    ///
    /// let late = running.update(Update::new().replace_with("sum", Sum::default()));
    /// assert!(matches!(late, Err(UpdateError::NotRunning)), "{late:?}");
    /// # running.join().unwrap();
    /// ```
    pub fn is_finished(&self) -> bool {
        self.threads.iter().all(JoinHandle::is_finished)
    }

    /// Waits until every worker has finished: the graph drained, or an
    /// instance panicked and the graph stopped, which it returns as
    /// [`RunError::Panicked`].
    ///
    /// ```
    /// # use evoflow::{component, graph, Flow, Outputs, RunError};
    /// # struct Count { next: u64 }
    /// # #[component(outputs(out: u64))]
    /// # impl Count {
    /// #     #[source]
    /// #     fn emit(&mut self, out: &mut Outputs<Self>) -> Flow {
    /// #         if self.next == 100 { return Flow::Done; }
    /// #         out.out(self.next);
    /// #         self.next += 1;
    /// #         Flow::Continue
    /// #     }
    /// # }
    /// # /// Counts what it handled; panics on 13.
    /// # #[derive(Default)]
    /// # struct Picky { seen: u64 }
    /// # #[component]
    /// # impl Picky {
    /// #     #[input]
    /// #     fn inp(&mut self, x: u64) {
    /// #         assert!(x != 13, "13 is unlucky");
    /// #         self.seen += 1;
    /// #     }
    /// # }
    /// # std::panic::set_hook(Box::new(|_| {})); // the panics are expected
    /// let running = graph! {
    ///     count: Count = Count { next: 0 };
    ///     picky: Picky;
    ///     count.out -> picky.inp;
    /// }
    /// .run()
    /// .unwrap();
    /// match running.join() {
    ///     Err(RunError::Panicked(p)) => assert_eq!(p.instance, "picky"),
    ///     Err(e) => panic!("{e}"),
    ///     Ok(_) => panic!("packet 13 stops the graph"),
    /// }
    /// ```
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
        // Cloned, not taken: a `Stopper` still says why the graph failed.
        if let Some(p) = lock(&self.shared.panic).clone() {
            return Err(RunError::Panicked(p));
        }
        if let Some(why) = lock(&self.shared.halted).clone() {
            return Err(RunError::Halted(why));
        }
        Ok(Report { components })
    }
}

/// Takes part in updates spanning machines from another thread
/// ([`Running::updater`]).
#[derive(Clone)]
pub struct Updater {
    control: Arc<Control>,
    shared: Arc<Shared>,
}

impl Updater {
    /// Applies `update` as this machine's part of an update that spans
    /// machines, which `coordinator` ties to the others' parts. Its region
    /// is the whole graph's; every machine posts its part before any arms
    /// it, and the decision is the machines' one. After
    /// [`UpdateError::InDoubt`] the changing instances stay paused: halt
    /// the part.
    pub fn update_spanning(
        &self,
        update: Update,
        coordinator: &mut dyn Coordinator,
    ) -> Result<UpdateReport, UpdateError> {
        if self.shared.abort.load(Ordering::Acquire) {
            return Err(UpdateError::NotRunning);
        }
        self.control.apply_spanning(update, coordinator)
    }

    /// The schedule the graph runs with now (as [`Running::schedule`]).
    pub fn schedule(&self) -> Schedule {
        self.control.schedule()
    }

    /// Every instance with its version now (as [`Running::instances`]).
    pub fn instances(&self) -> Vec<InstanceStatus> {
        self.control.instances()
    }

    /// How the running graph would become `target` (as
    /// [`Running::evolution`]).
    pub fn evolution(&self, target: Graph) -> Result<Evolution, EvolutionError> {
        self.control.evolution(target.into_parts())
    }
}

/// Stops or halts a running graph from another thread
/// ([`Running::stopper`]).
#[derive(Clone)]
pub struct Stopper(Arc<Shared>);

impl Stopper {
    /// Why the graph is failing, if it is: the panic that stops it, or
    /// why it was halted. For a watcher that tells others.
    pub fn failure(&self) -> Option<String> {
        if let Some(p) = lock(&self.0.panic).as_ref() {
            return Some(format!("instance `{}` panicked: {}", p.instance, p.message));
        }
        lock(&self.0.halted)
            .as_ref()
            .map(|why| format!("halted: {why}"))
    }

    /// As [`Running::stop`].
    pub fn stop(&self) {
        self.0.env.stop.store(true, Ordering::Release);
        self.0.wake_all();
    }

    /// Halts the graph at once, without draining (what it would wait for
    /// may never come): its workers stop at their next step and `join`
    /// returns [`RunError::Halted`] with `why` (the first reason given).
    pub fn halt(&self, why: impl Into<String>) {
        lock(&self.0.halted).get_or_insert_with(|| why.into());
        self.0.abort.store(true, Ordering::Release);
        self.0.wake_all();
    }
}

impl fmt::Debug for Stopper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Stopper")
    }
}

impl Drop for Running {
    /// Stops the graph, as [`Running::stop`]: its sources are not called
    /// again and it drains, then its workers exit. The drop does not wait
    /// for that (a source blocked in a call, or a drop on one of the
    /// graph's own threads, must not hang it); `join` waits. While the
    /// dropping thread unwinds from a panic, the workers abort at their
    /// next step instead of draining.
    fn drop(&mut self) {
        if self.threads.is_empty() {
            return;
        }
        if std::thread::panicking() {
            self.shared.abort.store(true, Ordering::Release);
            self.shared.wake_all();
        } else {
            self.stop();
        }
    }
}

/// The instances of a finished graph, with their final state.
pub struct Report {
    components: HashMap<String, Box<dyn Any + Send>>,
}

impl Report {
    /// Takes instance `name` out of the report, if it exists and is a `C`
    /// (if it is not, it stays in the report).
    ///
    /// ```
    /// # use evoflow::{component, graph, Flow, Outputs};
    /// # struct Count { next: u64 }
    /// # #[component(outputs(out: u64))]
    /// # impl Count {
    /// #     #[source]
    /// #     fn emit(&mut self, out: &mut Outputs<Self>) -> Flow {
    /// #         if self.next == 100 { return Flow::Done; }
    /// #         out.out(self.next);
    /// #         self.next += 1;
    /// #         Flow::Continue
    /// #     }
    /// # }
    /// # #[derive(Default)]
    /// # struct Sum { total: u64 }
    /// # #[component]
    /// # impl Sum {
    /// #     #[input]
    /// #     fn inp(&mut self, x: u64) { self.total += x; }
    /// # }
    /// let mut report = graph! {
    ///     count: Count = Count { next: 0 };
    ///     sum: Sum;
    ///     count.out -> sum.inp;
    /// }
    /// .run_to_end()
    /// .unwrap();
    /// assert!(report.take::<Count>("sum").is_none()); // not a `Count`
    /// assert_eq!(report.take::<Sum>("sum").unwrap().total, (0..100).sum::<u64>());
    /// assert!(report.take::<Sum>("sum").is_none()); // taken
    /// ```
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
