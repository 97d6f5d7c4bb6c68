//! Loads a component library: copies it to a unique path (so the build can
//! overwrite its output while the copy stays mapped), maps it, checks its
//! build against the host's, and takes its graph. A loaded library is never
//! unmapped: code of it may run as long as the process does.

use crate::__library::{HostContext, Library};
use crate::build_info::BuildInfo;
use evoflow_runtime::Graph;
use std::ffi::{c_char, CStr};
use std::mem::ManuallyDrop;
use std::path::{Path, PathBuf};

/// A library mapped into the process, with what the reload checks need.
pub(crate) struct Loaded {
    /// The path it was loaded from (the build's output).
    pub path: PathBuf,
    /// Which load of the process this is, from 0.
    pub serial: usize,
    /// Bytes mapped for it, for as long as the process runs.
    pub size: u64,
    pub crate_name: &'static str,
    /// Its type definitions: name and definition hash.
    pub types: &'static [(&'static str, u64)],
    pub deps: u64,
    /// Kept mapped forever: its code and statics may be in use anywhere.
    _library: ManuallyDrop<libloading::Library>,
}

impl Loaded {
    /// Definition hash of the library's own type `name`, if it defines one.
    pub(crate) fn type_hash(&self, name: &str) -> Option<u64> {
        self.types.iter().find(|(n, _)| *n == name).map(|(_, h)| *h)
    }
}

/// Loads `path` (copied to `scratch/<serial>-<file name>`) and takes its
/// graph. `host` is the host's build; `baseline` the dependency hash every
/// library must have (the first library's), if one is loaded already.
pub(crate) fn load(
    path: &Path,
    scratch: &Path,
    serial: usize,
    host: &BuildInfo,
    baseline: Option<u64>,
) -> Result<(Loaded, Graph), String> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read `{shown}`: {e}"))?;
    if !meta.is_file() {
        return Err(format!("`{shown}` is not a file"));
    }
    let name = path
        .file_name()
        .expect("a file has a name")
        .to_string_lossy();
    let copy = scratch.join(format!("{serial}-{name}"));
    std::fs::copy(path, &copy)
        .map_err(|e| format!("cannot copy `{shown}` to `{}`: {e}", copy.display()))?;
    // SAFETY: mapping runs the library's initialisers. The file is a build
    // output the process owner asked to load (through the owner-only
    // control socket, a signal or the program's arguments). It is never
    // unmapped, even if refused: once any of its code has run, its statics
    // and destructors may be referenced.
    let library = ManuallyDrop::new(
        unsafe { libloading::Library::new(&copy) }
            .map_err(|e| format!("`{shown}` is not a loadable library: {e}"))?,
    );
    let not_evoflow = |why: String| {
        format!(
            "`{shown}` is not an evoflow component library ({why}); build the component crate as a \
             `cdylib` that invokes `evoflow::library!(your_graph_fn)`"
        )
    };
    // SAFETY: `evoflow_build_info` is declared by `library!` with exactly
    // this C signature; a foreign library is refused by the symbol lookup
    // or by the text's first line.
    let text = unsafe {
        let info = library
            .get::<extern "C" fn() -> *const c_char>(b"evoflow_build_info\0")
            .map_err(|_| not_evoflow("it has no `evoflow_build_info` symbol".into()))?;
        CStr::from_ptr(info()).to_string_lossy().into_owned()
    };
    let info = BuildInfo::parse(&text).map_err(not_evoflow)?;
    if let Some(why) = host.refuse(&info) {
        return Err(format!("`{shown}` cannot be loaded: {why}"));
    }
    if let Some(deps) = baseline.filter(|&d| d != info.deps) {
        return Err(format!(
            "`{shown}` cannot be loaded: it was built with another dependency set (Cargo.lock hash \
             {:016x}, the running program's is {deps:016x}); dependencies cannot be replaced while the \
             program runs: restart it",
            info.deps
        ));
    }
    let host_context = HostContext {
        dispatch: tracing::dispatcher::get_default(Clone::clone),
    };
    // SAFETY: the build info matched, so the library was built by the same
    // compiler from the same runtime and dependencies: its `Library`,
    // `Graph` and everything in them have the host's layout, and
    // `evoflow_library_v1` has the signature `library!` declares.
    let exported = unsafe {
        let entry = library
            .get::<fn(&HostContext) -> Result<Library, String>>(b"evoflow_library_v1\0")
            .map_err(|_| not_evoflow("it has no `evoflow_library_v1` symbol".into()))?;
        entry(&host_context)
    }
    .map_err(|why| format!("`{shown}` cannot be loaded: {why}"))?;
    Ok((
        Loaded {
            path: path.to_owned(),
            serial,
            size: meta.len(),
            crate_name: exported.crate_name,
            types: exported.types,
            deps: info.deps,
            _library: library,
        },
        exported.graph,
    ))
}
