//! The flagship web server (`examples/webserver/server`) as a component
//! library: `webserver-host run` serves it, and after an edit (bump the
//! changed component's version) and `cargo build -p webserver-library`,
//! `kill -HUP` or `webserver-host reload` swaps the new code in while it
//! serves.
//!
//! Configured by the environment, read on every reload (the host's stays
//! the same): `EVOFLOW_WEB_ADDR` (default 127.0.0.1:8080; port 0 picks one,
//! printed as `listening on <address>`), `EVOFLOW_WEB_ROOT` (default: the
//! embedded site), `EVOFLOW_WEB_WORKERS` (a count, default 1).

// Shared with the in-process example, tests and benchmark; this library
// uses part of it (not the in-process update scenarios).
#[path = "../../server/mod.rs"]
#[allow(dead_code)]
mod server;

use evoflow::Graph;
use std::path::PathBuf;

/// The server graph, configured from the environment.
pub fn graph() -> Graph {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let addr = var("EVOFLOW_WEB_ADDR").unwrap_or_else(|| "127.0.0.1:8080".into());
    let addr = addr
        .parse()
        .unwrap_or_else(|e| panic!("EVOFLOW_WEB_ADDR={addr:?} is not an address: {e}"));
    let workers = match var("EVOFLOW_WEB_WORKERS") {
        None => 1,
        Some(n) => n
            .parse()
            .ok()
            .filter(|&n: &usize| n > 0)
            .unwrap_or_else(|| panic!("EVOFLOW_WEB_WORKERS={n:?}: use a count of 1 or more")),
    };
    let root = var("EVOFLOW_WEB_ROOT").map(PathBuf::from);
    // At the start the address is bound here, so that a port in use stops
    // the start with the reason before anything runs; on a reload the
    // running `accept` keeps its listener (this graph's is dropped).
    let accept = if evoflow::reload::first_load() {
        let listener = std::net::TcpListener::bind(addr)
            .unwrap_or_else(|e| panic!("cannot listen on {addr}: {e}"));
        let bound = listener.local_addr().expect("bound");
        println!("listening on {bound}");
        server::accept::Accept::new(listener)
            .unwrap_or_else(|e| panic!("cannot listen on {addr}: {e}"))
    } else {
        server::accept::Accept::bind_later(addr)
    };
    server::graph_of(accept, root.as_deref(), workers, server::MAX_CONNECTIONS)
        .unwrap_or_else(|e| panic!("cannot serve EVOFLOW_WEB_ROOT: {e}"))
}

evoflow::library!(graph);
