//! One worker thread per section: builds its nodes, runs them in the
//! schedule's fixed order, applies live updates between two steps, backs
//! off when idle, and stops the graph on a panic.

use crate::node::{Node, VacantNode};
use crate::plan::{InstancePlan, Locals};
use crate::reconfig::{panic_text, Reconfig};
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
        let message = panic_text(payload.as_ref());
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

/// An instruction for a worker, from the thread applying an update.
pub(crate) enum Command {
    /// Instance `instance` takes part in an update.
    Reconfig { instance: String, rc: Reconfig },
    /// A new instance, created when the update commits.
    Insert { instance: String, rc: Reconfig },
}

/// Commands waiting for a worker; `closed` once it has exited.
#[derive(Default)]
pub(crate) struct Mailbox {
    has_mail: AtomicBool,
    inbox: Mutex<(Vec<Command>, bool)>,
}

impl Mailbox {
    /// Delivers a command, or gives it back if the worker has exited.
    pub(crate) fn post(&self, command: Command) -> Result<(), Command> {
        let mut inbox = self.inbox.lock().unwrap_or_else(|e| e.into_inner());
        if inbox.1 {
            return Err(command);
        }
        inbox.0.push(command);
        self.has_mail.store(true, Ordering::Release);
        Ok(())
    }

    fn take(&self) -> Vec<Command> {
        if !self.has_mail.swap(false, Ordering::Acquire) {
            return Vec::new();
        }
        std::mem::take(&mut self.inbox.lock().unwrap_or_else(|e| e.into_inner()).0)
    }

    /// Refuses further commands; returns those not taken yet.
    fn close(&self) -> Vec<Command> {
        let mut inbox = self.inbox.lock().unwrap_or_else(|e| e.into_inner());
        inbox.1 = true;
        std::mem::take(&mut inbox.0)
    }

    fn has_mail(&self) -> bool {
        self.has_mail.load(Ordering::Acquire)
    }
}

/// Fails and finishes an update part that will never run.
pub(crate) fn refuse(command: Command) {
    let (Command::Reconfig { instance, rc } | Command::Insert { instance, rc }) = command;
    rc.update.failed(
        &instance,
        "the graph finished before the update could be applied".to_owned(),
    );
    rc.update.finish_one();
}

/// The final states of a section's instances, by name.
pub(crate) type Finals = Vec<(String, Box<dyn Any + Send>)>;

/// A section, ready to run on its own thread.
pub(crate) struct Worker {
    pub instances: Vec<InstancePlan>,
    pub sleeper: Sleeper,
    pub mailbox: Arc<Mailbox>,
}

impl Worker {
    /// Builds the section's nodes, then runs them until every instance has
    /// finished or the graph aborts.
    pub(crate) fn run(self, shared: &Shared) -> Finals {
        let mut locals = Locals::default();
        let mut nodes: Vec<Box<dyn Node>> = self
            .instances
            .into_iter()
            .map(|i| i.build(&mut locals, &shared.stop))
            .collect();
        let backoff = Backoff::new();
        while !shared.abort.load(Ordering::Acquire) {
            for command in self.mailbox.take() {
                deliver(command, &mut nodes, &shared.stop);
            }
            let (mut progress, mut polling) = (false, false);
            let mut commits = Vec::new();
            for (i, node) in nodes
                .iter_mut()
                .enumerate()
                .filter(|(_, n)| !n.is_finished())
            {
                match catch_unwind(AssertUnwindSafe(|| node.step(BUDGET))) {
                    Ok(step) => {
                        progress |= step.progress;
                        polling |= step.polling;
                        if step.commit {
                            commits.push(i);
                        }
                    }
                    Err(payload) => {
                        shared.fail(node.name(), payload);
                        return Vec::new();
                    }
                }
            }
            for i in commits.into_iter().rev() {
                let node = nodes.remove(i);
                let name = node.name().to_owned();
                match catch_unwind(AssertUnwindSafe(|| node.commit(&mut locals))) {
                    Ok(Some(new)) => nodes.insert(i, new),
                    Ok(None) => {}
                    Err(payload) => {
                        shared.fail(&name, payload);
                        return Vec::new();
                    }
                }
            }
            nodes.retain(|n| !n.is_retired());
            if nodes.iter().all(|n| n.is_finished()) && !self.mailbox.has_mail() {
                break;
            }
            if progress {
                backoff.reset();
            } else if !backoff.is_completed() {
                backoff.snooze();
            } else {
                let (nodes, mailbox) = (&mut nodes, &self.mailbox);
                self.sleeper
                    .park_unless(polling.then_some(POLL_INTERVAL), || {
                        shared.abort.load(Ordering::Acquire)
                            || mailbox.has_mail()
                            || nodes.iter_mut().any(|n| n.has_work())
                    });
            }
        }
        self.mailbox.close().into_iter().for_each(refuse);
        nodes.iter_mut().for_each(|n| n.abandon());
        nodes.retain(|n| !n.is_retired());
        nodes
            .into_iter()
            .map(|n| (n.name().to_owned(), n.into_component()))
            .collect()
    }
}

/// Hands a command to its instance (or creates the inserted one).
fn deliver(command: Command, nodes: &mut Vec<Box<dyn Node>>, stop: &Arc<AtomicBool>) {
    match command {
        Command::Reconfig { instance, rc } => match nodes.iter_mut().find(|n| n.name() == instance)
        {
            Some(node) => node.set_pending(rc),
            None => refuse(Command::Reconfig { instance, rc }),
        },
        Command::Insert { instance, rc } => {
            nodes.push(Box::new(VacantNode::new(
                instance.as_str().into(),
                rc,
                stop.clone(),
            )));
        }
    }
}
