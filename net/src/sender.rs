//! The sending end of an arc: items are encoded into a batch on the
//! worker that sends them; a full batch (or a flush, a marker, the end)
//! goes to the transport; credits counted in packets bound what is in
//! flight, so a capacity means what it means within one machine.

use crate::error::NetError;
use crate::frame::{self, Item};
use crate::notify::Notify;
use bytes::Bytes;
use serde::Serialize;
use std::marker::PhantomData;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

/// Where a sending end's batches go: the transport's side of the arc,
/// false once it has stopped. Called through its vtable, so the code that
/// runs is the code that made it (the host's transport), also when the
/// typed end was built by another copy of this crate (a component
/// library's, which must never run tokio code of its own: its runtime
/// context would be missing).
pub type Outlet = Box<dyn Fn(Bytes) -> bool + Send>;

/// A sending end as the transport makes it, before a packet type is
/// chosen: [`Sender::from_raw`] types it.
pub struct RawSender {
    pub(crate) outbox: Arc<Outbox>,
    pub(crate) out: Outlet,
    pub(crate) capacity: usize,
}

/// Packets per batch at most: one message per packet costs ~25× the
/// throughput (measured with tonic on loopback).
pub const BATCH: usize = 512;
/// Bytes per batch at most (a batch of large packets goes out sooner).
pub const BATCH_BYTES: usize = 64 * 1024;

/// Bytes of batches a sender may have handed to the transport that it
/// has not yet taken on: beyond it the sender waits as for credits.
/// Credits alone let it run a whole capacity ahead of a slower transport,
/// holding capacity × packet size in memory (64 MiB for 65,536 packets of
/// 1 KiB), and each new batch landed in memory long out of the caches:
/// on an arc of 1 KiB packets the sender used ~2× the CPU per packet it
/// uses kept within this (1 MiB: in a core's cache).
pub const QUEUED_BYTES: usize = 16 * BATCH_BYTES;

/// A waiting sender is woken once the transport is down to this, not at
/// every batch it takes on: a wake-up per batch was half the sender's
/// CPU (measured with a bound of 4 batches).
const QUEUED_LOW: usize = QUEUED_BYTES / 2;

/// Shared between the transport and a [`Sender`].
pub(crate) struct Outbox {
    /// Packets the receiver has taken, as it last said.
    pub taken: AtomicU64,
    /// Bytes handed to the transport that it has not yet taken on.
    queued: AtomicUsize,
    /// The end of the stream was sent: the receiver closing the arc after
    /// it is no failure.
    pub ended: AtomicBool,
    /// The receiver took the end and closed the stream: nothing sent is
    /// still on its way.
    pub finished: AtomicBool,
    /// The first failure (read on every send, without a lock).
    failed: OnceLock<NetError>,
    pub notify: Notify,
}

impl Outbox {
    pub(crate) fn new() -> std::io::Result<Self> {
        Ok(Outbox {
            taken: AtomicU64::new(0),
            queued: AtomicUsize::new(0),
            ended: AtomicBool::new(false),
            finished: AtomicBool::new(false),
            failed: OnceLock::new(),
            // Credits or room in the transport: a sender waits for either.
            notify: Notify::for_two_conditions()?,
        })
    }

    pub(crate) fn fail(&self, e: NetError) {
        let _ = self.failed.set(e);
        self.notify.signal();
    }

    #[inline]
    pub(crate) fn failed(&self) -> Option<NetError> {
        self.failed.get().cloned()
    }

    /// The transport took on a batch of `len` bytes: a sender waiting for
    /// room may go on once it is down to [`QUEUED_LOW`]. No wake-up is
    /// lost: a sender waiting for room saw [`QUEUED_BYTES`] or more
    /// queued, and only this decrements, so the crossing below the low
    /// mark comes after its look; and every signal of an outbox writes
    /// its descriptor (see [`Notify`]), so a drain that consumed a credit
    /// signal does not silence this one.
    pub(crate) fn taken_on(&self, len: usize) {
        let before = self.queued.fetch_sub(len, Ordering::AcqRel);
        if before >= QUEUED_LOW && before - len < QUEUED_LOW {
            self.notify.signal();
        }
    }

    /// The transport has room for more batches.
    #[inline]
    fn has_room(&self) -> bool {
        self.queued.load(Ordering::Acquire) < QUEUED_BYTES
    }
}

/// Why [`Sender::try_send`] did not take an item.
#[derive(Debug, PartialEq, Eq)]
pub enum SendError<T> {
    /// No credit: the receiver has `capacity` packets it has not taken,
    /// or the transport has [`QUEUED_BYTES`] of batches still to take on.
    /// The item is given back; wait for the sender to become readable
    /// (`Flow::readable(&sender)`) and try again.
    Full(Item<T>),
    /// The arc failed; nothing more can be sent.
    Failed(NetError),
}

/// The sending end of an arc to another machine.
pub struct Sender<T> {
    outbox: Arc<Outbox>,
    out: Option<Outlet>,
    batch: Vec<u8>,
    in_batch: usize,
    /// Packets sent, the batch included.
    sent: u64,
    capacity: u64,
    _packets: PhantomData<fn(T)>,
}

impl<T: Serialize> Sender<T> {
    /// The typed end of `raw`. Runs no transport code: a component library
    /// may type the ends its host's transport made.
    pub fn from_raw(raw: RawSender) -> Self {
        Sender {
            outbox: raw.outbox,
            out: Some(raw.out),
            batch: Vec::new(),
            in_batch: 0,
            sent: 0,
            capacity: raw.capacity.max(1) as u64,
            _packets: PhantomData,
        }
    }

    /// Queues `item` to be sent, in order after every item before it. A
    /// packet needs a credit; a marker and the end do not (they carry no
    /// data and are few), and go out at once with the batch before them.
    /// Packets wait in a batch until it is full or [`Sender::flush`]:
    /// call it when there is nothing more to send for now.
    #[inline]
    pub fn try_send(&mut self, item: Item<T>) -> Result<(), SendError<T>> {
        match item {
            Item::Packet(p) if self.may_batch_packet() => self.batch_packet(&p),
            item => self.send(item),
        }
    }

    /// True if a packet goes into the batch now, with nothing else to
    /// look at: the arc is up, open, and has a credit.
    #[inline]
    fn may_batch_packet(&self) -> bool {
        self.outbox.failed.get().is_none() && self.out.is_some() && self.in_credit()
    }

    /// Fewer than `capacity` packets are in flight, as the receiver last
    /// said, and the transport is not behind.
    #[inline]
    fn in_credit(&self) -> bool {
        self.sent - self.outbox.taken.load(Ordering::Acquire) < self.capacity
            && self.outbox.has_room()
    }

    /// [`Sender::send`] for a packet [`Sender::may_batch_packet`] let
    /// through: the common case, kept small enough to inline.
    #[inline]
    fn batch_packet(&mut self, packet: &T) -> Result<(), SendError<T>> {
        let before = self.batch.len();
        if let Err(e) = frame::push_packet(&mut self.batch, packet) {
            return Err(self.refuse_encoding(before, e));
        }
        self.in_batch += 1;
        self.sent += 1;
        if self.in_batch >= BATCH || self.batch.len() >= BATCH_BYTES {
            self.flush();
        }
        Ok(())
    }

    /// A packet that cannot be encoded is refused alone: what it had
    /// written is cut off, the batch before it stays whole.
    #[cold]
    fn refuse_encoding(&mut self, before: usize, e: postcard::Error) -> SendError<T> {
        self.batch.truncate(before);
        SendError::Failed(NetError::Encode(e.to_string()))
    }

    /// [`Sender::try_send`] for any item in any state of the arc.
    #[inline(never)]
    fn send(&mut self, item: Item<T>) -> Result<(), SendError<T>> {
        if let Some(e) = self.outbox.failed() {
            return Err(SendError::Failed(e));
        }
        if self.out.is_none() {
            return Err(SendError::Failed(NetError::Encode(
                "the end of the stream was sent already".into(),
            )));
        }
        let packet = matches!(item, Item::Packet(_));
        if packet && !self.has_credit() {
            // A failure that came while looking (its wake-up was cleared
            // with the credits') is reported, never slept on.
            return Err(match self.outbox.failed() {
                Some(e) => SendError::Failed(e),
                None => SendError::Full(item),
            });
        }
        let before = self.batch.len();
        if let Err(e) = frame::push(&mut self.batch, &item) {
            return Err(self.refuse_encoding(before, e));
        }
        self.in_batch += 1;
        if packet {
            self.sent += 1;
        }
        match item {
            Item::Packet(_) if self.in_batch < BATCH && self.batch.len() < BATCH_BYTES => {}
            Item::End => {
                // Before the batch goes: the receiver may take the end and
                // close the stream at once, which is no failure only if
                // the transport already knows the end was sent.
                self.outbox.ended.store(true, Ordering::Release);
                self.flush();
                // The request stream ends after the last batch; the arc
                // then ends cleanly when the receiver has taken the end.
                self.out = None;
            }
            _ => self.flush(),
        }
        Ok(())
    }

    /// True if a packet may be sent now, or the arc has failed (then
    /// [`Sender::try_send`] says why). When false, what is batched has
    /// been sent (the receiver may be waiting for exactly that), and the
    /// descriptor becomes readable once credits come back, the transport
    /// is down to half of [`QUEUED_BYTES`], or the arc fails.
    pub fn has_credit(&mut self) -> bool {
        if self.in_credit() {
            return true;
        }
        self.flush();
        // Drained before looking again: credits or a failure that come
        // after the look leave the descriptor readable, and nothing else
        // does.
        self.outbox.notify.drain();
        self.in_credit() || self.outbox.failed().is_some()
    }

    /// Sends what is batched.
    pub fn flush(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        // The next batch starts as large as this one ended: growing it
        // from empty copied it over and over.
        let room = self.batch.len().min(2 * BATCH_BYTES);
        let batch = Bytes::from(std::mem::replace(&mut self.batch, Vec::with_capacity(room)));
        self.in_batch = 0;
        self.outbox.queued.fetch_add(batch.len(), Ordering::AcqRel);
        if let Some(out) = &self.out {
            if !out(batch) {
                self.outbox
                    .fail(NetError::Disconnected("the transport stopped".into()));
            }
        }
    }

    /// Why the arc failed, if it has.
    pub fn failure(&self) -> Option<NetError> {
        self.outbox.failed()
    }

    /// Packets that may be sent now without waiting for credits (none
    /// while the transport is behind). Not a reason to wait on the
    /// descriptor: wait after [`Sender::has_credit`] said false, which
    /// leaves it unreadable until credits come back, the transport is down
    /// to half of [`QUEUED_BYTES`], or the arc fails.
    pub fn credit(&self) -> usize {
        if !self.outbox.has_room() {
            return 0;
        }
        let in_flight = self.sent - self.outbox.taken.load(Ordering::Acquire);
        self.capacity.saturating_sub(in_flight) as usize
    }

    /// Also calls `wake` (on the transport's thread) whenever this end
    /// becomes readable: credits came back, the transport caught up (down
    /// to half of [`QUEUED_BYTES`]) or the arc failed. For a
    /// runtime that drives the end itself rather than waiting on its
    /// descriptor. Once per end; a later call is ignored.
    pub fn wake_with(&self, wake: impl Fn() + Send + Sync + 'static) {
        self.outbox.notify.wake_with(Box::new(wake));
    }

    /// A handle on how this arc is doing, for another thread to watch.
    pub fn health(&self) -> Health {
        Health(Watched::Sending(self.outbox.clone()))
    }
}

/// How an arc is doing, readable from any thread while a worker owns its
/// end: a monitor's view.
#[derive(Clone)]
pub struct Health(Watched);

#[derive(Clone)]
enum Watched {
    Sending(Arc<Outbox>),
    Receiving(Arc<crate::receiver::Inbox>),
}

impl Health {
    pub(crate) fn receiving(inbox: Arc<crate::receiver::Inbox>) -> Self {
        Health(Watched::Receiving(inbox))
    }

    /// Why the arc failed, if it has (the receiving side may still hold
    /// items that arrived before the failure).
    pub fn failure(&self) -> Option<NetError> {
        match &self.0 {
            Watched::Sending(o) => o.failed(),
            Watched::Receiving(i) => i.lock().failed.clone(),
        }
    }

    /// False while a receiving end's stream has not reached it (its
    /// sender has not connected yet); true for a sending end.
    pub fn attached(&self) -> bool {
        match &self.0 {
            Watched::Sending(_) => true,
            Watched::Receiving(i) => i.lock().attached,
        }
    }

    /// True once the arc ended cleanly: on the sending side, the receiver
    /// took the end and closed the stream, so nothing is on its way; on
    /// the receiving side, the end was taken.
    pub fn finished(&self) -> bool {
        match &self.0 {
            Watched::Sending(o) => o.finished.load(Ordering::Acquire),
            Watched::Receiving(i) => i.ended.load(Ordering::Acquire),
        }
    }
}

impl<T> AsRawFd for Sender<T> {
    /// Readable when credits came back, the transport caught up or the
    /// arc failed.
    fn as_raw_fd(&self) -> RawFd {
        self.outbox.notify.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::readable;
    use std::sync::Mutex;

    #[test]
    fn a_sender_held_by_its_transport_is_woken_once_the_transport_is_down_to_the_low_mark() {
        // A transport that takes batches but has not taken them on yet.
        let handed = Arc::new(Mutex::new(Vec::<Bytes>::new()));
        let into = handed.clone();
        let outbox = Arc::new(Outbox::new().unwrap());
        // It waits for credits or room: a signal for one consumed while it
        // looks must not silence the next.
        assert!(outbox.notify.writes_every_signal());
        let mut tx = Sender::<serde_bytes::ByteBuf>::from_raw(RawSender {
            outbox: outbox.clone(),
            out: Box::new(move |b| {
                into.lock().unwrap().push(b);
                true
            }),
            capacity: usize::MAX,
        });
        let packet = || Item::Packet(serde_bytes::ByteBuf::from(vec![1u8; 1000]));
        let mut sent = 0;
        while tx.try_send(packet()).is_ok() {
            sent += 1;
            assert!(sent < 10 * QUEUED_BYTES / 1000, "never held");
        }
        assert!(!tx.has_credit() && tx.credit() == 0);
        assert!(!readable(&tx), "nothing to wake for yet");
        // The transport takes its batches on, oldest first: the sender is
        // woken exactly when what is left drops below the low mark.
        let batches: Vec<Bytes> = std::mem::take(&mut *handed.lock().unwrap());
        let mut left: usize = batches.iter().map(Bytes::len).sum();
        assert!(left >= QUEUED_BYTES);
        for b in &batches {
            outbox.taken_on(b.len());
            left -= b.len();
            assert_eq!(readable(&tx), left < QUEUED_LOW, "{left} left");
            if left < QUEUED_LOW {
                break;
            }
        }
        assert!(tx.has_credit());
        assert!(tx.try_send(packet()).is_ok());
    }
}
