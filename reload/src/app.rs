//! A program whose graph comes from a component library and is updated
//! from rebuilt copies of it: the reload sequence (load, diff, check,
//! update) and the record of which build runs which instance.

use crate::__library::Built;
use crate::build_info::BuildInfo;
use crate::check::{check, renew, CodeOf};
use crate::error::{LibraryError, ReloadError, StartError};
use crate::loader::{map, open, Loaded};
use arc_swap::ArcSwap;
use evoflow_runtime::panic_text;
use evoflow_runtime::{
    Fate, InstanceStatus, Report, Rollback, RunError, Running, UpdateError, UpdateReport,
};
use std::collections::HashMap;
use std::fmt;
use std::os::unix::fs::PermissionsExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What a reload did.
#[derive(Clone, Debug)]
pub struct ReloadReport {
    /// The library loaded.
    pub library: PathBuf,
    /// The update applied, or `None` if the new build changes nothing (or
    /// if it committed but is still installing, see `installing`).
    pub update: Option<UpdateReport>,
    /// Instances that had not installed the committed update by its
    /// deadline (their worker was busy in a handler); they do when their
    /// worker next runs them.
    pub installing: Vec<String>,
    /// Instances that keep running their code.
    pub kept: usize,
    /// Instances the new build schedules on another worker than the one
    /// they run on, which they keep (moving needs a restart): name, worker,
    /// scheduled worker.
    pub placement_kept: Vec<(String, usize, usize)>,
    /// Copying, mapping and checking the library, and building its graph.
    pub load: Duration,
    /// From the request to the completed update.
    pub total: Duration,
    /// Size of the library file, which stays mapped for the rest of the
    /// process's life.
    pub mapped: u64,
    /// The file is the build the running graph already is: it was not
    /// copied, mapped or run.
    pub same_build: bool,
}

impl fmt::Display for ReloadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "reloaded `{}` in {:.2?} (load {:.2?}",
            self.library.display(),
            self.total,
            self.load
        )?;
        match &self.update {
            Some(u) => write!(f, ", {u}); {} instances unchanged", self.kept)?,
            None if !self.installing.is_empty() => write!(
                f,
                "); committed, still installing on {} (their worker is busy in a handler)",
                self.installing.join(", ")
            )?,
            None if self.same_build => {
                return write!(
                    f,
                    "); nothing changed: it is the build already running (not loaded again)"
                )
            }
            None => write!(f, "); nothing changed: same components, versions and arcs")?,
        }
        for (name, worker, scheduled) in &self.placement_kept {
            write!(
                f,
                "; `{name}` stays on worker {worker} (the new build schedules it on {scheduled}; moving needs a restart)"
            )?;
        }
        write!(
            f,
            "; {:.1} MiB stay mapped",
            self.mapped as f64 / (1 << 20) as f64
        )
    }
}

struct Builds {
    /// Every library whose build matched, in order.
    loaded: Vec<Arc<Loaded>>,
    code_of: CodeOf,
    /// Load attempts so far (each gets its own copy of the file).
    attempts: usize,
    /// Libraries mapped (never unmapped, refused or not) and their size.
    mapped: (usize, u64),
    /// Per watched reload still in its window (by update id), where its
    /// replaced instances' code came from before: a rollback puts it back.
    watched: HashMap<u64, CodeBefore>,
    /// The build the running graph is exactly the graph of, as of the
    /// last start or reload: a reload of the same file, unchanged since,
    /// is recognised without copying or mapping it again.
    current: Option<Identity>,
}

/// A library file's contents and the graph it made, to tell that
/// reloading it would change nothing.
#[derive(PartialEq)]
struct Identity {
    /// Hash of the file's bytes.
    digest: u64,
    /// Instances with their component and version.
    instances: Vec<(String, String, u32)>,
    /// Arcs, as `from.port -> to.port (capacity)`.
    arcs: Vec<String>,
}

impl Identity {
    /// The running graph, built from a file of hash `digest`.
    fn of(digest: u64, running: &Running) -> Self {
        let mut instances: Vec<_> = running
            .instances()
            .into_iter()
            .map(|i| (i.name, i.component, i.version))
            .collect();
        instances.sort();
        let mut arcs: Vec<String> = running
            .schedule()
            .arcs
            .iter()
            .map(|a| {
                format!(
                    "{}.{} -> {}.{} ({})",
                    a.from.0, a.from.1, a.to.0, a.to.1, a.capacity
                )
            })
            .collect();
        arcs.sort();
        Identity {
            digest,
            instances,
            arcs,
        }
    }
}

/// `p` made absolute (as it is if that fails): a path named to another
/// process or machine, whose working directory may differ.
pub(crate) fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_owned())
}

/// Hash of a file's bytes (SipHash with fixed keys: stable in a process).
pub(crate) fn digest(path: &Path) -> Result<u64, LibraryError> {
    use std::hash::Hasher;
    use std::io::Read;
    let unreadable = |e: std::io::Error| LibraryError::Read {
        path: path.to_owned(),
        error: e.into(),
    };
    let mut file = std::fs::File::open(path).map_err(unreadable)?;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match file.read(&mut buf) {
            Ok(0) => return Ok(h.finish()),
            Ok(n) => h.write(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(unreadable(e)),
        }
    }
}

/// A fresh directory of a random name (mode 0700) for the copies of the
/// libraries: no other user can take its place before the program starts.
pub(crate) fn scratch() -> Result<tempfile::TempDir, ReloadError> {
    tempfile::Builder::new()
        .prefix(&format!("evoflow-{}-", std::process::id()))
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir()
        .map_err(|e| {
            ReloadError::Start(StartError::Scratch {
                dir: std::env::temp_dir(),
                error: e.into(),
            })
        })
}

/// Where the code of instances came from before a reload: `None` for an
/// instance the reload inserted.
type CodeBefore = Vec<(String, Option<Arc<Loaded>>)>;

impl Builds {
    /// Puts back where the code of instances whose watched reload was
    /// rolled back comes from. True if anything changed.
    fn settle(&mut self, rollbacks: &[Rollback]) -> bool {
        let mut changed = false;
        for r in rollbacks.iter().filter(|r| r.outcome.is_ok()) {
            for (name, before) in self.watched.remove(&r.update).unwrap_or_default() {
                changed = true;
                match before {
                    Some(lib) => self.code_of.insert(name, lib),
                    None => self.code_of.remove(&name),
                };
            }
        }
        changed
    }

    /// Maps and opens `path` as a new attempt.
    fn load(
        &mut self,
        path: &Path,
        scratch: &Path,
        host: &BuildInfo,
    ) -> Result<(Arc<Loaded>, evoflow_runtime::Graph), LibraryError> {
        let serial = self.attempts;
        self.attempts += 1;
        let mapped = map(path, scratch, serial)?;
        self.mapped.0 += 1;
        self.mapped.1 += mapped.size;
        let baseline = self.loaded.first().map(|l| l.deps);
        let (lib, built) = open(mapped, host, baseline)?;
        let graph = match built {
            Built::Graph(graph) => *graph,
            #[cfg(feature = "machines")]
            Built::Program { .. } => {
                return Err(LibraryError::Exports {
                    path: path.to_owned(),
                    program: true,
                })
            }
        };
        let lib = Arc::new(lib);
        self.loaded.push(lib.clone());
        Ok((lib, graph))
    }
}

/// A running graph loaded from a component library, updatable from
/// rebuilt copies of it.
pub struct App {
    running: Running,
    library: PathBuf,
    host: BuildInfo,
    /// The private directory of the library copies; removed when the
    /// program ends (the copies stay mapped; their files are not needed).
    scratch: tempfile::TempDir,
    builds: Mutex<Builds>,
    /// What `status` shows of the builds, published after each reload so
    /// that `status` never waits for one in progress.
    seen: ArcSwap<Seen>,
    /// How long a reload is watched unless it says (`run --watch`).
    watch: Option<Duration>,
}

/// The builds as `status` shows them.
struct Seen {
    loaded: usize,
    mapped: (usize, u64),
    /// Where each instance's code comes from.
    code_of: HashMap<String, String>,
}

impl Seen {
    fn of(builds: &Builds) -> Arc<Seen> {
        Arc::new(Seen {
            loaded: builds.loaded.len(),
            mapped: builds.mapped,
            code_of: builds
                .code_of
                .iter()
                .map(|(name, l)| {
                    let from = format!("load #{} (`{}`)", l.mapped.serial, l.mapped.path.display());
                    (name.clone(), from)
                })
                .collect(),
        })
    }
}

impl App {
    /// Loads the library at `library`, builds its graph and starts it.
    pub fn start(library: impl AsRef<Path>) -> Result<App, ReloadError> {
        let library = library.as_ref().to_owned();
        let scratch = scratch()?;
        let host = BuildInfo::current();
        let mut builds = Builds {
            loaded: Vec::new(),
            code_of: CodeOf::new(),
            attempts: 0,
            mapped: (0, 0),
            watched: HashMap::new(),
            current: None,
        };
        let (lib, graph) = builds
            .load(&library, scratch.path(), &host)
            .map_err(|e| ReloadError::Start(StartError::Library(e)))?;
        let running = graph
            .run()
            .map_err(|e| ReloadError::Start(StartError::Run(e.to_string())))?;
        builds.code_of = running
            .instances()
            .into_iter()
            .map(|i| (i.name, lib.clone()))
            .collect();
        builds.current = digest(&library).ok().map(|d| Identity::of(d, &running));
        tracing::info!(library = %library.display(), "started graph `{}`", running.schedule().name);
        Ok(App {
            running,
            library,
            host,
            scratch,
            seen: ArcSwap::new(Seen::of(&builds)),
            builds: Mutex::new(builds),
            watch: None,
        })
    }

    /// Watches every reload for `window` unless it says otherwise: a new
    /// version that panics in it is rolled back (see `Update::watch`).
    pub fn watch_reloads(&mut self, window: Option<Duration>) {
        self.watch = window;
    }

    /// The running graph.
    pub fn running(&self) -> &Running {
        &self.running
    }

    /// Waits until the graph has drained (after [`Running::stop`]) or an
    /// instance panicked.
    pub fn join(self) -> Result<Report, RunError> {
        self.running.join()
    }

    /// The library path reloads use unless given another.
    pub fn library(&self) -> &Path {
        &self.library
    }

    /// Loads `library` (or the start library's path again), applies the
    /// difference between its graph and the running one as one live
    /// update, watched for `watch` (or the default of
    /// [`App::watch_reloads`]), and reports what changed. Reloads are
    /// applied one at a time.
    pub fn reload(
        &self,
        library: Option<&Path>,
        watch: Option<Duration>,
    ) -> Result<ReloadReport, ReloadError> {
        let start = Instant::now();
        let path = library.unwrap_or(&self.library);
        let watch = watch.or(self.watch);
        let mut builds = self.builds.lock().unwrap_or_else(|e| e.into_inner());
        builds.settle(&self.running.rollbacks());
        // A bug here must not take the signal or control thread down.
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            self.apply(path, &mut builds, start, watch)
        }))
        .unwrap_or_else(|p| Err(ReloadError::Internal(panic_text(p.as_ref()))));
        self.seen.store(Seen::of(&builds));
        match &outcome {
            Ok(report) => tracing::info!("{report}"),
            Err(e) => tracing::warn!("{e}"),
        }
        outcome
    }

    fn apply(
        &self,
        path: &Path,
        builds: &mut Builds,
        start: Instant,
        watch: Option<Duration>,
    ) -> Result<ReloadReport, ReloadError> {
        let digest = digest(path)?;
        let unchanged = Identity::of(digest, &self.running);
        if builds.current.as_ref() == Some(&unchanged) {
            return Ok(ReloadReport {
                library: path.to_owned(),
                update: None,
                installing: Vec::new(),
                kept: unchanged.instances.len(),
                placement_kept: Vec::new(),
                load: start.elapsed(),
                total: start.elapsed(),
                mapped: 0,
                same_build: true,
            });
        }
        let first = builds.loaded[0].clone();
        let (lib, graph) = builds.load(path, self.scratch.path(), &self.host)?;
        if lib.crate_name != first.crate_name {
            return Err(ReloadError::Library(LibraryError::OtherCrate {
                path: path.to_owned(),
                library: lib.crate_name.to_owned(),
                running: first.crate_name.to_owned(),
            }));
        }
        let evolution = self.running.evolution(graph)?;
        let before = self.running.schedule().arcs;
        let renewed = check(&evolution, &builds.code_of, &lib, &before)?;
        let load_time = start.elapsed();
        let mut report = ReloadReport {
            library: path.to_owned(),
            update: None,
            kept: evolution
                .instances
                .iter()
                .filter(|i| i.fate == Fate::Kept)
                .count(),
            placement_kept: evolution
                .instances
                .iter()
                .filter_map(|i| match (i.worker, i.scheduled) {
                    (Some(w), Some(s)) if w != s => Some((i.name.clone(), w, s)),
                    _ => None,
                })
                .collect(),
            load: load_time,
            total: load_time,
            mapped: lib.mapped.size,
            installing: Vec::new(),
            same_build: false,
        };
        if evolution.is_empty() {
            builds.current = Some(unchanged);
            return Ok(report);
        }
        let changed: Vec<(String, Fate)> = evolution
            .instances
            .iter()
            .filter(|i| i.fate != Fate::Kept)
            .map(|i| (i.name.clone(), i.fate))
            .collect();
        let mut update = renew(evolution.into_update(), renewed);
        if let Some(window) = watch {
            update = update.watch(window);
        }
        let outcome = self.running.update(update);
        // Whatever committed runs the new build from now on, also when
        // it is still installing or failed after the commit.
        if let Ok(_)
        | Err(
            UpdateError::CommittedUnfinished { .. } | UpdateError::FailedAfterCommit { .. },
        ) = &outcome
        {
            let mut before = Vec::new();
            for (name, fate) in changed {
                let was = match fate {
                    Fate::Removed => builds.code_of.remove(&name),
                    _ => builds.code_of.insert(name.clone(), lib.clone()),
                };
                before.push((name, was));
            }
            if let (Some(_), Ok(report)) = (watch, &outcome) {
                builds.watched.insert(report.id, before);
            }
        }
        match outcome {
            Ok(update) => {
                report.update = Some(update);
                builds.current = Some(Identity::of(digest, &self.running));
            }
            Err(UpdateError::CommittedUnfinished { instances }) => report.installing = instances,
            Err(e) => return Err(ReloadError::Update(Box::new(e))),
        }
        report.total = start.elapsed();
        Ok(report)
    }

    /// Every instance with its version history, and the library each runs.
    /// Never waits for a reload in progress: it shows the builds as of the
    /// last completed reload.
    pub fn status(&self) -> String {
        let rollbacks = self.running.rollbacks();
        if let Ok(mut builds) = self.builds.try_lock() {
            if builds.settle(&rollbacks) {
                self.seen.store(Seen::of(&builds));
            }
        }
        let seen = self.seen.load();
        let mut out = format!(
            "graph `{}`: {} libraries loaded, {} mapped ({:.1} MiB); copies made in `{}`\n",
            self.running.schedule().name,
            seen.loaded,
            seen.mapped.0,
            seen.mapped.1 as f64 / (1 << 20) as f64,
            self.scratch.path().display()
        );
        for InstanceStatus {
            name,
            component,
            version,
            worker,
            changes,
            ..
        } in self.running.instances()
        {
            let from = seen.code_of.get(&name).cloned();
            out.push_str(&format!(
                "{name}: {component} v{version} on worker {worker}, {} updates, code from {}\n",
                changes,
                from.unwrap_or_default()
            ));
        }
        for r in rollbacks {
            let outcome = match &r.outcome {
                Ok(report) => format!("rolled back by update #{}", report.id),
                Err(e) => format!("rollback failed: {e}"),
            };
            out.push_str(&format!(
                "update #{} {outcome}: `{}` panicked within its watch: {}\n",
                r.update, r.instance, r.message
            ));
            for (name, note) in &r.restored {
                out.push_str(&format!("  {name}: {note}\n"));
            }
        }
        out
    }
}
