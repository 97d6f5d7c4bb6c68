//! Arcs: bounded FIFO queues carrying packets and in-band control items.
//!
//! An arc inside a section is a local queue: both ends run on the same
//! worker, so it is touched once per batch by each side. An arc between
//! sections is a lock-free SPSC ring (rtrb) plus the wakers of the worker at
//! each end. Either way the consumer sees items in the order they were sent,
//! and control items (end of stream, later update markers) travel in that
//! same order, which is what lets them mark a precise point in the flow.

use crate::wake::Waker;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// What travels on an arc.
#[derive(Debug)]
pub(crate) enum Item<T> {
    /// A packet.
    Data(T),
    /// The producer has finished; nothing follows.
    End,
}

/// A queue whose two ends run on the same worker thread. The mutex is never
/// contended (one thread); it only makes the sharing safe without `unsafe`,
/// and is taken once per batch, not per packet.
pub(crate) struct LocalQueue<T> {
    items: Mutex<VecDeque<Item<T>>>,
    capacity: usize,
}

impl<T> LocalQueue<T> {
    fn lock(&self) -> MutexGuard<'_, VecDeque<Item<T>>> {
        // A poisoned lock means a handler panicked; the graph is being torn
        // down and the queue's contents are still consistent.
        self.items.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Where an arc is, which decides how it is built.
#[derive(Clone)]
pub(crate) enum Placement {
    /// Both ends on one worker.
    Local,
    /// Ends on two workers; each side wakes the other.
    Cross {
        producer: Arc<Waker>,
        consumer: Arc<Waker>,
    },
}

/// The sending end of an arc.
pub(crate) enum Tx<T> {
    Local(Arc<LocalQueue<T>>),
    Ring {
        ring: rtrb::Producer<Item<T>>,
        consumer: Arc<Waker>,
    },
}

/// The receiving end of an arc.
pub(crate) enum Rx<T> {
    Local(Arc<LocalQueue<T>>),
    Ring {
        ring: rtrb::Consumer<Item<T>>,
        producer: Arc<Waker>,
    },
}

/// Creates an arc of `capacity` items (at least 1).
pub(crate) fn arc<T: Send + 'static>(capacity: usize, placement: Placement) -> (Tx<T>, Rx<T>) {
    let capacity = capacity.max(1);
    match placement {
        Placement::Local => {
            let q = Arc::new(LocalQueue {
                items: Mutex::new(VecDeque::with_capacity(capacity)),
                capacity,
            });
            (Tx::Local(q.clone()), Rx::Local(q))
        }
        Placement::Cross { producer, consumer } => {
            let (p, c) = rtrb::RingBuffer::new(capacity);
            (
                Tx::Ring { ring: p, consumer },
                Rx::Ring { ring: c, producer },
            )
        }
    }
}

impl<T> Tx<T> {
    /// Moves as many staged items as fit into the arc, in order. Returns
    /// whether any moved. A local queue takes them all (its bound is enforced
    /// by [`Tx::has_room`] before the producer runs again).
    pub(crate) fn flush(&mut self, staged: &mut VecDeque<Item<T>>) -> bool {
        if staged.is_empty() {
            return false;
        }
        match self {
            Tx::Local(q) => {
                q.lock().extend(staged.drain(..));
                true
            }
            Tx::Ring { ring, consumer } => {
                let n = ring.slots().min(staged.len());
                if n == 0 {
                    return false;
                }
                let chunk = ring.write_chunk_uninit(n).expect("n <= free slots");
                chunk.fill_from_iter(staged.drain(..n));
                consumer.notify();
                true
            }
        }
    }

    /// True when the consumer can take more: the producer may run a batch.
    pub(crate) fn has_room(&self) -> bool {
        match self {
            Tx::Local(q) => q.lock().len() < q.capacity,
            Tx::Ring { ring, .. } => !ring.is_full(),
        }
    }
}

impl<T> Rx<T> {
    /// Pops up to `budget` items, handing packets to `on_data`; stops early
    /// at an empty arc or after a control item. Returns the number of packets
    /// handled and whether the end of stream was reached.
    pub(crate) fn drain(&mut self, budget: usize, mut on_data: impl FnMut(T)) -> (usize, bool) {
        let mut handled = 0;
        let ended = match self {
            Rx::Local(q) => {
                let mut items = q.lock();
                loop {
                    if handled == budget {
                        break false;
                    }
                    match items.pop_front() {
                        Some(Item::Data(x)) => {
                            on_data(x);
                            handled += 1;
                        }
                        Some(Item::End) => break true,
                        None => break false,
                    }
                }
            }
            Rx::Ring { ring, producer } => {
                let n = ring.slots().min(budget);
                let mut ended = false;
                if n > 0 {
                    let chunk = ring.read_chunk(n).expect("n <= available slots");
                    for item in chunk {
                        match item {
                            Item::Data(x) => {
                                on_data(x);
                                handled += 1;
                            }
                            Item::End => {
                                ended = true;
                                break;
                            }
                        }
                    }
                    producer.notify();
                }
                ended
            }
        };
        (handled, ended)
    }

    /// True when an item is waiting (used before parking).
    pub(crate) fn has_item(&self) -> bool {
        match self {
            Rx::Local(q) => !q.lock().is_empty(),
            Rx::Ring { ring, .. } => !ring.is_empty(),
        }
    }
}
