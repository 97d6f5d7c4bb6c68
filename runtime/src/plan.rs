//! What a worker builds its section from. Local arcs hold `Rc`s, so they
//! and the nodes using them are made on the worker's own thread; the plan
//! that travels there is `Send`: components, ring ends, and constructors.

use crate::node::Node;
use crate::port::ErasedEnd;
use crate::queue::{self, RingRx, RingTx, Rx, Tx};
use crate::wake::Waker;
use std::any::Any;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// Builds a node from its arc ends (inputs per port, one per output).
pub(crate) type MakeNode =
    Box<dyn FnOnce(Vec<Vec<ErasedEnd>>, Vec<ErasedEnd>, Arc<AtomicBool>) -> Box<dyn Node> + Send>;

/// Where a port's arc end will come from.
pub(crate) enum EndPlan {
    /// A ring end made by the builder, and how to make it a port's end.
    Ring {
        end: Box<dyn Any + Send>,
        open: fn(Box<dyn Any + Send>) -> ErasedEnd,
    },
    /// The sending or receiving end of the section's local arc `arc`.
    Local { arc: usize, sender: bool },
}

impl EndPlan {
    /// Plans for both ends of a ring between two workers.
    pub(crate) fn ring<T: Send + 'static>(
        capacity: usize,
        producer: Arc<Waker>,
        consumer: Arc<Waker>,
    ) -> (Self, Self) {
        fn open_tx<T: Send + 'static>(end: Box<dyn Any + Send>) -> ErasedEnd {
            Box::new(Tx::Ring(
                *end.downcast::<RingTx<T>>().expect("planned with this type"),
            ))
        }
        fn open_rx<T: Send + 'static>(end: Box<dyn Any + Send>) -> ErasedEnd {
            Box::new(Rx::Ring(
                *end.downcast::<RingRx<T>>().expect("planned with this type"),
            ))
        }
        let (tx, rx) = queue::ring::<T>(capacity, producer, consumer);
        (
            EndPlan::Ring {
                end: Box::new(tx),
                open: open_tx::<T>,
            },
            EndPlan::Ring {
                end: Box::new(rx),
                open: open_rx::<T>,
            },
        )
    }
}

/// A local arc to create: a monomorphised constructor and a capacity.
pub(crate) struct LocalArcPlan {
    pub make: fn(usize) -> (ErasedEnd, ErasedEnd),
    pub capacity: usize,
}

impl LocalArcPlan {
    pub(crate) fn of<T: 'static>(capacity: usize) -> Self {
        fn make<T: 'static>(capacity: usize) -> (ErasedEnd, ErasedEnd) {
            let (tx, rx) = queue::local::<T>(capacity);
            (Box::new(tx), Box::new(rx))
        }
        LocalArcPlan {
            make: make::<T>,
            capacity,
        }
    }
}

/// One instance of a section.
pub(crate) struct InstancePlan {
    pub inputs: Vec<Vec<EndPlan>>,
    pub outputs: Vec<EndPlan>,
    pub make: MakeNode,
}

/// A section: its instances in run order and its local arcs.
pub(crate) struct SectionPlan {
    pub instances: Vec<InstancePlan>,
    pub local_arcs: Vec<LocalArcPlan>,
}

impl SectionPlan {
    /// Creates the local arcs and the nodes; runs on the worker thread.
    pub(crate) fn build(self, stop: &Arc<AtomicBool>) -> Vec<Box<dyn Node>> {
        let mut locals: Vec<(Option<ErasedEnd>, Option<ErasedEnd>)> = self
            .local_arcs
            .iter()
            .map(|a| {
                let (tx, rx) = (a.make)(a.capacity);
                (Some(tx), Some(rx))
            })
            .collect();
        let mut end = |plan: EndPlan| -> ErasedEnd {
            match plan {
                EndPlan::Ring { end, open } => open(end),
                EndPlan::Local { arc, sender: true } => {
                    locals[arc].0.take().expect("each end used once")
                }
                EndPlan::Local { arc, sender: false } => {
                    locals[arc].1.take().expect("each end used once")
                }
            }
        };
        self.instances
            .into_iter()
            .map(|i| {
                let inputs = i
                    .inputs
                    .into_iter()
                    .map(|arcs| arcs.into_iter().map(&mut end).collect())
                    .collect();
                let outputs = i.outputs.into_iter().map(&mut end).collect();
                (i.make)(inputs, outputs, stop.clone())
            })
            .collect()
    }
}
