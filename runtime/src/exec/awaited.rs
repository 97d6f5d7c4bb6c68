//! Markers of updates spanning machines that arrive before this machine's
//! part: an instance with no part in such an update holds the arc at its
//! marker while the part may still come, and passes it over once it
//! cannot.
//!
//! A machine takes up spanning updates one at a time, in id order, and
//! arms its part without waiting for the others to post theirs (a round
//! through etcd): so a marker from another machine can overtake the part
//! it belongs to. Held, it waits for the part; passed over, the part
//! would wait for it in vain and the update would abort.

use crate::sync::{AtomicBool, AtomicU64, Ordering};

/// Ids of updates that span machines start here: their markers travel
/// between machines, and must not be taken for a local update's.
pub const SPANNING_IDS: u64 = 1 << 63;

/// Which markers of spanning updates are still awaited here.
pub(crate) struct Awaited {
    /// This machine is done with every spanning update up to this id.
    done_up_to: AtomicU64,
    /// Whether this machine hears of spanning updates now (if not, it
    /// cannot take up the part a marker belongs to).
    hearing: AtomicBool,
}

impl Default for Awaited {
    fn default() -> Self {
        Awaited {
            done_up_to: AtomicU64::new(SPANNING_IDS - 1),
            hearing: AtomicBool::new(false),
        }
    }
}

impl Awaited {
    /// Whether a marker of update `id`, reaching an instance with no part
    /// in it, waits for the part: a spanning update this machine has not
    /// yet taken up, while it hears of them.
    pub(crate) fn awaits(&self, id: u64) -> bool {
        id > self.done_up_to.load(Ordering::Acquire) && self.hearing.load(Ordering::Acquire)
    }

    /// This machine is done with every spanning update up to `id`. Returns
    /// whether that changed anything (the workers must then look again).
    pub(crate) fn done_up_to(&self, id: u64) -> bool {
        self.done_up_to.fetch_max(id, Ordering::AcqRel) < id
    }

    /// Whether this machine hears of spanning updates now. Returns whether
    /// that changed.
    pub(crate) fn hearing(&self, hearing: bool) -> bool {
        self.hearing.swap(hearing, Ordering::AcqRel) != hearing
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn only_spanning_updates_not_yet_done_with_are_awaited_and_only_while_hearing() {
        let a = Awaited::default();
        assert!(!a.awaits(SPANNING_IDS + 1), "not hearing yet");
        assert!(a.hearing(true));
        assert!(!a.hearing(true));
        assert!(!a.awaits(7), "a local update's marker");
        assert!(a.awaits(SPANNING_IDS));
        assert!(a.awaits(SPANNING_IDS + 5));
        assert!(a.done_up_to(SPANNING_IDS + 5));
        assert!(!a.awaits(SPANNING_IDS + 5));
        assert!(a.awaits(SPANNING_IDS + 6));
        assert!(!a.done_up_to(SPANNING_IDS + 2), "never back");
        assert!(!a.awaits(SPANNING_IDS + 3));
        assert!(a.hearing(false));
        assert!(!a.awaits(SPANNING_IDS + 6));
    }
}
