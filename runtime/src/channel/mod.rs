//! Arcs and ports: bounded FIFO queues between instances, the typed ports
//! that read and write them, the wake-ups between workers they cause, and
//! the factories that make arcs of packet types known only at run time.
//!
//! Depends on `sync` only; knows nothing of components or updates.

pub(crate) mod arc;
mod item;
pub(crate) mod port;
pub(crate) mod queue;
pub mod remote;
mod slots;
pub(crate) mod wake;
