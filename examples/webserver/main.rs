//! The flagship: an HTTP/1.1 static file server built as an evoflow graph.
//!
//!     cargo run --release --example webserver                      # embedded site on 127.0.0.1:8080
//!     cargo run --release --example webserver -- --root DIR --addr 127.0.0.1:9000 --workers 2

// Shared with the component library (`library/`), which uses what this
// binary does not (`Accept::bind_later`).
#[allow(dead_code)]
mod server;

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
    /// Apply the live-update scenarios in a loop, one every MS milliseconds:
    /// header change, cache insert / upgrade / removal, switch to streaming
    /// and back.
    #[arg(long, value_name = "MS")]
    demo_updates: Option<u64>,
}

/// Cycles through the scenarios on the running server, printing each report.
fn demo(running: &evoflow::Running, root: server::load::Root, every: std::time::Duration) {
    use server::scenarios::*;
    let steps: Vec<Box<dyn Fn() -> evoflow::Update>> = vec![
        Box::new(|| header(true)),
        Box::new(|| header(false)),
        Box::new({
            let root = root.clone();
            move || insert_cache(root.clone())
        }),
        Box::new(upgrade_cache),
        Box::new(remove_cache),
        Box::new({
            let root = root.clone();
            move || streaming(true, root.clone())
        }),
        Box::new(move || streaming(false, root.clone())),
        // A bad `compose` that panics on some requests, watched: under
        // traffic the server rolls it back by itself (printed below).
        Box::new(move || buggy_header(10 * every)),
    ];
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
        match running.update(step()) {
            Ok(report) => println!("{report}"),
            Err(evoflow::UpdateError::NotRunning) => return,
            Err(e) => println!("{e}"),
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
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
    let running = match graph.run() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(ms) = args.demo_updates {
        demo(&running, root, std::time::Duration::from_millis(ms.max(1)));
    }
    match running.join() {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
