//! A graph over several machines whose components live in a library. Each
//! machine's host loads the library and runs its part
//! ([`MachineApp::start`]). A reload asked on any machine loads the
//! rebuilt library there, finds the instances whose component or version
//! changed on every machine, and replaces them all as one update spanning
//! the machines: markers cross machines in-band, the decision is one etcd
//! transaction. Every machine loads and checks the same build itself and
//! votes; one that refuses it (another file, another change, a check that
//! fails) aborts the update everywhere, and every machine keeps running
//! its old code.
//!
//! What a reload across machines changes: components (new versions, state
//! migrated as on one machine) and, within a machine, the queues of arcs
//! whose packet type's definition changed. Instances, their machines and
//! the arcs between machines stay as the program started: those arcs'
//! ends were typed by the first build (their encoding), so a build that
//! changes them, or the definition of a type they carry, is refused with
//! the reason.

use crate::__library::{Again, Built};
use crate::app::{absolute, digest, scratch};
use crate::build_info::BuildInfo;
use crate::check::{check, own_types, renew, CodeOf};
use crate::error::{
    AcrossMachines, CannotLoad, Incompatibility, LibraryError, ReloadError, StartError,
};
use crate::loader::{map, open, Loaded};
use evoflow_machines::{MachineConfig, MachineError, MachineRun, Part, Spanning};
use evoflow_runtime::{Fate, Report, Running, Update, Updater};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// This machine's part of a graph over several machines, loaded from a
/// component library and updatable, on every machine at once, from
/// rebuilt copies of it.
pub struct MachineApp {
    run: MachineRun,
    library: PathBuf,
    shared: Arc<Shared>,
}

/// What the reloads asked here and the parts built for updates asked
/// anywhere (on the machine's update thread) share.
struct Shared {
    me: String,
    host: BuildInfo,
    /// The private directory of the library copies.
    scratch: tempfile::TempDir,
    builds: Mutex<Builds>,
}

struct Builds {
    /// The library the program started with: it typed every arc between
    /// machines, whose ends stay for the program's life.
    first: Arc<Loaded>,
    /// Every library loaded, by the digest of its file: a reload asked on
    /// this machine and its part of the update load a build once.
    loaded: HashMap<u64, (Arc<Loaded>, Arc<Again>)>,
    /// Load attempts so far (each gets its own copy of the file).
    attempts: usize,
    /// Libraries mapped (never unmapped) and their size.
    mapped: (usize, u64),
    /// The library whose code runs each instance of this machine.
    code_of: CodeOf,
    /// The replacements of the last part built here, recorded in
    /// `code_of` once they are seen installed (the decision is taken
    /// elsewhere: an aborted part leaves the versions as they were).
    pending: Vec<Pending>,
}

/// A replacement to record once installed: instance, library, component
/// and version.
type Pending = (String, Arc<Loaded>, &'static str, u32);

impl Builds {
    /// Records the replacements of the last part that are installed (an
    /// entry matches only once its version runs); the others stay
    /// pending, so this may run at any time.
    fn settle(&mut self, part: &Updater) {
        if self.pending.is_empty() {
            return;
        }
        let now = part.instances();
        let installed = |(name, _, component, version): &Pending| {
            now.iter()
                .any(|i| &i.name == name && i.component == *component && i.version == *version)
        };
        let (done, waiting): (Vec<Pending>, Vec<Pending>) =
            self.pending.drain(..).partition(installed);
        self.pending = waiting;
        for (name, lib, _, _) in done {
            self.code_of.insert(name, lib);
        }
    }

    /// The library whose code runs each instance of `part` (the first
    /// build for one not recorded yet: the part started from it).
    fn code_of(&self, part: &Updater) -> CodeOf {
        let mut code_of = self.code_of.clone();
        for i in part.instances() {
            code_of.entry(i.name).or_insert_with(|| self.first.clone());
        }
        code_of
    }
}

/// The name of a library in a request: its digest and path.
fn with(digest: u64, path: &Path) -> Result<String, AcrossMachines> {
    let text = path.display().to_string();
    if text.contains(['\t', '\n']) {
        return Err(AcrossMachines::Path(path.to_owned()));
    }
    Ok(format!("{digest:016x}:{text}"))
}

fn parse_with(with: &str) -> Option<(u64, PathBuf)> {
    let (digest, path) = with.split_once(':')?;
    Some((u64::from_str_radix(digest, 16).ok()?, PathBuf::from(path)))
}

/// Why this machine refuses its part, without the "reload refused"
/// its requester's error says already.
fn reason(e: &ReloadError) -> String {
    match e {
        ReloadError::Library(e) => e.to_string(),
        ReloadError::Incompatible(e) => e.to_string(),
        ReloadError::Evolution(e) => e.to_string(),
        ReloadError::Machines(e) => e.to_string(),
        e => e.to_string(),
    }
}

/// What an update spanning machines that did not complete means for the
/// reload.
fn refused(e: MachineError) -> ReloadError {
    let text = e.to_string();
    ReloadError::Machines(match e {
        MachineError::SpanningRefused(_) | MachineError::SpanningAborted { .. } => {
            AcrossMachines::Refused(text)
        }
        MachineError::SpanningUnfinished { machines, .. }
            if !machines.iter().any(|(m, _)| m == "etcd") =>
        {
            AcrossMachines::AfterCommit(text)
        }
        _ => AcrossMachines::Unknown(text),
    })
}

/// The part on `machine` of the program the library at `path` makes
/// (`again`), built without running it.
fn describe(again: &Again, path: &Path, machine: &str) -> Result<Part, ReloadError> {
    let program = again().map_err(|panic| LibraryError::CannotLoad {
        path: path.to_owned(),
        why: CannotLoad::GraphPanicked(panic),
    })?;
    program.describe(machine).map_err(|e| {
        ReloadError::Machines(AcrossMachines::Part {
            machine: machine.to_owned(),
            why: e.to_string(),
        })
    })
}

impl Shared {
    /// The builds; a panic while they were held does not lock later
    /// reloads out (the guard is taken back from the poison).
    fn builds(&self) -> std::sync::MutexGuard<'_, Builds> {
        self.builds.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The library at `path`, whose file has digest `asked`, loaded once.
    fn library(
        &self,
        builds: &mut Builds,
        path: &Path,
        asked: u64,
    ) -> Result<(Arc<Loaded>, Arc<Again>), ReloadError> {
        if let Some(loaded) = builds.loaded.get(&asked) {
            return Ok(loaded.clone());
        }
        let serial = builds.attempts;
        builds.attempts += 1;
        let mapped = map(path, self.scratch.path(), serial)?;
        builds.mapped.0 += 1;
        builds.mapped.1 += mapped.size;
        // The copy mapped is the build named only if the file did not
        // change in between (a rebuild landing).
        let found = digest(path)?;
        if found != asked {
            return Err(ReloadError::Machines(AcrossMachines::OtherBuild {
                path: path.to_owned(),
                asked,
                found,
            }));
        }
        let (lib, built) = open(mapped, &self.host, Some(builds.first.deps))?;
        let again = match built {
            Built::Program { again, .. } => Arc::new(again),
            Built::Graph(_) => {
                return Err(ReloadError::Library(LibraryError::Exports {
                    path: path.to_owned(),
                    program: false,
                }))
            }
        };
        if lib.crate_name != builds.first.crate_name {
            return Err(ReloadError::Library(LibraryError::OtherCrate {
                path: path.to_owned(),
                library: lib.crate_name.to_owned(),
                running: builds.first.crate_name.to_owned(),
            }));
        }
        let lib = Arc::new(lib);
        builds.loaded.insert(asked, (lib.clone(), again.clone()));
        Ok((lib, again))
    }

    /// This machine's part of a reload spanning machines: the request's
    /// replacements name the build (`with`); this machine loads it, checks
    /// that its part changes exactly the instances the request replaces
    /// here and nothing a reload across machines cannot change, and
    /// returns the update of its part.
    fn part(&self, running: &Updater, replace: &[(String, String)]) -> Result<Update, ReloadError> {
        let withs: BTreeSet<&str> = replace.iter().map(|(_, w)| w.as_str()).collect();
        let mut withs = withs.into_iter();
        let (Some(with), None) = (withs.next(), withs.next()) else {
            return Err(ReloadError::Machines(AcrossMachines::Refused(
                "a reload names exactly one build; this request names none or several".into(),
            )));
        };
        let Some((asked, path)) = parse_with(with) else {
            return Err(ReloadError::Machines(AcrossMachines::Refused(format!(
                "`{with}` does not name a build (digest:path)"
            ))));
        };
        let found = digest(&path)?;
        if found != asked {
            return Err(ReloadError::Machines(AcrossMachines::OtherBuild {
                path,
                asked,
                found,
            }));
        }
        let mut builds = self.builds();
        builds.settle(running);
        let (lib, again) = self.library(&mut builds, &path, asked)?;
        let mine: BTreeSet<String> = running.instances().into_iter().map(|i| i.name).collect();
        let asked: Vec<String> = replace
            .iter()
            .filter(|(i, _)| mine.contains(i))
            .map(|(i, _)| i.clone())
            .collect();
        let (update, pending) = self.plan(&builds, running, &path, &lib, &again, Some(&asked))?;
        builds.pending = pending;
        Ok(update)
    }

    /// What the build `lib` changes in this machine's part, checked: the
    /// update, and the replacements to record once it is installed. With
    /// `asked`, the instances must be exactly those the request replaces
    /// here (those already at the build's version aside).
    fn plan(
        &self,
        builds: &Builds,
        running: &Updater,
        path: &Path,
        lib: &Arc<Loaded>,
        again: &Again,
        asked: Option<&[String]>,
    ) -> Result<(Update, Vec<Pending>), ReloadError> {
        let part = describe(again, path, &self.me)?;
        let mut running_cut: Vec<(String, bool)> = running
            .schedule()
            .remote
            .into_iter()
            .map(|r| (r.label, r.incoming))
            .collect();
        let mut new_cut: Vec<(String, bool)> = part
            .cut
            .iter()
            .map(|c| (c.label.clone(), !c.outgoing))
            .collect();
        running_cut.sort();
        new_cut.sort();
        if running_cut != new_cut {
            let names = |c: Vec<(String, bool)>| c.into_iter().map(|(l, _)| l).collect();
            return Err(ReloadError::Machines(AcrossMachines::Arcs {
                machine: self.me.clone(),
                running: names(running_cut),
                new: names(new_cut),
            }));
        }
        // The arcs between machines were typed by the first build: each
        // of the library's own types they carry must be defined as it was
        // then, and known to both builds (else it cannot be compared).
        for cut in &part.cut {
            for ty in own_types(cut.packet, lib.crate_name) {
                let (then, now) = (builds.first.type_hash(ty), lib.type_hash(ty));
                if then.is_none() || now.is_none() {
                    let (from, to) = cut.label.split_once(" -> ").unwrap_or((&cut.label, ""));
                    return Err(ReloadError::Incompatible(Incompatibility::Uncomparable {
                        from: from.to_owned(),
                        to: to.to_owned(),
                        ty: ty.to_owned(),
                        packet: cut.packet.to_owned(),
                    }));
                }
                if then != now {
                    return Err(ReloadError::Machines(AcrossMachines::PacketType {
                        arc: cut.label.clone(),
                        ty: ty.to_owned(),
                    }));
                }
            }
        }
        let before = running.schedule().arcs;
        let evolution = running.evolution(part.graph)?;
        let names = |fate: fn(&Fate) -> bool| -> Vec<String> {
            evolution
                .instances
                .iter()
                .filter(|i| fate(&i.fate))
                .map(|i| i.name.clone())
                .collect()
        };
        let (added, removed) = (
            names(|f| *f == Fate::Inserted),
            names(|f| *f == Fate::Removed),
        );
        if !added.is_empty() || !removed.is_empty() {
            return Err(ReloadError::Machines(AcrossMachines::Instances {
                machine: self.me.clone(),
                added,
                removed,
            }));
        }
        let mut changes = names(|f| matches!(f, Fate::Replaced { .. }));
        changes.sort();
        if let Some(asked) = asked {
            // An instance asked for that runs this build's version already
            // (a reload asked on another machine at the same time applied
            // it first) has nothing to do.
            let kept: BTreeSet<String> = names(|f| *f == Fate::Kept).into_iter().collect();
            let mut asked: Vec<String> = asked
                .iter()
                .filter(|i| !kept.contains(*i))
                .cloned()
                .collect();
            asked.sort();
            if asked != changes {
                return Err(ReloadError::Machines(AcrossMachines::Disagree {
                    machine: self.me.clone(),
                    asked,
                    changes,
                }));
            }
        }
        let renewed = check(&evolution, &builds.code_of(running), lib, &before)?;
        let pending = evolution
            .instances
            .iter()
            .filter(|i| changes.contains(&i.name))
            .filter_map(|i| Some((i.name.clone(), lib.clone(), i.after?.name, i.after?.version)))
            .collect();
        Ok((renew(evolution.into_update(), renewed), pending))
    }
}

impl MachineApp {
    /// Loads the library at `library`, whose graph function makes a
    /// program over several machines, and runs its part on `machine`:
    /// joins the graph in etcd (its build is this host and this library:
    /// a machine with another is refused), waits for every machine and
    /// starts.
    pub fn start(
        library: impl AsRef<Path>,
        machine: &str,
        config: &MachineConfig,
    ) -> Result<MachineApp, ReloadError> {
        // Absolute: a request names it to machines whose working
        // directories may differ.
        let library = absolute(library.as_ref());
        let start = |e: LibraryError| ReloadError::Start(StartError::Library(e));
        let scratch = scratch()?;
        let host = BuildInfo::current();
        let lib_digest = digest(&library).map_err(start)?;
        let mapped = map(&library, scratch.path(), 0).map_err(start)?;
        let size = mapped.size;
        let (lib, built) = open(mapped, &host, None).map_err(start)?;
        let (program, again) = match built {
            Built::Program { first, again } => (first, Arc::new(again)),
            Built::Graph(_) => {
                return Err(start(LibraryError::Exports {
                    path: library,
                    program: false,
                }))
            }
        };
        let lib = Arc::new(lib);
        let shared = Arc::new(Shared {
            me: machine.to_owned(),
            host,
            scratch,
            builds: Mutex::new(Builds {
                first: lib.clone(),
                loaded: HashMap::from([(lib_digest, (lib.clone(), again))]),
                attempts: 1,
                mapped: (1, size),
                code_of: CodeOf::new(),
                pending: Vec::new(),
            }),
        });
        let mut config = config.clone();
        if config.build.is_none() {
            let exe = std::env::current_exe()
                .map_err(|e| {
                    start(LibraryError::Read {
                        path: PathBuf::from("/proc/self/exe"),
                        error: e.into(),
                    })
                })
                .and_then(|exe| digest(&exe).map_err(start))?;
            config.build = Some(format!("host {exe:016x}, library {lib_digest:016x}"));
        }
        let parts = shared.clone();
        let run = program
            .part_updates(move |running, replace| {
                parts.part(running, replace).map_err(|e| reason(&e))
            })
            .run_on(machine, &config)
            .map_err(|e| ReloadError::Start(StartError::Run(e.to_string())))?;
        tracing::info!(
            library = %library.display(),
            "machine `{machine}` started its part of graph `{}`",
            run.running().schedule().name
        );
        Ok(MachineApp {
            run,
            library,
            shared,
        })
    }

    /// This machine's running part.
    pub fn running(&self) -> &Running {
        self.run.running()
    }

    /// The library path reloads use unless given another.
    pub fn library(&self) -> &Path {
        &self.library
    }

    /// Loads `library` (or the start library's path again) here, finds
    /// what changed on every machine and replaces it everywhere as one
    /// update; says what it did. Every machine must have the same build
    /// at that path.
    pub fn reload(&self, library: Option<&Path>) -> Result<String, ReloadError> {
        let start = Instant::now();
        // Absolute: the request names it to every machine.
        let path = library.map_or_else(|| self.library.clone(), absolute);
        let outcome = self.apply(&path, start);
        match &outcome {
            Ok(report) => tracing::info!("{report}"),
            Err(e) => tracing::warn!("{e}"),
        }
        outcome
    }

    fn apply(&self, path: &Path, start: Instant) -> Result<String, ReloadError> {
        let digest = digest(path)?;
        let with = with(digest, path).map_err(ReloadError::Machines)?;
        let (lib, again) = {
            let mut builds = self.shared.builds();
            builds.settle(&self.run.running().updater());
            self.shared.library(&mut builds, path, digest)?
        };
        let status = self
            .run
            .status()
            .map_err(|e| ReloadError::Machines(AcrossMachines::Refused(e.to_string())))?;
        let mut replace = Vec::new();
        for machine in &status.0 {
            if machine.instances.is_empty() {
                return Err(ReloadError::Machines(AcrossMachines::Refused(format!(
                    "machine `{}` has not published what it runs (is it running?)",
                    machine.machine
                ))));
            }
            let part = describe(&again, path, &machine.machine)?;
            let new: BTreeMap<String, (&str, u32)> = part
                .graph
                .schedule()
                .sections
                .into_iter()
                .flatten()
                .map(|i| (i.name, (i.component, i.version)))
                .collect();
            let running: BTreeMap<&str, (&str, u32)> = machine
                .instances
                .iter()
                .map(|i| (i.name.as_str(), (i.component.as_str(), i.version)))
                .collect();
            let added: Vec<String> = new
                .keys()
                .filter(|n| !running.contains_key(n.as_str()))
                .cloned()
                .collect();
            let removed: Vec<String> = running
                .keys()
                .filter(|n| !new.contains_key(**n))
                .map(|n| n.to_string())
                .collect();
            if !added.is_empty() || !removed.is_empty() {
                return Err(ReloadError::Machines(AcrossMachines::Instances {
                    machine: machine.machine.clone(),
                    added,
                    removed,
                }));
            }
            replace.extend(
                new.iter()
                    .filter(|(n, now)| running.get(n.as_str()) != Some(now))
                    .map(|(n, _)| n.clone()),
            );
        }
        if replace.is_empty() {
            // This machine's part gets the one-machine checks (a code
            // change under an unchanged version is refused); the others'
            // are checked when an update reaches them.
            let builds = self.shared.builds();
            let running = self.run.running().updater();
            let (_unchanged, _) = self
                .shared
                .plan(&builds, &running, path, &lib, &again, None)?;
            return Ok(format!(
                "reloaded `{}` in {:.2?}: nothing changed (same components and versions on every machine; a change under an unchanged version is not applied: bump the version)",
                path.display(),
                start.elapsed()
            ));
        }
        let spanning = replace
            .iter()
            .fold(Spanning::new(), |s, instance| s.replace(instance, &with));
        let report = self.run.update_everywhere(spanning).map_err(refused)?;
        let machines: Vec<String> = report
            .machines
            .iter()
            .map(|(m, r)| format!("`{m}`: {r}"))
            .collect();
        Ok(format!(
            "reloaded `{}` on every machine in {:.2?} (update #{}, new versions asked for {}): {}",
            path.display(),
            start.elapsed(),
            report.id,
            replace.join(", "),
            machines.join("; ")
        ))
    }

    /// Every machine with its instances and versions, and the libraries
    /// this machine has loaded.
    pub fn status(&self) -> String {
        let (loaded, mapped) = {
            let builds = self.shared.builds();
            (builds.loaded.len(), builds.mapped)
        };
        let graph = match self.run.status() {
            Ok(status) => status.to_string(),
            Err(e) => format!("(the other machines' status cannot be read: {e})\n"),
        };
        format!(
            "graph `{}` on machine `{}`: {loaded} libraries loaded, {} mapped ({:.1} MiB)\n{graph}",
            self.run.running().schedule().name,
            self.shared.me,
            mapped.0,
            mapped.1 as f64 / (1 << 20) as f64,
        )
    }

    /// Stops the graph on every machine (see [`MachineRun::stop`]).
    pub fn stop(&self) -> Result<(), MachineError> {
        self.run.stop()
    }

    /// Waits for this part to finish and leaves the graph (see
    /// [`MachineRun::join`]).
    pub fn join(self) -> Result<Report, MachineError> {
        self.run.join()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_names_a_build_by_digest_and_path() {
        let path = Path::new("/opt/app/lib:x.so");
        let named = with(0xfeed, path).unwrap();
        assert_eq!(named, "000000000000feed:/opt/app/lib:x.so");
        assert_eq!(parse_with(&named), Some((0xfeed, path.to_owned())));
        assert_eq!(parse_with("not a build"), None);
    }

    #[test]
    fn a_path_a_request_cannot_carry_is_refused_with_the_reason() {
        let path = Path::new("/tmp/a\tb.so");
        let refused = with(1, path).unwrap_err();
        assert_eq!(refused, AcrossMachines::Path(path.to_owned()));
        assert!(refused.to_string().contains("has a tab or a line break"));
    }
}
