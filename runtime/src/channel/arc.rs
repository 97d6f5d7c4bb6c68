//! Arc factories: how arcs of a packet type known only at run time are made.
//! Local arcs hold `Rc`s, so they are made on the worker's own thread; what
//! travels there is `Send`: ring ends and monomorphised constructors.

use crate::channel::port::{ArcId, End};
use crate::channel::queue::{self, RingRx, RingTx, Rx, Tx};
use crate::channel::wake::Waker;
use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

/// Makes both ends of a local arc of some packet type.
type MakeLocal = fn(usize) -> (Box<dyn Any>, Box<dyn Any>);

/// Makes both ends of a ring of some packet type.
type MakeRing = fn(ArcId, usize, Arc<Waker>, Arc<Waker>) -> (EndPlan, EndPlan);

/// Arc constructors for one packet type, kept in a port's metadata so the
/// runtime can create arcs for ports it only knows at run time (updates).
#[derive(Copy, Clone)]
pub struct ArcFactory {
    local: MakeLocal,
    ring: MakeRing,
}

impl fmt::Debug for ArcFactory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ArcFactory")
    }
}

impl ArcFactory {
    /// Constructors for arcs carrying `T`.
    pub const fn of<T: Send + 'static>() -> Self {
        ArcFactory {
            local: make_local::<T>,
            ring: make_ring::<T>,
        }
    }

    /// Plans both ends of arc `id`: local if `producer` and `consumer` are
    /// the same worker, a ring otherwise.
    pub(crate) fn plan(
        &self,
        id: ArcId,
        capacity: usize,
        producer: (usize, &Arc<Waker>),
        consumer: (usize, &Arc<Waker>),
    ) -> (EndPlan, EndPlan) {
        if producer.0 == consumer.0 {
            let local = |sender| EndPlan::Local {
                id,
                make: self.local,
                capacity,
                sender,
            };
            (local(true), local(false))
        } else {
            (self.ring)(id, capacity, producer.1.clone(), consumer.1.clone())
        }
    }
}

fn make_local<T: Send + 'static>(capacity: usize) -> (Box<dyn Any>, Box<dyn Any>) {
    let (tx, rx) = queue::local::<T>(capacity);
    (Box::new(tx), Box::new(rx))
}

fn make_ring<T: Send + 'static>(
    id: ArcId,
    capacity: usize,
    producer: Arc<Waker>,
    consumer: Arc<Waker>,
) -> (EndPlan, EndPlan) {
    fn open_tx<T: Send + 'static>(end: Box<dyn Any + Send>) -> Box<dyn Any> {
        Box::new(Tx::Ring(
            *end.downcast::<RingTx<T>>().expect("planned with this type"),
        ))
    }
    fn open_rx<T: Send + 'static>(end: Box<dyn Any + Send>) -> Box<dyn Any> {
        Box::new(Rx::Ring(
            *end.downcast::<RingRx<T>>().expect("planned with this type"),
        ))
    }
    let (tx, rx) = queue::ring::<T>(capacity, producer, consumer);
    (
        EndPlan::Ring {
            id,
            end: Box::new(tx),
            open: open_tx::<T>,
        },
        EndPlan::Ring {
            id,
            end: Box::new(rx),
            open: open_rx::<T>,
        },
    )
}

/// Where a port's arc end will come from.
pub(crate) enum EndPlan {
    /// A ring end, made off the worker, and how to make it a port's end.
    Ring {
        id: ArcId,
        end: Box<dyn Any + Send>,
        open: fn(Box<dyn Any + Send>) -> Box<dyn Any>,
    },
    /// One end of a local arc; whichever end is opened first makes both.
    Local {
        id: ArcId,
        make: MakeLocal,
        capacity: usize,
        sender: bool,
    },
}

/// Local arc ends made on this worker whose other end is not taken yet.
#[derive(Default)]
pub(crate) struct Locals {
    waiting: HashMap<ArcId, Box<dyn Any>>,
}

impl EndPlan {
    /// Makes the end; runs on the worker that will use it.
    pub(crate) fn open(self, locals: &mut Locals) -> End {
        match self {
            EndPlan::Ring { id, end, open } => End {
                id,
                end: open(end),
                ended: false,
            },
            EndPlan::Local {
                id,
                make,
                capacity,
                sender,
            } => {
                let end = locals.waiting.remove(&id).unwrap_or_else(|| {
                    let (tx, rx) = make(capacity);
                    let (mine, other) = if sender { (tx, rx) } else { (rx, tx) };
                    locals.waiting.insert(id, other);
                    mine
                });
                End {
                    id,
                    end,
                    ended: false,
                }
            }
        }
    }
}
