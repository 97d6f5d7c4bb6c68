//! What a user asks of a running graph: an [`Update`], and what they get
//! back: an [`UpdateReport`] or an [`UpdateError`].

use crate::exec::contract::Incoming;
use crate::exec::node::IncomingOf;
use crate::model::component::Component;
use crate::model::failure::InstanceFailure;
use crate::model::shape::VersionChange;
use crate::update::refusal::Refusal;
use std::fmt;
use std::time::Duration;

/// One edit of an update.
pub(crate) enum Edit {
    Replace {
        instance: String,
        incoming: Box<dyn Incoming>,
    },
    Insert {
        instance: String,
        worker: Option<usize>,
        incoming: Box<dyn Incoming>,
    },
    Remove {
        instance: String,
    },
    Connect {
        from: String,
        to: String,
        capacity: Option<usize>,
    },
    Disconnect {
        from: String,
        to: String,
    },
}

impl Edit {
    /// The instances the edit changes (both ends of an arc).
    pub(crate) fn instances(&self) -> Vec<&str> {
        match self {
            Edit::Replace { instance, .. }
            | Edit::Insert { instance, .. }
            | Edit::Remove { instance } => vec![instance.as_str()],
            Edit::Connect { from, to, .. } | Edit::Disconnect { from, to } => [from, to]
                .into_iter()
                .map(|p| p.split_once('.').map_or(p.as_str(), |(i, _)| i))
                .collect(),
        }
    }
}

/// A set of changes applied to a running graph together, with the
/// guarantees of the design: nothing lost, duplicated or reordered; no
/// packet of a new version meets an old version of another changed
/// instance; the rest of the graph keeps running; all or nothing.
///
/// Ports are named `"instance.port"`.
/// Every update has a deadline: by then each instance that changes must
/// have prepared (exported, migrated, built its new version), or the update
/// is aborted everywhere and the graph stays exactly as it was.
#[derive(Default)]
#[must_use = "an update does nothing until passed to `Running::update`"]
pub struct Update {
    pub(crate) edits: Vec<Edit>,
    pub(crate) deadline: Option<Duration>,
    pub(crate) watch: Option<Duration>,
}

/// How long an update may take unless [`Update::deadline`] says otherwise:
/// long enough for markers to cross full queues into slow consumers and for
/// large migrations, short enough that a stuck update is noticed.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(10);

impl Update {
    /// An empty update: add edits with the methods below, then apply it with
    /// [`Running::update`](crate::Running::update). An update with no edit is refused.
    ///
    /// ```
    /// # use evoflow::{component, graph, Flow, Outputs, Update, UpdateError};
    /// # struct Ticks { next: u64 }
    /// # #[component(outputs(out: u64))]
    /// # impl Ticks {
    /// #     #[source]
    /// #     fn emit(&mut self, out: &mut Outputs<Self>) -> Flow {
    /// #         out.out(self.next); // until `stop`
    /// #         self.next += 1;
    /// #         Flow::Continue
    /// #     }
    /// # }
    /// # #[derive(Default)]
    /// # struct Sum { total: u64 }
    /// # #[component]
    /// # impl Sum {
    /// #     #[input]
    /// #     fn inp(&mut self, x: u64) { self.total += x; }
    /// # }
    /// let running = graph! {
    ///     ticks: Ticks = Ticks { next: 0 };
    ///     sum: Sum;
    ///     ticks.out -> sum.inp;
    /// }
    /// .run()
    /// .unwrap();
    /// let update = Update::new().replace_with("sum", Sum::default());
    /// let report = running.update(update).unwrap();
    /// assert_eq!(report.replaced[0].0, "sum");
    ///
    /// let empty = running.update(Update::new());
    /// assert!(matches!(empty, Err(UpdateError::Refused(_))), "{empty:?}");
    /// # running.stop();
    /// # running.join().unwrap();
    /// ```
    pub fn new() -> Self {
        Update::default()
    }

    /// Sets how long the update may take from submission (default
    /// [`DEFAULT_DEADLINE`]). If a changing instance has not prepared by
    /// then, the update is aborted everywhere and
    /// [`UpdateError::TimedOut`] names the instances that had not.
    ///
    /// An instance prepares between two packets: one stuck in a handler
    /// cannot (`GATE` holds `stuck` in its first one here).
    ///
    /// ```
    /// # use evoflow::{component, graph, Flow, Outputs, Update, UpdateError};
    /// # use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
    /// # use std::time::Duration;
    /// # static INSIDE: AtomicBool = AtomicBool::new(false);
    /// # static GATE: AtomicBool = AtomicBool::new(false);
    /// # struct Ticks { next: u64 }
    /// # #[component(outputs(out: u64))]
    /// # impl Ticks {
    /// #     #[source]
    /// #     fn emit(&mut self, out: &mut Outputs<Self>) -> Flow {
    /// #         out.out(self.next); // until `stop`
    /// #         self.next += 1;
    /// #         Flow::Continue
    /// #     }
    /// # }
    /// # #[derive(Default)]
    /// # struct Stuck;
    /// # #[component]
    /// # impl Stuck {
    /// #     #[input]
    /// #     fn inp(&mut self, _x: u64) {
    /// #         INSIDE.store(true, SeqCst);
    /// #         while !GATE.load(SeqCst) { std::thread::yield_now(); }
    /// #     }
    /// # }
    /// let running = graph! {
    ///     ticks: Ticks = Ticks { next: 0 };
    ///     stuck: Stuck;
    ///     ticks.out -> stuck.inp;
    /// }
    /// .run()
    /// .unwrap();
    /// while !INSIDE.load(SeqCst) { std::thread::yield_now(); }
    ///
    /// let update = Update::new()
    ///     .replace_with("stuck", Stuck)
    ///     .deadline(Duration::from_millis(50));
    /// match running.update(update) {
    ///     Err(UpdateError::TimedOut { unprepared, .. }) => assert_eq!(unprepared, ["stuck"]),
    ///     other => panic!("{other:?}"),
    /// }
    /// GATE.store(true, SeqCst);
    /// # running.stop();
    /// # running.join().unwrap();
    /// ```
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Watches the update for `window` after it commits: if an instance it
    /// replaced panics in that time, every instance it replaced is swapped
    /// back to the version it replaced, as that version was at the swap
    /// (see [`Rollback`]). The panicking packet becomes a dead letter; the
    /// new version only resumes until the rollback is in. A watched update
    /// may only replace instances (it is refused otherwise).
    ///
    /// ```
    /// # use evoflow::{component, graph, Flow, Outputs, Update, UpdateError};
    /// # use std::time::Duration;
    /// # struct Ticks { next: u64 }
    /// # #[component(outputs(out: u64))]
    /// # impl Ticks {
    /// #     #[source]
    /// #     fn emit(&mut self, out: &mut Outputs<Self>) -> Flow {
    /// #         out.out(self.next); // until `stop`
    /// #         self.next += 1;
    /// #         Flow::Continue
    /// #     }
    /// # }
    /// # #[derive(Default)]
    /// # struct Sum { total: u64 }
    /// # #[component]
    /// # impl Sum {
    /// #     #[input]
    /// #     fn inp(&mut self, x: u64) { self.total += x; }
    /// # }
    /// /// Version 2 of `sum`: panics on its first packet.
    /// #[derive(Default)]
    /// struct Broken;
    ///
    /// #[component(version = 2)]
    /// impl Broken {
    ///     #[input]
    ///     fn inp(&mut self, _x: u64) { panic!("broken"); }
    /// }
    ///
    /// # std::panic::set_hook(Box::new(|_| {})); // the panics are expected
    /// let running = graph! {
    ///     ticks: Ticks = Ticks { next: 0 };
    ///     sum: Sum;
    ///     ticks.out -> sum.inp;
    /// }
    /// .run()
    /// .unwrap();
    /// let update = Update::new().replace_with("sum", Broken).watch(Duration::from_secs(60));
    /// running.update(update).unwrap();
    /// while running.rollbacks().is_empty() { std::thread::yield_now(); }
    ///
    /// let sum = running.instances().into_iter().find(|i| i.name == "sum").unwrap();
    /// assert_eq!((sum.component.as_str(), sum.version), ("Sum", 1)); // back to version 1
    /// # let _ = std::panic::take_hook();
    /// # running.stop();
    /// # running.join().unwrap();
    /// ```
    pub fn watch(mut self, window: Duration) -> Self {
        self.watch = Some(window);
        self
    }

    /// Its deadline.
    pub(crate) fn limit(&self) -> Duration {
        self.deadline.unwrap_or(DEFAULT_DEADLINE)
    }

    /// Replaces `instance` by component `C`, built from the old instance's
    /// exported state through `C`'s migrations (both must be
    /// `#[component(state)]`; use [`Update::replace_with`] otherwise).
    ///
    /// ```
    /// # use evoflow::{component, graph, Flow, Outputs, Update, UpdateError};
    /// use serde::{Deserialize, Serialize};
    /// # struct Ticks { next: u64 }
    /// # #[component(outputs(out: u64))]
    /// # impl Ticks {
    /// #     #[source]
    /// #     fn emit(&mut self, out: &mut Outputs<Self>) -> Flow {
    /// #         out.out(self.next); // until `stop`
    /// #         self.next += 1;
    /// #         Flow::Continue
    /// #     }
    /// # }
    ///
    /// #[derive(Default, Serialize, Deserialize)]
    /// struct Counter { seen: u64 }
    ///
    /// #[component(state)]
    /// impl Counter {
    ///     #[input]
    ///     fn inp(&mut self, _x: u64) { self.seen += 1; }
    /// }
    ///
    /// /// Version 2 also sums what it sees.
    /// #[derive(Serialize, Deserialize)]
    /// struct CounterV2 { seen: u64, total: u64 }
    ///
    /// /// Version 1's state, as version 2 reads it.
    /// #[derive(Deserialize)]
    /// struct V1 { seen: u64 }
    ///
    /// #[component(version = 2, state)]
    /// impl CounterV2 {
    ///     #[input]
    ///     fn inp(&mut self, x: u64) { self.seen += 1; self.total += x; }
    ///
    ///     #[migrate(from = 1)]
    ///     fn from_v1(old: V1) -> Self { CounterV2 { seen: old.seen, total: 0 } }
    /// }
    ///
    /// let running = graph! {
    ///     ticks: Ticks = Ticks { next: 0 };
    ///     count: Counter;
    ///     ticks.out -> count.inp;
    /// }
    /// .run()
    /// .unwrap();
    /// let report = running.update(Update::new().replace::<CounterV2>("count")).unwrap();
    /// println!("{report}"); // update #1 applied in ...; count: Counter v1 -> CounterV2 v2
    ///
    /// running.stop();
    /// let mut finals = running.join().unwrap();
    /// let sent = finals.take::<Ticks>("ticks").unwrap().next;
    /// // Every packet counted once, by version 1 or by version 2.
    /// assert_eq!(finals.take::<CounterV2>("count").unwrap().seen, sent);
    /// ```
    pub fn replace<C: Component>(mut self, instance: &str) -> Self {
        let incoming = Box::new(IncomingOf::<C>::migrated());
        self.edits.push(Edit::Replace {
            instance: instance.to_owned(),
            incoming,
        });
        self
    }

    /// Replaces `instance` by `component`, which starts from its own state
    /// (the old state is dropped; what the old version's `#[handover]` puts
    /// in the [`Resources`](crate::Resources) reaches the new one's `#[takeover]`).
    ///
    /// ```
    /// # use evoflow::{component, graph, Flow, Outputs, Resources, Update, UpdateError};
    /// # struct Ticks { next: u64 }
    /// # #[component(outputs(out: u64))]
    /// # impl Ticks {
    /// #     #[source]
    /// #     fn emit(&mut self, out: &mut Outputs<Self>) -> Flow {
    /// #         out.out(self.next); // until `stop`
    /// #         self.next += 1;
    /// #         Flow::Continue
    /// #     }
    /// # }
    /// /// Checks that packets arrive once and in order.
    /// #[derive(Default)]
    /// struct InOrder { next: u64 }
    ///
    /// #[component]
    /// impl InOrder {
    ///     #[input]
    ///     fn inp(&mut self, x: u64) {
    ///         assert_eq!(x, self.next);
    ///         self.next += 1;
    ///     }
    ///     #[handover]
    ///     fn hand_over(&mut self, r: &mut Resources) { r.put("next", self.next); }
    ///     #[takeover]
    ///     fn take_over(&mut self, r: &mut Resources) { self.next = r.take("next").unwrap(); }
    /// }
    ///
    /// let running = graph! {
    ///     ticks: Ticks = Ticks { next: 0 };
    ///     check: InOrder;
    ///     ticks.out -> check.inp;
    /// }
    /// .run()
    /// .unwrap();
    /// // Starts at `next: 0`, then takes the old instance's `next` over.
    /// running.update(Update::new().replace_with("check", InOrder::default())).unwrap();
    ///
    /// running.stop();
    /// let mut finals = running.join().unwrap();
    /// let sent = finals.take::<Ticks>("ticks").unwrap().next;
    /// assert_eq!(finals.take::<InOrder>("check").unwrap().next, sent);
    /// ```
    pub fn replace_with<C: Component>(mut self, instance: &str, component: C) -> Self {
        let incoming = Box::new(IncomingOf::fresh(component));
        self.edits.push(Edit::Replace {
            instance: instance.to_owned(),
            incoming,
        });
        self
    }

    /// Inserts a new instance, run by the worker of its first producer (by
    /// worker 0 if it has none). Its ports must be connected in the same
    /// update.
    ///
    /// ```
    /// # use evoflow::{component, graph, Flow, Outputs, Update, UpdateError};
    /// # struct Ticks { next: u64 }
    /// # #[component(outputs(out: u64))]
    /// # impl Ticks {
    /// #     #[source]
    /// #     fn emit(&mut self, out: &mut Outputs<Self>) -> Flow {
    /// #         out.out(self.next); // until `stop`
    /// #         self.next += 1;
    /// #         Flow::Continue
    /// #     }
    /// # }
    /// # #[derive(Default)]
    /// # struct Sum { total: u64 }
    /// # #[component]
    /// # impl Sum {
    /// #     #[input]
    /// #     fn inp(&mut self, x: u64) { self.total += x; }
    /// # }
    /// # #[derive(Default)]
    /// # struct Double;
    /// # #[component(outputs(out: u64))]
    /// # impl Double {
    /// #     #[input]
    /// #     fn inp(&mut self, x: u64, out: &mut Outputs<Self>) { out.out(2 * x); }
    /// # }
    /// let running = graph! {
    ///     workers = 2;
    ///     ticks: Ticks = Ticks { next: 0 };
    ///     #[worker(1)]
    ///     sum: Sum;
    ///     ticks.out -> sum.inp;
    /// }
    /// .run()
    /// .unwrap();
    /// let update = Update::new()
    ///     .insert("double", Double)
    ///     .disconnect("ticks.out", "sum.inp")
    ///     .connect("ticks.out", "double.inp")
    ///     .connect("double.out", "sum.inp");
    /// assert_eq!(running.update(update).unwrap().inserted, ["double"]);
    /// let double = running.instances().into_iter().find(|i| i.name == "double").unwrap();
    /// assert_eq!(double.worker, 0); // the worker of `ticks`
    /// # running.stop();
    /// # running.join().unwrap();
    /// ```
    pub fn insert<C: Component>(mut self, instance: &str, component: C) -> Self {
        let incoming = Box::new(IncomingOf::fresh(component));
        self.edits.push(Edit::Insert {
            instance: instance.to_owned(),
            worker: None,
            incoming,
        });
        self
    }

    /// Inserts a new instance on worker `worker` (refused if the graph has
    /// no such worker).
    ///
    /// ```
    /// # use evoflow::{component, graph, Flow, Outputs, Update, UpdateError};
    /// # struct Ticks { next: u64 }
    /// # #[component(outputs(out: u64))]
    /// # impl Ticks {
    /// #     #[source]
    /// #     fn emit(&mut self, out: &mut Outputs<Self>) -> Flow {
    /// #         out.out(self.next); // until `stop`
    /// #         self.next += 1;
    /// #         Flow::Continue
    /// #     }
    /// # }
    /// # #[derive(Default)]
    /// # struct Sum { total: u64 }
    /// # #[component]
    /// # impl Sum {
    /// #     #[input]
    /// #     fn inp(&mut self, x: u64) { self.total += x; }
    /// # }
    /// # #[derive(Default)]
    /// # struct Double;
    /// # #[component(outputs(out: u64))]
    /// # impl Double {
    /// #     #[input]
    /// #     fn inp(&mut self, x: u64, out: &mut Outputs<Self>) { out.out(2 * x); }
    /// # }
    /// let running = graph! {
    ///     workers = 2;
    ///     ticks: Ticks = Ticks { next: 0 };
    ///     #[worker(1)]
    ///     sum: Sum;
    ///     ticks.out -> sum.inp;
    /// }
    /// .run()
    /// .unwrap();
    /// let update = Update::new()
    ///     .insert_on("double", 1, Double)
    ///     .disconnect("ticks.out", "sum.inp")
    ///     .connect("ticks.out", "double.inp")
    ///     .connect("double.out", "sum.inp");
    /// running.update(update).unwrap();
    /// let double = running.instances().into_iter().find(|i| i.name == "double").unwrap();
    /// assert_eq!(double.worker, 1);
    /// # running.stop();
    /// # running.join().unwrap();
    /// ```
    pub fn insert_on<C: Component>(mut self, instance: &str, worker: usize, component: C) -> Self {
        let incoming = Box::new(IncomingOf::fresh(component));
        self.edits.push(Edit::Insert {
            instance: instance.to_owned(),
            worker: Some(worker),
            incoming,
        });
        self
    }

    /// Deletes an instance and the arcs at its ports. The ports those arcs
    /// leave unconnected must be connected again in the same update.
    ///
    /// ```
    /// # use evoflow::{component, graph, Flow, Outputs, Update, UpdateError};
    /// # struct Ticks { next: u64 }
    /// # #[component(outputs(out: u64))]
    /// # impl Ticks {
    /// #     #[source]
    /// #     fn emit(&mut self, out: &mut Outputs<Self>) -> Flow {
    /// #         out.out(self.next); // until `stop`
    /// #         self.next += 1;
    /// #         Flow::Continue
    /// #     }
    /// # }
    /// # #[derive(Default)]
    /// # struct Sum { total: u64 }
    /// # #[component]
    /// # impl Sum {
    /// #     #[input]
    /// #     fn inp(&mut self, x: u64) { self.total += x; }
    /// # }
    /// # #[derive(Default)]
    /// # struct Double;
    /// # #[component(outputs(out: u64))]
    /// # impl Double {
    /// #     #[input]
    /// #     fn inp(&mut self, x: u64, out: &mut Outputs<Self>) { out.out(2 * x); }
    /// # }
    /// let running = graph! {
    ///     ticks: Ticks = Ticks { next: 0 };
    ///     double: Double;
    ///     sum: Sum;
    ///     ticks.out -> double.inp;
    ///     double.out -> sum.inp;
    /// }
    /// .run()
    /// .unwrap();
    /// // Alone, it would leave `ticks.out` and `sum.inp` without an arc.
    /// let alone = running.update(Update::new().remove("double"));
    /// assert!(matches!(alone, Err(UpdateError::Refused(_))), "{alone:?}");
    ///
    /// let report = running
    ///     .update(Update::new().remove("double").connect("ticks.out", "sum.inp"))
    ///     .unwrap();
    /// assert_eq!(report.removed, ["double"]);
    /// assert_eq!(report.connected, ["ticks.out -> sum.inp"]);
    /// # running.stop();
    /// # running.join().unwrap();
    /// ```
    pub fn remove(mut self, instance: &str) -> Self {
        self.edits.push(Edit::Remove {
            instance: instance.to_owned(),
        });
        self
    }

    /// Adds an arc `from` (`"a.out"`) -> `to` (`"b.inp"`). Its capacity is
    /// that of an arc the update removes from the same output or into the
    /// same input, if there is one, else the graph's default
    /// ([`GraphBuilder::default_capacity`](crate::GraphBuilder::default_capacity)).
    ///
    /// ```
    /// # use evoflow::{component, graph, Flow, Outputs, Update, UpdateError};
    /// # struct Ticks { next: u64 }
    /// # #[component(outputs(out: u64))]
    /// # impl Ticks {
    /// #     #[source]
    /// #     fn emit(&mut self, out: &mut Outputs<Self>) -> Flow {
    /// #         out.out(self.next); // until `stop`
    /// #         self.next += 1;
    /// #         Flow::Continue
    /// #     }
    /// # }
    /// # #[derive(Default)]
    /// # struct Sum { total: u64 }
    /// # #[component]
    /// # impl Sum {
    /// #     #[input]
    /// #     fn inp(&mut self, x: u64) { self.total += x; }
    /// # }
    /// # #[derive(Default)]
    /// # struct Double;
    /// # #[component(outputs(out: u64))]
    /// # impl Double {
    /// #     #[input]
    /// #     fn inp(&mut self, x: u64, out: &mut Outputs<Self>) { out.out(2 * x); }
    /// # }
    /// let running = graph! {
    ///     ticks: Ticks = Ticks { next: 0 };
    ///     sum: Sum;
    ///     #[capacity(8)]
    ///     ticks.out -> sum.inp;
    /// }
    /// .run()
    /// .unwrap();
    /// let update = Update::new()
    ///     .insert("double", Double)
    ///     .disconnect("ticks.out", "sum.inp")
    ///     .connect("ticks.out", "double.inp")
    ///     .connect("double.out", "sum.inp");
    /// running.update(update).unwrap();
    /// // Both new arcs take the place of `ticks.out -> sum.inp`.
    /// assert!(running.schedule().arcs.iter().all(|a| a.capacity == 8));
    /// # running.stop();
    /// # running.join().unwrap();
    /// ```
    pub fn connect(mut self, from: &str, to: &str) -> Self {
        self.edits.push(Edit::Connect {
            from: from.to_owned(),
            to: to.to_owned(),
            capacity: None,
        });
        self
    }

    /// Adds an arc with an explicit capacity (at least 1).
    ///
    /// ```
    /// # use evoflow::{component, graph, Flow, Outputs, Update, UpdateError};
    /// # struct Ticks { next: u64 }
    /// # #[component(outputs(out: u64))]
    /// # impl Ticks {
    /// #     #[source]
    /// #     fn emit(&mut self, out: &mut Outputs<Self>) -> Flow {
    /// #         out.out(self.next); // until `stop`
    /// #         self.next += 1;
    /// #         Flow::Continue
    /// #     }
    /// # }
    /// # #[derive(Default)]
    /// # struct Sum { total: u64 }
    /// # #[component]
    /// # impl Sum {
    /// #     #[input]
    /// #     fn inp(&mut self, x: u64) { self.total += x; }
    /// # }
    /// # #[derive(Default)]
    /// # struct Double;
    /// # #[component(outputs(out: u64))]
    /// # impl Double {
    /// #     #[input]
    /// #     fn inp(&mut self, x: u64, out: &mut Outputs<Self>) { out.out(2 * x); }
    /// # }
    /// let running = graph! {
    ///     ticks: Ticks = Ticks { next: 0 };
    ///     sum: Sum;
    ///     #[capacity(8)]
    ///     ticks.out -> sum.inp;
    /// }
    /// .run()
    /// .unwrap();
    /// let update = Update::new()
    ///     .insert("double", Double)
    ///     .disconnect("ticks.out", "sum.inp")
    ///     .connect_with_capacity("ticks.out", "double.inp", 2)
    ///     .connect("double.out", "sum.inp");
    /// running.update(update).unwrap();
    /// let capacities: Vec<(String, usize)> =
    ///     running.schedule().arcs.into_iter().map(|a| (a.to.0, a.capacity)).collect();
    /// assert!(capacities.contains(&("double".to_string(), 2)));
    /// assert!(capacities.contains(&("sum".to_string(), 8)));
    /// # running.stop();
    /// # running.join().unwrap();
    /// ```
    pub fn connect_with_capacity(mut self, from: &str, to: &str, capacity: usize) -> Self {
        self.edits.push(Edit::Connect {
            from: from.to_owned(),
            to: to.to_owned(),
            capacity: Some(capacity),
        });
        self
    }

    /// Removes the arc `from` -> `to`. The ports it leaves unconnected must
    /// be connected again (or their instances removed) in the same update.
    ///
    /// ```
    /// # use evoflow::{component, graph, Flow, Outputs, Update, UpdateError};
    /// # struct Ticks { next: u64 }
    /// # #[component(outputs(out: u64))]
    /// # impl Ticks {
    /// #     #[source]
    /// #     fn emit(&mut self, out: &mut Outputs<Self>) -> Flow {
    /// #         out.out(self.next); // until `stop`
    /// #         self.next += 1;
    /// #         Flow::Continue
    /// #     }
    /// # }
    /// # #[derive(Default)]
    /// # struct Sum { total: u64 }
    /// # #[component]
    /// # impl Sum {
    /// #     #[input]
    /// #     fn inp(&mut self, x: u64) { self.total += x; }
    /// # }
    /// # #[derive(Default)]
    /// # struct Double;
    /// # #[component(outputs(out: u64))]
    /// # impl Double {
    /// #     #[input]
    /// #     fn inp(&mut self, x: u64, out: &mut Outputs<Self>) { out.out(2 * x); }
    /// # }
    /// let running = graph! {
    ///     ticks: Ticks = Ticks { next: 0 };
    ///     sum: Sum;
    ///     ticks.out -> sum.inp;
    /// }
    /// .run()
    /// .unwrap();
    /// let alone = running.update(Update::new().disconnect("ticks.out", "sum.inp"));
    /// assert!(matches!(alone, Err(UpdateError::Refused(_))), "{alone:?}");
    ///
    /// // Puts `double` between them.
    /// let update = Update::new()
    ///     .disconnect("ticks.out", "sum.inp")
    ///     .insert("double", Double)
    ///     .connect("ticks.out", "double.inp")
    ///     .connect("double.out", "sum.inp");
    /// assert_eq!(running.update(update).unwrap().disconnected, ["ticks.out -> sum.inp"]);
    /// # running.stop();
    /// # running.join().unwrap();
    /// ```
    pub fn disconnect(mut self, from: &str, to: &str) -> Self {
        self.edits.push(Edit::Disconnect {
            from: from.to_owned(),
            to: to.to_owned(),
        });
        self
    }
}

/// Why an update did not complete. For every variant but
/// [`UpdateError::CommittedUnfinished`] and [`UpdateError::FailedAfterCommit`]
/// (which say so) the graph is exactly as it was before.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UpdateError {
    /// Validation refused it before anything changed.
    Refused(Refusal),
    /// An instance failed to export, migrate or build its new version; every
    /// instance of the update kept its old version and state.
    RolledBack {
        /// The instance that failed.
        instance: String,
        /// What went wrong.
        reason: InstanceFailure,
    },
    /// An instance failed to install its new version after the update had
    /// committed (a `#[handover]` or `#[takeover]` hook panicked): the
    /// update cannot be undone, and the graph stops as after any panic.
    FailedAfterCommit {
        /// The instance that failed.
        instance: String,
        /// What went wrong.
        reason: InstanceFailure,
    },
    /// The deadline passed before these changing instances had prepared
    /// (typically: the update's marker had not reached them yet, behind
    /// full queues, or a migration was still running). The update was
    /// aborted everywhere; every instance kept its old version and state.
    TimedOut {
        /// The update's deadline.
        deadline: Duration,
        /// Changing instances that had not prepared.
        unprepared: Vec<String>,
    },
    /// The update committed, and the new shape is in place, but these
    /// instances had not installed their new version by the deadline
    /// (their worker was busy in a handler); each installs it when its
    /// worker next runs it. Not a rollback.
    CommittedUnfinished {
        /// Instances still to install their change.
        instances: Vec<String>,
    },
    /// An earlier update whose deadline passed is still finishing on these
    /// instances (their worker has not run them since), or another update
    /// held the graph until this one's deadline. Nothing changed; try again.
    Busy {
        /// The earlier update still finishing, if that is the reason.
        update: Option<u64>,
        /// Its instances still to finish.
        instances: Vec<String>,
    },
    /// The graph has finished or aborted.
    NotRunning,
    /// An update spanning machines aborted for a reason outside this
    /// machine (another machine refused or failed it, or was lost); every
    /// instance here kept its old version and state.
    AbortedElsewhere {
        /// Why, as the machines' coordination reported it.
        why: String,
    },
    /// This machine voted to commit an update spanning machines, but could
    /// not learn the decision (the coordination store was unreachable):
    /// its changing instances stay paused, and the part must stop (the
    /// machines layer halts it), as the others may have committed.
    InDoubt {
        /// Why the decision could not be read.
        why: String,
    },
}

impl fmt::Display for UpdateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UpdateError::Refused(why) => write!(f, "update refused, nothing changed: {why}"),
            UpdateError::RolledBack { instance, reason } => {
                write!(
                    f,
                    "update rolled back, nothing changed: instance `{instance}`: {reason}"
                )
            }
            UpdateError::FailedAfterCommit { instance, reason } => write!(
                f,
                "update failed after it committed: instance `{instance}`: {reason}; the graph stops"
            ),
            UpdateError::TimedOut {
                deadline,
                unprepared,
            } => write!(
                f,
                "update aborted, nothing changed: its deadline of {deadline:?} passed before {} had prepared{}",
                names(unprepared),
                if unprepared.is_empty() { " the decision" } else { "" }
            ),
            UpdateError::CommittedUnfinished { instances } => write!(
                f,
                "update committed, but {} had not installed the new version by the deadline; each does when its worker next runs it",
                names(instances)
            ),
            UpdateError::Busy { update: Some(id), instances } => write!(
                f,
                "update refused, nothing changed: update #{id} is still finishing on {} (their worker has not run them since its deadline); try again",
                names(instances)
            ),
            UpdateError::Busy { update: None, .. } => f.write_str(
                "update refused, nothing changed: another update held the graph until this one's deadline; try again",
            ),
            UpdateError::NotRunning => {
                f.write_str("update refused: the graph is no longer running")
            }
            UpdateError::AbortedElsewhere { why } => {
                write!(f, "update aborted on every machine, nothing changed here: {why}")
            }
            UpdateError::InDoubt { why } => write!(
                f,
                "update in doubt: this machine voted to commit but cannot learn the decision ({why}); its part must stop"
            ),
        }
    }
}

impl std::error::Error for UpdateError {}

/// "`a`, `b`" for messages.
fn names(list: &[String]) -> String {
    let quoted: Vec<String> = list.iter().map(|n| format!("`{n}`")).collect();
    quoted.join(", ")
}

/// What an applied update changed.
#[derive(Clone, Debug, Default)]
pub struct UpdateReport {
    /// Sequence number of the update in this graph.
    pub id: u64,
    /// Instances that got a new implementation or version.
    pub replaced: Vec<(String, VersionChange)>,
    /// Instances inserted.
    pub inserted: Vec<String>,
    /// Instances removed.
    pub removed: Vec<String>,
    /// Arcs added, as `"a.out -> b.inp"`.
    pub connected: Vec<String>,
    /// Arcs removed.
    pub disconnected: Vec<String>,
    /// Instances that took part (changed, or passed the marker on).
    pub participants: usize,
    /// From submission to the last instance done.
    pub duration: Duration,
}

impl fmt::Display for UpdateReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "update #{} applied in {:?}", self.id, self.duration)?;
        for (name, c) in &self.replaced {
            write!(
                f,
                "; {name}: {} v{} -> {} v{}",
                c.from.0, c.from.1, c.to.0, c.to.1
            )?;
        }
        for (what, list) in [
            ("inserted", &self.inserted),
            ("removed", &self.removed),
            ("connected", &self.connected),
            ("disconnected", &self.disconnected),
        ] {
            if !list.is_empty() {
                write!(f, "; {what} {}", list.join(", "))?;
            }
        }
        Ok(())
    }
}

/// A rollback of a watched update, as it happened.
#[derive(Clone, Debug)]
pub struct Rollback {
    /// The update rolled back.
    pub update: u64,
    /// The instance whose panic triggered it.
    pub instance: String,
    /// Its panic message.
    pub message: String,
    /// The rollback itself: an update that swaps every instance the
    /// watched one replaced back to the version it replaced.
    pub outcome: Result<UpdateReport, UpdateError>,
    /// Per instance, what became of its state: downgraded by the new
    /// version's `#[migrate(down = N)]`, or, without one (or if it
    /// failed), the replaced version as it was at the update (changes
    /// since are lost).
    pub restored: Vec<(String, String)>,
}
