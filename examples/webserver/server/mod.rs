//! An HTTP/1.1 static file server as an evoflow graph:
//!
//! ```text
//! accept =(lane0)=> read0 -> parse0 -> load0 -> compose0 -> reply0
//!        =(lane1)=> read1 -> parse1 -> load1 -> compose1 -> reply1
//! ```
//!
//! Each connection stays in one lane from accept to close, and with two
//! workers each lane runs on its own worker, shared-nothing like nginx's
//! workers: a request and its response never cross workers, and each
//! worker reads and writes its own connections. `graph!` declares
//! instances statically, so there are [`LANES`] lanes; `accept` spreads
//! connections over as many as there are workers, up to that.
//!
//! Each `compose` is supervised: a panic there answers the request with a
//! 500 (its `#[recover]`) and restarts it; every other request is served. Its
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
pub mod prefetch;
pub mod range;
pub mod read;
pub mod reply;
pub mod scenarios;
pub mod site;
pub mod wire;

use accept::Accept;
use compose::Compose;
use evoflow::{graph, Graph};
use load::Load;
use parse::Parse;
use read::{Cap, Read};
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
    /// Most connections open at once ([`MAX_CONNECTIONS`] by default);
    /// one more is answered `503 Service Unavailable` and closed.
    pub max_connections: usize,
}

/// The default cap on open connections: far below the usual limit of
/// file descriptors a service gets (64 Ki and more), and enough for a
/// busy server on two cores.
pub const MAX_CONNECTIONS: usize = 16_384;

/// Builds the server graph.
pub fn server(config: Config) -> std::io::Result<Graph> {
    graph_of(
        Accept::new(config.listener)?,
        config.root.as_deref(),
        config.workers,
        config.max_connections,
    )
}

/// Lanes in the graph, one per worker up to this many: two fit the
/// two-core machines the server is measured on. With more workers the
/// scheduler splits the lanes' stages across them.
pub const LANES: usize = 2;

/// Builds the server graph around `accept`, on `workers` workers, with at
/// most `max_connections` open in all lanes together.
///
/// Lanes are declared one after the other, so the topological order is
/// `accept`, lane 0, lane 1, and the scheduler's cut (balanced costs, then
/// fewest cross arcs) falls between the lanes: with two workers lane `k`
/// runs on worker `k`, and only `accept -> read1` crosses. No pins, so
/// one worker runs it all.
pub fn graph_of(
    accept: Accept,
    root: Option<&Path>,
    workers: usize,
    max_connections: usize,
) -> std::io::Result<Graph> {
    let accept = accept.spread_over(workers.min(LANES));
    let cap = Cap::new(max_connections);
    let (load0, load1) = (Load::new(root)?, Load::new(root)?);
    Ok(graph! {
        name = "webserver";
        workers = workers;
        accept: Accept = accept;
        read0: Read = Read::new(cap.clone())?;
        parse0: Parse;
        load0: Load = load0;
        #[on_panic(restart(max = 10000, within = 1s))]
        compose0: Compose;
        reply0: Reply;
        read1: Read = Read::new(cap)?;
        parse1: Parse;
        load1: Load = load1;
        #[on_panic(restart(max = 10000, within = 1s))]
        compose1: Compose;
        reply1: Reply;
        accept.lane0 -> read0.conns;
        read0.out -> parse0.inp;
        parse0.out -> load0.inp;
        load0.out -> compose0.inp;
        compose0.out -> reply0.inp;
        accept.lane1 -> read1.conns;
        read1.out -> parse1.inp;
        parse1.out -> load1.inp;
        load1.out -> compose1.inp;
        compose1.out -> reply1.inp;
    })
}
