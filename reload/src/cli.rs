//! The command line of a reloadable program's host binary: `run` starts
//! the program, `reload` and `status` talk to a running one over its
//! control socket. A host's `main` is one call: [`main`].

use crate::app::{absolute, App};
use crate::control::{request, ControlSocket, Controlled};
use clap::{Parser, Subcommand};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use std::io::IsTerminal;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser)]
#[command(about = "A dataflow program that updates itself from its rebuilt component library")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the program. SIGHUP reloads the library; SIGINT or SIGTERM
    /// stops it after draining.
    Run {
        /// The component library [default: next to this binary].
        #[arg(long)]
        library: Option<PathBuf>,
        /// The control socket [default: $XDG_RUNTIME_DIR or /tmp/evoflow-<uid>].
        #[arg(long)]
        socket: Option<PathBuf>,
        /// Watch every reload for this long (e.g. `10s`): a new version
        /// that panics in that time is rolled back by itself.
        #[arg(long, value_parser = humantime::parse_duration)]
        watch: Option<Duration>,
        /// Run this machine's part of a graph over several machines (a
        /// library whose `graph!` has `machines = { .. }`). A reload then
        /// updates every machine at once.
        #[cfg(feature = "machines")]
        #[arg(long, requires = "etcd", conflicts_with = "watch")]
        machine: Option<String>,
        /// etcd endpoints, comma-separated (e.g. `http://10.0.0.1:2379`).
        #[cfg(feature = "machines")]
        #[arg(long, value_delimiter = ',', requires = "machine")]
        etcd: Vec<String>,
        /// Where this machine listens for the arcs from the others. The
        /// default serves machines on this box only: across hosts, give
        /// an address the others reach (or `--advertise` one).
        #[cfg(feature = "machines")]
        #[arg(long, default_value = "127.0.0.1:0", requires = "machine")]
        listen: std::net::SocketAddr,
        /// The address the other machines reach this one at, if not
        /// `--listen`'s.
        #[cfg(feature = "machines")]
        #[arg(long, requires = "machine")]
        advertise: Option<std::net::SocketAddr>,
    },
    /// Makes the running program load its library again (or `--library`)
    /// and apply what changed; prints the outcome.
    Reload {
        /// Another library file than the one the program started with.
        #[arg(long)]
        library: Option<PathBuf>,
        /// The running program's control socket.
        #[arg(long)]
        socket: Option<PathBuf>,
        /// Watch this reload for this long (e.g. `10s`): a new version
        /// that panics in that time is rolled back by itself.
        #[arg(long, value_parser = humantime::parse_duration)]
        watch: Option<Duration>,
    },
    /// Prints the running program's instances, versions and libraries.
    Status {
        /// The running program's control socket.
        #[arg(long)]
        socket: Option<PathBuf>,
    },
}

/// Runs the host command line for the component library crate `library`
/// (its crate name, e.g. `"my_components"`).
pub fn main(library: &str) -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let outcome = match Cli::parse().command {
        Command::Run {
            library: path,
            socket,
            watch,
            #[cfg(feature = "machines")]
            machine,
            #[cfg(feature = "machines")]
            etcd,
            #[cfg(feature = "machines")]
            listen,
            #[cfg(feature = "machines")]
            advertise,
        } => socket_or_default(socket, library).and_then(|s| {
            let path = path.unwrap_or_else(|| default_library(library));
            #[cfg(feature = "machines")]
            if let Some(machine) = machine {
                let mut config = evoflow_machines::MachineConfig::new(etcd, listen);
                config.advertise = advertise;
                return run_machine(&path, &machine, &config, &s);
            }
            run(&path, &s, watch)
        }),
        Command::Reload {
            library: path,
            socket,
            watch,
        } => {
            let mut req = "reload".to_owned();
            if let Some(w) = watch {
                req.push_str(&format!(" watch={}", w.as_millis()));
            }
            if let Some(p) = path {
                req.push_str(&format!(" {}", absolute(&p).display()));
            }
            socket_or_default(socket, library).and_then(|s| ask(&s, &req))
        }
        Command::Status { socket } => {
            socket_or_default(socket, library).and_then(|s| ask(&s, "status"))
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn ask(socket: &Path, req: &str) -> Result<(), String> {
    let (ok, text) = request(socket, req).map_err(|e| e.to_string())?;
    if ok {
        println!("{text}");
        Ok(())
    } else {
        Err(text)
    }
}

fn run(library: &Path, socket: &Path, watch: Option<Duration>) -> Result<(), String> {
    // Registered first: a SIGHUP during start-up waits instead of killing.
    let signals = Signals::new([SIGHUP, SIGINT, SIGTERM]).map_err(|e| e.to_string())?;
    let mut app = App::start(library).map_err(|e| e.to_string())?;
    app.watch_reloads(watch);
    let app = serve(
        Arc::new(app),
        socket,
        signals,
        |app| app.running().stop(),
        |app| app.running().is_finished(),
    )?;
    app.join().map(drop).map_err(|e| e.to_string())
}

#[cfg(feature = "machines")]
fn run_machine(
    library: &Path,
    machine: &str,
    config: &evoflow_machines::MachineConfig,
    socket: &Path,
) -> Result<(), String> {
    let signals = Signals::new([SIGHUP, SIGINT, SIGTERM]).map_err(|e| e.to_string())?;
    let app = crate::MachineApp::start(library, machine, config).map_err(|e| e.to_string())?;
    let app = serve(
        Arc::new(app),
        socket,
        signals,
        |app| {
            if let Err(e) = app.stop() {
                tracing::warn!("could not tell the other machines to stop: {e}");
            }
        },
        |app| app.running().is_finished(),
    )?;
    app.join().map(drop).map_err(|e| e.to_string())
}

/// Serves `app` on the control socket and the signals (SIGHUP reloads;
/// SIGINT and SIGTERM `stop` it) until it has `finished`; then gives it
/// back to be joined.
fn serve<A: Controlled>(
    app: Arc<A>,
    socket: &Path,
    mut signals: Signals,
    stop: fn(&A),
    finished: fn(&A) -> bool,
) -> Result<A, String> {
    let control = ControlSocket::serve(app.clone(), socket)
        .map_err(|e| format!("cannot listen on `{}`: {e}", socket.display()))?;
    let signals_handle = signals.handle();
    let on_signal = app.clone();
    let signal_thread = std::thread::spawn(move || {
        for signal in signals.forever() {
            if signal == SIGHUP {
                // The outcome is logged by `reload`.
                let _ = on_signal.reload(None, None);
            } else {
                tracing::info!("stopping: sources end, then the graph drains");
                stop(&on_signal);
            }
        }
    });
    tracing::info!(
        "pid {}: reload with `kill -HUP {}` or `{} reload`; control socket `{}`",
        std::process::id(),
        std::process::id(),
        std::env::args().next().unwrap_or_default(),
        socket.display()
    );
    while !finished(&app) {
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(control);
    signals_handle.close();
    let _ = signal_thread.join();
    Ok(Arc::into_inner(app).expect("the control and signal threads have ended"))
}

fn default_library(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    exe.with_file_name(format!(
        "{}{name}{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ))
}

/// The given socket path, or `$XDG_RUNTIME_DIR/<name>.sock` (a per-user
/// directory), else `/tmp/evoflow-<uid>/<name>.sock` in a directory that
/// must be this user's own, mode 0700, and not a symbolic link.
fn socket_or_default(given: Option<PathBuf>, name: &str) -> Result<PathBuf, String> {
    if let Some(path) = given {
        return Ok(path);
    }
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR") {
        return Ok(Path::new(&dir).join(format!("{name}.sock")));
    }
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    let dir = std::env::temp_dir().join(format!("evoflow-{uid}"));
    let _ = std::fs::DirBuilder::new().mode(0o700).create(&dir);
    let meta = std::fs::symlink_metadata(&dir).map_err(|e| format!("`{}`: {e}", dir.display()))?;
    if !meta.is_dir() || meta.uid() != uid || meta.mode() & 0o077 != 0 {
        return Err(format!(
            "`{}` must be a directory owned by you with mode 0700 (it holds the control socket); \
             remove it, or pass --socket",
            dir.display()
        ));
    }
    Ok(dir.join(format!("{name}.sock")))
}
