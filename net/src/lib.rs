//! Arcs between machines, for graphs that run over several machines.
//!
//! Each arc is one gRPC stream (tonic, HTTP/2): FIFO and reliable, and it
//! fails loudly on both ends when the peer dies or stops answering (HTTP/2
//! keepalive). Packets, update markers and the end of the stream travel in
//! that one stream, in order ([`Item`]), so markers still separate the
//! packets before an update from those after it. Packets are encoded with
//! postcard and sent in batches (one message per packet costs ~25× the
//! throughput). Backpressure is counted in packets: a [`Sender`] has at
//! most `capacity` packets in flight, and the [`Receiver`] gives credits
//! back as the packets are taken — so a capacity means the same across
//! machines as within one, whatever the packets' sizes (byte windows
//! alone skew that). A sender also waits while the transport has
//! [`QUEUED_BYTES`] of its batches still to take on, so that a fast
//! sender does not pile a capacity's worth of batches up in memory.
//!
//! Neither end blocks: a worker sends until [`SendError::Full`] and takes
//! until `Ok(None)`, then waits for the end's descriptor to become
//! readable (`Flow::readable`). The transport runs on a tokio runtime of
//! its own ([`Endpoint`]).
//!
//! This crate is the transport only. Placing instances on machines in
//! `graph!`, membership and update decisions in etcd, and running one
//! graph over several machines build on it (see the README's "Across
//! machines").

#![deny(missing_docs)]

mod codec;
mod endpoint;
mod error;
mod frame;
mod notify;
mod receiver;
mod sender;
mod transport;

pub use endpoint::{Endpoint, ACCEPT_WAIT};

/// Locks `m`, going on after a panic elsewhere (the data under these locks
/// is plain bookkeeping, valid at every point a panic could leave it).
fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
pub use error::NetError;
pub use frame::Item;
pub use receiver::{RawReceiver, Receiver};
pub use sender::{Health, Outlet, RawSender, SendError, Sender, BATCH, BATCH_BYTES, QUEUED_BYTES};
pub use transport::{Transport, Unconnected};
