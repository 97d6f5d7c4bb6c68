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
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc::UnboundedSender;

/// Packets per batch at most: one message per packet costs ~25× the
/// throughput (measured with tonic on loopback).
pub const BATCH: usize = 512;
/// Bytes per batch at most (a batch of large packets goes out sooner).
pub const BATCH_BYTES: usize = 64 * 1024;

/// Shared between the transport and a [`Sender`].
pub(crate) struct Outbox {
    /// Packets the receiver has taken, as it last said.
    pub taken: AtomicU64,
    /// Set with `failed`: checked on every send without the lock.
    has_failed: AtomicBool,
    pub failed: Mutex<Option<NetError>>,
    pub notify: Notify,
}

impl Outbox {
    pub(crate) fn new() -> std::io::Result<Self> {
        Ok(Outbox {
            taken: AtomicU64::new(0),
            has_failed: AtomicBool::new(false),
            failed: Mutex::new(None),
            notify: Notify::new()?,
        })
    }

    pub(crate) fn fail(&self, e: NetError) {
        self.failed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert(e);
        self.has_failed.store(true, Ordering::Release);
        self.notify.signal();
    }

    fn failed(&self) -> Option<NetError> {
        if !self.has_failed.load(Ordering::Acquire) {
            return None;
        }
        self.failed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Why [`Sender::try_send`] did not take an item.
#[derive(Debug, PartialEq, Eq)]
pub enum SendError<T> {
    /// No credit: the receiver has `capacity` packets it has not taken.
    /// The item is given back; wait for the sender to become readable
    /// (`Flow::readable(&sender)`) and try again.
    Full(Item<T>),
    /// The arc failed; nothing more can be sent.
    Failed(NetError),
}

/// The sending end of an arc to another machine.
pub struct Sender<T> {
    outbox: Arc<Outbox>,
    out: Option<UnboundedSender<Bytes>>,
    batch: Vec<u8>,
    in_batch: usize,
    /// Packets sent, the batch included.
    sent: u64,
    capacity: u64,
    _packets: PhantomData<fn(T)>,
}

impl<T: Serialize> Sender<T> {
    pub(crate) fn new(outbox: Arc<Outbox>, out: UnboundedSender<Bytes>, capacity: usize) -> Self {
        Sender {
            outbox,
            out: Some(out),
            batch: Vec::new(),
            in_batch: 0,
            sent: 0,
            capacity: capacity as u64,
            _packets: PhantomData,
        }
    }

    /// Queues `item` to be sent, in order after every item before it. A
    /// packet needs a credit; a marker and the end do not (they carry no
    /// data and are few), and go out at once with the batch before them.
    /// Packets wait in a batch until it is full or [`Sender::flush`]:
    /// call it when there is nothing more to send for now.
    pub fn try_send(&mut self, item: Item<T>) -> Result<(), SendError<T>> {
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
            // What is batched may be exactly what the receiver waits for.
            self.flush();
            return Err(SendError::Full(item));
        }
        frame::push(&mut self.batch, &item)
            .map_err(|e| SendError::Failed(NetError::Encode(e.to_string())))?;
        self.in_batch += 1;
        if packet {
            self.sent += 1;
        }
        match item {
            Item::Packet(_) if self.in_batch < BATCH && self.batch.len() < BATCH_BYTES => {}
            Item::End => {
                self.flush();
                // The request stream ends after the last batch.
                self.out = None;
            }
            _ => self.flush(),
        }
        Ok(())
    }

    /// True if a packet may be sent now. When false, the descriptor
    /// becomes readable once the receiver gives credits back.
    pub fn has_credit(&self) -> bool {
        let credit = || self.sent - self.outbox.taken.load(Ordering::Acquire) < self.capacity;
        if credit() {
            return true;
        }
        // Cleared before looking again: credits that come after the look
        // leave the descriptor readable.
        self.outbox.notify.clear();
        credit()
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
        if let Some(out) = &self.out {
            if out.send(batch).is_err() {
                self.outbox
                    .fail(NetError::Disconnected("the transport stopped".into()));
            }
        }
    }

    /// Why the arc failed, if it has.
    pub fn failure(&self) -> Option<NetError> {
        self.outbox.failed()
    }
}

impl<T> AsRawFd for Sender<T> {
    /// Readable when credits came back or the arc failed.
    fn as_raw_fd(&self) -> RawFd {
        self.outbox.notify.as_raw_fd()
    }
}
