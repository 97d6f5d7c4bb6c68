//! Why a start or a reload did not happen, as data: [`ReloadError`] and
//! the errors it groups. Each displays as one sentence naming the cause
//! and the fix. Depends only on the runtime's error types.

use evoflow_runtime::{EvolutionError, UpdateError};
use std::fmt;
use std::path::PathBuf;

/// Why a reload (or the start) did not happen. The running program is
/// untouched, except after [`UpdateError::FailedAfterCommit`] (which says
/// so).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReloadError {
    /// The program could not start: nothing runs.
    Start(StartError),
    /// The library file could not be read or loaded, or is not a build of
    /// the running program.
    Library(LibraryError),
    /// The library loaded, but its graph cannot replace the running one
    /// in ways only a reload sees (code changed under an unchanged
    /// version, a packet type changed between the builds at an arc's
    /// ends, a renamed instance).
    Incompatible(Incompatibility),
    /// The running graph cannot evolve into the library's.
    Evolution(EvolutionError),
    /// The update engine refused or rolled back the update.
    Update(Box<UpdateError>),
    /// The reload itself panicked (a bug in evoflow); nothing changed. The
    /// panic's message.
    Internal(String),
    /// A reload of a graph over several machines was refused or failed.
    #[cfg(feature = "machines")]
    Machines(AcrossMachines),
}

/// Why a reload of a graph over several machines did not happen (every
/// machine keeps its versions), or failed after its commit.
#[cfg(feature = "machines")]
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AcrossMachines {
    /// The new build adds or removes instances on a machine (or moves one
    /// between machines): a reload across machines replaces components;
    /// the instances and the arcs between machines are fixed while the
    /// program runs.
    Instances {
        /// The machine.
        machine: String,
        /// Instances only the new build has there.
        added: Vec<String>,
        /// Instances only the running part has.
        removed: Vec<String>,
    },
    /// The new build's arcs between this machine and the others differ
    /// from the running ones.
    Arcs {
        /// The machine.
        machine: String,
        /// The running arcs (`a.out -> b.inp`).
        running: Vec<String>,
        /// The new build's.
        new: Vec<String>,
    },
    /// The definition of a packet type an arc between machines carries
    /// changed: its ends were typed by the build the program started with.
    PacketType {
        /// The arc.
        arc: String,
        /// The type whose definition changed.
        ty: String,
    },
    /// The file on this machine is not the build the request names.
    OtherBuild {
        /// The library path.
        path: PathBuf,
        /// Digest the request names.
        asked: u64,
        /// Digest of the file here.
        found: u64,
    },
    /// This machine's part of the new build changes other instances than
    /// the request names (the machines see different files or versions).
    Disagree {
        /// The machine.
        machine: String,
        /// Instances the request replaces here.
        asked: Vec<String>,
        /// Instances the build here changes.
        changes: Vec<String>,
    },
    /// The library path cannot be named in a request (a tab or a line
    /// break in it).
    Path(PathBuf),
    /// The new build's part on a machine cannot be built (a constructor
    /// panicked, say).
    Part {
        /// The machine.
        machine: String,
        /// Why.
        why: String,
    },
    /// A machine refused, failed or was lost before the decision: every
    /// machine keeps its versions. The machines' reasons.
    Refused(String),
    /// The update committed, then did not finish everywhere.
    AfterCommit(String),
    /// Whether the update committed is not known (etcd could not be
    /// read): `status` shows the versions each machine runs.
    Unknown(String),
}

#[cfg(feature = "machines")]
impl fmt::Display for AcrossMachines {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const FIXED: &str = "a reload across machines replaces components; instances and the arcs between machines are fixed while the program runs: restart every machine to change them";
        match self {
            AcrossMachines::Instances {
                machine,
                added,
                removed,
            } => write!(
                f,
                "the new build adds [{}] and removes [{}] on machine `{machine}`; {FIXED}",
                added.join(", "),
                removed.join(", ")
            ),
            AcrossMachines::Arcs {
                machine,
                running,
                new,
            } => write!(
                f,
                "the new build's arcs between machine `{machine}` and the others are [{}], the running ones [{}]; {FIXED}",
                new.join(", "),
                running.join(", ")
            ),
            AcrossMachines::PacketType { arc, ty } => write!(
                f,
                "the definition of `{ty}`, which arc `{arc}` carries between machines, changed: the arc's ends encode it as the build the program started with; keep the type (add a new one for new fields) or restart every machine"
            ),
            AcrossMachines::OtherBuild { path, asked, found } => write!(
                f,
                "`{}` on this machine is another build ({found:016x}) than the one the reload names ({asked:016x}): put the same build on every machine first",
                path.display()
            ),
            AcrossMachines::Disagree {
                machine,
                asked,
                changes,
            } => write!(
                f,
                "on machine `{machine}` the new build changes [{}] but the reload replaces [{}] there: do all machines run the same build?",
                changes.join(", "),
                asked.join(", ")
            ),
            AcrossMachines::Path(path) => write!(
                f,
                "the library path `{}` has a tab or a line break, which a request across machines cannot carry: rename it",
                path.display()
            ),
            AcrossMachines::Part { machine, why } => write!(
                f,
                "the new build's part on machine `{machine}` cannot be built: {why}"
            ),
            AcrossMachines::Refused(why) => f.write_str(why),
            AcrossMachines::AfterCommit(why) => f.write_str(why),
            AcrossMachines::Unknown(why) => write!(
                f,
                "{why}; whether it applied is not known: `status` shows the versions every machine runs"
            ),
        }
    }
}

#[cfg(feature = "machines")]
impl std::error::Error for AcrossMachines {}

impl fmt::Display for ReloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const REFUSED: &str = "reload refused, nothing changed";
        match self {
            ReloadError::Start(e) => write!(f, "cannot start: {e}"),
            ReloadError::Library(e) => write!(f, "{REFUSED}: {e}"),
            ReloadError::Incompatible(e) => write!(f, "{REFUSED}: {e}"),
            ReloadError::Evolution(e) => write!(f, "{REFUSED}: {e}"),
            ReloadError::Internal(panic) => {
                write!(f, "{REFUSED}: internal error while reloading: {panic}")
            }
            ReloadError::Update(e) if matches!(**e, UpdateError::FailedAfterCommit { .. }) => {
                write!(f, "reload applied, then failed: {e}")
            }
            ReloadError::Update(e) => write!(f, "reload not applied: {e}"),
            #[cfg(feature = "machines")]
            ReloadError::Machines(e @ AcrossMachines::AfterCommit(_)) => {
                write!(f, "reload applied on every machine, then failed: {e}")
            }
            #[cfg(feature = "machines")]
            ReloadError::Machines(e @ AcrossMachines::Unknown(_)) => {
                write!(f, "reload asked of every machine: {e}")
            }
            #[cfg(feature = "machines")]
            ReloadError::Machines(e) => write!(f, "{REFUSED} on any machine: {e}"),
        }
    }
}

impl std::error::Error for ReloadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ReloadError::Start(e) => Some(e),
            ReloadError::Library(e) => Some(e),
            ReloadError::Incompatible(e) => Some(e),
            ReloadError::Evolution(e) => Some(e),
            ReloadError::Update(e) => Some(e.as_ref()),
            ReloadError::Internal(_) => None,
            #[cfg(feature = "machines")]
            ReloadError::Machines(e) => Some(e),
        }
    }
}

impl From<LibraryError> for ReloadError {
    fn from(e: LibraryError) -> Self {
        ReloadError::Library(e)
    }
}

impl From<Incompatibility> for ReloadError {
    fn from(e: Incompatibility) -> Self {
        ReloadError::Incompatible(e)
    }
}

impl From<EvolutionError> for ReloadError {
    fn from(e: EvolutionError) -> Self {
        ReloadError::Evolution(e)
    }
}

/// An I/O error, kept as its kind and its text so that errors holding it
/// can be cloned and compared (`std::io::Error` can be neither).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IoError {
    /// The error's kind.
    pub kind: std::io::ErrorKind,
    /// The error's text, as `std::io::Error` displays it.
    pub message: String,
}

impl From<&std::io::Error> for IoError {
    fn from(e: &std::io::Error) -> Self {
        IoError {
            kind: e.kind(),
            message: e.to_string(),
        }
    }
}

impl From<std::io::Error> for IoError {
    fn from(e: std::io::Error) -> Self {
        IoError::from(&e)
    }
}

impl fmt::Display for IoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for IoError {}

/// Why the program could not start.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StartError {
    /// No private directory for the library copies could be created.
    Scratch {
        /// The directory it was to be created in (`TMPDIR`).
        dir: PathBuf,
        /// Why not.
        error: IoError,
    },
    /// The library could not be loaded.
    Library(LibraryError),
    /// The library's graph could not be started. The text of the
    /// runtime's `RunError` (which can be neither cloned nor compared).
    Run(String),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Scratch { dir, error } => write!(
                f,
                "cannot create a private directory for library copies in `{}`: {error}; set TMPDIR to a writable directory",
                dir.display()
            ),
            StartError::Library(e) => write!(f, "{e}"),
            StartError::Run(why) => write!(f, "cannot start the graph: {why}"),
        }
    }
}

impl std::error::Error for StartError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StartError::Scratch { error, .. } => Some(error),
            StartError::Library(e) => Some(e),
            StartError::Run(_) => None,
        }
    }
}

/// Why the library file at `path` could not be loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LibraryError {
    /// The file cannot be read.
    Read {
        /// The library path.
        path: PathBuf,
        /// Why not.
        error: IoError,
    },
    /// The path is not a file (a directory, say).
    NotAFile {
        /// The library path.
        path: PathBuf,
    },
    /// The file cannot be copied to the private directory it is mapped
    /// from.
    Copy {
        /// The library path.
        path: PathBuf,
        /// Where the copy was to be made.
        copy: PathBuf,
        /// Why not.
        error: IoError,
    },
    /// The file is not an evoflow component library.
    NotEvoflow {
        /// The library path.
        path: PathBuf,
        /// What it lacks.
        why: NotEvoflow,
    },
    /// The file is an evoflow library that cannot be loaded into this
    /// program.
    CannotLoad {
        /// The library path.
        path: PathBuf,
        /// Why not.
        why: CannotLoad,
    },
    /// The library's graph function makes a graph over several machines
    /// where one on one machine is run, or the other way round.
    Exports {
        /// The library path.
        path: PathBuf,
        /// It makes a program over machines (else a one-machine graph).
        program: bool,
    },
    /// The system's loader refused the file. Its text (`libloading`'s
    /// error can be neither cloned nor compared).
    NotLoadable {
        /// The library path.
        path: PathBuf,
        /// The loader's message.
        message: String,
    },
    /// The library is of another crate than the program's first one.
    OtherCrate {
        /// The library path.
        path: PathBuf,
        /// The library's crate.
        library: String,
        /// The crate the program runs.
        running: String,
    },
}

const BUILD_AS_LIBRARY: &str = "build the component crate as a `cdylib` that invokes \
                                `evoflow::library!(your_graph_fn)`";

impl fmt::Display for LibraryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LibraryError::Read { path, error } => {
                write!(f, "cannot read `{}`: {error}", path.display())
            }
            LibraryError::NotAFile { path } => write!(f, "`{}` is not a file", path.display()),
            LibraryError::Copy { path, copy, error } => write!(
                f,
                "cannot copy `{}` to `{}`: {error}",
                path.display(),
                copy.display()
            ),
            LibraryError::NotEvoflow { path, why } => write!(
                f,
                "`{}` is not an evoflow component library ({why}); {BUILD_AS_LIBRARY}",
                path.display()
            ),
            LibraryError::CannotLoad { path, why } => {
                write!(f, "`{}` cannot be loaded: {why}", path.display())
            }
            LibraryError::NotLoadable { path, message } => {
                write!(
                    f,
                    "`{}` is not a loadable library: {message}",
                    path.display()
                )
            }
            LibraryError::Exports {
                path,
                program: true,
            } => write!(
                f,
                "`{}` builds a graph over several machines (`machines = {{ .. }}` in `graph!`): run it on each machine with `run --machine NAME --etcd URL`",
                path.display()
            ),
            LibraryError::Exports {
                path,
                program: false,
            } => write!(
                f,
                "`{}` builds a graph on one machine: run it without `--machine`, or give its `graph!` `machines = {{ .. }}` and `#[machine(..)]` placements",
                path.display()
            ),
            LibraryError::OtherCrate {
                path,
                library,
                running,
            } => write!(
                f,
                "`{}` is the library of crate `{library}`, but the program runs crate `{running}`",
                path.display()
            ),
        }
    }
}

impl std::error::Error for LibraryError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LibraryError::Read { error, .. } | LibraryError::Copy { error, .. } => Some(error),
            LibraryError::NotEvoflow { why, .. } => Some(why),
            LibraryError::CannotLoad { why, .. } => Some(why),
            LibraryError::NotAFile { .. }
            | LibraryError::Exports { .. }
            | LibraryError::NotLoadable { .. }
            | LibraryError::OtherCrate { .. } => None,
        }
    }
}

/// What makes a file not an evoflow component library.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NotEvoflow {
    /// The copy to inspect cannot be opened.
    Unreadable(IoError),
    /// It is not an object file: the parser's message.
    NotObject(String),
    /// It is an object file, but not a shared library.
    Kind(ObjectKind),
    /// It does not export this symbol.
    NoSymbol(&'static str),
    /// Its build info is not in the format of this evoflow: the format's
    /// first line.
    InfoFormat(&'static str),
    /// Its build info lacks this field.
    InfoLacks(String),
    /// A number in its build info does not parse.
    InfoNumber(std::num::ParseIntError),
}

impl fmt::Display for NotEvoflow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotEvoflow::Unreadable(e) => write!(f, "{e}"),
            NotEvoflow::NotObject(e) => write!(f, "not an object file: {e}"),
            NotEvoflow::Kind(kind) => write!(f, "it is {kind}, not a shared library"),
            NotEvoflow::NoSymbol(symbol) => write!(f, "it has no `{symbol}` symbol"),
            NotEvoflow::InfoFormat(format) => write!(
                f,
                "its build info does not start with `{format}`; it was built by another version of evoflow"
            ),
            NotEvoflow::InfoLacks(key) => write!(f, "its build info lacks `{key}`"),
            NotEvoflow::InfoNumber(e) => write!(f, "bad build info: {e}"),
        }
    }
}

impl std::error::Error for NotEvoflow {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            NotEvoflow::Unreadable(e) => Some(e),
            NotEvoflow::InfoNumber(e) => Some(e),
            _ => None,
        }
    }
}

/// The kind of an object file that is not a shared library.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ObjectKind {
    /// An executable.
    Executable,
    /// A relocatable object file (`.o`).
    Relocatable,
    /// Any other kind (a core dump, say).
    Other,
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ObjectKind::Executable => "an executable",
            ObjectKind::Relocatable => "a relocatable object file",
            ObjectKind::Other => "an object file of another kind",
        })
    }
}

/// Why an evoflow library cannot be loaded into this program.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CannotLoad {
    /// The copy to inspect cannot be opened.
    Unreadable(IoError),
    /// It is not an object file: the parser's message.
    NotObject(String),
    /// It has no build stamp (`evoflow_build_stamp`).
    NoStamp,
    /// Its build stamp cannot be read from the file.
    StampUnreadable,
    /// Its build stamp is not in the format of this evoflow: the format's
    /// first line.
    StampFormat(&'static str),
    /// Its build stamp differs, but no field of it does (a hash of the
    /// runtime's build, say).
    StampDiffers,
    /// A field of its build differs from the program's.
    Build {
        /// The field.
        field: BuildField,
        /// Its value in the library.
        library: String,
        /// Its value in the program.
        running: String,
    },
    /// It was built with other dependencies than the program's first
    /// library.
    Dependencies,
    /// Its graph function panicked: the panic's message.
    GraphPanicked(String),
}

impl fmt::Display for CannotLoad {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CannotLoad::Unreadable(e) => write!(f, "{e}"),
            CannotLoad::NotObject(e) => write!(f, "not an object file: {e}"),
            CannotLoad::NoStamp => f.write_str(
                "it has no build stamp (`evoflow_build_stamp`): it was built by an older evoflow, or is not an evoflow library",
            ),
            CannotLoad::StampUnreadable => {
                f.write_str("its build stamp cannot be read from the file")
            }
            CannotLoad::StampFormat(format) => write!(
                f,
                "its build stamp does not start with `{format}`; it was built by another version of evoflow"
            ),
            CannotLoad::StampDiffers => f.write_str(
                "its build stamp differs from the running program's; rebuild both and restart",
            ),
            CannotLoad::Build {
                field,
                library,
                running,
            } => write!(
                f,
                "its {field} is `{library}` but the running program's is `{running}`; a library can only be \
                 loaded into a program built by the same compiler and `cargo build`: rebuild both and restart"
            ),
            CannotLoad::Dependencies => f.write_str(
                "it was built with other dependencies than the running program \
                 (a dependency's version or features, or the source of a path dependency, differ); \
                 dependencies cannot be replaced while the program runs: restart it",
            ),
            CannotLoad::GraphPanicked(panic) => {
                write!(f, "its graph function panicked: {panic}")
            }
        }
    }
}

impl std::error::Error for CannotLoad {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CannotLoad::Unreadable(e) => Some(e),
            _ => None,
        }
    }
}

/// A field of a build that a library must share with the program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildField {
    /// The compiler (`rustc -vV`).
    Compiler,
    /// The target triple.
    Target,
    /// evoflow's version.
    EvoflowVersion,
    /// Whether debug assertions are on (the profile).
    DebugAssertions,
    /// `unwind` or `abort`.
    PanicStrategy,
    /// A hash of the runtime's build (features, profile).
    RuntimeBuild,
}

impl fmt::Display for BuildField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BuildField::Compiler => "compiler",
            BuildField::Target => "target",
            BuildField::EvoflowVersion => "evoflow version",
            BuildField::DebugAssertions => "debug assertions setting (profile)",
            BuildField::PanicStrategy => {
                "panic strategy (`panic` in the profile, `-C panic` in RUSTFLAGS, or given to the library crate alone by `cargo rustc`)"
            }
            BuildField::RuntimeBuild => "evoflow runtime build (features, profile)",
        })
    }
}

/// What a reload refuses in a loaded library's graph that the update
/// engine cannot see.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Incompatibility {
    /// The library's type definitions could not all be hashed, so the
    /// builds cannot be compared: why (from the library).
    Incomplete(String),
    /// An instance with state is gone and another of its component is
    /// new: a rename, which would lose the state.
    Rename {
        /// The instance that is gone.
        removed: String,
        /// The instance that is new.
        inserted: String,
        /// Their component.
        component: String,
    },
    /// An instance kept by the reload was changed by `Running::update`:
    /// the build it runs is unknown.
    UnknownBuild {
        /// The instance.
        instance: String,
    },
    /// A component's code changed but its version did not.
    SameVersion {
        /// The component.
        component: String,
        /// Its version, in both builds.
        version: u32,
        /// The instance that would keep running the old code.
        instance: String,
    },
    /// An arc joins instances that run different builds, and the
    /// definition of a packet type of the library's own cannot be
    /// compared between them.
    Uncomparable {
        /// The arc's producing end, `instance.port`.
        from: String,
        /// The arc's consuming end, `instance.port`.
        to: String,
        /// The type whose definition is not known in both builds.
        ty: String,
        /// The arc's packet type, in which `ty` occurs.
        packet: String,
    },
    /// A packet type's definition changed, but one end of an arc that
    /// carries it keeps running the old build.
    TypeChanged(Box<TypeChange>),
}

/// A packet type whose definition changed while one end of an arc that
/// carries it keeps running the old build: see
/// [`Incompatibility::TypeChanged`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TypeChange {
    /// The arc's producing end, `instance.port`.
    pub from: String,
    /// The arc's consuming end, `instance.port`.
    pub to: String,
    /// The type whose definition changed.
    pub ty: String,
    /// The arc's packet type, in which `ty` occurs.
    pub packet: String,
    /// The end that keeps the old build.
    pub stale: String,
    /// Its component.
    pub component: String,
    /// Its unchanged version.
    pub version: u32,
}

impl fmt::Display for Incompatibility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Incompatibility::Incomplete(why) => write!(
                f,
                "the new build cannot be compared with the running one: {why}; \
                 write the module's path plainly (`#[path]` or the file layout) so that a reload sees every change"
            ),
            Incompatibility::Rename {
                removed: old,
                inserted: new,
                component,
            } => write!(
                f,
                "instance `{old}` (`{component}`, which has state) is not in the new build and `{new}` \
                 (`{component}`) is new: a rename, which would lose `{old}`'s state (evoflow does not \
                 move state between instances); keep the name `{old}`, or, to drop the state on \
                 purpose, remove `{old}` in one reload and add `{new}` in the next"
            ),
            Incompatibility::UnknownBuild { instance } => write!(
                f,
                "instance `{instance}` was changed outside of reloads (through `Running::update`), so the \
                 build it runs is unknown; reloads and in-process updates cannot be mixed"
            ),
            Incompatibility::SameVersion {
                component,
                version,
                instance,
            } => write!(
                f,
                "component `{component}` changed since the running build (its impl block or the definition of \
                 a type it holds) but kept version {version} (instance `{instance}`); bump `version` in its \
                 #[component] (and add `#[migrate(from = {version})]` if its state changed)"
            ),
            Incompatibility::Uncomparable {
                from,
                to,
                ty,
                packet,
            } => write!(
                f,
                "arc `{from} -> {to}` joins instances that run different builds, and the definition of \
                 `{ty}` (in `{packet}`) is not in the library's `src` in both, so it cannot be compared \
                 (generated by a macro or included from elsewhere?); update both ends together"
            ),
            Incompatibility::TypeChanged(change) => write!(f, "{change}"),
        }
    }
}

impl fmt::Display for TypeChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let TypeChange {
            from,
            to,
            ty,
            packet,
            stale,
            component,
            version,
        } = self;
        write!(
            f,
            "the definition of `{ty}` changed, and arc `{from} -> {to}` carries `{packet}`, but `{stale}` \
             keeps running the old build (`{component}` v{version} is unchanged); bump its version so both \
             ends of the arc are updated together"
        )
    }
}

impl std::error::Error for Incompatibility {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;
    use std::io::ErrorKind;

    fn read_error() -> LibraryError {
        LibraryError::Read {
            path: "/x/libapp.so".into(),
            error: std::io::Error::from(ErrorKind::NotFound).into(),
        }
    }

    #[test]
    fn start_errors_say_cannot_start() {
        let e = ReloadError::Start(StartError::Library(read_error()));
        assert_eq!(
            e.to_string(),
            "cannot start: cannot read `/x/libapp.so`: entity not found"
        );
        let e = ReloadError::Start(StartError::Run("instance `a` panicked: boom".into()));
        assert_eq!(
            e.to_string(),
            "cannot start: cannot start the graph: instance `a` panicked: boom"
        );
        let e = StartError::Scratch {
            dir: "/ro".into(),
            error: IoError {
                kind: ErrorKind::PermissionDenied,
                message: "Permission denied (os error 13)".into(),
            },
        };
        assert_eq!(
            e.to_string(),
            "cannot create a private directory for library copies in `/ro`: Permission denied (os error 13); \
             set TMPDIR to a writable directory"
        );
    }

    #[test]
    fn refusals_say_nothing_changed() {
        let e = ReloadError::Library(LibraryError::NotEvoflow {
            path: "/usr/lib/libc.so.6".into(),
            why: NotEvoflow::NoSymbol("evoflow_build_info"),
        });
        assert_eq!(
            e.to_string(),
            "reload refused, nothing changed: `/usr/lib/libc.so.6` is not an evoflow component library \
             (it has no `evoflow_build_info` symbol); build the component crate as a `cdylib` that invokes \
             `evoflow::library!(your_graph_fn)`"
        );
        let e = ReloadError::Library(LibraryError::CannotLoad {
            path: "lib.so".into(),
            why: CannotLoad::Build {
                field: BuildField::Compiler,
                library: "rustc 1.0.0".into(),
                running: "rustc 2.0.0".into(),
            },
        });
        assert_eq!(
            e.to_string(),
            "reload refused, nothing changed: `lib.so` cannot be loaded: its compiler is `rustc 1.0.0` but \
             the running program's is `rustc 2.0.0`; a library can only be loaded into a program built by \
             the same compiler and `cargo build`: rebuild both and restart"
        );
        let e = ReloadError::Internal("oops".into());
        assert_eq!(
            e.to_string(),
            "reload refused, nothing changed: internal error while reloading: oops"
        );
        let e = ReloadError::Evolution(EvolutionError::Workers {
            target: 3,
            running: 2,
        });
        assert!(
            e.to_string()
                .starts_with("reload refused, nothing changed: the new graph has 3 workers"),
            "{e}"
        );
    }

    #[test]
    fn incompatibilities_name_the_instances_and_the_fix() {
        let e = Incompatibility::TypeChanged(Box::new(TypeChange {
            from: "parse.out".into(),
            to: "tally.inp".into(),
            ty: "Event".into(),
            packet: "app::Event".into(),
            stale: "parse".into(),
            component: "Parse".into(),
            version: 1,
        }));
        assert_eq!(
            e.to_string(),
            "the definition of `Event` changed, and arc `parse.out -> tally.inp` carries `app::Event`, but \
             `parse` keeps running the old build (`Parse` v1 is unchanged); bump its version so both ends \
             of the arc are updated together"
        );
        let e = Incompatibility::SameVersion {
            component: "Tally".into(),
            version: 2,
            instance: "tally".into(),
        };
        assert_eq!(
            e.to_string(),
            "component `Tally` changed since the running build (its impl block or the definition of a type \
             it holds) but kept version 2 (instance `tally`); bump `version` in its #[component] (and add \
             `#[migrate(from = 2)]` if its state changed)"
        );
        let e = Incompatibility::Rename {
            removed: "tally".into(),
            inserted: "counter".into(),
            component: "Tally".into(),
        };
        assert!(e.to_string().starts_with(
            "instance `tally` (`Tally`, which has state) is not in the new build and `counter` (`Tally`) \
             is new: a rename, which would lose `tally`'s state"
        ));
        assert!(e
            .to_string()
            .ends_with("remove `tally` in one reload and add `counter` in the next"));
    }

    #[test]
    fn wrapped_errors_are_sources() {
        let e = ReloadError::Library(read_error());
        let library = e.source().expect("the library error");
        assert_eq!(library.to_string(), read_error().to_string());
        let io = library.source().expect("the io error");
        assert_eq!(io.to_string(), "entity not found");
        assert!(ReloadError::Internal("x".into()).source().is_none());
        let update = ReloadError::Update(Box::new(UpdateError::CommittedUnfinished {
            instances: vec!["a".into()],
        }));
        assert!(update.source().is_some());
        assert!(update.to_string().starts_with("reload not applied: "));
    }
}
