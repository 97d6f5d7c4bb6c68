//! Running instances: the node contract and its implementations, the
//! workers that step them, the worker side of a live update, panic
//! containment and supervision, and the threads that serve them
//! (migrations, readiness).
//!
//! Depends on `model`, `channel` and `sync`. Inside, `contract` holds the
//! few types that refer to one another (it uses only the leaf modules
//! `decision`, `migrate`, `restart`, `watch`); the rest build on it.

pub(crate) mod contract;
pub(crate) mod decision;
pub(crate) mod guard;
pub(crate) mod migrate;
pub(crate) mod node;
pub(crate) mod plan;
pub(crate) mod readiness;
pub(crate) mod reconfig;
pub(crate) mod restart;
pub(crate) mod vacant;
pub(crate) mod watch;
pub(crate) mod worker;
