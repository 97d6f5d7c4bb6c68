//! The graph algorithms and rules of evoflow in plain Rust, written once and
//! shared: `graph!` runs them at compile time, the runtime runs the same code
//! when a graph is built by hand, when the worker count is known only when
//! the program runs, and when a live update is checked; so both place every
//! instance alike. `GraphBuilder` and update validation refuse with these
//! words; `graph!` shares the cycle and unknown-instance messages, while
//! its port, type and wiring checks run in the type checker, where they
//! can point at the user's tokens.
//!
//! # Modules
//!
//! - `schedule`: the static schedule, which worker runs which instance in
//!   which order ([`sections`], [`PlacementError`]).
//! - `order`: the topological order, naming a cycle when there is none
//!   ([`topological_order`], [`Cycle`]), the path search an update uses
//!   to tell whether a new arc closes a cycle ([`path`]), and what a set of
//!   nodes reaches ([`reachable`]).
//! - `ports`: the rules of ports and arcs, per arc ([`find_port`],
//!   [`check_port_number`], [`check_packet_type`]) and per instance
//!   ([`check_wiring`]).
//! - `error`: [`GraphError`], every broken rule, whose `Display` is the one
//!   set of messages.

#![deny(missing_docs)]

mod error;
mod order;
mod ports;
mod schedule;

pub use error::{GraphError, Side};
pub use order::{path, reachable, topological_order, Cycle};
pub use ports::{check_packet_type, check_port_number, check_wiring, find_port};
pub use schedule::{sections, Place, PlacementError};
