//! What a graph is, without running it: the contract of a component, state
//! that crosses versions, supervision policies, the shape of a graph and
//! its schedule.
//!
//! Depends on `channel` (a port's metadata carries its arc factory) and
//! `sync`; no threads.

pub(crate) mod component;
pub(crate) mod failure;
pub(crate) mod schedule;
pub(crate) mod shape;
pub(crate) mod state;
pub(crate) mod supervise;
