//! Arcs: bounded FIFO queues carrying packets and in-band control items.
//!
//! An arc inside a section is a local queue: both ends belong to nodes of one
//! worker, which builds it on its own thread, so it is a plain `Rc<RefCell>`
//! deque with no atomics, and a handler's emit goes straight into it. An arc
//! between sections is a lock-free SPSC ring (rtrb): emits are staged and
//! moved into the ring once per batch, and each side wakes the other's
//! worker. Either way the consumer sees items in the order they were sent,
//! and control items (end of stream, later update markers) travel in that
//! same order, which is what lets them mark a precise point in the flow.

use crate::channel::wake::Waker;
use crate::sync::ring;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;

/// What travels on an arc.
#[derive(Debug)]
pub(crate) enum Item<T> {
    /// A packet.
    Data(T),
    /// The producer has finished; nothing follows.
    End,
    /// Update marker: everything before it belongs to the flow before
    /// update `id`, everything after it to the flow after.
    Marker(u64),
}

/// Why a drain stopped early.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    /// Budget used up or arc empty.
    None,
    /// End of stream reached.
    End,
    /// Marker of update `id` reached; the arc is held until the update
    /// releases it.
    Marker(u64),
}

/// A queue whose two ends run on the same worker thread.
pub(crate) struct Local<T> {
    items: RefCell<VecDeque<Item<T>>>,
    capacity: usize,
}

/// The sending end of a ring: emits are staged, then moved in per batch.
pub(crate) struct RingTx<T> {
    ring: ring::Producer<Item<T>>,
    staged: VecDeque<Item<T>>,
    consumer: Arc<Waker>,
}

/// The receiving end of a ring.
pub(crate) struct RingRx<T> {
    ring: ring::Consumer<Item<T>>,
    producer: Arc<Waker>,
}

/// The sending end of an arc.
pub(crate) enum Tx<T> {
    Local(Rc<Local<T>>),
    Ring(RingTx<T>),
}

/// The receiving end of an arc.
pub(crate) enum Rx<T> {
    Local(Rc<Local<T>>),
    Ring(RingRx<T>),
}

/// Creates an arc between two nodes of the calling worker.
pub(crate) fn local<T: 'static>(capacity: usize) -> (Tx<T>, Rx<T>) {
    let q = Rc::new(Local {
        items: RefCell::new(VecDeque::with_capacity(capacity)),
        capacity: capacity.max(1),
    });
    (Tx::Local(q.clone()), Rx::Local(q))
}

/// Creates an arc between two workers; `producer` and `consumer` wake them.
pub(crate) fn ring<T: Send + 'static>(
    capacity: usize,
    producer: Arc<Waker>,
    consumer: Arc<Waker>,
) -> (RingTx<T>, RingRx<T>) {
    let (p, c) = ring::RingBuffer::new(capacity.max(1));
    (
        RingTx {
            ring: p,
            staged: VecDeque::new(),
            consumer,
        },
        RingRx { ring: c, producer },
    )
}

impl<T> Tx<T> {
    /// Sends an item; never blocks. The bound is enforced by
    /// [`Tx::room`], which the runtime checks before each batch.
    #[inline]
    pub(crate) fn send(&mut self, item: Item<T>) {
        match self {
            Tx::Local(q) => q.items.borrow_mut().push_back(item),
            Tx::Ring(r) => r.staged.push_back(item),
        }
    }

    /// Moves as many staged items as fit into a ring, in order. Returns
    /// whether any moved.
    pub(crate) fn flush(&mut self) -> bool {
        let Tx::Ring(RingTx {
            ring,
            staged,
            consumer,
        }) = self
        else {
            return false;
        };
        let n = ring.slots().min(staged.len());
        if n == 0 {
            return false;
        }
        let chunk = ring.write_chunk_uninit(n).expect("n <= free slots");
        chunk.fill_from_iter(staged.drain(..n));
        consumer.notify();
        true
    }

    /// True if nothing waits to be moved into the arc.
    pub(crate) fn is_flushed(&self) -> bool {
        match self {
            Tx::Local(_) => true,
            Tx::Ring(r) => r.staged.is_empty(),
        }
    }

    /// True if staged items wait and the ring has room for some: a flush
    /// would move them. Checked before parking, so that output held back
    /// by a full ring (an update marker among it) is never forgotten.
    pub(crate) fn can_flush(&self) -> bool {
        match self {
            Tx::Local(_) => false,
            Tx::Ring(r) => !r.staged.is_empty() && !r.ring.is_full(),
        }
    }

    /// How many more items the consumer can take now (nothing while items
    /// are still staged). A batch handles at most this many packets, so an
    /// arc holds about its capacity, not a whole batch: what waits behind
    /// it (an update's marker, another input's share) is not starved.
    pub(crate) fn room(&self) -> usize {
        match self {
            Tx::Local(q) => q.capacity.saturating_sub(q.items.borrow().len()),
            Tx::Ring(r) if r.staged.is_empty() => r.ring.slots(),
            Tx::Ring(_) => 0,
        }
    }
}

/// Wakes a ring's producer when dropped.
struct NotifyOnDrop<'a>(&'a Waker);

impl Drop for NotifyOnDrop<'_> {
    fn drop(&mut self) {
        self.0.notify();
    }
}

impl<T> Rx<T> {
    /// Pops up to `budget` items, handing packets to `on_data`; stops early
    /// at an empty arc or after a control item. Returns the number of
    /// packets handled and why it stopped.
    #[inline]
    pub(crate) fn drain(&mut self, budget: usize, mut on_data: impl FnMut(T)) -> (usize, Stop) {
        let mut handled = 0;
        let stop = match self {
            Rx::Local(q) => {
                // The handler emits into other arcs only (graphs are
                // acyclic), so this borrow never overlaps another of `q`.
                let mut items = q.items.borrow_mut();
                loop {
                    if handled == budget {
                        break Stop::None;
                    }
                    match items.pop_front() {
                        Some(Item::Data(x)) => {
                            on_data(x);
                            handled += 1;
                        }
                        Some(Item::End) => break Stop::End,
                        Some(Item::Marker(id)) => break Stop::Marker(id),
                        None => break Stop::None,
                    }
                }
            }
            Rx::Ring(RingRx { ring, producer }) => {
                let n = ring.slots().min(budget);
                let mut stop = Stop::None;
                if n > 0 {
                    // Also if a handler panics: the slots read so far are
                    // freed (the chunk commits them as it drops), and a
                    // producer parked on the full ring must hear of it.
                    let _notify = NotifyOnDrop(producer);
                    let chunk = ring.read_chunk(n).expect("n <= available slots");
                    for item in chunk {
                        match item {
                            Item::Data(x) => {
                                on_data(x);
                                handled += 1;
                            }
                            Item::End => {
                                stop = Stop::End;
                                break;
                            }
                            Item::Marker(id) => {
                                stop = Stop::Marker(id);
                                break;
                            }
                        }
                    }
                }
                stop
            }
        };
        (handled, stop)
    }

    /// True when an item is waiting (used before parking).
    pub(crate) fn has_item(&self) -> bool {
        match self {
            Rx::Local(q) => !q.items.borrow().is_empty(),
            Rx::Ring(r) => !r.ring.is_empty(),
        }
    }
}
