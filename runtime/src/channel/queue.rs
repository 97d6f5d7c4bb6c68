//! Arcs: bounded FIFO queues carrying packets and in-band control items.
//!
//! An arc inside a section is a local queue: both ends belong to nodes of one
//! worker, which builds it on its own thread, so it is a plain `Rc<RefCell>`
//! vector with no atomics, and a drain takes items in place ([`Slots`]): no
//! shared queue state is written per packet. An arc between sections is a
//! lock-free SPSC ring (rtrb) of packets with a small one of control items
//! beside it, and each side wakes the other's worker.
//! Whatever the arc, a handler's emits are pushed onto a vector its sending
//! end owns (one code path, no dispatch per packet) and moved into the arc
//! once per batch. Either way the consumer sees items in the order they were
//! sent, and control items (end of stream, later update markers) travel in that
//! same order, which is what lets them mark a precise point in the flow.

use crate::channel::item::Control;
pub use crate::channel::item::Item;
pub(crate) use crate::channel::item::Stop;
use crate::channel::remote::{RemoteReceiver, RemoteSender};
use crate::channel::slots::Slots;
use crate::channel::wake::Waker;
use crate::sync::ring;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

/// A queue whose two ends run on the same worker thread.
pub(crate) struct Local<T> {
    items: RefCell<Slots<T>>,
    capacity: usize,
}

/// Control items a ring holds at once (beside its packets): one end of
/// stream and markers, which are rare; a flush that finds every slot in
/// use leaves the next one staged, as for packets. One under loom, so
/// that the models reach a full control ring.
#[cfg(not(loom))]
const RING_CONTROLS: usize = 8;
#[cfg(loom)]
const RING_CONTROLS: usize = 1;

/// The producing side of a ring: packets in a ring of their own, stored
/// as themselves (a `u64` takes 8 bytes, not the 16 of an `Item<u64>`:
/// half the cache lines cross between cores), control items in a small
/// ring beside it with their position among the packets.
pub(crate) struct RingTx<T> {
    packets: ring::Producer<T>,
    controls: ring::Producer<(u64, Control)>,
    /// Packets published so far: the position of a control item sent now.
    sent: u64,
    consumer: Arc<Waker>,
}

/// The receiving end of a ring.
pub(crate) struct RingRx<T> {
    packets: ring::Consumer<T>,
    controls: ring::Consumer<(u64, Control)>,
    /// Packets taken so far.
    taken: u64,
    producer: Arc<Waker>,
}

/// The sending end of an arc: emits are staged, then moved into the arc
/// per batch ([`Tx::flush`]).
pub(crate) struct Tx<T> {
    /// Emitted and not yet moved on, in order.
    staged: Slots<T>,
    pub(crate) to: To<T>,
}

/// Where a sending end's staged items go.
pub(crate) enum To<T> {
    /// A local queue: unbounded for a flush, as for emits; the bound is
    /// [`Tx::room`], checked before each batch.
    Local(Rc<Local<T>>),
    Ring(RingTx<T>),
    /// An arc to another machine, as many as it has credits for.
    Remote(Box<dyn RemoteSender<T>>),
}

/// The receiving end of an arc.
pub(crate) enum Rx<T> {
    Local(Rc<Local<T>>),
    Ring(RingRx<T>),
    Remote(Box<dyn RemoteReceiver<T>>),
}

impl<T> From<To<T>> for Tx<T> {
    fn from(to: To<T>) -> Self {
        Tx {
            staged: Slots::new(),
            to,
        }
    }
}

impl<T> From<RingTx<T>> for Tx<T> {
    fn from(ring: RingTx<T>) -> Self {
        To::Ring(ring).into()
    }
}

/// The end of an arc to another machine, sending through `link`.
pub(crate) fn remote_tx<T>(link: Box<dyn RemoteSender<T>>) -> Tx<T> {
    To::Remote(link).into()
}

/// True if the first staged item (a packet or not) may go to `link` now:
/// a packet needs a credit.
fn may_send<T>(link: &dyn RemoteSender<T>, packet: bool) -> bool {
    !packet || link.room() > 0
}

/// Creates an arc between two nodes of the calling worker.
pub(crate) fn local<T: 'static>(capacity: usize) -> (Tx<T>, Rx<T>) {
    let q = Rc::new(Local {
        items: RefCell::new(Slots::new()),
        capacity: capacity.max(1),
    });
    (To::Local(q.clone()).into(), Rx::Local(q))
}

/// Creates an arc between two workers; `producer` and `consumer` wake them.
pub(crate) fn ring<T: Send + 'static>(
    capacity: usize,
    producer: Arc<Waker>,
    consumer: Arc<Waker>,
) -> (RingTx<T>, RingRx<T>) {
    let (packets_tx, packets_rx) = ring::RingBuffer::new(capacity.max(1));
    let (controls_tx, controls_rx) = ring::RingBuffer::new(RING_CONTROLS);
    (
        RingTx {
            packets: packets_tx,
            controls: controls_tx,
            sent: 0,
            consumer,
        },
        RingRx {
            packets: packets_rx,
            controls: controls_rx,
            taken: 0,
            producer,
        },
    )
}

impl<T> Tx<T> {
    /// Sends an item; never blocks. The bound is enforced by
    /// [`Tx::room`], which the runtime checks before each batch.
    #[inline]
    pub(crate) fn send(&mut self, item: Item<T>) {
        self.staged.push(item);
    }

    /// Moves as many staged items as the arc takes now, in order. Returns
    /// whether any moved.
    pub(crate) fn flush(&mut self) -> bool {
        let staged = &mut self.staged;
        match &mut self.to {
            To::Local(q) => {
                if staged.is_empty() {
                    return false;
                }
                q.items.borrow_mut().append(staged);
                true
            }
            To::Ring(ring) => {
                let moved = ring.publish(staged);
                staged.cut();
                if moved {
                    ring.consumer.notify();
                }
                moved
            }
            To::Remote(link) => {
                let mut moved = false;
                while staged
                    .first_is_packet()
                    .is_some_and(|p| may_send(link.as_ref(), p))
                {
                    // Taken before it is sent: if encoding it panics, it
                    // is the one lost, and the rest stays in order.
                    let item = staged.take().expect("a first item");
                    link.send(item);
                    moved = true;
                }
                staged.cut();
                // Every flush sends the batch: the worker may park next, and
                // the other machine may be waiting for exactly these.
                link.flush();
                moved
            }
        }
    }

    /// True if nothing waits to be moved into the arc.
    pub(crate) fn is_flushed(&self) -> bool {
        self.staged.is_empty()
    }

    /// True if staged items wait and the arc has room for some: a flush
    /// would move them. Checked before parking, so that output held back
    /// by a full ring (an update marker among it) is never forgotten.
    pub(crate) fn can_flush(&self) -> bool {
        let Some(first) = self.staged.first_is_packet() else {
            return false;
        };
        match &self.to {
            To::Local(_) => true,
            To::Ring(r) if first => !r.packets.is_full(),
            To::Ring(r) => !r.controls.is_full(),
            To::Remote(link) => may_send(link.as_ref(), first),
        }
    }

    /// How many more items the consumer can take now (nothing while items
    /// are still staged). A batch handles at most this many packets, so an
    /// arc holds about its capacity, not a whole batch: what waits behind
    /// it (an update's marker, another input's share) is not starved.
    pub(crate) fn room(&self) -> usize {
        if !self.staged.is_empty() {
            return 0;
        }
        match &self.to {
            To::Local(q) => q.capacity.saturating_sub(q.items.borrow().len()),
            To::Ring(r) => r.packets.slots(),
            To::Remote(link) => link.room(),
        }
    }
}

impl<T> RingTx<T> {
    /// Moves staged items into the rings, in order, as far as they have
    /// room. Packets before a control item are published before it is,
    /// and it before the packets after it: a consumer that sees a packet
    /// then sees every control item before it (see [`RingRx::take`]).
    /// Returns whether any moved.
    fn publish(&mut self, staged: &mut Slots<T>) -> bool {
        let mut moved = false;
        loop {
            match staged.first_is_packet() {
                None => return moved,
                Some(true) => {
                    let n = self.packets.slots().min(staged.packets_ahead());
                    if n == 0 {
                        return moved;
                    }
                    let chunk = self.packets.write_chunk_uninit(n).expect("n <= free slots");
                    chunk.fill_from_iter(staged.take_packets(n));
                    self.sent += n as u64;
                }
                Some(false) => {
                    if self.controls.is_full() {
                        return moved;
                    }
                    let c = staged.take_control().expect("a control item first");
                    let chunk = self.controls.write_chunk_uninit(1).expect("a free slot");
                    chunk.fill_from_iter([(self.sent, c)]);
                }
            }
            moved = true;
        }
    }
}

impl<T> RingRx<T> {
    /// Hands up to `budget` packets to `on_data`, stopping at a control
    /// item (taken and returned as the stop; not when the budget ran out
    /// on the packet before it, as for a local queue).
    ///
    /// The packets' ring is read before the controls': a packet published
    /// after a control item makes that item visible too (the producer
    /// published it first), so no packet behind a control item is taken
    /// before it. A control item seen without the packets before it (they
    /// were published before it, but read here earlier) waits for them.
    #[inline]
    fn take(&mut self, budget: usize, mut on_data: impl FnMut(T)) -> (usize, Stop) {
        let ready = self.packets.slots();
        let next = self.controls.peek().ok().copied();
        let before = next.map_or(usize::MAX, |(at, _)| {
            let before = at.checked_sub(self.taken);
            before.expect("a control item is never behind packets already taken") as usize
        });
        let n = ready.min(before).min(budget);
        let stop = match next {
            Some((_, c)) if n == before && n < budget => c.into(),
            _ => Stop::None,
        };
        // Also if a handler panics: the slots read so far are freed (the
        // chunk commits them as it drops), and a producer parked on a
        // full ring must hear of it.
        let _notify = (n > 0 || stop != Stop::None).then(|| NotifyOnDrop(&self.producer));
        if n > 0 {
            let mut count = Count {
                taken: &mut self.taken,
                n: 0,
            };
            for x in self.packets.read_chunk(n).expect("n <= ready slots") {
                count.n += 1;
                on_data(x);
            }
        }
        if stop != Stop::None {
            let _ = self.controls.pop();
        }
        (n, stop)
    }
}

/// Adds the packets taken by a drain to a ring's count when the drain
/// ends, also by a panic of the handler.
struct Count<'a> {
    taken: &'a mut u64,
    n: u64,
}

impl Drop for Count<'_> {
    fn drop(&mut self) {
        *self.taken += self.n;
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
                // If a handler panics, the packets handled and the one
                // that panicked stay taken; the rest stays in order.
                let mut items = q.items.borrow_mut();
                let (n, stop) = items.drain(budget, on_data);
                items.cut();
                handled = n;
                stop
            }
            Rx::Ring(ring) => {
                let (n, stop) = ring.take(budget, on_data);
                handled = n;
                stop
            }
            Rx::Remote(link) => loop {
                if handled == budget {
                    break Stop::None;
                }
                match link.recv() {
                    Some(Item::Data(x)) => {
                        on_data(x);
                        handled += 1;
                    }
                    Some(Item::End) => break Stop::End,
                    Some(Item::Marker(id)) => break Stop::Marker(id),
                    None => break Stop::None,
                }
            },
        };
        (handled, stop)
    }

    /// False when a drain would do nothing now (see
    /// [`crate::channel::port::InPort::may_have_items`]): a remote arc's
    /// drain is always worth one, any other's only with an item waiting.
    #[inline]
    pub(crate) fn may_have_items(&self) -> bool {
        matches!(self, Rx::Remote(_)) || self.has_item()
    }

    /// True when an item is waiting (used before parking).
    pub(crate) fn has_item(&self) -> bool {
        match self {
            Rx::Local(q) => !q.items.borrow().is_empty(),
            Rx::Ring(r) => !r.packets.is_empty() || !r.controls.is_empty(),
            Rx::Remote(link) => link.has_item(),
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::channel::wake::Sleeper;
    use std::time::{Duration, Instant};

    /// What a consumer saw, in order.
    #[derive(Debug, PartialEq, Eq)]
    enum Seen {
        Data(u32),
        End,
        Marker(u64),
    }

    /// Drains once with `budget`, recording packets and the stop.
    fn drain_into(rx: &mut Rx<u32>, budget: usize, seen: &mut Vec<Seen>) -> (usize, Stop) {
        let (n, stop) = rx.drain(budget, |x| seen.push(Seen::Data(x)));
        match stop {
            Stop::None => {}
            Stop::End => seen.push(Seen::End),
            Stop::Marker(id) => seen.push(Seen::Marker(id)),
        }
        (n, stop)
    }

    /// A marker, then packets 0..10 with a marker after every third (two
    /// after the sixth) and an end of stream.
    fn mixed() -> (Vec<Item<u32>>, Vec<Seen>) {
        let mut items = vec![Item::Marker(100)];
        let mut expected = vec![Seen::Marker(100)];
        for i in 0..10 {
            items.push(Item::Data(i));
            expected.push(Seen::Data(i));
            if i % 3 == 2 {
                items.push(Item::Marker(u64::from(i)));
                expected.push(Seen::Marker(u64::from(i)));
            }
            if i == 5 {
                items.push(Item::Marker(101));
                expected.push(Seen::Marker(101));
            }
        }
        items.push(Item::End);
        expected.push(Seen::End);
        (items, expected)
    }

    /// Sends `items` through a local queue of `capacity`, never more than
    /// `room` allows, draining with `budget` whenever it is full.
    fn through_local(capacity: usize, budget: usize, items: Vec<Item<u32>>) -> Vec<Seen> {
        let (mut tx, mut rx) = local::<u32>(capacity);
        let mut seen = Vec::new();
        for item in items {
            while tx.room() == 0 {
                drain_into(&mut rx, budget, &mut seen);
            }
            tx.send(item);
            // As a node does at the end of each step.
            tx.flush();
        }
        while rx.has_item() {
            drain_into(&mut rx, budget, &mut seen);
        }
        seen
    }

    fn ring_ends(capacity: usize) -> (Tx<u32>, Rx<u32>, Sleeper, Sleeper) {
        let (producer, consumer) = (Sleeper::new(), Sleeper::new());
        let (tx, rx) = ring::<u32>(capacity, producer.waker(), consumer.waker());
        (tx.into(), Rx::Ring(rx), producer, consumer)
    }

    /// Stages all of `items` in a ring of `capacity`, then alternately
    /// flushes and drains with `budget` until everything went through.
    fn through_ring(capacity: usize, budget: usize, items: Vec<Item<u32>>) -> Vec<Seen> {
        let (mut tx, mut rx, _p, _c) = ring_ends(capacity);
        for item in items {
            tx.send(item);
        }
        let mut seen = Vec::new();
        let mut rounds = 0;
        while !tx.is_flushed() || rx.has_item() {
            tx.flush();
            drain_into(&mut rx, budget, &mut seen);
            rounds += 1;
            assert!(rounds < 1000, "the ring stopped moving: {seen:?}");
        }
        seen
    }

    #[test]
    fn a_handler_panicking_in_a_local_drain_leaves_the_rest_in_order() {
        let (mut tx, mut rx) = local::<u32>(16);
        (0..6).for_each(|i| tx.send(Item::Data(i)));
        assert!(!rx.has_item(), "staged until flushed");
        assert!(tx.flush());
        let mut seen = Vec::new();
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            rx.drain(100, |x| {
                assert_ne!(x, 2, "boom");
                seen.push(x);
            })
        }));
        assert!(panicked.is_err());
        assert_eq!(seen, [0, 1]);
        assert!(rx.has_item());
        tx.send(Item::Data(6));
        tx.send(Item::End);
        tx.flush();
        let mut rest = Vec::new();
        let (n, stop) = rx.drain(100, |x| rest.push(x));
        assert_eq!((n, stop, rest), (4, Stop::End, vec![3, 4, 5, 6]));
        assert!(!rx.has_item());
    }

    #[test]
    fn a_handler_panicking_on_the_last_item_leaves_the_local_queue_empty_with_room() {
        let (mut tx, mut rx) = local::<u32>(1);
        tx.send(Item::Data(1));
        tx.flush();
        assert_eq!(tx.room(), 0);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            rx.drain(10, |_| panic!("fails"))
        }));
        assert!(r.is_err());
        assert!(!rx.has_item(), "the packet that panicked was taken");
        assert_eq!(tx.room(), 1, "and its slot is free at once");
    }

    /// A transport whose encoding of packet 2 panics (a user's
    /// `Serialize` can); it records what it was given.
    struct PanicsOnTwo(std::sync::Arc<std::sync::Mutex<Vec<u32>>>);

    impl RemoteSender<u32> for PanicsOnTwo {
        fn room(&self) -> usize {
            usize::MAX
        }
        fn send(&mut self, item: Item<u32>) {
            if let Item::Data(x) = item {
                assert_ne!(x, 2, "cannot encode 2");
                self.0.lock().unwrap().push(x);
            }
        }
        fn flush(&mut self) {}
        fn wake_with(&mut self, _: Box<dyn Fn() + Send + Sync>) {}
    }

    #[test]
    fn a_remote_send_that_panics_loses_that_packet_only() {
        let sent = std::sync::Arc::default();
        let mut tx = remote_tx(Box::new(PanicsOnTwo(std::sync::Arc::clone(&sent))));
        (1..=4).for_each(|i| tx.send(Item::Data(i)));
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| tx.flush()));
        assert!(r.is_err());
        assert!(tx.can_flush());
        assert!(tx.flush(), "the rest goes on the next flush");
        assert!(tx.is_flushed());
        assert_eq!(*sent.lock().unwrap(), [1, 3, 4]);
    }

    #[test]
    fn a_local_queue_keeps_markers_and_end_in_order_with_packets_at_capacity_one() {
        let (items, expected) = mixed();
        assert_eq!(through_local(1, 1, items), expected);
    }

    #[test]
    fn a_local_queue_keeps_markers_and_end_in_order_with_packets_at_larger_capacity() {
        for (capacity, budget) in [(4, 1), (4, 2), (4, 100), (64, 100)] {
            let (items, expected) = mixed();
            assert_eq!(
                through_local(capacity, budget, items),
                expected,
                "capacity {capacity}, budget {budget}"
            );
        }
    }

    #[test]
    fn a_ring_keeps_markers_and_end_in_order_with_packets_at_capacity_one() {
        let (items, expected) = mixed();
        assert_eq!(through_ring(1, 1, items), expected);
        let (items, expected) = mixed();
        assert_eq!(through_ring(1, 100, items), expected);
    }

    #[test]
    fn a_ring_keeps_markers_and_end_in_order_with_packets_at_larger_capacity() {
        for (capacity, budget) in [(3, 1), (4, 2), (4, 100), (64, 100)] {
            let (items, expected) = mixed();
            assert_eq!(
                through_ring(capacity, budget, items),
                expected,
                "capacity {capacity}, budget {budget}"
            );
        }
    }

    #[test]
    fn a_ring_passes_more_control_items_in_a_row_than_it_holds_in_order() {
        let markers = 0..3 * RING_CONTROLS as u64;
        let items = || {
            let middle = markers.clone().map(Item::Marker);
            let items = [Item::Data(1)].into_iter().chain(middle);
            items.chain([Item::Data(2), Item::End]).collect()
        };
        let mut expected = vec![Seen::Data(1)];
        expected.extend(markers.clone().map(Seen::Marker));
        expected.extend([Seen::Data(2), Seen::End]);
        for (capacity, budget) in [(1, 1), (4, 100)] {
            assert_eq!(through_ring(capacity, budget, items()), expected);
        }
    }

    #[test]
    fn a_ring_full_of_control_items_says_so_until_one_is_taken() {
        let (mut tx, mut rx, _p, _c) = ring_ends(4);
        for id in 0..=RING_CONTROLS as u64 {
            tx.send(Item::Marker(id));
        }
        assert!(tx.flush());
        assert!(
            !tx.is_flushed() && !tx.can_flush(),
            "one marker left, no room"
        );
        assert_eq!(tx.room(), 0);
        let mut seen = Vec::new();
        assert_eq!(drain_into(&mut rx, 100, &mut seen), (0, Stop::Marker(0)));
        assert!(tx.can_flush() && tx.flush() && tx.is_flushed());
        assert_eq!(tx.room(), 4);
    }

    #[test]
    fn taking_only_a_control_item_wakes_a_producer_waiting_for_room_for_one() {
        let (mut tx, mut rx, producer, _c) = ring_ends(4);
        for id in 0..=RING_CONTROLS as u64 {
            tx.send(Item::Marker(id));
        }
        assert!(tx.flush() && !tx.can_flush());
        let start = Instant::now();
        producer.park_unless(Some(Duration::from_secs(5)), || {
            // The consumer takes a marker (and no packet) right after the
            // producer's last look.
            assert_eq!(rx.drain(100, |_| {}), (0, Stop::Marker(0)));
            false
        });
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "the producer slept through the freed slot"
        );
    }

    #[test]
    fn a_ring_handler_panicking_before_two_markers_leaves_them_next_in_order() {
        let (mut tx, mut rx, _p, _c) = ring_ends(8);
        let items = [
            Item::Data(1),
            Item::Data(2),
            Item::Marker(5),
            Item::Marker(6),
        ];
        for item in items.into_iter().chain([Item::Data(3), Item::End]) {
            tx.send(item);
        }
        assert!(tx.flush() && tx.is_flushed());
        let mut seen = Vec::new();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            rx.drain(10, |x| {
                assert_ne!(x, 2, "fails on 2");
                seen.push(x);
            })
        }));
        assert!(r.is_err());
        assert_eq!(seen, [1]);
        assert_eq!(rx.drain(10, |_| unreachable!()), (0, Stop::Marker(5)));
        assert_eq!(rx.drain(0, |_| unreachable!()), (0, Stop::None));
        assert_eq!(rx.drain(10, |_| unreachable!()), (0, Stop::Marker(6)));
        assert_eq!(rx.drain(1, |x| seen.push(x)), (1, Stop::None));
        assert_eq!(rx.drain(1, |_| unreachable!()), (0, Stop::End));
        assert_eq!(seen, [1, 3]);
        assert!(!rx.has_item());
    }

    /// A xorshift generator: the same sequence on every run.
    fn xorshift(mut seed: u64) -> impl FnMut() -> u64 {
        move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        }
    }

    #[test]
    fn a_ring_between_threads_keeps_random_mixes_in_order_whatever_the_budget() {
        for capacity in [1, 2, 3, 7] {
            let (producer, consumer) = (Sleeper::new(), Sleeper::new());
            let (tx, rx) = ring::<u32>(capacity, producer.waker(), consumer.waker());
            let mut rx = Rx::Ring(rx);
            let n = 50_000;
            // The ring's end crosses to the thread; a `Tx` is made there.
            let sending = std::thread::spawn(move || {
                let (mut tx, mut rnd, mut markers) =
                    (Tx::from(tx), xorshift(12345 ^ capacity as u64), 0);
                let flush = |tx: &mut Tx<u32>| {
                    while !tx.is_flushed() {
                        if !tx.flush() {
                            producer.park_unless(None, || tx.can_flush());
                        }
                    }
                };
                for i in 0..n {
                    tx.send(Item::Data(i));
                    while rnd() % 5 == 0 {
                        tx.send(Item::Marker(markers));
                        markers += 1;
                    }
                    if rnd() % 3 == 0 {
                        flush(&mut tx);
                    }
                }
                tx.send(Item::End);
                flush(&mut tx);
                markers
            });
            let mut rnd = xorshift(999);
            let (mut next, mut markers) = (0, 0);
            loop {
                let budget = (rnd() % 6) as usize;
                let (k, stop) = rx.drain(budget, |x| {
                    assert_eq!(x, next, "capacity {capacity}");
                    next += 1;
                });
                assert!(k <= budget);
                match stop {
                    Stop::None if k == 0 => consumer.park_unless(None, || rx.has_item()),
                    Stop::None => {}
                    Stop::Marker(id) => {
                        assert_eq!(id, markers, "capacity {capacity}");
                        markers += 1;
                    }
                    Stop::End => break,
                }
            }
            assert_eq!(next, n);
            assert_eq!(sending.join().unwrap(), markers);
        }
    }

    #[test]
    fn a_drain_stops_after_a_control_item_and_the_next_one_resumes_behind_it() {
        let (mut tx, mut rx) = local::<u32>(8);
        for item in [Item::Data(1), Item::Marker(5), Item::Data(2), Item::End] {
            tx.send(item);
        }
        tx.flush();
        let mut seen = Vec::new();
        assert_eq!(drain_into(&mut rx, 100, &mut seen), (1, Stop::Marker(5)));
        assert_eq!(drain_into(&mut rx, 100, &mut seen), (1, Stop::End));
        assert_eq!(drain_into(&mut rx, 100, &mut seen), (0, Stop::None));
        assert!(!rx.has_item());
    }

    #[test]
    fn a_drain_handles_at_most_its_budget() {
        for ring in [false, true] {
            let (mut tx, mut rx) = if ring {
                let (tx, rx, _, _) = ring_ends(8);
                (tx, rx)
            } else {
                local::<u32>(8)
            };
            (0..5).for_each(|i| tx.send(Item::Data(i)));
            tx.flush();
            let mut seen = Vec::new();
            assert_eq!(
                drain_into(&mut rx, 2, &mut seen),
                (2, Stop::None),
                "ring: {ring}"
            );
            assert_eq!(
                drain_into(&mut rx, 2, &mut seen),
                (2, Stop::None),
                "ring: {ring}"
            );
            assert_eq!(
                drain_into(&mut rx, 2, &mut seen),
                (1, Stop::None),
                "ring: {ring}"
            );
            assert_eq!(seen, (0..5).map(Seen::Data).collect::<Vec<_>>());
        }
    }

    #[test]
    fn a_full_local_queue_has_no_room_until_its_consumer_drains() {
        let (mut tx, mut rx) = local::<u32>(2);
        assert_eq!(tx.room(), 2);
        tx.send(Item::Data(1));
        assert_eq!(tx.room(), 0, "no room while items are staged");
        assert!(!tx.is_flushed() && tx.can_flush());
        assert!(tx.flush());
        assert_eq!(tx.room(), 1);
        tx.send(Item::Marker(9));
        tx.flush();
        assert_eq!(tx.room(), 0, "a control item takes a slot too");
        // Sending and flushing never block, even past the bound (a local
        // queue takes all a batch emitted); room stays at 0.
        tx.send(Item::Data(2));
        assert!(tx.flush());
        assert_eq!(tx.room(), 0);
        assert!(tx.is_flushed() && !tx.can_flush() && !tx.flush());
        let mut seen = Vec::new();
        drain_into(&mut rx, 100, &mut seen);
        assert_eq!(tx.room(), 1);
        drain_into(&mut rx, 100, &mut seen);
        assert_eq!(tx.room(), 2);
        assert_eq!(seen, [Seen::Data(1), Seen::Marker(9), Seen::Data(2)]);
    }

    #[test]
    fn a_local_queue_of_capacity_zero_holds_one() {
        let (tx, _rx) = local::<u32>(0);
        assert_eq!(tx.room(), 1);
    }

    #[test]
    fn a_full_ring_keeps_what_does_not_fit_staged_and_reports_no_room() {
        let (mut tx, mut rx, _p, _c) = ring_ends(2);
        assert_eq!(tx.room(), 2);
        (0..5).for_each(|i| tx.send(Item::Data(i)));
        assert_eq!(tx.room(), 0, "no room while items are staged");
        assert!(!rx.has_item(), "nothing reaches the ring before a flush");
        assert!(tx.can_flush());
        assert!(tx.flush());
        assert!(!tx.is_flushed(), "3 items still staged");
        assert!(!tx.can_flush(), "the ring is full");
        assert!(!tx.flush(), "a flush into a full ring moves nothing");
        assert_eq!(tx.room(), 0);
        let mut seen = Vec::new();
        assert_eq!(drain_into(&mut rx, 1, &mut seen), (1, Stop::None));
        assert!(tx.can_flush());
        assert!(tx.flush());
        assert!(!tx.can_flush());
        drain_into(&mut rx, 100, &mut seen);
        assert!(tx.flush());
        assert!(tx.is_flushed(), "the last 2 fit at once");
        assert_eq!(tx.room(), 0);
        drain_into(&mut rx, 100, &mut seen);
        assert_eq!(tx.room(), 2);
        assert!(!tx.flush(), "nothing staged");
        assert_eq!(seen, (0..5).map(Seen::Data).collect::<Vec<_>>());
    }

    /// Parks `sleeper` for at most `timeout`; `publish` runs after it
    /// announced its sleep, as a racing peer would. Returns how long it slept.
    fn parked_while(sleeper: &Sleeper, timeout: Duration, publish: impl FnOnce()) -> Duration {
        let start = Instant::now();
        sleeper.park_unless(Some(timeout), || {
            publish();
            false
        });
        start.elapsed()
    }

    const LONG: Duration = Duration::from_secs(5);
    const SHORT: Duration = Duration::from_millis(50);

    #[test]
    fn a_flush_into_a_ring_wakes_its_parked_consumer() {
        let (mut tx, _rx, _p, consumer) = ring_ends(2);
        tx.send(Item::Data(1));
        let slept = parked_while(&consumer, LONG, || assert!(tx.flush()));
        assert!(slept < LONG / 2, "the consumer slept through the flush");
    }

    #[test]
    fn a_flush_of_a_marker_into_a_ring_wakes_its_parked_consumer() {
        let (mut tx, _rx, _p, consumer) = ring_ends(2);
        tx.send(Item::Marker(3));
        let slept = parked_while(&consumer, LONG, || assert!(tx.flush()));
        assert!(slept < LONG / 2, "the consumer slept through the marker");
    }

    #[test]
    fn a_flush_that_moves_nothing_lets_the_consumer_sleep() {
        let (mut tx, _rx, _p, consumer) = ring_ends(1);
        tx.send(Item::Data(1));
        tx.flush();
        tx.send(Item::Data(2));
        let slept = parked_while(&consumer, SHORT, || assert!(!tx.flush()));
        assert!(slept >= SHORT, "woken without anything published");
    }

    #[test]
    fn a_drain_that_frees_room_wakes_the_parked_producer() {
        let (mut tx, mut rx, producer, _c) = ring_ends(1);
        tx.send(Item::Data(1));
        tx.send(Item::Data(2));
        tx.flush();
        let slept = parked_while(&producer, LONG, || {
            assert_eq!(rx.drain(10, |_| {}).0, 1);
        });
        assert!(
            slept < LONG / 2,
            "the producer slept through the freed room"
        );
        assert!(tx.flush(), "the room is there");
    }

    #[test]
    fn a_drain_of_an_empty_ring_lets_the_producer_sleep() {
        let (_tx, mut rx, producer, _c) = ring_ends(1);
        let slept = parked_while(&producer, SHORT, || {
            assert_eq!(rx.drain(10, |_| {}), (0, Stop::None));
        });
        assert!(slept >= SHORT, "woken without room freed");
    }

    #[test]
    fn a_panicking_handler_still_frees_the_slots_it_read_and_wakes_the_producer() {
        let (mut tx, mut rx, producer, _c) = ring_ends(2);
        tx.send(Item::Data(1));
        tx.send(Item::Data(2));
        tx.flush();
        assert_eq!(tx.room(), 0);
        let slept = parked_while(&producer, LONG, || {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                rx.drain(10, |_| panic!("handler fails"))
            }));
            assert!(r.is_err());
        });
        assert!(
            slept < LONG / 2,
            "the producer slept through the freed slot"
        );
        assert_eq!(tx.room(), 1, "the packet whose handler panicked was taken");
        let mut seen = Vec::new();
        drain_into(&mut rx, 10, &mut seen);
        assert_eq!(seen, [Seen::Data(2)]);
    }
}
