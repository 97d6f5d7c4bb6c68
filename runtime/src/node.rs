//! A running instance: a component with its ports, stepped by a worker.
//!
//! [`Node`] is the type-erased face the worker sees. One step flushes the
//! outputs, and only if every output has room runs one batch: a source is
//! called up to `budget` times, an operator drains up to `budget` packets
//! from each input arc in turn. Ends of stream are forwarded once every input
//! has ended, behind everything emitted before.

use crate::component::{Component, Flow};
use crate::port::{InputSet, OutputSet};
use std::any::Any;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// What a step did.
#[derive(Copy, Clone, Debug, Default)]
pub(crate) struct Step {
    /// Something moved: a packet handled, emitted or flushed.
    pub progress: bool,
    /// A source reported [`Flow::Idle`]: the worker should poll it again
    /// soon even if nothing else wakes it.
    pub polling: bool,
}

/// The worker's view of an instance.
pub(crate) trait Node {
    /// Runs one batch.
    fn step(&mut self, budget: usize) -> Step;
    /// True once the end of stream has been emitted and flushed.
    fn is_finished(&self) -> bool;
    /// True if a step could make progress now (checked before parking).
    fn has_work(&mut self) -> bool;
    /// Instance name, for errors.
    fn name(&self) -> &str;
    /// The component itself, for the final report.
    fn into_component(self: Box<Self>) -> Box<dyn Any + Send>;
}

enum Phase {
    Running,
    /// End of stream staged; waiting for the outputs to take it.
    Ending,
    Finished,
}

/// A component instance and its ports.
pub(crate) struct ComponentNode<C: Component> {
    name: Arc<str>,
    component: C,
    inputs: C::Inputs,
    outputs: C::Outputs,
    phase: Phase,
    /// The source last reported [`Flow::Idle`]; only polling revives it.
    idle: bool,
    /// Set by `Running::stop`: sources end at their next call.
    stop: Arc<AtomicBool>,
}

impl<C: Component> ComponentNode<C> {
    pub(crate) fn new(
        name: Arc<str>,
        component: C,
        inputs: C::Inputs,
        outputs: C::Outputs,
        stop: Arc<AtomicBool>,
    ) -> Self {
        ComponentNode {
            name,
            component,
            inputs,
            outputs,
            phase: Phase::Running,
            idle: false,
            stop,
        }
    }

    fn flush(&mut self) -> bool {
        let mut moved = false;
        for p in 0..C::Outputs::LEN {
            moved |= self.outputs.port(p).flush();
        }
        moved
    }

    fn outputs_have_room(&mut self) -> bool {
        (0..C::Outputs::LEN).all(|p| self.outputs.port(p).has_room())
    }

    fn outputs_flushed(&mut self) -> bool {
        (0..C::Outputs::LEN).all(|p| self.outputs.port(p).is_flushed())
    }

    fn all_inputs_ended(&self) -> bool {
        (0..C::Inputs::LEN).all(|p| {
            let port = self.inputs.port(p);
            (0..port.arc_count()).all(|a| port.is_ended(a))
        })
    }

    /// Runs the end hook and stages the end of stream on every output.
    fn begin_end(&mut self) {
        self.component.__finish(&mut self.outputs);
        for p in 0..C::Outputs::LEN {
            self.outputs.port(p).end();
        }
        self.phase = Phase::Ending;
    }

    fn run_source(&mut self, budget: usize) -> Step {
        let mut step = Step::default();
        self.idle = false;
        for _ in 0..budget {
            if self.stop.load(Ordering::Relaxed) {
                self.begin_end();
                step.progress = true;
                break;
            }
            match self.component.__generate(&mut self.outputs) {
                Flow::Continue => step.progress = true,
                Flow::Idle => {
                    self.idle = true;
                    step.polling = true;
                    break;
                }
                Flow::Done => {
                    self.begin_end();
                    step.progress = true;
                    break;
                }
            }
        }
        step
    }

    fn run_operator(&mut self, budget: usize) -> Step {
        let mut step = Step::default();
        for p in 0..C::Inputs::LEN {
            for a in 0..self.inputs.port(p).arc_count() {
                let d = self
                    .component
                    .__drain(&mut self.inputs, &mut self.outputs, p, a, budget);
                step.progress |= d.handled > 0 || d.ended;
            }
        }
        if self.all_inputs_ended() {
            self.begin_end();
            step.progress = true;
        }
        step
    }
}

impl<C: Component> Node for ComponentNode<C> {
    fn step(&mut self, budget: usize) -> Step {
        let flushed = self.flush();
        let mut step = match self.phase {
            Phase::Finished => return Step::default(),
            Phase::Ending => Step::default(),
            Phase::Running => {
                if !self.outputs_have_room() {
                    Step::default()
                } else if C::META.is_source() {
                    self.run_source(budget)
                } else {
                    self.run_operator(budget)
                }
            }
        };
        step.progress |= self.flush() | flushed;
        if matches!(self.phase, Phase::Ending) && self.outputs_flushed() {
            self.phase = Phase::Finished;
            step.progress = true;
        }
        step
    }

    fn is_finished(&self) -> bool {
        matches!(self.phase, Phase::Finished)
    }

    fn has_work(&mut self) -> bool {
        match self.phase {
            Phase::Finished => false,
            Phase::Ending => true,
            Phase::Running => {
                let staged = !self.outputs_flushed();
                if !self.outputs_have_room() {
                    // Blocked on a full output; a flush may now succeed.
                    return staged && self.flush();
                }
                (C::META.is_source() && !self.idle)
                    || staged
                    || (0..C::Inputs::LEN).any(|p| {
                        let port = self.inputs.port(p);
                        (0..port.arc_count()).any(|a| port.has_item(a))
                    })
            }
        }
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn into_component(self: Box<Self>) -> Box<dyn Any + Send> {
        Box::new(self.component)
    }
}
