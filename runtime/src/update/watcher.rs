//! The watcher thread of a running graph: ends the windows of watched
//! updates (freeing the versions they kept) and applies the rollback when
//! a watched instance panics. It holds the control side weakly: once the
//! graph's handle is gone there is nothing left to roll back.

use crate::exec::contract::{Notice, Watch};
use crate::sync::lock;
use crate::update::control::Control;
use crate::update::refusal::Refusal;
use crate::update::request::{Edit, Rollback, Update, UpdateError};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Weak};
use std::time::Instant;

/// Starts the watcher of graph `name`.
pub(crate) fn spawn(
    name: &str,
    control: Weak<Control>,
    notices: Receiver<Notice>,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name(format!("evoflow-{name}-watch"))
        .spawn(move || watch(&control, &notices))
        .map(drop)
}

fn watch(control: &Weak<Control>, notices: &Receiver<Notice>) {
    let mut watching: Vec<Arc<Watch>> = Vec::new();
    loop {
        let notice = match watching.iter().map(|w| w.until).min() {
            Some(until) => {
                match notices.recv_timeout(until.saturating_duration_since(Instant::now())) {
                    Ok(n) => Some(n),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            }
            None => match notices.recv() {
                Ok(n) => Some(n),
                Err(_) => return,
            },
        };
        match notice {
            Some(Notice::Started(w)) => watching.push(w),
            Some(Notice::Panicked {
                watch,
                instance,
                message,
            }) => {
                watching.retain(|w| !Arc::ptr_eq(w, &watch));
                let Some(control) = control.upgrade() else {
                    // The graph's handle is gone: nothing rolls back, and
                    // the instances' supervision decides again.
                    watch.close();
                    return;
                };
                roll_back(&control, &watch, instance, message);
            }
            None => {}
        }
        let now = Instant::now();
        watching.retain(|w| {
            let open = w.until > now;
            if !open {
                w.expire();
            }
            open
        });
    }
}

/// Swaps every instance `watch`'s update replaced back to the version it
/// replaced, and records how that went.
fn roll_back(control: &Control, watch: &Watch, instance: String, message: String) {
    tracing::warn!(
        update = watch.update,
        %instance,
        "a new version panicked within its update's watch: rolling the update back: {message}"
    );
    let update = Update::default();
    let mut notes = Vec::new();
    let outcome = match watch.take_kept(Instant::now() + update.limit()) {
        Some(kept) => control.apply(Update {
            edits: kept
                .into_iter()
                .map(|k| {
                    notes.push((k.instance.clone(), k.note));
                    Edit::Replace {
                        instance: k.instance,
                        incoming: k.incoming,
                    }
                })
                .collect(),
            ..update
        }),
        None => Err(UpdateError::Refused(Refusal::RollbackUnready {
            update: watch.update,
        })),
    };
    watch.close();
    match &outcome {
        Ok(r) => tracing::warn!(update = watch.update, "update rolled back: {r}"),
        Err(e) => tracing::error!(update = watch.update, "rolling the update back failed: {e}"),
    }
    let restored = match outcome {
        Ok(_) => notes
            .into_iter()
            .map(|(i, note)| (i, lock(&note).clone()))
            .collect(),
        Err(_) => Vec::new(),
    };
    control.record_rollback(Rollback {
        update: watch.update,
        instance,
        message,
        outcome,
        restored,
    });
}
