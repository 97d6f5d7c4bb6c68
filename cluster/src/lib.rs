//! Membership and the one decision of each update, for a graph that runs
//! over several machines — kept in etcd, not in a home-made consensus.
//!
//! * **Membership**: each machine holds a lease and, under it, the key
//!   `/evoflow/<graph>/machines/<name>` with its address and build
//!   fingerprint ([`Cluster::join`]). A machine that dies, freezes or is
//!   cut off stops renewing its lease; etcd deletes its key when the lease
//!   runs out ([`LEASE`]), and every machine sees it gone.
//! * **Decisions**: an update's outcome is the key
//!   `/evoflow/<graph>/decisions/<update>`, written once by a transaction
//!   that creates it only if it is absent — and, for a commit, only if
//!   every participant's membership key still exists
//!   ([`Cluster::decide`]). Whoever proposes, whenever, all read the same
//!   outcome: exactly one decision per update, even when machines fail
//!   while it is taken.
//!
//! etcd being down refuses decisions (an update then aborts; data keeps
//! flowing, it does not go through etcd).

#![deny(missing_docs)]

mod cluster;
mod error;

pub use cluster::{Cluster, Decision, Heard, Listening, Machine, Member, Membership, Told, LEASE};
pub use error::ClusterError;
