//! Why validation refused an update: [`Refusal`], carried by
//! [`UpdateError::Refused`](crate::UpdateError::Refused). Rules of a graph's
//! shape (instances, ports, packet types, wiring, cycles, workers) are the
//! graph library's [`GraphError`], with the words `GraphBuilder` uses too;
//! the rest are rules of updates themselves.

use evoflow_graph::GraphError;
use std::fmt;

/// Why an update was refused before anything changed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// The graph after the update would break a rule of graphs, or an edit
    /// names an instance, port or worker that does not exist.
    Graph(Box<GraphError>),
    /// The update has no edits.
    Empty,
    /// An endpoint is not written as `instance.port`.
    NotAPort {
        /// What was written.
        text: String,
    },
    /// A disconnect names an arc the graph does not have.
    NoSuchArc {
        /// The output, as `a.out`.
        from: String,
        /// The input, as `b.inp`.
        to: String,
    },
    /// An insert names an instance that exists.
    AlreadyExists {
        /// The instance.
        instance: String,
    },
    /// An instance inserted on a worker dedicated to a `#[blocking]`
    /// instance.
    DedicatedWorker {
        /// The inserted instance.
        instance: String,
        /// The worker.
        worker: usize,
    },
    /// An update on one machine alone whose region takes in a path
    /// through another machine (it leaves at `instance`): the markers
    /// would have to cross machines, which the others take no part in.
    AcrossMachines {
        /// The instance.
        instance: String,
    },
    /// An update would remove or rewire an instance at an arc to another
    /// machine, whose stream is fixed.
    FixedRemoteArc {
        /// The instance.
        instance: String,
        /// The arc (`a.out -> b.inp`).
        arc: String,
    },
    /// An update would make a new path from an instance that receives
    /// from another machine to one that sends to another machine.
    JoinsMachines {
        /// Where the path would come in.
        from: String,
        /// Where it would leave.
        to: String,
    },
    /// A machine's part of an update spanning machines changes an instance
    /// the update did not name.
    OutsideRegion {
        /// The instance.
        instance: String,
    },
    /// The region of an update spanning machines was computed on a graph
    /// this machine's part no longer is (an update changed it since).
    RegionOutdated {
        /// What differs.
        why: String,
    },
    /// A replacement lacks the port, or the packet type, of an arc to
    /// another machine that its instance has.
    RemotePortChanged {
        /// The instance.
        instance: String,
        /// The arc (`a.out -> b.inp`).
        arc: String,
        /// The replacing component.
        by: String,
    },
    /// One update removes an instance and inserts one of the same name.
    RemovedAndInserted {
        /// The instance.
        instance: String,
    },
    /// An instance the update inserts is also replaced or removed by it.
    InsertedAndChanged {
        /// The instance.
        instance: String,
    },
    /// One update replaces an instance twice.
    ReplacedTwice {
        /// The instance.
        instance: String,
    },
    /// One update replaces and removes an instance.
    ReplacedAndRemoved {
        /// The instance.
        instance: String,
    },
    /// A migrating replacement of an instance whose component keeps no
    /// state.
    NoStateExport {
        /// The instance.
        instance: String,
        /// Its component now, and version.
        component: (String, u32),
        /// The replacing component.
        by: String,
    },
    /// A migrating replacement by a component that keeps no state.
    NoStateImport {
        /// The instance.
        instance: String,
        /// The replacing component.
        by: String,
    },
    /// The replacing version cannot read the running version's state.
    NoMigrationPath {
        /// The running component and version.
        from: (String, u32),
        /// The replacing component and version.
        to: (String, u32),
        /// The migrations the replacing version declares, as (from, to).
        declared: Vec<(u32, u32)>,
    },
    /// A watched update with edits other than replacements.
    WatchedNotOnlyReplacing,
    /// A rollback of a watched update could not start: an instance had not
    /// installed the new version by the deadline.
    RollbackUnready {
        /// The watched update.
        update: u64,
    },
}

impl From<GraphError> for Refusal {
    fn from(e: GraphError) -> Self {
        Refusal::Graph(Box::new(e))
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // Rules of the resulting graph: it does not exist yet.
            Refusal::Graph(e) if matches!(
                **e,
                GraphError::Unconnected { .. }
                    | GraphError::OutputShared { .. }
                    | GraphError::Cycle { .. }
            ) =>
            {
                write!(f, "after this update, {e}")
            }
            Refusal::Graph(e) => e.fmt(f),
            Refusal::Empty => f.write_str("the update is empty"),
            Refusal::NotAPort { text } => {
                write!(f, "`{text}` is not a port; write it as `instance.port`")
            }
            Refusal::NoSuchArc { from, to } => {
                write!(f, "there is no arc `{from} -> {to}` to disconnect")
            }
            Refusal::AlreadyExists { instance } => {
                write!(f, "an instance named `{instance}` already exists")
            }
            Refusal::DedicatedWorker { instance, worker } => write!(
                f,
                "cannot insert `{instance}` on worker {worker}: it runs a `#[blocking]` instance alone \
                 (what shares its thread waits whenever it blocks); insert it on another worker"
            ),
            Refusal::AcrossMachines { instance } => write!(
                f,
                "the update's region takes in a path that leaves this machine at `{instance}` \
                 and comes back: its markers would cross machines that take no part in an \
                 update of one machine; apply it to every machine at once \
                 (`MachineRun::update_everywhere`)"
            ),
            Refusal::FixedRemoteArc { instance, arc } => write!(
                f,
                "`{arc}` connects `{instance}` to another machine, and that stream is fixed: \
                 an update cannot remove `{instance}` or rewire that port (it can replace \
                 `{instance}` by a component with the same port)"
            ),
            Refusal::RegionOutdated { why } => write!(
                f,
                "the update's region was computed on a graph that has changed since ({why}); ask again"
            ),
            Refusal::JoinsMachines { from, to } => write!(
                f,
                "the update would join `{from}`, which receives from another machine, to `{to}`, \
                 which sends to one: a new path through machines, unseen by the others (each \
                 records those paths when the graph starts, to refuse updates of its own whose \
                 markers would have to follow one); keep the paths through machines as they are"
            ),
            Refusal::OutsideRegion { instance } => write!(
                f,
                "this machine's part changes `{instance}`, which the update spanning machines \
                 does not name; name every instance it changes"
            ),
            Refusal::RemotePortChanged { instance, arc, by } => write!(
                f,
                "replacing `{instance}` by `{by}` would drop or retype its end of `{arc}`, \
                 which crosses machines; the replacement must keep that port and its packet type"
            ),
            Refusal::RemovedAndInserted { instance } => write!(
                f,
                "`{instance}` is removed and inserted in one update; replace it instead"
            ),
            Refusal::InsertedAndChanged { instance } => write!(
                f,
                "`{instance}` is inserted by this update and cannot be changed in it too"
            ),
            Refusal::ReplacedTwice { instance } => {
                write!(f, "`{instance}` is replaced twice in one update")
            }
            Refusal::ReplacedAndRemoved { instance } => {
                write!(f, "`{instance}` is both replaced and removed in one update")
            }
            Refusal::NoStateExport {
                instance,
                component: (name, version),
                by,
            } => write!(
                f,
                "`{instance}` runs `{name}` v{version}, which does not export its state, so `{by}` cannot migrate it: \
                 add `state` to its #[component], or use `replace_with` to start from a fresh instance"
            ),
            Refusal::NoStateImport { instance, by } => write!(
                f,
                "`{by}` does not import state, so it cannot take over `{instance}`: add `state` to its \
                 #[component], or use `replace_with` to start from a fresh instance"
            ),
            Refusal::NoMigrationPath { from, to, declared } => {
                let steps: Vec<String> = declared
                    .iter()
                    .map(|(a, b)| format!("v{a} -> v{b}"))
                    .collect();
                write!(
                    f,
                    "`{}` v{} has no migration path from `{}` v{} (it declares {}); add `#[migrate(from = {})]` to `{}`",
                    to.0,
                    to.1,
                    from.0,
                    from.1,
                    if steps.is_empty() { "none".to_owned() } else { steps.join(", ") },
                    from.1,
                    to.0
                )
            }
            Refusal::WatchedNotOnlyReplacing => f.write_str(
                "a watched update may only replace instances (its rollback swaps them back); apply structural edits in an update of their own",
            ),
            Refusal::RollbackUnready { update } => write!(
                f,
                "not rolled back: an instance of update #{update} had not installed its new version by the deadline"
            ),
        }
    }
}

impl std::error::Error for Refusal {}
