//! The flagship: an HTTP/1.1 static file server built as an evoflow graph.
//!
//!     cargo run --release --example webserver                      # embedded site on 127.0.0.1:8080
//!     cargo run --release --example webserver -- --root DIR --addr 127.0.0.1:9000 --workers 2
//!
//! Over two machines (`split.rs`; `examples/machines.sh webserver` starts
//! etcd and both on one box):
//!
//!     cargo run --release --example webserver -- --machine back --etcd http://127.0.0.1:2379 &
//!     cargo run --release --example webserver -- --machine front --etcd http://127.0.0.1:2379

// Shared with the component library (`library/`), which uses what this
// binary does not (`Accept::bind_later`).
#[allow(dead_code)]
mod server;
mod split;

use clap::Parser;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::ExitCode;

/// Serve static files over HTTP/1.1 from a live-updatable dataflow graph.
#[derive(Parser)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// Directory to serve (default: a small embedded site).
    #[arg(long)]
    root: Option<PathBuf>,
    /// Worker threads (from 2 on, each of the two lanes runs on its own).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..))]
    workers: u16,
    /// Most connections open at once; one more is answered 503 and closed.
    #[arg(long, default_value_t = server::MAX_CONNECTIONS, value_parser = clap::value_parser!(usize))]
    max_connections: usize,
    /// Run each worker on a CPU of its own (`Graph::pin_workers`).
    #[arg(long)]
    pin_workers: bool,
    /// Apply the live-update scenarios in a loop, one every MS milliseconds:
    /// header change, cache insert / upgrade / removal, switch to streaming
    /// and back.
    #[arg(long, value_name = "MS")]
    demo_updates: Option<u64>,
    /// Run as this machine of the server split over two: `front` (sockets:
    /// accept, read, reply; serves --addr) or `back` (parse, load, compose;
    /// reads --root, and applies --demo-updates). --workers does not apply.
    #[arg(long, value_parser = ["front", "back"])]
    machine: Option<String>,
    /// etcd endpoint the machines meet at (with --machine).
    #[arg(long, default_value = "http://127.0.0.1:2379")]
    etcd: String,
    /// Where this machine listens for the arcs from the other (with
    /// --machine; port 0 picks one).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
}

/// The scenarios in the order the demo applies them; `streaming` only when
/// the graph is on one machine (split, it changes the type of the arcs
/// between the machines, which an update refuses).
fn scenarios(root: &server::load::Root, with_streaming: bool, every: std::time::Duration) -> Steps {
    use server::scenarios::*;
    let mut steps: Steps = vec![
        Box::new(|| header(true)),
        Box::new(|| header(false)),
        Box::new({
            let root = root.clone();
            move || insert_cache(root.clone())
        }),
        Box::new(upgrade_cache),
        Box::new(remove_cache),
    ];
    if with_streaming {
        steps.push(Box::new({
            let root = root.clone();
            move || streaming(true, root.clone())
        }));
        steps.push(Box::new({
            let root = root.clone();
            move || streaming(false, root.clone())
        }));
    }
    // A bad `compose` that panics on some requests, watched: under
    // traffic the server rolls it back by itself (printed by `demo`).
    steps.push(Box::new(move || buggy_header(10 * every)));
    steps
}

type Steps = Vec<Box<dyn Fn() -> evoflow::Update>>;

/// Cycles through `steps` on the running server (`update` applies one),
/// printing each report and each rollback.
fn demo(
    running: &evoflow::Running,
    update: impl Fn(evoflow::Update) -> Result<evoflow::UpdateReport, evoflow::UpdateError>,
    steps: Steps,
    every: std::time::Duration,
) {
    // The last update whose rollback was printed.
    let mut printed = 0;
    for step in steps.iter().cycle() {
        std::thread::sleep(every);
        let seen = printed;
        for r in running.rollbacks().iter().filter(|r| r.update > seen) {
            printed = r.update;
            match &r.outcome {
                Ok(report) => println!(
                    "update #{} rolled back ({report}): `{}` panicked: {}",
                    r.update, r.instance, r.message
                ),
                Err(e) => println!("rolling back update #{} failed: {e}", r.update),
            }
        }
        match update(step()) {
            Ok(report) => println!("{report}"),
            Err(evoflow::UpdateError::NotRunning) => return,
            Err(e) => println!("{e}"),
        }
    }
}

/// Runs this process as `machine` of the server split over two
/// (`split.rs`), until the graph stops.
fn run_machine(args: &Args, machine: &str) -> ExitCode {
    let front = machine == "front";
    let (accept, addr) = if front {
        let bound = TcpListener::bind(args.addr).and_then(|l| {
            let addr = l.local_addr()?;
            Ok((server::accept::Accept::new(l)?, addr))
        });
        match bound {
            Ok(bound) => bound,
            Err(e) => {
                eprintln!("error: cannot listen on {}: {e}", args.addr);
                return ExitCode::FAILURE;
            }
        }
    } else {
        // Never run on `back`: nothing binds there.
        (server::accept::Accept::bind_later(args.addr), args.addr)
    };
    // The files are read on `back`; `front` needs none.
    let dir = if front { None } else { args.root.as_deref() };
    let root = match server::load::Root::new(dir) {
        Ok(root) => root,
        Err(e) => {
            eprintln!("error: --root: {e}");
            return ExitCode::FAILURE;
        }
    };
    let program = match split::program(accept, &root, args.max_connections.max(1)) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut config = evoflow::MachineConfig::new([args.etcd.clone()], args.listen);
    config.pin_workers = args.pin_workers;
    let run = match program.run_on(machine, &config) {
        Ok(run) => run,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    print!("{}", run.running().schedule());
    if front {
        println!("serving on http://{addr}/ (front: the files are on back)");
    } else {
        println!("back: answering front's requests");
    }
    if let (false, Some(ms)) = (front, args.demo_updates) {
        let every = std::time::Duration::from_millis(ms.max(1));
        let steps = scenarios(&root, false, every);
        demo(run.running(), |u| run.update(u), steps, every);
    }
    match run.join() {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(machine) = &args.machine {
        return run_machine(&args, machine);
    }
    let listener = match TcpListener::bind(args.addr) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on {}: {e}", args.addr);
            return ExitCode::FAILURE;
        }
    };
    let root = match server::load::Root::new(args.root.as_deref()) {
        Ok(root) => root,
        Err(e) => {
            let dir = args
                .root
                .as_ref()
                .map(|r| r.display().to_string())
                .unwrap_or_default();
            eprintln!("error: --root {dir}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let config = server::Config {
        listener,
        root: args.root.clone(),
        workers: usize::from(args.workers),
        max_connections: args.max_connections.max(1),
    };
    let graph = match server::server(config) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    print!("{}", graph.schedule());
    let what = args
        .root
        .as_ref()
        .map_or("the embedded site".to_owned(), |r| r.display().to_string());
    println!("serving {what} on http://{}/", args.addr);
    let graph = if args.pin_workers {
        graph.pin_workers()
    } else {
        graph
    };
    let running = match graph.run() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(ms) = args.demo_updates {
        let every = std::time::Duration::from_millis(ms.max(1));
        let steps = scenarios(&root, true, every);
        demo(&running, |u| running.update(u), steps, every);
    }
    match running.join() {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
