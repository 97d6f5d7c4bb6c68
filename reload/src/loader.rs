//! Loads a component library in two steps. `map` copies it to a unique path
//! (so the build can overwrite its output, and no mapped file is ever
//! written again) and maps it; `open` checks its build against the host's
//! and takes its graph. A mapped library is never unmapped, refused or not:
//! once any of its code has run, its statics and destructors may be
//! referenced anywhere.

use crate::__library::{HostContext, Library};
use crate::build_info::BuildInfo;
use evoflow_runtime::Graph;
use object::{Object, ObjectKind, ObjectSection, ObjectSymbol};
use std::ffi::{c_char, CStr};
use std::fs::OpenOptions;
use std::mem::ManuallyDrop;
use std::path::{Path, PathBuf};

/// A library file mapped into the process, for good.
pub(crate) struct Mapped {
    /// The path it was loaded from (the build's output).
    pub path: PathBuf,
    /// Which load attempt of the process mapped it, from 0.
    pub serial: usize,
    /// Size of the library file: about what stays mapped.
    pub size: u64,
    library: ManuallyDrop<libloading::Library>,
}

/// A mapped library whose build matched, with what the reload checks need.
pub(crate) struct Loaded {
    pub mapped: Mapped,
    pub crate_name: &'static str,
    /// Its type definitions: name and definition hash.
    pub types: &'static [(&'static str, u64)],
    pub deps: u64,
}

impl Loaded {
    /// Definition hash of the library's own type `name`, if its sources
    /// define one.
    pub(crate) fn type_hash(&self, name: &str) -> Option<u64> {
        self.types.iter().find(|(n, _)| *n == name).map(|(_, h)| *h)
    }
}

/// Copies `path` to `scratch/<serial>-<file name>` (a new file), maps the
/// copy and removes its file (the mapping stays).
pub(crate) fn map(path: &Path, scratch: &Path, serial: usize) -> Result<Mapped, String> {
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
    let copied = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&copy)
        .and_then(|mut to| std::io::copy(&mut std::fs::File::open(path)?, &mut to));
    // Once mapped (or refused) the copy is no longer needed: a debug
    // library is tens of MiB, and a tmpfs scratch directory is memory.
    let mapped = copied
        .map_err(|e| format!("cannot copy `{shown}` to `{}`: {e}", copy.display()))
        .and_then(|_| {
            exports_build_info(&copy).map_err(|why| {
                format!(
                    "`{shown}` is not an evoflow component library ({why}); build the component crate as a \
                     `cdylib` that invokes `evoflow::library!(your_graph_fn)`"
                )
            })
        })
        .and_then(|()| {
            check_stamp(&copy).map_err(|why| format!("`{shown}` cannot be loaded: {why}"))
        })
        .and_then(|()| {
            // SAFETY: mapping runs the library's initialisers. The file is a
            // build output the process owner asked to load (through the
            // owner-only control socket, a signal or the program's
            // arguments), and it exports the entry point of an evoflow
            // library.
            unsafe { libloading::Library::new(&copy) }
                .map_err(|e| format!("`{shown}` is not a loadable library: {e}"))
        });
    let _ = std::fs::remove_file(&copy);
    let library = mapped?;
    Ok(Mapped {
        path: path.to_owned(),
        serial,
        size: meta.len(),
        library: ManuallyDrop::new(library),
    })
}

/// Checks, without running any of its code, that the file is a shared
/// object exporting `evoflow_build_info`.
fn exports_build_info(file: &Path) -> Result<(), String> {
    let file = std::fs::File::open(file).map_err(|e| e.to_string())?;
    let data = object::ReadCache::new(file);
    let object = object::File::parse(&data).map_err(|e| format!("not an object file: {e}"))?;
    let kind = match object.kind() {
        ObjectKind::Dynamic => None,
        ObjectKind::Executable => Some("an executable"),
        ObjectKind::Relocatable => Some("a relocatable object file"),
        _ => Some("an object file of another kind"),
    };
    if let Some(kind) = kind {
        return Err(format!("it is {kind}, not a shared library"));
    }
    let exported = object
        .dynamic_symbols()
        .any(|s| s.is_definition() && s.name() == Ok("evoflow_build_info"));
    if !exported {
        return Err("it has no `evoflow_build_info` symbol".into());
    }
    Ok(())
}

/// The library's build stamp, read from the file (its initialisers do
/// not run): `Err` with the reason if the file has none or it is not this
/// build's.
fn check_stamp(file: &Path) -> Result<(), String> {
    let file = std::fs::File::open(file).map_err(|e| e.to_string())?;
    let data = object::ReadCache::new(file);
    let object = object::File::parse(&data).map_err(|e| format!("not an object file: {e}"))?;
    let symbol = object
        .dynamic_symbols()
        .find(|s| s.is_definition() && s.name() == Ok("evoflow_build_stamp"))
        .ok_or("it has no build stamp (`evoflow_build_stamp`): it was built by an older evoflow, or is not an evoflow library")?;
    let stamp = symbol
        .section_index()
        .and_then(|i| object.section_by_index(i).ok())
        .and_then(|section| {
            let data = section.data().ok()?;
            let at = usize::try_from(symbol.address().checked_sub(section.address())?).ok()?;
            data.get(at..at + usize::try_from(symbol.size()).ok()?)
        })
        .ok_or("its build stamp cannot be read from the file")?;
    match crate::build_info::refuse_stamp(stamp) {
        None => Ok(()),
        Some(why) => Err(why),
    }
}

/// Checks a mapped library's build against the host's (`host`) and, if
/// one is loaded already, the dependencies of the first library
/// (`baseline`); then takes its graph.
pub(crate) fn open(
    mapped: Mapped,
    host: &BuildInfo,
    baseline: Option<u64>,
) -> Result<(Loaded, Graph), String> {
    let shown = mapped.path.display();
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
        let info = mapped
            .library
            .get::<extern "C" fn() -> *const c_char>(b"evoflow_build_info\0")
            .map_err(|_| not_evoflow("it has no `evoflow_build_info` symbol".into()))?;
        CStr::from_ptr(info()).to_string_lossy().into_owned()
    };
    let (info, deps) = BuildInfo::parse(&text).map_err(not_evoflow)?;
    if let Some(why) = host.refuse(&info) {
        return Err(format!("`{shown}` cannot be loaded: {why}"));
    }
    if baseline.is_some_and(|b| b != deps) {
        return Err(format!(
            "`{shown}` cannot be loaded: it was built with other dependencies than the running program \
             (a dependency's version or features, or the source of a path dependency, differ); \
             dependencies cannot be replaced while the program runs: restart it"
        ));
    }
    let host_context = HostContext {
        dispatch: tracing::dispatcher::get_default(Clone::clone),
        first: baseline.is_none(),
    };
    // SAFETY: the build info matched, so the library was built by the same
    // compiler from the same runtime and dependencies: its `Library`,
    // `Graph` and everything in them have the host's layout, and
    // `evoflow_library_v1` has the signature `library!` declares.
    let exported = unsafe {
        let entry = mapped
            .library
            .get::<fn(&HostContext) -> Result<Library, String>>(b"evoflow_library_v1\0")
            .map_err(|_| not_evoflow("it has no `evoflow_library_v1` symbol".into()))?;
        entry(&host_context)
    }
    .map_err(|why| format!("`{shown}` cannot be loaded: {why}"))?;
    Ok((
        Loaded {
            mapped,
            crate_name: exported.crate_name,
            types: exported.types,
            deps,
        },
        exported.graph,
    ))
}
