//! Updates that span machines: what this machine's part needs from the
//! coordination between machines (which the machines layer provides, over
//! etcd). The runtime plans and runs its part exactly as a local update,
//! except that every machine posts its part before any arms it, and the
//! decision is taken across machines instead of by the last instance here
//! to prepare.

use crate::model::schedule::Schedule;
use std::collections::HashSet;

/// Ids of updates that span machines start here: their markers travel
/// between machines, and must not be taken for a local update's.
pub const SPANNING_IDS: u64 = 1 << 63;

/// The decision every machine applies, as this machine learned it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every machine prepared: install the new versions.
    Commit,
    /// Keep the old versions; why (a machine refused, failed, was lost or
    /// was late).
    Abort(String),
    /// The decision could not be learned after this machine voted to
    /// commit; why.
    Unknown(String),
}

/// One machine's view of an update that spans machines.
pub trait Coordinator {
    /// The update's id, the same on every machine (at least
    /// [`SPANNING_IDS`]): its markers carry it across machines.
    fn id(&self) -> u64;
    /// The update's region on the whole graph: the instances it changes
    /// and every instance on a path between two of them, on any machine.
    fn region(&self) -> &HashSet<String>;
    /// Whether the region was computed on this machine's part as it is
    /// now (asked while no other update can change it): if not, why.
    fn agrees(&self, now: &Schedule) -> Result<(), String>;
    /// This machine has posted its part (not armed yet): returns when
    /// every machine has (`Ok`: arm), or why the update is abandoned.
    /// Arming only then means no marker reaches a machine before its part.
    fn posted(&mut self) -> Result<(), String>;
    /// This machine's vote — `Ok` if every instance it changes has
    /// prepared, else why not — and the decision.
    fn vote(&mut self, vote: Result<(), String>) -> Verdict;
}
