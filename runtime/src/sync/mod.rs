//! The synchronisation primitives of the runtime: std's, or loom's under
//! `--cfg loom`, so that `loom_tests` can model-check every interleaving of
//! the protocols built on them. Every atomic, mutex and condition variable
//! of those protocols comes from here (`Arc` stays std's: reference
//! counting is not a protocol of ours; so does the readiness thread's
//! mutex, which no model runs).

#[cfg(loom)]
pub(crate) use loom::sync::{
    atomic::{fence, AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering},
    Condvar, Mutex, MutexGuard,
};
#[cfg(not(loom))]
pub(crate) use std::sync::{
    atomic::{fence, AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering},
    Condvar, Mutex, MutexGuard,
};

/// Parking for one thread: crossbeam's, or a loom-modelled equivalent with
/// the same token semantics (an unpark before a park is not lost).
#[cfg(not(loom))]
pub(crate) use crossbeam_utils::sync::{Parker, Unparker};

#[cfg(loom)]
mod loom_parker;
#[cfg(loom)]
pub(crate) use loom_parker::{Parker, Unparker};

/// The lock-free SPSC ring of cross-worker arcs: rtrb's, or under loom a
/// model with the same interface whose every access loom sees (rtrb's own
/// atomics are rtrb's to check; what loom checks is our protocol around
/// the ring: staging, flushing, waking, parking).
#[cfg(not(loom))]
pub(crate) use rtrb as ring;

#[cfg(loom)]
pub(crate) mod ring;

/// Locks a mutex of the runtime, recovering it if poisoned: every mutex
/// here guards control-plane data that is valid after any partial update,
/// and component panics are caught before they could unwind through one.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
