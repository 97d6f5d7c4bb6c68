//! The receiving end of an arc: batches arrive on the transport's thread
//! and are decoded on the worker that takes them; credits go back as
//! packets are taken.

use crate::error::NetError;
use crate::frame::{self, Item};
use crate::notify::Notify;
use bytes::Bytes;
use serde::de::DeserializeOwned;
use std::collections::{HashMap, VecDeque};
use std::marker::PhantomData;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Where a receiving end's credits go (packets taken so far): the
/// transport's side, false once it has stopped. Called through its vtable,
/// as [`crate::Outlet`].
pub(crate) type Credits = Box<dyn Fn(u64) -> bool + Send>;

/// A receiving end as the transport makes it, before a packet type is
/// chosen: [`Receiver::from_raw`] types it.
pub struct RawReceiver {
    pub(crate) inbox: Arc<Inbox>,
    pub(crate) arc: u64,
    pub(crate) inboxes: Inboxes,
    pub(crate) capacity: usize,
}

/// What the transport hands to a receiver.
#[derive(Default)]
pub(crate) struct Arrived {
    pub batches: VecDeque<Bytes>,
    /// Where credits go, once the sending side has attached.
    pub credits: Option<Credits>,
    /// The stream ended (after its last batch).
    pub closed: bool,
    pub failed: Option<NetError>,
    /// A stream has attached (one per arc).
    pub attached: bool,
    /// The capacity its sender has, once attached.
    pub sender_capacity: Option<u64>,
}

/// Receiving ends waiting for (or attached to) their stream, by arc id.
pub(crate) type Inboxes = Arc<Mutex<HashMap<u64, Arc<Inbox>>>>;

/// Shared between the transport and a [`Receiver`].
pub(crate) struct Inbox {
    pub arrived: Mutex<Arrived>,
    pub notify: Notify,
    /// The receiver took the end of the stream.
    pub ended: AtomicBool,
}

impl Inbox {
    pub(crate) fn new() -> std::io::Result<Self> {
        Ok(Inbox {
            arrived: Mutex::new(Arrived::default()),
            notify: Notify::new()?,
            ended: AtomicBool::new(false),
        })
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Arrived> {
        crate::lock(&self.arrived)
    }

    /// Runs `f` on what arrived, then wakes the receiver.
    pub(crate) fn update(&self, f: impl FnOnce(&mut Arrived)) {
        f(&mut self.lock());
        self.notify.signal();
    }
}

/// The receiving end of an arc from another machine. Take items with
/// [`Receiver::try_recv`] until it returns `Ok(None)`; then wait for the
/// receiver to become readable (`Flow::readable(&receiver)`).
pub struct Receiver<T> {
    inbox: Arc<Inbox>,
    /// Where this end is registered, to leave when dropped.
    arc: u64,
    inboxes: Inboxes,
    /// The batch being read, from `at`.
    batch: Bytes,
    at: usize,
    capacity: u64,
    taken: u64,
    reported: u64,
    ended: bool,
    _packets: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> Receiver<T> {
    /// The typed end of `raw`. Runs no transport code (as
    /// [`crate::Sender::from_raw`]).
    pub fn from_raw(raw: RawReceiver) -> Self {
        Receiver {
            inbox: raw.inbox,
            arc: raw.arc,
            inboxes: raw.inboxes,
            batch: Bytes::new(),
            at: 0,
            capacity: raw.capacity.max(1) as u64,
            taken: 0,
            reported: 0,
            ended: false,
            _packets: PhantomData,
        }
    }

    /// The next item, `Ok(None)` if none has arrived yet, or why the arc
    /// failed (after every item that arrived before the failure). After
    /// [`Item::End`] it returns `Ok(None)` for good.
    #[inline]
    pub fn try_recv(&mut self) -> Result<Option<Item<T>>, NetError> {
        if self.ended {
            return Ok(None);
        }
        if self.at == self.batch.len() {
            // Cleared before looking, so a batch that arrives after the
            // look leaves the descriptor readable.
            self.inbox.notify.clear();
            let mut arrived = self.inbox.lock();
            let mut next = arrived.batches.pop_front();
            if next.is_none() {
                // About to say "nothing": the caller may wait on the
                // descriptor, which must then be unreadable (look again
                // after draining it).
                drop(arrived);
                self.inbox.notify.drain();
                arrived = self.inbox.lock();
                next = arrived.batches.pop_front();
            }
            match next {
                Some(b) => {
                    self.batch = b;
                    self.at = 0;
                    // Credits go back by the smaller capacity: a sender of
                    // a smaller one, out of credit, owes less than half
                    // of this end's.
                    if let Some(c) = arrived.sender_capacity {
                        self.capacity = self.capacity.min(c.max(1));
                    }
                }
                None => {
                    let failed = arrived.failed.clone();
                    let closed = arrived.closed;
                    drop(arrived);
                    return match (failed, closed) {
                        (Some(e), _) => Err(e),
                        (None, true) => Err(NetError::Truncated),
                        (None, false) => Ok(None),
                    };
                }
            }
        }
        let (item, rest) = frame::take::<T>(&self.batch[self.at..])
            .map_err(|frame::Malformed(why)| NetError::Malformed(why))?;
        self.at = self.batch.len() - rest.len();
        match item {
            Item::Packet(_) => {
                self.taken += 1;
                self.report(false);
            }
            Item::End => {
                self.ended = true;
                self.inbox.ended.store(true, Ordering::Release);
                self.report(true);
                // Nothing follows: the stream can close (its sender sees a
                // clean end).
                self.inbox.lock().credits = None;
            }
            Item::Marker(_) => {}
        }
        Ok(Some(item))
    }

    /// True if [`Receiver::try_recv`] has something to say now: an item,
    /// or the failure. Does not take anything. Not a reason to wait on the
    /// descriptor: wait after `try_recv` returned `Ok(None)`, which leaves
    /// it unreadable until something new comes.
    pub fn has_item(&self) -> bool {
        if self.ended {
            return false;
        }
        if self.at < self.batch.len() {
            return true;
        }
        let arrived = self.inbox.lock();
        !arrived.batches.is_empty() || arrived.failed.is_some() || arrived.closed
    }

    /// Also calls `wake` (on the transport's thread) whenever this end
    /// becomes readable: items arrived or the arc failed. For a runtime
    /// that drives the end itself rather than waiting on its descriptor.
    /// Once per end; a later call is ignored.
    pub fn wake_with(&self, wake: impl Fn() + Send + Sync + 'static) {
        self.inbox.notify.wake_with(Box::new(wake));
    }

    /// A handle on how this arc is doing, for another thread to watch.
    pub fn health(&self) -> crate::Health {
        crate::Health::receiving(self.inbox.clone())
    }

    /// Gives credits back: in bulk (half the capacity at once), or all
    /// that are owed when `now` (at the end of the stream).
    ///
    /// Not when the receiver runs dry: a sender out of credit has its
    /// capacity in flight, all sent, so taking them owes it at least half
    /// of that (the smaller of the two ends' capacities, which this end
    /// uses once the stream has attached), which goes back in bulk. On an
    /// arc whose receiver keeps up, a credit message at every dry spell
    /// (every batch) woke the sending side each time: a third of the
    /// sender's CPU on 1 KiB packets.
    #[inline]
    fn report(&mut self, now: bool) {
        let owed = self.taken - self.reported;
        if owed == 0 || (!now && owed < self.capacity.div_ceil(2)) {
            return;
        }
        self.give_credits();
    }

    /// Sends the count of packets taken to the sender (a lock and a
    /// message: once per half capacity, not per packet).
    #[inline(never)]
    fn give_credits(&mut self) {
        if let Some(credits) = &self.inbox.lock().credits {
            credits(self.taken);
            self.reported = self.taken;
        }
    }
}

impl<T> Drop for Receiver<T> {
    /// Closes the arc: its stream ends (the sender, unless it sent the end
    /// already, fails with [`NetError::Closed`]) and the arc id may be
    /// accepted again.
    fn drop(&mut self) {
        self.inbox.lock().credits = None;
        let mut inboxes = crate::lock(&self.inboxes);
        if inboxes
            .get(&self.arc)
            .is_some_and(|i| Arc::ptr_eq(i, &self.inbox))
        {
            inboxes.remove(&self.arc);
        }
    }
}

impl<T> AsRawFd for Receiver<T> {
    /// Readable when items arrived or the arc failed.
    fn as_raw_fd(&self) -> RawFd {
        self.inbox.notify.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, AtomicUsize};

    #[test]
    fn credits_go_back_in_bulk_not_at_every_dry_spell() {
        const CAPACITY: usize = 64;
        const BATCHES: u64 = 40;
        let inbox = Arc::new(Inbox::new().unwrap());
        let messages = Arc::new(AtomicUsize::new(0));
        let (counted, last) = (messages.clone(), Arc::new(AtomicU64::new(0)));
        let seen = last.clone();
        inbox.lock().credits = Some(Box::new(move |taken| {
            counted.fetch_add(1, Ordering::Relaxed);
            seen.store(taken, Ordering::Relaxed);
            true
        }));
        let mut rx = Receiver::<u32>::from_raw(RawReceiver {
            inbox: inbox.clone(),
            arc: 1,
            inboxes: Inboxes::default(),
            capacity: CAPACITY,
        });
        // A receiver that keeps up: a batch of 8 arrives, it takes them
        // and runs dry, again and again.
        let mut taken = 0;
        for b in 0..BATCHES {
            let mut batch = Vec::new();
            for i in 0..8 {
                frame::push(&mut batch, &Item::Packet((b * 8 + i) as u32)).unwrap();
            }
            inbox.update(|a| a.batches.push_back(Bytes::from(batch)));
            while let Some(Item::Packet(p)) = rx.try_recv().unwrap() {
                assert_eq!(p, taken);
                taken += 1;
            }
        }
        // One message per half capacity (32 packets), not one per batch.
        let n = messages.load(Ordering::Relaxed);
        assert_eq!(
            n,
            (BATCHES as usize * 8) / (CAPACITY / 2),
            "{n} credit messages"
        );
        assert_eq!(last.load(Ordering::Relaxed), BATCHES * 8);
        // The end gives back whatever is owed.
        let mut end = Vec::new();
        frame::push(&mut end, &Item::Packet(0u32)).unwrap();
        frame::push::<u32>(&mut end, &Item::End).unwrap();
        inbox.update(|a| a.batches.push_back(Bytes::from(end)));
        while rx.try_recv().unwrap().is_some() {}
        assert_eq!(last.load(Ordering::Relaxed), BATCHES * 8 + 1);
    }
}
