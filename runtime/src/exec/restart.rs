//! The supervisor of one instance: applies its [`Supervision`] when its
//! code panics, and keeps what a restart rebuilds it from (its constructor,
//! or its last snapshot).

use crate::exec::guard::panic_text;
use crate::model::component::Component;
use crate::model::failure::InstanceFailure;
use crate::model::state::State;
use crate::model::supervise::{Intensity, OnPanic, Supervision};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Instant;

/// Builds a component afresh: what `graph!` makes of an instance's
/// constructor expression when the instance may be restarted.
pub(crate) type Factory<C> = Arc<dyn Fn() -> C + Send + Sync>;

/// A panic the supervisor does not absorb: the graph stops.
#[derive(Clone, Debug)]
pub(crate) struct Fatal {
    pub message: String,
    /// The panics before it within the supervision's period, oldest first.
    pub earlier: Vec<String>,
}

impl From<InstanceFailure> for Fatal {
    fn from(failure: InstanceFailure) -> Self {
        Fatal::from(failure.to_string())
    }
}

impl From<String> for Fatal {
    fn from(message: String) -> Self {
        Fatal {
            message,
            earlier: Vec::new(),
        }
    }
}

/// What the supervisor made of a panic.
pub(crate) enum Recovery<C> {
    /// Go on with the same component.
    Resume,
    /// Go on with this new component.
    Restart(C),
}

impl<C> Recovery<C> {
    /// For the dead letter: what was done.
    pub(crate) fn outcome(&self, s: &Supervision) -> &'static str {
        match (self, s.on_panic) {
            (Recovery::Resume, OnPanic::Resume) => "resumed",
            (Recovery::Resume, _) => "resumed (no constructor or state to restart from)",
            (Recovery::Restart(_), OnPanic::Snapshot { .. }) => "restarted from its snapshot",
            (Recovery::Restart(_), _) => "restarted",
        }
    }
}

/// One instance's supervisor.
pub(crate) struct Supervisor<C> {
    policy: Supervision,
    intensity: Intensity,
    factory: Option<Factory<C>>,
    /// The last snapshot and when it was taken (`OnPanic::Snapshot`, or a
    /// `Restart` without a constructor of a component that has state).
    snapshot: Option<(State, Instant)>,
}

impl<C: Component> Supervisor<C> {
    /// The supervisor of `component`, which starts now.
    pub(crate) fn new(policy: Supervision, factory: Option<Factory<C>>, component: &C) -> Self {
        let mut s = Supervisor {
            policy,
            intensity: Intensity::default(),
            factory,
            snapshot: None,
        };
        let restarts_from_state = match policy.on_panic {
            OnPanic::Snapshot { .. } => true,
            OnPanic::Restart => s.factory.is_none() && C::META.state,
            OnPanic::Stop | OnPanic::Resume => false,
        };
        if restarts_from_state {
            s.take_snapshot(component);
        }
        s
    }

    pub(crate) fn policy(&self) -> Supervision {
        self.policy
    }

    /// The constructor, for a version of the same component kept by a
    /// watched update.
    pub(crate) fn factory(&self) -> Option<Factory<C>> {
        self.factory.clone()
    }

    /// Takes a snapshot at this packet boundary if one is due.
    #[inline]
    pub(crate) fn tick(&mut self, component: &C) {
        if let OnPanic::Snapshot { every } = self.policy.on_panic {
            if self
                .snapshot
                .as_ref()
                .is_none_or(|(_, t)| t.elapsed() >= every)
            {
                self.take_snapshot(component);
            }
        }
    }

    fn take_snapshot(&mut self, component: &C) {
        match catch_unwind(AssertUnwindSafe(|| component.__export())) {
            Ok(Ok(state)) => self.snapshot = Some((state, Instant::now())),
            // Keep the previous snapshot: an older state beats none.
            Ok(Err(e)) => tracing::warn!("cannot snapshot `{}`: {e}", C::META.name),
            Err(p) => tracing::warn!(
                "snapshotting `{}` panicked: {}",
                C::META.name,
                panic_text(p.as_ref())
            ),
        }
    }

    /// Decides about a panic with message `message`: resume, restart with
    /// a new component, or escalate. A constructor or import that panics
    /// or fails escalates at once: it would only fail again.
    pub(crate) fn on_panic(&mut self, message: &str) -> Result<Recovery<C>, Fatal> {
        if self.policy.on_panic == OnPanic::Stop {
            return Err(message.to_owned().into());
        }
        if let Some(mut all) = self.intensity.exceeded(&self.policy, message) {
            let last = all.pop().unwrap_or_default();
            return Err(Fatal {
                message: format!(
                    "{last} (panic {} within {:?}, more than the {} its supervision allows)",
                    all.len() + 1,
                    self.policy.within,
                    self.policy.max
                ),
                earlier: all,
            });
        }
        let rebuilt = match (&self.policy.on_panic, &self.factory, &self.snapshot) {
            (OnPanic::Resume, _, _) => return Ok(Recovery::Resume),
            (OnPanic::Restart, Some(f), _) => catch_unwind(AssertUnwindSafe(|| f()))
                .map_err(|p| format!("its constructor panicked: {}", panic_text(p.as_ref()))),
            (_, _, Some((state, _))) => {
                catch_unwind(AssertUnwindSafe(|| C::__import(state.clone())))
                    .map_err(|p| {
                        format!(
                            "importing its snapshot panicked: {}",
                            panic_text(p.as_ref())
                        )
                    })
                    .and_then(|r| r.map_err(|e| format!("importing its snapshot failed: {e}")))
            }
            _ => return Ok(Recovery::Resume),
        };
        rebuilt
            .map(Recovery::Restart)
            .map_err(|why| Fatal::from(format!("{message}; restarting failed, {why}")))
    }
}
