#![warn(missing_docs)]
//! Live update from rebuilt code: a program whose components live in a
//! dynamic library loads a rebuilt copy of that library when told to
//! (`SIGHUP` or the `reload` command), and applies the difference between
//! the new graph and the running one as one live update.
//!
//! Layout of a reloadable program (see `examples/reload`):
//! * a component library crate, `crate-type = ["cdylib"]`, whose
//!   `graph()` function builds the graph with `graph!`, exported with
//!   `evoflow::library!(graph)`;
//! * a host binary whose `main` is `evoflow::reload::cli::main("crate_name")`.
//!
//! Both are built by one `cargo build`: Rust has no stable ABI, so the
//! loader refuses a library built by another compiler, for another
//! target, or with another dependency set (`Cargo.lock`) than the program
//! started with. An instance gets new code when its component's version
//! changes; a component whose code changed under the same version, and a
//! packet type whose definition changed on an arc whose ends are not both
//! updated, are refused. Libraries are never unmapped: each reload costs
//! the library's size in address space (resident only as far as used).
//!
//! Constraints on the library: its graph function runs again on every
//! reload to describe the target graph, and instances it builds that are
//! kept or migrated are dropped unused, so constructors must not acquire
//! resources (bind sockets in the first poll, or hand them over with
//! `#[handover]`/`#[takeover]`). Host and library must both use the system
//! allocator (no `#[global_allocator]`): memory is freed across the boundary.

mod app;
mod build_info;
mod check;
pub mod cli;
mod control;
mod loader;

pub use app::{App, ReloadError, ReloadReport};
pub use control::{request, ControlSocket};

/// Used by the code `evoflow::library!` generates. Not a public API.
#[doc(hidden)]
pub mod __library;
