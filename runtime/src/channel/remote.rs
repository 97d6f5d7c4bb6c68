//! Arc ends whose other end is on another machine. The runtime drives them
//! like a ring's ends (stage, flush per batch, room checked before each
//! batch, wake the worker when the other side made progress), through two
//! traits, so that it needs no transport or serialization of its own: a
//! transport (evoflow-machines over evoflow-net) implements them for the
//! packet types that cross machines.

pub use crate::channel::item::Item;

/// The sending end of an arc to another machine, as its worker uses it.
pub trait RemoteSender<T>: Send {
    /// Packets that may be sent now (credits; none while the transport is
    /// behind).
    fn room(&self) -> usize;
    /// Sends `item` after every item before it (it may wait in a batch
    /// until [`RemoteSender::flush`]). A packet is only sent with room
    /// for it; markers and the end need none. If the arc has failed the
    /// item is dropped: the transport reports the failure, which stops
    /// the graph.
    fn send(&mut self, item: Item<T>);
    /// Sends what waits in a batch: the worker has nothing more for now.
    fn flush(&mut self);
    /// Calls `wake` from now on whenever room came back or the arc failed.
    fn wake_with(&mut self, wake: Box<dyn Fn() + Send + Sync>);
}

/// The receiving end of an arc from another machine, as its worker uses it.
pub trait RemoteReceiver<T>: Send {
    /// The next item, if one has arrived. A failed arc gives nothing more
    /// (the transport reports the failure, which stops the graph).
    fn recv(&mut self) -> Option<Item<T>>;
    /// True if [`RemoteReceiver::recv`] would give an item now.
    fn has_item(&self) -> bool;
    /// Calls `wake` from now on whenever items arrived or the arc failed.
    fn wake_with(&mut self, wake: Box<dyn Fn() + Send + Sync>);
}
