//! Live updates on the control side: what a user asks ([`request`]), its
//! validation over the graph's shape ([`draft`]), planning the region and
//! driving the handshake ([`control`]), what an update spanning machines
//! needs from the machines' coordination ([`span`]), the difference between a running
//! graph and a rebuilt one ([`evolve`]), and the watcher thread that rolls
//! back watched updates ([`watcher`]).
//!
//! Depends on `exec`, `model`, `channel` and `sync`.

pub(crate) mod control;
pub(crate) mod draft;
pub(crate) mod evolve;
pub(crate) mod refusal;
pub(crate) mod request;
pub(crate) mod span;
pub(crate) mod watcher;
