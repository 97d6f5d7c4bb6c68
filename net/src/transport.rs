//! The transport as the typed ends see it: an object-safe trait that makes
//! untyped ends, so that the code which opens streams and moves bytes is
//! always the code of whoever made the transport.
//!
//! Why: a component library (a `cdylib` loaded by a host, see
//! `evoflow::reload`) has its own copy of this crate and of tokio. Its
//! generated code types the ends of the arcs it builds; if it opened them
//! itself, its copy of tokio would run without the host's runtime context
//! (timers and spawns would panic). Through this trait it calls the host's
//! code, and the typed ends ([`crate::Sender::from_raw`],
//! [`crate::Receiver::from_raw`]) only encode, decode and count credits.

use crate::receiver::RawReceiver;
use crate::sender::RawSender;
use std::net::SocketAddr;

/// Makes the ends of arcs between machines.
pub trait Transport: Send + Sync {
    /// The sending end of arc `arc` to the machine at `peer`, with at most
    /// `capacity` packets in flight.
    fn connect_raw(
        &self,
        peer: SocketAddr,
        arc: u64,
        capacity: usize,
    ) -> std::io::Result<RawSender>;

    /// The receiving end of arc `arc`, whose sender will connect here.
    fn accept_raw(&self, arc: u64, capacity: usize) -> std::io::Result<RawReceiver>;
}

/// A transport whose ends go nowhere: batches sent on them are dropped and
/// nothing arrives. For building a graph's part only to see what it is (a
/// rebuilt program's, compared with the running one), never to run it.
pub struct Unconnected;

impl Transport for Unconnected {
    fn connect_raw(&self, _: SocketAddr, _: u64, capacity: usize) -> std::io::Result<RawSender> {
        Ok(RawSender {
            outbox: std::sync::Arc::new(crate::sender::Outbox::new()?),
            out: Box::new(|_| true),
            capacity,
        })
    }

    fn accept_raw(&self, arc: u64, capacity: usize) -> std::io::Result<RawReceiver> {
        Ok(RawReceiver {
            inbox: std::sync::Arc::new(crate::receiver::Inbox::new()?),
            arc,
            inboxes: Default::default(),
            capacity,
        })
    }
}
