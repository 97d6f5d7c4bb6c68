//! A loom model of the part of rtrb's SPSC ring the runtime uses, with
//! rtrb's method names and its synchronisation: the producer publishes a
//! chunk by storing its tail (Release), the consumer frees slots by storing
//! its head (Release) when a read chunk is dropped, and each reads the
//! other's index with Acquire. Loom then sees every access the wake-up
//! protocol depends on.

use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;

struct Shared<T> {
    slots: Box<[UnsafeCell<Option<T>>]>,
    /// Items read so far; written by the consumer only.
    head: AtomicUsize,
    /// Items written so far; written by the producer only.
    tail: AtomicUsize,
}

// SAFETY: a slot is written only by the producer while it is free (between
// head and head + capacity, outside head..tail) and read only by the
// consumer while it is published (in head..tail); the Release/Acquire pair
// on the indices orders the two.
unsafe impl<T: Send> Sync for Shared<T> {}

impl<T> Shared<T> {
    fn slot(&self, index: usize) -> &UnsafeCell<Option<T>> {
        &self.slots[index % self.slots.len()]
    }
}

/// Constructor, as `rtrb::RingBuffer::new`.
pub(crate) struct RingBuffer;

impl RingBuffer {
    #[allow(clippy::new_ret_no_self)]
    pub(crate) fn new<T>(capacity: usize) -> (Producer<T>, Consumer<T>) {
        let shared = Arc::new(Shared {
            slots: (0..capacity).map(|_| UnsafeCell::new(None)).collect(),
            head: AtomicUsize::new(0),
            tail: AtomicUsize::new(0),
        });
        (Producer(shared.clone()), Consumer(shared))
    }
}

/// More items were asked for than the ring holds or has room for.
#[derive(Debug)]
pub(crate) struct ChunkError;

pub(crate) struct Producer<T>(Arc<Shared<T>>);

pub(crate) struct Consumer<T>(Arc<Shared<T>>);

impl<T> Producer<T> {
    pub(crate) fn slots(&self) -> usize {
        let tail = self.0.tail.load(Ordering::Relaxed);
        self.0.slots.len() - (tail - self.0.head.load(Ordering::Acquire))
    }

    pub(crate) fn is_full(&self) -> bool {
        self.slots() == 0
    }

    pub(crate) fn write_chunk_uninit(&mut self, n: usize) -> Result<WriteChunk<'_, T>, ChunkError> {
        if n > self.slots() {
            return Err(ChunkError);
        }
        Ok(WriteChunk { ring: &self.0, n })
    }
}

pub(crate) struct WriteChunk<'a, T> {
    ring: &'a Shared<T>,
    n: usize,
}

impl<T> WriteChunk<'_, T> {
    /// Writes up to the chunk's size from `items`, then publishes them at
    /// once (as rtrb commits a chunk).
    pub(crate) fn fill_from_iter(self, items: impl IntoIterator<Item = T>) -> usize {
        let tail = self.ring.tail.load(Ordering::Relaxed);
        let mut written = 0;
        for item in items.into_iter().take(self.n) {
            // SAFETY: `write_chunk_uninit` checked these slots are free.
            self.ring
                .slot(tail + written)
                .with_mut(|slot| unsafe { *slot = Some(item) });
            written += 1;
        }
        self.ring.tail.store(tail + written, Ordering::Release);
        written
    }
}

impl<T> Consumer<T> {
    pub(crate) fn slots(&self) -> usize {
        self.0.tail.load(Ordering::Acquire) - self.0.head.load(Ordering::Relaxed)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.slots() == 0
    }

    /// The first item, left in place (as `rtrb::Consumer::peek`).
    pub(crate) fn peek(&self) -> Result<&T, ChunkError> {
        if self.slots() == 0 {
            return Err(ChunkError);
        }
        let head = self.0.head.load(Ordering::Relaxed);
        // SAFETY: published (`slots` read the tail with Acquire) and only
        // this consumer takes it.
        let item = self.0.slot(head).with(|slot| unsafe { (*slot).as_ref() });
        Ok(item.expect("a published slot holds an item"))
    }

    /// Takes the first item (as `rtrb::Consumer::pop`).
    pub(crate) fn pop(&mut self) -> Result<T, ChunkError> {
        let item = self.read_chunk(1)?.into_iter().next();
        Ok(item.expect("a published slot holds an item"))
    }

    pub(crate) fn read_chunk(&mut self, n: usize) -> Result<ReadChunk<'_, T>, ChunkError> {
        if n > self.slots() {
            return Err(ChunkError);
        }
        Ok(ReadChunk { ring: &self.0, n })
    }
}

pub(crate) struct ReadChunk<'a, T> {
    ring: &'a Shared<T>,
    n: usize,
}

impl<'a, T> IntoIterator for ReadChunk<'a, T> {
    type Item = T;
    type IntoIter = Taking<'a, T>;
    fn into_iter(self) -> Taking<'a, T> {
        Taking {
            head: self.ring.head.load(Ordering::Relaxed),
            ring: self.ring,
            left: self.n,
            taken: 0,
        }
    }
}

/// Takes items one by one; the slots of those taken are freed when it is
/// dropped, and those never taken stay in the ring.
pub(crate) struct Taking<'a, T> {
    ring: &'a Shared<T>,
    head: usize,
    left: usize,
    taken: usize,
}

impl<T> Iterator for Taking<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        // SAFETY: `read_chunk` checked this slot is published.
        let item = self
            .ring
            .slot(self.head + self.taken)
            .with_mut(|slot| unsafe { (*slot).take() });
        self.taken += 1;
        item
    }
}

impl<T> Drop for Taking<'_, T> {
    fn drop(&mut self) {
        self.ring
            .head
            .store(self.head + self.taken, Ordering::Release);
    }
}
