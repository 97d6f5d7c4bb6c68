//! Loads a component library in two steps. `map` copies it to a unique path
//! (so the build can overwrite its output, and no mapped file is ever
//! written again) and maps it; `open` checks its build against the host's
//! and takes its graph. A mapped library is never unmapped, refused or not:
//! once any of its code has run, its statics and destructors may be
//! referenced anywhere.

use crate::__library::{Built, HostContext, Library};
use crate::build_info::BuildInfo;
use crate::error::{CannotLoad, IoError, LibraryError, NotEvoflow, ObjectKind as Kind};
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
pub(crate) fn map(path: &Path, scratch: &Path, serial: usize) -> Result<Mapped, LibraryError> {
    let meta = std::fs::metadata(path).map_err(|e| LibraryError::Read {
        path: path.to_owned(),
        error: e.into(),
    })?;
    if !meta.is_file() {
        return Err(LibraryError::NotAFile {
            path: path.to_owned(),
        });
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
        .map_err(|e| LibraryError::Copy {
            path: path.to_owned(),
            copy: copy.clone(),
            error: e.into(),
        })
        .and_then(|_| {
            exports_build_info(&copy).map_err(|why| LibraryError::NotEvoflow {
                path: path.to_owned(),
                why,
            })
        })
        .and_then(|()| {
            check_stamp(&copy).map_err(|why| LibraryError::CannotLoad {
                path: path.to_owned(),
                why,
            })
        })
        .and_then(|()| {
            // SAFETY: mapping runs the library's initialisers. The file is a
            // build output the process owner asked to load (through the
            // owner-only control socket, a signal or the program's
            // arguments), and it exports the entry point of an evoflow
            // library.
            unsafe { libloading::Library::new(&copy) }.map_err(|e| LibraryError::NotLoadable {
                path: path.to_owned(),
                message: e.to_string(),
            })
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
fn exports_build_info(file: &Path) -> Result<(), NotEvoflow> {
    let file = std::fs::File::open(file).map_err(|e| NotEvoflow::Unreadable(e.into()))?;
    let data = object::ReadCache::new(file);
    let object = object::File::parse(&data).map_err(|e| NotEvoflow::NotObject(e.to_string()))?;
    let kind = match object.kind() {
        ObjectKind::Dynamic => None,
        ObjectKind::Executable => Some(Kind::Executable),
        ObjectKind::Relocatable => Some(Kind::Relocatable),
        _ => Some(Kind::Other),
    };
    if let Some(kind) = kind {
        return Err(NotEvoflow::Kind(kind));
    }
    let exported = object
        .dynamic_symbols()
        .any(|s| s.is_definition() && s.name() == Ok("evoflow_build_info"));
    if !exported {
        return Err(NotEvoflow::NoSymbol("evoflow_build_info"));
    }
    Ok(())
}

/// The library's build stamp, read from the file (its initialisers do
/// not run): `Err` with the reason if the file has none or it is not this
/// build's.
fn check_stamp(file: &Path) -> Result<(), CannotLoad> {
    let file = std::fs::File::open(file).map_err(|e| CannotLoad::Unreadable(IoError::from(e)))?;
    let data = object::ReadCache::new(file);
    let object = object::File::parse(&data).map_err(|e| CannotLoad::NotObject(e.to_string()))?;
    let symbol = object
        .dynamic_symbols()
        .find(|s| s.is_definition() && s.name() == Ok("evoflow_build_stamp"))
        .ok_or(CannotLoad::NoStamp)?;
    let stamp = symbol
        .section_index()
        .and_then(|i| object.section_by_index(i).ok())
        .and_then(|section| {
            let data = section.data().ok()?;
            let at = usize::try_from(symbol.address().checked_sub(section.address())?).ok()?;
            data.get(at..at + usize::try_from(symbol.size()).ok()?)
        })
        .ok_or(CannotLoad::StampUnreadable)?;
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
) -> Result<(Loaded, Built), LibraryError> {
    let path = || mapped.path.clone();
    let not_evoflow = |why| LibraryError::NotEvoflow { path: path(), why };
    let cannot_load = |why| LibraryError::CannotLoad { path: path(), why };
    // SAFETY: `evoflow_build_info` is declared by `library!` with exactly
    // this C signature; a foreign library is refused by the symbol lookup
    // or by the text's first line.
    let text = unsafe {
        let info = mapped
            .library
            .get::<extern "C" fn() -> *const c_char>(b"evoflow_build_info\0")
            .map_err(|_| not_evoflow(NotEvoflow::NoSymbol("evoflow_build_info")))?;
        CStr::from_ptr(info()).to_string_lossy().into_owned()
    };
    let (info, deps) = BuildInfo::parse(&text).map_err(not_evoflow)?;
    if let Some(why) = host.refuse(&info) {
        return Err(cannot_load(why));
    }
    if baseline.is_some_and(|b| b != deps) {
        return Err(cannot_load(CannotLoad::Dependencies));
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
            .map_err(|_| not_evoflow(NotEvoflow::NoSymbol("evoflow_library_v1")))?;
        entry(&host_context)
    }
    .map_err(|panic| cannot_load(CannotLoad::GraphPanicked(panic)))?;
    Ok((
        Loaded {
            mapped,
            crate_name: exported.crate_name,
            types: exported.types,
            deps,
        },
        exported.built,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::ErrorKind;

    fn scratch() -> tempfile::TempDir {
        tempfile::tempdir().expect("a temporary directory")
    }

    fn refused(path: &Path) -> LibraryError {
        match map(path, scratch().path(), 0) {
            Ok(_) => panic!("`{}` was mapped", path.display()),
            Err(e) => e,
        }
    }

    #[test]
    fn a_missing_file_cannot_be_read() {
        let path = Path::new("/nonexistent/libnothing.so");
        let e = refused(path);
        match &e {
            LibraryError::Read { path: p, error } => {
                assert_eq!(p, path);
                assert_eq!(error.kind, ErrorKind::NotFound);
            }
            other => panic!("{other:?}"),
        }
        assert!(
            e.to_string()
                .starts_with("cannot read `/nonexistent/libnothing.so`: "),
            "{e}"
        );
        let source = std::error::Error::source(&e).expect("the io error");
        assert_eq!(
            source.to_string(),
            e.to_string().split(": ").nth(1).unwrap()
        );
    }

    #[test]
    fn a_directory_is_not_a_file() {
        let dir = scratch();
        let e = refused(dir.path());
        assert_eq!(
            e,
            LibraryError::NotAFile {
                path: dir.path().to_owned()
            }
        );
        assert_eq!(
            e.to_string(),
            format!("`{}` is not a file", dir.path().display())
        );
    }

    #[test]
    fn a_text_file_is_not_an_evoflow_library() {
        let dir = scratch();
        let path = dir.path().join("libnotes.so");
        std::fs::write(&path, "not a library\n").unwrap();
        let e = refused(&path);
        match &e {
            LibraryError::NotEvoflow {
                path: p,
                why: NotEvoflow::NotObject(_),
            } => assert_eq!(p, &path),
            other => panic!("{other:?}"),
        }
        let text = e.to_string();
        assert!(
            text.starts_with(&format!(
                "`{}` is not an evoflow component library (not an object file: ",
                path.display()
            )) && text.ends_with(
                "); build the component crate as a `cdylib` that invokes `evoflow::library!(your_graph_fn)`"
            ),
            "{text}"
        );
    }

    #[test]
    fn an_executable_is_not_an_evoflow_library() {
        let exe = std::env::current_exe().unwrap();
        let e = refused(&exe);
        assert!(
            matches!(
                &e,
                LibraryError::NotEvoflow {
                    why: NotEvoflow::Kind(Kind::Executable)
                        | NotEvoflow::NoSymbol("evoflow_build_info"),
                    ..
                }
            ),
            "{e:?}"
        );
    }

    #[test]
    fn the_copy_is_removed_whatever_the_outcome() {
        let dir = scratch();
        let path = dir.path().join("libnotes.so");
        std::fs::write(&path, "not a library\n").unwrap();
        let copies = scratch();
        assert!(map(&path, copies.path(), 7).is_err());
        assert_eq!(std::fs::read_dir(copies.path()).unwrap().count(), 0);
    }
}
