//! A FIFO of arc items: packets in a plain vector taken from the front in
//! place, control items (end of stream, update markers) beside them with
//! their position.
//!
//! A packet is stored as itself, not as an `Option<Item>` (for a `u64`
//! half the bytes), and a drain reads packets up to the next control item
//! in a loop that checks nothing else per packet: no tag, no slot written
//! back, the position in a register. `perf` showed those per-packet tag
//! reads and writes dominating an in-section hop; without them the hop
//! fell from 2.4 to 1.5 ns (`cargo bench --bench pipeline`, medians of 3
//! interleaved runs). The taken prefix is cut off once it is at least as
//! long as what is left, so each packet is moved O(1) times however the
//! queue is drained.

use crate::channel::item::{Control, Item, Stop};
use std::collections::VecDeque;
use std::mem::MaybeUninit;

/// Items in order. Invariant (what the `unsafe` reads rely on):
/// `data[head..]` are initialized packets held here, `data[..head]` were
/// moved out and are never read or dropped again. Each control item comes
/// before the packet at its index (`head <= index <= data.len()`),
/// controls in order.
pub(crate) struct Slots<T> {
    data: Vec<MaybeUninit<T>>,
    head: usize,
    controls: VecDeque<(usize, Control)>,
}

impl<T> Slots<T> {
    pub(crate) const fn new() -> Self {
        Slots {
            data: Vec::new(),
            head: 0,
            controls: VecDeque::new(),
        }
    }

    /// Adds `item` at the back.
    #[inline]
    pub(crate) fn push(&mut self, item: Item<T>) {
        let control = match item {
            Item::Data(x) => return self.push_packet(x),
            Item::End => Control::End,
            Item::Marker(id) => Control::Marker(id),
        };
        self.controls.push_back((self.data.len(), control));
    }

    /// Adds a packet at the back. The common case (room in the vector)
    /// is a store and a length update; growing is a call of its own.
    #[inline]
    fn push_packet(&mut self, x: T) {
        if self.data.len() == self.data.capacity() {
            self.grow_one();
        }
        let len = self.data.len();
        // SAFETY: `len < capacity` (checked, or `grow_one` made room): the
        // slot is allocated and unused.
        unsafe {
            self.data.as_mut_ptr().add(len).write(MaybeUninit::new(x));
            self.data.set_len(len + 1);
        }
    }

    /// Makes room for one more packet, in a call given a temporary: a call
    /// given the address of `self.data` would keep the caller's outputs in
    /// memory (see `channel::port::with_local`). The vector is back in
    /// place before a failure to grow panics, so the invariant holds after.
    #[inline(always)]
    fn grow_one(&mut self) {
        let mut data = std::mem::take(&mut self.data);
        let grown = grow(&mut data);
        self.data = data;
        if let Err(e) = grown {
            panic!(
                "an arc's buffer of {} packets cannot grow: {e}",
                self.data.len()
            );
        }
    }

    /// Number of items held.
    pub(crate) fn len(&self) -> usize {
        self.data.len() - self.head + self.controls.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.head == self.data.len() && self.controls.is_empty()
    }

    /// Whether the first item is a packet (`None` when there is none).
    pub(crate) fn first_is_packet(&self) -> Option<bool> {
        match self.controls.front() {
            Some(&(at, _)) => Some(at > self.head),
            None => (self.head < self.data.len()).then_some(true),
        }
    }

    /// Packets before the first control item (all of them if there is
    /// none).
    pub(crate) fn packets_ahead(&self) -> usize {
        self.controls.front().map_or(self.data.len(), |&(at, _)| at) - self.head
    }

    /// Takes the first `n` packets, which must come before any control
    /// item (`n <= packets_ahead()`), as an iterator: `head` moves past
    /// them at once, and the iterator owns them (those it does not yield
    /// are dropped with it).
    #[inline]
    pub(crate) fn take_packets(&mut self, n: usize) -> Packets<'_, T> {
        assert!(
            n <= self.packets_ahead(),
            "packets taken past a control item"
        );
        let start = self.head;
        self.head += n;
        Packets {
            taken: &mut self.data[start..start + n],
            at: 0,
        }
    }

    /// Takes the first item if it is a control item.
    pub(crate) fn take_control(&mut self) -> Option<Control> {
        match self.controls.front() {
            Some(&(at, c)) if at == self.head => {
                self.controls.pop_front();
                Some(c)
            }
            _ => None,
        }
    }

    /// Moves every item of `from` behind this one's, in order. When this
    /// one is empty (the usual case: its consumer took all before) the two
    /// are swapped: no packet is moved, and `from` goes on with this one's
    /// emptied buffers. This one's taken prefix is cut first, so it stays
    /// bounded even if every drain of it panics before its own cut.
    pub(crate) fn append(&mut self, from: &mut Slots<T>) {
        self.cut();
        if self.is_empty() {
            // Cut to nothing: empty buffers, head 0.
            std::mem::swap(self, from);
            return;
        }
        let (len, head) = (self.data.len(), from.head);
        // Room first: a failure to grow panics before anything moved, so
        // no control item is left pointing past the packets.
        self.data.reserve(from.data.len() - head);
        self.controls.reserve(from.controls.len());
        self.controls
            .extend(from.controls.drain(..).map(|(at, c)| (at - head + len, c)));
        // Moves the held packets only (`MaybeUninit` moves are bitwise);
        // the taken prefix, then dropped, drops nothing.
        self.data.extend(from.data.drain(from.head..));
        from.data.clear();
        from.head = 0;
    }

    /// Takes the first item, if any.
    #[inline]
    pub(crate) fn take(&mut self) -> Option<Item<T>> {
        if let Some(c) = self.take_control() {
            return Some(c.into());
        }
        if self.packets_ahead() == 0 {
            return None;
        }
        self.take_packets(1).next().map(Item::Data)
    }

    /// Hands up to `budget` packets to `on_data`, stopping at a control
    /// item (taken and returned as the stop). If `on_data` panics, the
    /// packets handled and the one that panicked stay taken and the rest
    /// stays in order. The taken prefix is cut by the next [`Slots::cut`].
    #[inline]
    pub(crate) fn drain(&mut self, budget: usize, mut on_data: impl FnMut(T)) -> (usize, Stop) {
        let Slots {
            data,
            head,
            controls,
        } = self;
        let start = *head;
        let until = controls.front().map_or(data.len(), |&(at, _)| at);
        let end = until.min(start.saturating_add(budget));
        let mut taking = Taking { head, at: start };
        while taking.at < end {
            let i = taking.at;
            taking.at += 1;
            // SAFETY: `head <= i < end <= data.len()`: a packet held here
            // (the invariant). `Taking` moves `head` past it also if
            // `on_data` unwinds, so it is never read or dropped again.
            on_data(unsafe { data.get_unchecked(i).assume_init_read() });
        }
        let handled = end - start;
        drop(taking);
        if handled < budget && end == until {
            if let Some((_, c)) = controls.pop_front() {
                return (handled, c.into());
            }
        }
        (handled, Stop::None)
    }

    /// Cuts off the taken prefix once it is at least as long as the rest
    /// (all of it when no packet is left).
    pub(crate) fn cut(&mut self) {
        let held = self.data.len() - self.head;
        if self.head == 0 || (held > 0 && self.head < held) {
            return;
        }
        // The prefix was moved out; dropping `MaybeUninit`s drops nothing.
        let head = std::mem::take(&mut self.head);
        self.data.drain(..head);
        self.controls.iter_mut().for_each(|(at, _)| *at -= head);
    }
}

impl<T> Drop for Slots<T> {
    fn drop(&mut self) {
        let held: *mut [MaybeUninit<T>] = &mut self.data[self.head..];
        // SAFETY: `data[head..]` are packets held here (the invariant),
        // and `MaybeUninit<T>` has `T`'s layout. Dropped as one slice, so
        // a packet whose drop panics does not keep the rest from being
        // dropped; the vector then frees its buffer without dropping
        // `MaybeUninit`s.
        unsafe { std::ptr::drop_in_place(held as *mut [T]) };
    }
}

/// Makes room for one more packet in `data`. Never panics.
#[cold]
#[inline(never)]
fn grow<T>(data: &mut Vec<MaybeUninit<T>>) -> Result<(), std::collections::TryReserveError> {
    data.try_reserve(1)
}

/// Packets taken by [`Slots::take_packets`], moved out one by one.
pub(crate) struct Packets<'a, T> {
    /// `taken[at..]` are packets owned here: moved out of the slots (their
    /// `head` is past them), not yet yielded.
    taken: &'a mut [MaybeUninit<T>],
    at: usize,
}

impl<T> Iterator for Packets<'_, T> {
    type Item = T;
    #[inline]
    fn next(&mut self) -> Option<T> {
        let x = self.taken.get(self.at)?;
        self.at += 1;
        // SAFETY: a packet owned here (see `taken`), and `at` moved past
        // it: read once.
        Some(unsafe { x.assume_init_read() })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.taken.len() - self.at;
        (n, Some(n))
    }
}

impl<T> Drop for Packets<'_, T> {
    fn drop(&mut self) {
        let rest: *mut [MaybeUninit<T>] = &mut self.taken[self.at..];
        // SAFETY: packets owned here and never yielded (see `taken`);
        // `MaybeUninit<T>` has `T`'s layout. Nothing reads them after.
        unsafe { std::ptr::drop_in_place(rest as *mut [T]) };
    }
}

/// Moves a drain's position into `head` when the drain ends, also by a
/// panic of the handler.
struct Taking<'a> {
    head: &'a mut usize,
    at: usize,
}

impl Drop for Taking<'_> {
    fn drop(&mut self) {
        *self.head = self.at;
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::rc::Rc;

    /// Every item left, in order, taken one by one.
    fn rest<T>(s: &mut Slots<T>) -> Vec<Item<T>> {
        std::iter::from_fn(|| s.take()).collect()
    }

    fn filled(n: u32) -> Slots<u32> {
        let mut s = Slots::new();
        (0..n).for_each(|i| s.push(Item::Data(i)));
        s
    }

    fn drained(s: &mut Slots<u32>, budget: usize) -> (Vec<u32>, Stop) {
        let mut got = Vec::new();
        let (n, stop) = s.drain(budget, |x| got.push(x));
        assert_eq!(n, got.len());
        (got, stop)
    }

    #[test]
    fn packets_come_out_in_order_and_a_cut_keeps_the_rest() {
        let mut s = filled(10);
        assert_eq!(drained(&mut s, 2), (vec![0, 1], Stop::None));
        assert_eq!((s.len(), s.first_is_packet()), (8, Some(true)));
        s.cut();
        assert_eq!(s.data.len(), 10, "2 taken of 10: not cut yet");
        assert_eq!(drained(&mut s, 3), (vec![2, 3, 4], Stop::None));
        s.cut();
        assert_eq!((s.head, s.data.len()), (0, 5), "5 taken, 5 left: cut");
        assert_eq!(drained(&mut s, 100), (vec![5, 6, 7, 8, 9], Stop::None));
        assert!(s.is_empty() && s.first_is_packet().is_none());
        s.cut();
        assert_eq!(s.data.len(), 0);
    }

    #[test]
    fn control_items_keep_their_place_among_packets() {
        let mut s = Slots::new();
        s.push(Item::Marker(1));
        (0..3).for_each(|i| s.push(Item::Data(i)));
        s.push(Item::Marker(2));
        s.push(Item::Marker(3));
        s.push(Item::Data(3));
        s.push(Item::End);
        assert_eq!((s.len(), s.first_is_packet()), (8, Some(false)));
        assert_eq!(drained(&mut s, 10), (vec![], Stop::Marker(1)));
        // The budget used up just before a marker leaves it.
        assert_eq!(drained(&mut s, 3), (vec![0, 1, 2], Stop::None));
        assert_eq!(s.first_is_packet(), Some(false));
        s.cut();
        assert_eq!(drained(&mut s, 10), (vec![], Stop::Marker(2)));
        assert_eq!(s.take(), Some(Item::Marker(3)));
        assert_eq!(drained(&mut s, 10), (vec![3], Stop::End));
        assert!(s.is_empty());
    }

    #[test]
    fn appending_keeps_controls_in_place_whatever_was_taken_on_either_side() {
        // Taking all three of `q` makes `append` swap (with `from` partly
        // taken); fewer, extend behind what is left.
        for taken_q in 0..=3 {
            for taken_from in 0..=4 {
                let mut q = filled(2);
                q.push(Item::Marker(7));
                (0..taken_q).for_each(|_| {
                    q.take();
                });
                let mut from = Slots::new();
                from.push(Item::Data(10));
                from.push(Item::Marker(8));
                from.push(Item::Data(11));
                from.push(Item::End);
                (0..taken_from).for_each(|_| {
                    from.take();
                });
                q.append(&mut from);
                assert!(from.is_empty());
                let want: Vec<Item<u32>> = [Item::Data(0), Item::Data(1), Item::Marker(7)]
                    .into_iter()
                    .skip(taken_q)
                    .chain(
                        [Item::Data(10), Item::Marker(8), Item::Data(11), Item::End]
                            .into_iter()
                            .skip(taken_from),
                    )
                    .collect();
                assert_eq!(rest(&mut q), want, "{taken_q} and {taken_from} taken");
            }
        }
    }

    #[test]
    fn a_panic_while_draining_leaves_what_was_taken_taken() {
        let mut s = filled(6);
        let r = catch_unwind(AssertUnwindSafe(|| {
            s.drain(10, |x| assert_ne!(x, 2, "boom"));
        }));
        assert!(r.is_err());
        let rest: Vec<Item<u32>> = rest(&mut s);
        assert_eq!(
            rest,
            [3, 4, 5].map(Item::Data),
            "0, 1 and the one that panicked are gone"
        );
    }

    /// Counts its drops.
    struct Counted(Rc<Cell<u32>>);

    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.set(self.0.get() + 1);
        }
    }

    #[test]
    fn every_packet_is_dropped_once_whatever_path_it_takes() {
        let drops = Rc::new(Cell::new(0));
        let packet = || Item::Data(Counted(drops.clone()));
        let mut q = Slots::new();
        (0..4).for_each(|_| q.push(packet()));
        // Two handled, the third panics: three dropped by the handler.
        let r = catch_unwind(AssertUnwindSafe(|| {
            let mut n = 0;
            q.drain(10, |_p| {
                n += 1;
                assert!(n < 3, "boom");
            });
        }));
        assert!(r.is_err());
        assert_eq!(drops.get(), 3);
        let mut staged = Slots::new();
        (0..3).for_each(|_| staged.push(packet()));
        staged.push(Item::Marker(1));
        staged.take();
        assert_eq!(drops.get(), 4, "taken by `take`, dropped by the caller");
        q.append(&mut staged);
        q.cut();
        assert_eq!(q.len(), 4, "one, two more and the marker");
        let (n, _) = q.drain(1, drop);
        assert_eq!((n, drops.get()), (1, 5));
        drop(q);
        drop(staged);
        assert_eq!(drops.get(), 7, "the two still held, dropped with the queue");
    }

    #[test]
    fn packets_taken_as_a_run_are_each_yielded_or_dropped_once() {
        let drops = Rc::new(Cell::new(0));
        let mut s = Slots::new();
        (0..5).for_each(|_| s.push(Item::Data(Counted(drops.clone()))));
        s.push(Item::Marker(7));
        s.push(Item::Data(Counted(drops.clone())));
        assert_eq!(s.packets_ahead(), 5);
        assert_eq!(s.take_control(), None, "a packet comes first");
        let mut run = s.take_packets(3);
        drop(run.next());
        assert_eq!(drops.get(), 1);
        drop(run);
        assert_eq!(
            drops.get(),
            3,
            "the two never yielded, dropped with the run"
        );
        assert_eq!(s.packets_ahead(), 2);
        assert_eq!(s.take_packets(2).count(), 2);
        assert_eq!(drops.get(), 5);
        assert_eq!(s.packets_ahead(), 0);
        assert_eq!(s.take_control(), Some(Control::Marker(7)));
        assert_eq!(s.packets_ahead(), 1);
        drop(s);
        assert_eq!(
            drops.get(),
            6,
            "the packet behind the marker, with the queue"
        );
    }

    #[test]
    #[should_panic(expected = "past a control item")]
    fn packets_are_never_taken_past_a_control_item() {
        let mut s = filled(2);
        s.push(Item::End);
        s.push(Item::Data(9));
        let _ = s.take_packets(3);
    }

    #[test]
    fn a_panic_just_before_a_control_item_leaves_it_next() {
        let mut s = filled(3);
        s.push(Item::Marker(5));
        s.push(Item::Data(3));
        let r = catch_unwind(AssertUnwindSafe(|| {
            s.drain(10, |x| assert_ne!(x, 2, "boom"));
        }));
        assert!(r.is_err());
        assert_eq!((s.len(), s.first_is_packet()), (2, Some(false)));
        assert_eq!(drained(&mut s, 0), (vec![], Stop::None), "no budget: stays");
        assert_eq!(drained(&mut s, 10), (vec![], Stop::Marker(5)));
        assert_eq!(drained(&mut s, 10), (vec![3], Stop::None));
    }

    /// Counts its drops; panics in its drop if `loud`.
    struct Loud(Rc<Cell<u32>>, bool);

    impl Drop for Loud {
        fn drop(&mut self) {
            self.0.set(self.0.get() + 1);
            assert!(!self.1, "a packet's drop panics");
        }
    }

    #[test]
    fn dropping_a_queue_drops_every_packet_held_even_if_one_drop_panics() {
        let drops = Rc::new(Cell::new(0));
        let mut s = Slots::new();
        for i in 0..6u64 {
            s.push(Item::Data(Loud(drops.clone(), i == 3)));
            s.push(Item::Marker(i));
        }
        assert!(matches!(s.take(), Some(Item::Data(_))));
        assert_eq!(drops.get(), 1, "the taken one");
        assert!(matches!(s.take(), Some(Item::Marker(0))));
        let r = catch_unwind(AssertUnwindSafe(move || drop(s)));
        assert!(r.is_err());
        assert_eq!(drops.get(), 6, "the five held, the loud one among them");
    }

    #[test]
    fn append_swaps_into_an_empty_queue_and_appends_behind_items() {
        let mut q = filled(3);
        drained(&mut q, 3);
        let mut staged = Slots::new();
        (10..13).for_each(|i| staged.push(Item::Data(i)));
        let buffer = staged.data.as_ptr();
        q.append(&mut staged);
        assert_eq!(q.data.as_ptr(), buffer, "swapped, not copied");
        assert!(staged.is_empty());
        staged.push(Item::Data(13));
        q.take();
        q.append(&mut staged);
        assert_eq!(rest(&mut q), [11, 12, 13].map(Item::Data));
        assert!(staged.is_empty() && staged.data.is_empty());
    }

    #[test]
    fn a_queue_whose_every_drain_panics_stays_bounded() {
        // Each drain takes one packet and panics before it could cut; the
        // producer refills the queue, which is never empty.
        let mut q = filled(4);
        for i in 0..10_000 {
            let r = catch_unwind(AssertUnwindSafe(|| {
                q.drain(1, |_| panic!("handler fails"));
            }));
            assert!(r.is_err());
            let mut staged = Slots::new();
            staged.push(Item::Data(100 + i));
            q.append(&mut staged);
            assert_eq!(q.len(), 4);
        }
        assert!(q.data.len() <= 8, "{} slots for 4 packets", q.data.len());
    }

    #[test]
    fn each_packet_is_moved_a_bounded_number_of_times_when_taken_one_by_one() {
        // A deep queue drained one packet a time (a consumer behind a
        // capacity-one output): cutting at every take would move the rest
        // each time, n²/2 moves in all.
        let n = 100_000;
        let mut s = filled(n);
        let mut moved = 0;
        for i in 0..n {
            assert_eq!(drained(&mut s, 1), (vec![i], Stop::None));
            let before = s.data.len();
            s.cut();
            if s.data.len() != before {
                moved += s.data.len();
            }
        }
        assert!(s.is_empty());
        assert!(moved <= n as usize, "{moved} moves for {n} packets");
    }
}
