//! The runtime's view of an arc to another machine ([`RemoteSender`],
//! [`RemoteReceiver`]) over evoflow-net's ends. A failed arc is recorded
//! here for the monitor, which halts the graph: the worker never blocks
//! on it.

use evoflow_net::{Item as Wire, NetError, Receiver, SendError, Sender};
use evoflow_runtime::remote::{Item, RemoteReceiver, RemoteSender};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::sync::{Arc, OnceLock};

/// The first failure a worker saw on an arc (the transport's own record
/// misses one kind: a stream that closed without its end).
pub(crate) type Broken = Arc<OnceLock<NetError>>;

pub(crate) struct NetSender<T> {
    pub end: Sender<T>,
    pub broken: Broken,
}

impl<T: Serialize + Send> RemoteSender<T> for NetSender<T> {
    fn room(&self) -> usize {
        self.end.credit()
    }

    fn send(&mut self, item: Item<T>) {
        let item = match item {
            Item::Data(x) => Wire::Packet(x),
            Item::Marker(id) => Wire::Marker(id.to_le_bytes().to_vec()),
            Item::End => Wire::End,
        };
        match self.end.try_send(item) {
            Ok(()) => {}
            Err(SendError::Failed(e)) => {
                let _ = self.broken.set(e);
            }
            // The runtime sends a packet only with a credit for it.
            Err(SendError::Full(_)) => {
                let _ = self.broken.set(NetError::Encode(
                    "a packet was sent without a credit (a bug in evoflow)".into(),
                ));
            }
        }
    }

    fn flush(&mut self) {
        self.end.flush();
    }

    fn wake_with(&mut self, wake: Box<dyn Fn() + Send + Sync>) {
        self.end.wake_with(wake);
    }
}

pub(crate) struct NetReceiver<T> {
    pub end: Receiver<T>,
    pub broken: Broken,
}

impl<T: DeserializeOwned + Send> RemoteReceiver<T> for NetReceiver<T> {
    fn recv(&mut self) -> Option<Item<T>> {
        if self.broken.get().is_some() {
            return None;
        }
        match self.end.try_recv() {
            Ok(Some(Wire::Packet(x))) => Some(Item::Data(x)),
            Ok(Some(Wire::Marker(m))) => match <[u8; 8]>::try_from(m.as_slice()) {
                Ok(id) => Some(Item::Marker(u64::from_le_bytes(id))),
                Err(_) => {
                    let why = format!("a marker of {} bytes, not 8", m.len());
                    let _ = self.broken.set(NetError::Malformed(why));
                    None
                }
            },
            Ok(Some(Wire::End)) => Some(Item::End),
            Ok(None) => None,
            Err(e) => {
                let _ = self.broken.set(e);
                None
            }
        }
    }

    fn has_item(&self) -> bool {
        self.broken.get().is_none() && self.end.has_item()
    }

    fn wake_with(&mut self, wake: Box<dyn Fn() + Send + Sync>) {
        self.end.wake_with(wake);
    }
}
