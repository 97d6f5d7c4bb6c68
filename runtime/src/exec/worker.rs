//! One worker thread per section: builds its nodes, runs them in the
//! schedule's fixed order, applies live updates between two steps, backs
//! off when idle, and stops the graph on a panic.

use crate::channel::arc::Locals;
use crate::channel::wake::{Sleeper, Waker};
use crate::exec::contract::{Env, Node, Reconfig, Step, Watch};
use crate::exec::plan::InstancePlan;
use crate::exec::readiness::Readiness;
use crate::exec::restart::Fatal;
use crate::exec::vacant::VacantNode;
use crate::model::failure::NotRun;
use crate::sync::{lock, AtomicBool, AtomicUsize, Mutex, Ordering};
use crossbeam_utils::Backoff;
use std::any::Any;
use std::collections::HashMap;
use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Packets (or source calls) per instance per visit: large enough to
/// amortise a visit, small enough to keep the pipeline flowing.
const BUDGET: usize = 512;

/// How long a worker whose source is idle (waiting for I/O) sleeps before
/// polling it again: briefly while traffic is flowing, so I/O that arrives
/// is picked up fast, and longer once it has been quiet for a while, so an
/// idle graph costs little CPU.
const POLL_BUSY: Duration = Duration::from_micros(50);
const POLL_QUIET: Duration = Duration::from_millis(1);
/// How long after its last progress a worker still counts as busy.
const BUSY_FOR: Duration = Duration::from_millis(20);
/// How long after its last progress an idle worker keeps yielding its CPU
/// before it parks, when its last park was shorter than that and nothing
/// it runs waits for a descriptor or a timer. Two workers that feed each
/// other run out of work for a few microseconds at a time (one is a little
/// faster); parked, each wakes through the kernel: with cheap stages,
/// `perf` showed a third of the time in futex wake-ups and task switches.
/// A yield gives the CPU to whoever needs it meanwhile. Work that comes at
/// no worker's pace (requests, packets from another machine) mostly finds
/// the worker parked for longer than this, and then the next idle spell
/// parks at once: spinning there would cost CPU, and a pass's system calls
/// (polls, a network arc's drain), after every request.
const SPIN_FOR: Duration = Duration::from_micros(50);

/// A panic inside an instance that stopped the graph: which one and what
/// it said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Panic {
    /// Instance name as declared in the graph.
    pub instance: String,
    /// The panic message.
    pub message: String,
    /// When the instance's supervision gave up after too many panics: the
    /// panics before this one within its period, oldest first.
    pub earlier: Vec<String>,
}

/// State every worker of one running graph shares.
pub(crate) struct Shared {
    /// Set on the first panic: every worker stops.
    pub abort: AtomicBool,
    /// The first panic.
    pub panic: Mutex<Option<Panic>>,
    /// Why the graph was halted from outside (a machine it runs with was
    /// lost), if it was.
    pub halted: Mutex<Option<String>>,
    /// Wakers of all workers, to wake them for stop or abort.
    pub wakers: Vec<Arc<Waker>>,
    /// What every node shares: the stop flag, the dead letters.
    pub env: Arc<Env>,
    /// Wakes workers whose instances wait for I/O.
    pub readiness: Readiness,
    /// Workers with an instance that has not finished. A worker whose
    /// instances have all finished (or were all removed) stays, parked,
    /// while this is not zero: an update may still give it an instance.
    pub running: AtomicUsize,
}

impl Shared {
    fn fail(&self, instance: &str, fatal: Fatal) {
        let mut first = lock(&self.panic);
        first.get_or_insert(Panic {
            instance: instance.to_owned(),
            message: fatal.message,
            earlier: fatal.earlier,
        });
        drop(first);
        self.abort.store(true, Ordering::Release);
        self.wake_all();
    }

    pub(crate) fn wake_all(&self) {
        self.wakers.iter().for_each(|w| w.force());
    }
}

/// An instruction for a worker, from the thread applying an update.
pub(crate) enum Command {
    /// Instance `instance` takes part in an update; `watch` if the update
    /// replaces it and is watched.
    Reconfig {
        instance: String,
        rc: Reconfig,
        watch: Option<Arc<Watch>>,
    },
    /// A new instance, created when the update commits.
    Insert { instance: String, rc: Reconfig },
}

/// Commands waiting for a worker; `closed` once it has exited.
#[derive(Default)]
pub(crate) struct Mailbox {
    /// Read without the lock between two steps; written only under it, so
    /// a take can never clear the flag of a command it did not take.
    has_mail: AtomicBool,
    inbox: Mutex<(Vec<Command>, bool)>,
}

impl Mailbox {
    /// Delivers a command, or gives it back if the worker has exited.
    pub(crate) fn post(&self, command: Command) -> Result<(), Box<Command>> {
        let mut inbox = lock(&self.inbox);
        if inbox.1 {
            return Err(Box::new(command));
        }
        inbox.0.push(command);
        self.has_mail.store(true, Ordering::Release);
        Ok(())
    }

    /// Takes every command waiting.
    pub(crate) fn take(&self) -> Vec<Command> {
        let mut inbox = lock(&self.inbox);
        self.has_mail.store(false, Ordering::Relaxed);
        std::mem::take(&mut inbox.0)
    }

    /// Refuses further commands; returns those not taken yet.
    pub(crate) fn close(&self) -> Vec<Command> {
        let mut inbox = lock(&self.inbox);
        inbox.1 = true;
        std::mem::take(&mut inbox.0)
    }

    /// True if a command may be waiting (checked between any two steps).
    pub(crate) fn has_mail(&self) -> bool {
        self.has_mail.load(Ordering::Acquire)
    }
}

/// Fails and finishes an update part that will never run.
pub(crate) fn refuse(command: Command, why: NotRun) {
    let (Command::Reconfig { instance, rc, .. } | Command::Insert { instance, rc }) = command;
    rc.update.give_up(&instance, why);
}

/// The final states of a section's instances, by name.
pub(crate) type Finals = Vec<(String, Box<dyn Any + Send>)>;

/// A section, ready to run on its own thread.
pub(crate) struct Worker {
    /// Its number (the section's).
    pub index: usize,
    pub instances: Vec<InstancePlan>,
    pub sleeper: Sleeper,
    pub mailbox: Arc<Mailbox>,
}

/// A section's nodes, in run order, with an index by name for updates.
struct Section {
    nodes: Vec<Box<dyn Node>>,
    index: HashMap<String, usize>,
    locals: Locals,
}

/// An instance panicked; the graph is aborting.
struct Panicked;

impl Section {
    fn reindex(&mut self) {
        self.index = self
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.name().to_owned(), i))
            .collect();
    }

    /// Steps node `i`, committing its update if it decided so. The new
    /// version takes the old one's place; a removed instance leaves a
    /// retired placeholder that the end of the pass sweeps away.
    fn step(&mut self, i: usize, budget: usize, shared: &Shared) -> Result<Step, Panicked> {
        let node = &mut self.nodes[i];
        let step = node.step(budget).map_err(|message| {
            shared.fail(node.name(), message);
            Panicked
        })?;
        if step.commit {
            let name: Arc<str> = self.nodes[i].name().into();
            let node = std::mem::replace(
                &mut self.nodes[i],
                Box::new(VacantNode::retired(name.clone(), shared.env.clone())),
            );
            let locals = &mut self.locals;
            match node.commit(locals) {
                Ok(Some(new)) => self.nodes[i] = new,
                Ok(None) => {}
                Err(message) => {
                    shared.fail(&name, message);
                    return Err(Panicked);
                }
            }
        }
        Ok(step)
    }

    /// Hands a command to its instance (or creates the inserted one) and
    /// advances it at once: a single-instance update swaps right here.
    fn deliver(&mut self, command: Command, shared: &Shared) -> Result<(), Panicked> {
        let i = match command {
            Command::Reconfig {
                instance,
                rc,
                watch,
            } => match self.index.get(&instance) {
                Some(&i) => {
                    self.nodes[i].set_pending(rc, watch);
                    i
                }
                None => {
                    refuse(
                        Command::Reconfig {
                            instance,
                            rc,
                            watch,
                        },
                        NotRun::NotOnWorker,
                    );
                    return Ok(());
                }
            },
            Command::Insert { instance, rc } => {
                self.index.insert(instance.clone(), self.nodes.len());
                self.nodes.push(Box::new(VacantNode::new(
                    instance.as_str().into(),
                    rc,
                    shared.env.clone(),
                )));
                self.nodes.len() - 1
            }
        };
        self.step(i, 0, shared).map(drop)
    }

    /// Drops retired placeholders.
    fn sweep(&mut self) {
        if self.nodes.iter().any(|n| n.is_retired()) {
            self.nodes.retain(|n| !n.is_retired());
            self.reindex();
        }
    }
}

impl Worker {
    /// Builds the section's nodes, then runs them until every instance has
    /// finished or the graph aborts.
    pub(crate) fn run(self, shared: &Shared) -> Finals {
        let mut locals = Locals::default();
        let built: Result<Vec<_>, _> = self
            .instances
            .into_iter()
            .map(|i| i.build(&mut locals, &shared.env))
            .collect();
        let mut section = Section {
            nodes: Vec::new(),
            index: HashMap::new(),
            locals,
        };
        let outcome = match built {
            Ok(nodes) => {
                section.nodes = nodes;
                section.reindex();
                Self::run_section(
                    &mut section,
                    self.index,
                    &self.sleeper,
                    &self.mailbox,
                    shared,
                )
            }
            Err((name, why)) => {
                shared.fail(&name, why.into());
                Err(Panicked)
            }
        };
        self.mailbox
            .close()
            .into_iter()
            .for_each(|c| refuse(c, NotRun::GraphFinished));
        section.nodes.iter_mut().for_each(|n| n.abandon());
        if outcome.is_err() {
            return Vec::new();
        }
        section.nodes.retain(|n| !n.is_retired());
        section
            .nodes
            .into_iter()
            .map(|n| (n.name().to_owned(), n.into_component()))
            .collect()
    }

    fn run_section(
        s: &mut Section,
        index: usize,
        sleeper: &Sleeper,
        mailbox: &Mailbox,
        shared: &Shared,
    ) -> Result<(), Panicked> {
        let backoff = Backoff::new();
        // Whether the last park was short: then the next idle spell spins.
        let mut spin = false;
        let mut last_progress = Instant::now();
        let mut done = false;
        let graph_done = || shared.running.load(Ordering::Acquire) == 0;
        let mut fds: Vec<RawFd> = Vec::new();
        while !shared.abort.load(Ordering::Acquire) {
            let (mut progress, mut polling) = (false, false);
            let mut until: Option<Instant> = None;
            fds.clear();
            let mut i = 0;
            loop {
                // Updates are picked up between any two steps, so how soon
                // an instance swaps does not depend on the section's size
                // (and an empty section still takes its inserts).
                if mailbox.has_mail() {
                    let mut commands = mailbox.take().into_iter();
                    while let Some(command) = commands.next() {
                        if let Err(p) = s.deliver(command, shared) {
                            commands.for_each(|c| refuse(c, NotRun::GraphStopping));
                            return Err(p);
                        }
                        progress = true;
                    }
                }
                if i == s.nodes.len() {
                    break;
                }
                if !s.nodes[i].is_finished() {
                    let step = s.step(i, BUDGET, shared)?;
                    progress |= step.progress;
                    polling |= step.polling;
                    if let Some(w) = step.wait {
                        fds.extend(w.fd);
                        until = match (until, w.until) {
                            (Some(a), Some(b)) => Some(a.min(b)),
                            (a, b) => a.or(b),
                        };
                    }
                }
                i += 1;
            }
            s.sweep();
            let finished = s.nodes.iter().all(|n| n.is_finished()) && !mailbox.has_mail();
            if finished != done {
                done = finished;
                if !done {
                    shared.running.fetch_add(1, Ordering::AcqRel);
                } else if shared.running.fetch_sub(1, Ordering::AcqRel) == 1 {
                    // The last worker to finish lets the finished ones exit.
                    shared.wake_all();
                }
            }
            if done && graph_done() {
                return Ok(());
            }
            if progress {
                backoff.reset();
                last_progress = Instant::now();
            } else if !backoff.is_completed() {
                backoff.snooze();
            } else if spin
                && fds.is_empty()
                && until.is_none()
                && !polling
                && last_progress.elapsed() < SPIN_FOR
            {
                std::thread::yield_now();
            } else {
                let nodes = &mut s.nodes;
                let interval = if last_progress.elapsed() < BUSY_FOR {
                    POLL_BUSY
                } else {
                    POLL_QUIET
                };
                // What waiting instances wait for wakes the worker; one
                // whose descriptor cannot be watched is polled instead.
                for &fd in &fds {
                    if let Err(e) = shared.readiness.arm(fd, index) {
                        tracing::warn!(
                            "cannot wait for descriptor {fd} to be readable ({e}); polling it"
                        );
                        polling = true;
                    }
                }
                let timeout = if polling {
                    Some(interval)
                } else {
                    until.map(|u| u.saturating_duration_since(Instant::now()))
                };
                let parked = Instant::now();
                sleeper.park_unless(timeout, || {
                    shared.abort.load(Ordering::Acquire)
                        || mailbox.has_mail()
                        || (done && graph_done())
                        || nodes.iter_mut().any(|n| n.has_work())
                });
                spin = parked.elapsed() < SPIN_FOR;
            }
        }
        Ok(())
    }
}
