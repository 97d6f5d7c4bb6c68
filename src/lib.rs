#![deny(missing_docs)]
//! evoflow: dataflow programs that evolve while they run.
//!
//! Components are Rust types whose `impl` block carries `#[component]`;
//! `graph!` wires instances together, checks every port at compile time,
//! and computes a static schedule over worker threads.
//!
//! ```
//! use evoflow::{component, graph, Flow, Outputs};
//!
//! #[derive(Default)]
//! struct Count { next: u64 }
//!
//! #[component(outputs(out: u64))]
//! impl Count {
//!     #[source]
//!     fn emit(&mut self, out: &mut Outputs<Self>) -> Flow {
//!         if self.next == 1000 { return Flow::Done; }
//!         out.out(self.next);
//!         self.next += 1;
//!         Flow::Continue
//!     }
//! }
//!
//! #[derive(Default)]
//! struct Sum { total: u64 }
//!
//! #[component]
//! impl Sum {
//!     #[input]
//!     fn inp(&mut self, x: u64) { self.total += x; }
//! }
//!
//! let mut report = graph! {
//!     workers = 2;
//!     count: Count;
//!     sum: Sum;
//!     count.out -> sum.inp;
//! }
//! .run_to_end()
//! .unwrap();
//! assert_eq!(report.take::<Sum>("sum").unwrap().total, 999 * 1000 / 2);
//! ```
//!
//! Further reading, in [`docs`]: [how a live update
//! works](docs::how_it_works) and [its guarantees and
//! limits](docs::guarantees).
#![cfg_attr(
    feature = "reload",
    doc = "With the `reload` feature (on by default, Linux only): [what a reload does and asks of a component library](docs::reload_constraints)."
)]

/// Only with the `reload` feature: the code it generates calls into
/// `evoflow::reload`.
///
#[cfg(feature = "reload")]
pub use evoflow_macros::library;
pub use evoflow_macros::{component, graph};
/// Live update from rebuilt code. Behind the `reload` feature (on by
/// default) because it is Linux-only: without it the rest of evoflow
/// builds with no dynamic loading or control socket.
#[cfg(feature = "reload")]
pub use evoflow_reload as reload;
pub use evoflow_runtime::{
    ArcInfo, BuildError, Component, ComponentMeta, DeadLetter, Evolution, EvolutionError, Fate,
    Flow, Graph, GraphBuilder, GraphError, Hook, InstanceEvolution, InstanceFailure, InstanceId,
    InstanceInfo, InstanceStatus, Migration, NotRun, OnPanic, Outputs, PacketType, Panic, PortMeta,
    Recoverable, Refusal, RemoteArcInfo, Report, Resources, Rollback, RunError, Running, Schedule,
    Side, State, StateError, Stopper, Supervision, Update, UpdateError, UpdateReport,
    VersionChange, Wait, DEAD_LETTERS, DEFAULT_DEADLINE, HISTORY,
};

/// One graph over several machines (the `machines` feature, on by
/// default): what `graph!` with `machines = { .. }` returns, and how each
/// machine runs its part.
#[cfg(feature = "machines")]
pub use evoflow_machines::{
    GraphStatus, InstanceSummary, MachineConfig, MachineError, MachineRun, MachineStatus, Portable,
    Program, Replacements, Spanning, SpanningReport,
};

pub mod docs;

#[doc(hidden)]
pub mod __private {
    #[cfg(feature = "machines")]
    pub use evoflow_machines as machines;
    pub use evoflow_runtime as rt;
    pub use evoflow_runtime::__private::*;
}

/// The README's examples, compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
