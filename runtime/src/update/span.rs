//! Updates that span machines: what this machine's part needs from the
//! coordination between machines (which the machines layer provides, over
//! etcd). The runtime plans and runs its part exactly as a local update,
//! except that a marker from another machine may come before the part it
//! belongs to (it waits for it: see `exec::awaited`), and the decision is
//! taken across machines instead of by the last instance here to prepare.

use crate::exec::decision::UpdateSync;
use crate::model::schedule::Schedule;
use std::collections::HashSet;
use std::sync::Arc;

pub use crate::exec::awaited::SPANNING_IDS;

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

/// Aborts this machine's part of an update spanning machines from any
/// thread while the part waits for its instances to prepare: for a
/// coordination that heard the update abort elsewhere (a machine refused),
/// so that the part does not wait out its deadline for markers that will
/// never come. No effect once this machine voted to commit: the decision
/// settles the part then.
#[derive(Clone)]
pub struct Abandon(pub(crate) Arc<UpdateSync>);

impl Abandon {
    /// The update aborted elsewhere, for `why`.
    pub fn abandon(&self, why: &str) {
        self.0.abandon(why);
    }
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
    /// This machine has posted its part (not armed yet): `Ok` to arm it,
    /// or why the update is abandoned. Markers reaching another machine
    /// before its part wait for it there (while it hears of the update:
    /// [`Updater::spanning_hearing`](crate::Updater::spanning_hearing)).
    /// Until it votes, `abandon` ends the part if the update aborts
    /// elsewhere.
    fn posted(&mut self, abandon: Abandon) -> Result<(), String>;
    /// This machine's vote — `Ok` if every instance it changes has
    /// prepared, else why not — and the decision.
    fn vote(&mut self, vote: Result<(), String>) -> Verdict;
}
