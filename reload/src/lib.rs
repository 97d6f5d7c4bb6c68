#![deny(missing_docs)]
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
//! With the `machines` feature, the graph function may return a program
//! over several machines (`graph!` with `machines = { .. }`): the host then
//! runs one machine's part (`run --machine NAME --etcd URL`,
//! `MachineApp`), and a reload asked on any machine replaces what
//! changed on every machine as one update spanning them (see
//! `machines.rs`).
//!
//! Both are built by one `cargo build`: Rust has no stable ABI, so the
//! loader first checks (without running any of its code) that the file
//! exports evoflow's entry point, then reads its build info through a C
//! function, and refuses a library built by another compiler, for another
//! target, with another evoflow runtime build, or with other dependencies
//! than the first library (cargo's build metadata: versions, features,
//! profile; plus the sources of path dependencies).
//!
//! An instance gets new code when its component's version changes. A
//! component whose `impl` block or type definition changed under the same
//! version is refused, and so is an arc whose packet type's definition
//! differs between the builds its two ends would run (found by hashing the
//! library's type definitions, so a same-size change is caught too).
//! Changes elsewhere (free functions, other `impl` blocks) are not seen:
//! bump the version of the components they affect.
//!
//! A start or reload that does not happen says why as a [`ReloadError`]:
//! data (paths, instances, versions, the build field that differs) whose
//! text names the cause and the fix; the control socket and the command
//! line send and print that text.
//!
//! Constraints on the library (also in `evoflow::docs::reload_constraints`,
//! with an example):
//! * Its graph function runs again on every reload to describe the target
//!   graph, and the instances it builds for unchanged components are
//!   dropped unused, so constructors must not acquire resources (bind
//!   sockets in the first poll, or hand them over).
//! * Values handed over with `#[handover]`/`#[takeover]` between builds must
//!   be of types that did not change (std or dependency types such as
//!   sockets): they are matched by type identity, which stays the same
//!   when a type of the library itself is redefined.
//! * Host and library use the system allocator (no `#[global_allocator]`):
//!   memory is freed across the boundary.
//! * The library has its own copy of std: its panics are caught inside it
//!   (and handled by the instance's supervision like any component
//!   panic), it prints panic
//!   messages with its own hook, and writes to stdout through its own
//!   buffer (line-buffered, like the host's).
//! * Libraries are never unmapped: each load costs the library's size in
//!   address space, resident only as far as used.
//! * Reloads and in-process `Running::update` calls on the same program are
//!   not meant to be mixed: a reload refuses instances it did not build.

mod app;
mod build_info;
mod check;
pub mod cli;
mod control;
mod error;
mod loader;
#[cfg(feature = "machines")]
mod machines;

pub use app::{App, ReloadReport};
pub use control::{request, ControlSocket, Controlled};
#[cfg(feature = "machines")]
pub use error::AcrossMachines;
pub use error::{
    BuildField, CannotLoad, Incompatibility, IoError, LibraryError, NotEvoflow, ObjectKind,
    ReloadError, StartError, TypeChange,
};
#[cfg(feature = "machines")]
pub use machines::MachineApp;

/// Used by the code `evoflow::library!` generates. Not a public API.
#[doc(hidden)]
pub mod __library;

/// True while a library's graph function runs for the program's start,
/// false when it runs for a reload. The graph function runs on every
/// reload, to describe the new graph, and the instances it builds for
/// unchanged components are dropped unused: acquire resources that must
/// exist once (bind a listening socket) only when this is true, so that
/// a start that cannot have them fails at once, with the reason, before
/// anything runs.
pub fn first_load() -> bool {
    __library::FIRST.with(|f| f.get())
}
