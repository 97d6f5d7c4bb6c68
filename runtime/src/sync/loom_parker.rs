//! A loom model of crossbeam's `Parker`: the same token semantics (an
//! unpark before a park is not lost), built on loom's mutex and condvar.

use super::{Condvar, Mutex};
use loom::sync::Arc;

pub(crate) struct Parker(Arc<(Mutex<bool>, Condvar)>);

#[derive(Clone)]
pub(crate) struct Unparker(Arc<(Mutex<bool>, Condvar)>);

impl std::fmt::Debug for Unparker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Unparker")
    }
}

impl Parker {
    pub(crate) fn new() -> Self {
        Parker(Arc::new((Mutex::new(false), Condvar::new())))
    }
    pub(crate) fn unparker(&self) -> Unparker {
        Unparker(self.0.clone())
    }
    pub(crate) fn park(&self) {
        let mut token = self.0 .0.lock().unwrap();
        while !*token {
            token = self.0 .1.wait(token).unwrap();
        }
        *token = false;
    }
    /// Loom has no time: a timed park is a park.
    pub(crate) fn park_timeout(&self, _: std::time::Duration) {
        self.park()
    }
}

impl Unparker {
    pub(crate) fn unpark(&self) {
        *self.0 .0.lock().unwrap() = true;
        self.0 .1.notify_one();
    }
}
