//! An HTTP/1.1 static file server as an evoflow graph:
//!
//! ```text
//! accept -> read -> parse =(lane0)=> load0 => compose -> reply
//!                         =(lane1)=> load1 =>
//! ```
//!
//! Two `load` instances, one per worker, share the file work.
//!
//! `compose` is supervised: a panic there answers the request with a 500
//! (its `#[recover]`) and restarts it; every other request is served. Its
//! limit (10,000 panics a second) is that of a stateless request handler,
//! whose restart costs microseconds: only a crash loop that fails nearly
//! every request stops the server.
//!
//! `read` owns the connections for reading (keep-alive, pipelining,
//! limits, idle timeouts); `reply` writes responses back in request order
//! per connection, without ever blocking its worker on a slow client.

pub mod accept;
pub mod cache;
pub mod compose;
pub mod http;
pub mod load;
pub mod parse;
pub mod range;
pub mod read;
pub mod reply;
pub mod scenarios;
pub mod site;

use accept::Accept;
use compose::Compose;
use evoflow::{graph, Graph};
use load::Load;
use parse::Parse;
use read::Read;
use reply::Reply;
use std::net::TcpListener;
use std::path::{Path, PathBuf};

/// What the server serves and how.
pub struct Config {
    /// A bound listener.
    pub listener: TcpListener,
    /// Directory to serve; `None` serves the embedded default site.
    pub root: Option<PathBuf>,
    /// Worker threads.
    pub workers: usize,
}

/// Builds the server graph.
pub fn server(config: Config) -> std::io::Result<Graph> {
    graph_of(
        Accept::new(config.listener)?,
        config.root.as_deref(),
        config.workers,
    )
}

/// Builds the server graph around `accept`, on `workers` workers.
pub fn graph_of(accept: Accept, root: Option<&Path>, workers: usize) -> std::io::Result<Graph> {
    let (load0, load1) = (Load::new(root)?, Load::new(root)?);
    Ok(graph! {
        name = "webserver";
        workers = workers;
        accept: Accept = accept;
        read: Read = Read::new()?;
        parse: Parse;
        // Loading files is the heavy stage: weighing each load as two
        // stages puts one load on each worker when there are two.
        #[cost(2)]
        load0: Load = load0;
        #[cost(2)]
        load1: Load = load1;
        #[on_panic(restart(max = 10000, within = 1s))]
        compose: Compose;
        reply: Reply;
        accept.out -> read.conns;
        read.out -> parse.inp;
        parse.lane0 -> load0.inp;
        parse.lane1 -> load1.inp;
        load0.out -> compose.inp;
        load1.out -> compose.inp;
        compose.out -> reply.inp;
    })
}
