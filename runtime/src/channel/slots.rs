//! A FIFO of arc items in a plain vector, taken from the front in place.
//!
//! Taking an item writes `None` into its slot and moves a position held in
//! a register: no length or head in shared memory is written per item, which
//! is what a `VecDeque` pop does and what dominated an in-section hop. The
//! taken prefix is cut off once it is at least as long as what is left, so
//! each item is moved O(1) times however the queue is drained.

use crate::channel::queue::Item;

/// Items in order behind a prefix of taken slots: `slots[..head]` are
/// `None`, `slots[head..]` all hold items.
pub(crate) struct Slots<T> {
    slots: Vec<Option<Item<T>>>,
    head: usize,
}

impl<T> Slots<T> {
    pub(crate) const fn new() -> Self {
        Slots {
            slots: Vec::new(),
            head: 0,
        }
    }

    /// Adds `item` at the back.
    #[inline]
    pub(crate) fn push(&mut self, item: Item<T>) {
        self.slots.push(Some(item));
    }

    /// Number of items held.
    pub(crate) fn len(&self) -> usize {
        self.slots.len() - self.head
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.head == self.slots.len()
    }

    /// The first item, if any.
    pub(crate) fn first(&self) -> Option<&Item<T>> {
        self.slots.get(self.head).and_then(Option::as_ref)
    }

    /// Moves every item of `from` behind this one's, in order. When this
    /// one is empty (the usual case: its consumer took all before) the two
    /// vectors are swapped: no item is moved, and `from` goes on with this
    /// one's emptied buffer. This one's taken prefix is cut first, so it
    /// stays bounded even if every drain of it panics before its own cut.
    pub(crate) fn append(&mut self, from: &mut Slots<T>) {
        self.cut();
        if self.is_empty() {
            // Cut to nothing: an empty vector, head 0.
            std::mem::swap(self, from);
        } else {
            self.slots.extend(from.slots.drain(from.head..));
            from.slots.clear();
            from.head = 0;
        }
    }

    /// A cursor taking items from the front. Whatever it took stays taken,
    /// also if the caller unwinds while holding it; the taken prefix is
    /// cut by the next [`Slots::cut`] (a `Front` does not cut: a panic
    /// leaves no vector half-moved).
    #[inline]
    pub(crate) fn front(&mut self) -> Front<'_, T> {
        let Slots { slots, head } = self;
        Front {
            rest: &mut slots[*head..],
            at: 0,
            head,
        }
    }

    /// Cuts off the taken prefix once it is at least as long as the rest
    /// (all of it when nothing is left).
    pub(crate) fn cut(&mut self) {
        if self.head == 0 {
            return;
        }
        if self.head == self.slots.len() {
            self.slots.clear();
            self.head = 0;
        } else if self.head >= self.slots.len() - self.head {
            self.slots.drain(..self.head);
            self.head = 0;
        }
    }
}

/// Takes items from the front of [`Slots`]; see [`Slots::front`].
pub(crate) struct Front<'a, T> {
    rest: &'a mut [Option<Item<T>>],
    at: usize,
    head: &'a mut usize,
}

impl<T> Front<'_, T> {
    /// The next item, taken; `None` when none is left.
    #[inline]
    pub(crate) fn take(&mut self) -> Option<Item<T>> {
        let item = self.rest.get_mut(self.at)?.take();
        self.at += 1;
        item
    }
}

impl<T> Drop for Front<'_, T> {
    fn drop(&mut self) {
        *self.head += self.at;
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::panic::{catch_unwind, AssertUnwindSafe};

    fn data(s: &Slots<u32>) -> Vec<u32> {
        s.slots[s.head..]
            .iter()
            .map(|i| match i {
                Some(Item::Data(x)) => *x,
                other => panic!("not a packet: {other:?}"),
            })
            .collect()
    }

    fn filled(n: u32) -> Slots<u32> {
        let mut s = Slots::new();
        (0..n).for_each(|i| s.push(Item::Data(i)));
        s
    }

    #[test]
    fn items_come_out_in_order_and_a_cut_keeps_the_rest() {
        let mut s = filled(10);
        {
            let mut f = s.front();
            assert_eq!(f.take(), Some(Item::Data(0)));
            assert_eq!(f.take(), Some(Item::Data(1)));
        }
        assert_eq!((s.len(), s.first()), (8, Some(&Item::Data(2))));
        s.cut();
        assert_eq!(s.slots.len(), 10, "2 taken of 10: not cut yet");
        {
            let mut f = s.front();
            (2..5).for_each(|i| assert_eq!(f.take(), Some(Item::Data(i))));
        }
        s.cut();
        assert_eq!((s.head, s.slots.len()), (0, 5), "5 taken, 5 left: cut");
        assert_eq!(data(&s), [5, 6, 7, 8, 9]);
        {
            let mut f = s.front();
            while f.take().is_some() {}
        }
        assert!(s.is_empty() && s.first().is_none());
        s.cut();
        assert_eq!(s.slots.len(), 0);
    }

    #[test]
    fn a_panic_while_taking_leaves_what_was_taken_taken() {
        let mut s = filled(6);
        let r = catch_unwind(AssertUnwindSafe(|| {
            let mut f = s.front();
            while let Some(Item::Data(x)) = f.take() {
                assert_ne!(x, 2, "boom");
            }
        }));
        assert!(r.is_err());
        assert_eq!(
            data(&s),
            [3, 4, 5],
            "0, 1 and the one that panicked are gone"
        );
    }

    #[test]
    fn append_swaps_into_an_empty_queue_and_appends_behind_items() {
        let mut q = filled(3);
        {
            let mut f = q.front();
            (0..3).for_each(|i| assert_eq!(f.take(), Some(Item::Data(i))));
        }
        let mut staged = Slots::new();
        (10..13).for_each(|i| staged.push(Item::Data(i)));
        q.append(&mut staged);
        assert_eq!(data(&q), [10, 11, 12]);
        assert!(staged.is_empty());
        staged.push(Item::Data(13));
        q.front().take();
        q.append(&mut staged);
        assert_eq!(data(&q), [11, 12, 13]);
        assert!(staged.is_empty() && staged.slots.is_empty());
    }

    #[test]
    fn append_moves_only_the_items_of_a_partly_taken_source() {
        let mut from = filled(10);
        {
            let mut f = from.front();
            f.take();
            f.take();
        }
        let mut q = filled(3);
        q.append(&mut from);
        assert_eq!(data(&q), [0, 1, 2, 2, 3, 4, 5, 6, 7, 8, 9]);
        assert!(from.is_empty() && from.first().is_none());
        assert_eq!(from.len(), 0);
        from.push(Item::Data(10));
        assert_eq!(from.len(), 1);
    }

    #[test]
    fn a_queue_whose_every_drain_panics_stays_bounded() {
        // Each drain takes one item and panics before it could cut; the
        // producer refills the queue, which is never empty.
        let mut q = filled(4);
        for i in 0..10_000 {
            let r = catch_unwind(AssertUnwindSafe(|| {
                q.front().take();
                panic!("handler fails");
            }));
            assert!(r.is_err());
            let mut staged = Slots::new();
            staged.push(Item::Data(100 + i));
            q.append(&mut staged);
            assert_eq!(q.len(), 4);
        }
        assert!(q.slots.len() <= 8, "{} slots for 4 items", q.slots.len());
    }

    #[test]
    fn each_item_is_moved_a_bounded_number_of_times_when_taken_one_by_one() {
        // A deep queue drained one item a time (a consumer behind a
        // capacity-one output): cutting at every take would move the rest
        // each time, n²/2 moves in all.
        let n = 100_000;
        let mut s = filled(n);
        let mut moved = 0;
        for i in 0..n {
            assert_eq!(s.front().take(), Some(Item::Data(i)));
            let before = s.slots.len();
            s.cut();
            if s.slots.len() != before {
                moved += s.slots.len();
            }
        }
        assert!(s.is_empty());
        assert!(moved <= n as usize, "{moved} moves for {n} items");
    }
}
