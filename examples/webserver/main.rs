//! The flagship: an HTTP/1.1 static file server built as an evoflow graph.
//!
//!     cargo run --release --example webserver                      # embedded site on 127.0.0.1:8080
//!     cargo run --release --example webserver -- --root DIR --addr 127.0.0.1:9000 --workers 2

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
    /// Worker threads (1 or 2).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=2))]
    workers: u16,
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
    if let Some(root) = &args.root {
        if !root.is_dir() {
            eprintln!("error: --root {} is not a directory", root.display());
            return ExitCode::FAILURE;
        }
    }
    let config = server::Config {
        listener,
        root: args.root.clone(),
        workers: usize::from(args.workers),
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
    match graph.run().and_then(|r| r.join()) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
