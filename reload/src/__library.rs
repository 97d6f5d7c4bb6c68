//! The library side of a reload: what `evoflow::library!` expands to calls
//! these. Runs inside the component library, with the library's own copy of
//! the runtime and of std.

use crate::build_info::{fnv_hasher, panic_strategy, BuildInfo};
pub use crate::build_info::{stamp, stamp_len};
use evoflow_runtime::panic_text;
use evoflow_runtime::Graph;
use std::any::TypeId;
use std::ffi::{c_char, CString};
use std::hash::{Hash, Hasher};
use std::panic::catch_unwind;
use std::sync::OnceLock;

/// What the host gives the library when it loads it.
pub struct HostContext {
    /// The host's log subscriber: the library's copy of `tracing` logs
    /// through it, so components' logs and the host's go to one place.
    pub(crate) dispatch: tracing::Dispatch,
    /// The program is starting (not reloading).
    pub(crate) first: bool,
}

thread_local! {
    /// Set while the graph function runs (see [`crate::first_load`]).
    pub(crate) static FIRST: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// A loaded library's graph and the table of its type definitions.
pub struct Library {
    pub(crate) crate_name: &'static str,
    pub(crate) types: &'static [(&'static str, u64)],
    pub(crate) built: Built,
}

/// What a library's graph function made.
pub enum Built {
    /// A graph on one machine.
    Graph(Box<Graph>),
    /// A graph over several machines, and how to make it again: the host
    /// builds each machine's part of a rebuilt program to compare it with
    /// what runs (the function runs in the library, which catches its
    /// panics).
    #[cfg(feature = "machines")]
    Program {
        /// The program, made as for a start.
        first: evoflow_machines::Program,
        /// Makes it again, as for a reload.
        again: Again,
    },
}

/// Makes a library's program again (see [`Built::Program`]).
#[cfg(feature = "machines")]
pub type Again = Box<dyn Fn() -> Result<evoflow_machines::Program, String> + Send + Sync>;

/// What a graph function may return: a graph, or (with the `machines`
/// feature) a program over several machines.
pub trait Exported: Sized + 'static {
    /// Runs `graph` (its first run: `first` tells [`crate::first_load`])
    /// and wraps what it made.
    fn export(graph: fn() -> Self, first: bool) -> Result<Built, String>;
}

/// Runs `graph` with [`crate::first_load`] telling `first`; a panic in it
/// is caught here, by the library's own panic runtime, and only its message
/// crosses to the host.
fn run<G>(graph: impl FnOnce() -> G, first: bool) -> Result<G, String> {
    FIRST.with(|f| f.set(first));
    let made = catch_unwind(std::panic::AssertUnwindSafe(graph));
    FIRST.with(|f| f.set(false));
    made.map_err(|p| panic_text(p.as_ref()))
}

/// Builds a part of a program over machines as [`run`] runs a graph
/// function; a panic in a constructor is the part's error.
#[cfg(feature = "machines")]
fn run_part(
    build: &mut dyn FnMut() -> Result<Graph, evoflow_machines::MachineError>,
    first: bool,
) -> Result<Graph, evoflow_machines::MachineError> {
    run(build, first)
        .unwrap_or_else(|panic| Err(evoflow_machines::MachineError::BuildPanicked(panic)))
}

impl Exported for Graph {
    fn export(graph: fn() -> Self, first: bool) -> Result<Built, String> {
        run(graph, first).map(|g| Built::Graph(Box::new(g)))
    }
}

#[cfg(feature = "machines")]
impl Exported for evoflow_machines::Program {
    fn export(graph: fn() -> Self, first: bool) -> Result<Built, String> {
        // The parts are built later, called by the host: their
        // constructors run inside `run_part`, in the library's code.
        Ok(Built::Program {
            first: run(graph, first)?.around_build(move |b| run_part(b, first)),
            again: Box::new(move || {
                run(graph, false).map(|p| p.around_build(|b| run_part(b, false)))
            }),
        })
    }
}

/// The library's build info as a C string (`evoflow_build_info`):
/// `sources` hashes its path dependencies' sources, `marker` is the type
/// identity of a type of the library, which changes with any dependency's
/// version or features (cargo's build metadata) and with the compiler;
/// `aborts`: the crate that invokes `library!` (the cdylib) does not
/// unwind on a panic.
pub fn build_info(sources: u64, marker: TypeId, aborts: bool) -> *const c_char {
    static TEXT: OnceLock<CString> = OnceLock::new();
    TEXT.get_or_init(|| {
        let mut h = fnv_hasher();
        sources.hash(&mut h);
        marker.hash(&mut h);
        let info = BuildInfo {
            panic: panic_strategy(aborts).to_owned(),
            ..BuildInfo::current()
        };
        CString::new(info.library_text(h.finish())).expect("build info has no NUL")
    })
    .as_ptr()
}

/// Builds the library's graph for the host (`evoflow_library_v1`). A panic
/// in `graph` is caught here, by the library's own panic runtime; `Err`
/// holds its message.
pub fn export<G: Exported>(
    host: &HostContext,
    crate_name: &'static str,
    types: &'static [(&'static str, u64)],
    graph: fn() -> G,
) -> Result<Library, String> {
    // Fails only if already set: a library is initialised once per load.
    let _ = tracing::dispatcher::set_global_default(host.dispatch.clone());
    // The host's subscriber was registered with the host's copy of
    // `tracing`, not with the library's, whose level filter therefore stays
    // `OFF` (every event skipped) until its callsites' interest is rebuilt
    // against the global subscriber just set.
    tracing::callsite::rebuild_interest_cache();
    Ok(Library {
        crate_name,
        types,
        built: G::export(graph, host.first)?,
    })
}
