//! Arc factories: how arcs of a packet type known only at run time are made.
//! Local arcs hold `Rc`s, so they are made on the worker's own thread; what
//! travels there is `Send`: ring ends and monomorphised constructors.

use crate::channel::port::{ArcId, End};
use crate::channel::queue::{self, RingRx, RingTx, Rx, Tx};
use crate::channel::remote::{RemoteReceiver, RemoteSender};
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
        Box::new(Tx::from(
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
        EndPlan::Made {
            id,
            end: Box::new(tx),
            open: open_tx::<T>,
        },
        EndPlan::Made {
            id,
            end: Box::new(rx),
            open: open_rx::<T>,
        },
    )
}

/// Plans the end of arc `id` that sends to another machine through `link`;
/// the worker behind `waker` is woken when room comes back (credits, or
/// the transport catching up).
pub(crate) fn remote_sender<T: Send + 'static>(
    id: ArcId,
    mut link: Box<dyn RemoteSender<T>>,
    waker: Arc<Waker>,
) -> EndPlan {
    fn open<T: Send + 'static>(end: Box<dyn Any + Send>) -> Box<dyn Any> {
        let link = *end
            .downcast::<Box<dyn RemoteSender<T>>>()
            .expect("planned with this type");
        Box::new(queue::remote_tx(link))
    }
    link.wake_with(Box::new(move || waker.notify()));
    EndPlan::Made {
        id,
        end: Box::new(link),
        open: open::<T>,
    }
}

/// Plans the end of arc `id` that receives from another machine through
/// `link`; the worker behind `waker` is woken when items arrive.
pub(crate) fn remote_receiver<T: Send + 'static>(
    id: ArcId,
    mut link: Box<dyn RemoteReceiver<T>>,
    waker: Arc<Waker>,
) -> EndPlan {
    fn open<T: Send + 'static>(end: Box<dyn Any + Send>) -> Box<dyn Any> {
        let link = *end
            .downcast::<Box<dyn RemoteReceiver<T>>>()
            .expect("planned with this type");
        Box::new(Rx::Remote(link))
    }
    link.wake_with(Box::new(move || waker.notify()));
    EndPlan::Made {
        id,
        end: Box::new(link),
        open: open::<T>,
    }
}

/// Where a port's arc end will come from.
pub(crate) enum EndPlan {
    /// A ring's end or the end of an arc to another machine, made off the
    /// worker, and how to make it a port's end.
    Made {
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
            EndPlan::Made { id, end, open } => End {
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

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::channel::queue::{Item, Stop, To};
    use crate::channel::wake::Sleeper;
    use std::time::{Duration, Instant};

    fn plan(same_worker: bool, producer: &Sleeper, consumer: &Sleeper) -> (EndPlan, EndPlan) {
        ArcFactory::of::<u32>().plan(
            3,
            2,
            (0, &producer.waker()),
            (if same_worker { 0 } else { 1 }, &consumer.waker()),
        )
    }

    fn tx(end: End) -> Tx<u32> {
        *end.end.downcast::<Tx<u32>>().expect("a sending end of u32")
    }

    fn rx(end: End) -> Rx<u32> {
        *end.end
            .downcast::<Rx<u32>>()
            .expect("a receiving end of u32")
    }

    /// Sends 1 and 2 on `tx`, flushes, and checks `rx` gets them.
    fn connected(mut tx: Tx<u32>, mut rx: Rx<u32>) {
        tx.send(Item::Data(1));
        tx.send(Item::Data(2));
        tx.flush();
        let mut seen = Vec::new();
        assert_eq!(rx.drain(10, |x| seen.push(x)), (2, Stop::None));
        assert_eq!(seen, [1, 2]);
    }

    #[test]
    fn an_arc_within_one_worker_is_planned_as_two_local_ends() {
        let (p, c) = (Sleeper::new(), Sleeper::new());
        let (t, r) = plan(true, &p, &c);
        assert!(matches!(
            t,
            EndPlan::Local {
                id: 3,
                capacity: 2,
                sender: true,
                ..
            }
        ));
        assert!(matches!(
            r,
            EndPlan::Local {
                id: 3,
                capacity: 2,
                sender: false,
                ..
            }
        ));
        let mut locals = Locals::default();
        let (t, r) = (t.open(&mut locals), r.open(&mut locals));
        assert_eq!((t.id, r.id, t.ended, r.ended), (3, 3, false, false));
        let (t, r) = (tx(t), rx(r));
        assert!(matches!((&t.to, &r), (To::Local(_), Rx::Local(_))));
        assert_eq!(t.room(), 2, "the planned capacity");
        connected(t, r);
    }

    #[test]
    fn an_arc_across_workers_is_planned_as_a_ring() {
        let (p, c) = (Sleeper::new(), Sleeper::new());
        let (t, r) = plan(false, &p, &c);
        assert!(matches!(t, EndPlan::Made { id: 3, .. }));
        assert!(matches!(r, EndPlan::Made { id: 3, .. }));
        let mut locals = Locals::default();
        let (t, r) = (tx(t.open(&mut locals)), rx(r.open(&mut locals)));
        assert!(locals.waiting.is_empty(), "rings leave nothing waiting");
        assert!(matches!((&t.to, &r), (To::Ring(_), Rx::Ring(_))));
        assert_eq!(t.room(), 2, "the planned capacity");
        connected(t, r);
    }

    #[test]
    fn a_ring_wakes_the_consumer_worker_on_flush_and_the_producer_worker_on_drain() {
        let (p, c) = (Sleeper::new(), Sleeper::new());
        let (t, r) = plan(false, &p, &c);
        let mut locals = Locals::default();
        let (mut t, mut r) = (tx(t.open(&mut locals)), rx(r.open(&mut locals)));
        let long = Duration::from_secs(5);
        t.send(Item::Data(1));
        let start = Instant::now();
        c.park_unless(Some(long), || {
            t.flush();
            false
        });
        assert!(
            start.elapsed() < long / 2,
            "the consumer's worker was not woken"
        );
        let start = Instant::now();
        p.park_unless(Some(long), || {
            r.drain(10, |_| {});
            false
        });
        assert!(
            start.elapsed() < long / 2,
            "the producer's worker was not woken"
        );
    }

    #[test]
    fn the_two_local_ends_open_in_either_order_into_one_queue() {
        for receiver_first in [false, true] {
            let (p, c) = (Sleeper::new(), Sleeper::new());
            let (t, r) = plan(true, &p, &c);
            let mut locals = Locals::default();
            let (t, r) = if receiver_first {
                let r = r.open(&mut locals);
                assert_eq!(locals.waiting.len(), 1, "the sending end waits");
                (t.open(&mut locals), r)
            } else {
                let t = t.open(&mut locals);
                assert_eq!(locals.waiting.len(), 1, "the receiving end waits");
                (t, r.open(&mut locals))
            };
            assert!(locals.waiting.is_empty(), "both ends taken");
            connected(tx(t), rx(r));
        }
    }

    #[test]
    fn local_arcs_opened_interleaved_are_not_mixed_up() {
        let (p, c) = (Sleeper::new(), Sleeper::new());
        let f = ArcFactory::of::<u32>();
        let (t1, r1) = f.plan(1, 4, (0, &p.waker()), (0, &c.waker()));
        let (t2, r2) = f.plan(2, 4, (0, &p.waker()), (0, &c.waker()));
        let mut locals = Locals::default();
        let r2 = r2.open(&mut locals);
        let t1 = t1.open(&mut locals);
        let t2 = t2.open(&mut locals);
        let r1 = r1.open(&mut locals);
        assert!(locals.waiting.is_empty());
        assert_eq!((t1.id, r1.id, t2.id, r2.id), (1, 1, 2, 2));
        let (mut t1, mut r1, mut t2, mut r2) = (tx(t1), rx(r1), tx(t2), rx(r2));
        t1.send(Item::Data(1));
        t2.send(Item::Data(2));
        t1.flush();
        t2.flush();
        let (mut s1, mut s2) = (Vec::new(), Vec::new());
        r1.drain(10, |x| s1.push(x));
        r2.drain(10, |x| s2.push(x));
        assert_eq!((s1, s2), (vec![1], vec![2]));
    }
}
