//! The flagship split over two machines:
//!
//! ```text
//! front: accept =(lane k)=> read_k ─┐                ┌─> reply_k
//! back:                             └─> parse_k -> load_k -> compose_k ─┘
//! ```
//!
//! Why this split: a connection's socket cannot leave the machine that
//! accepted it, so everything that touches sockets (`accept`, `read`,
//! `reply`) is on `front`, and everything that works out an answer
//! (`parse`, `load`, `compose`, and a cache inserted later) is on `back`,
//! beside the files. Two arcs per lane cross: framed request heads go to
//! `back`, responses come back with their bodies. Every update the server
//! is given in practice — a new `compose`, a cache inserted, upgraded or
//! removed, a `load` with migrated state — then changes `back` alone,
//! while `front` goes on accepting and answering; an update that changes
//! the type of a crossing arc (the switch to streamed bodies) is refused
//! and changes nothing.

use crate::server::accept::Accept;
use crate::server::compose::Compose;
use crate::server::load::{Load, Root};
use crate::server::parse::Parse;
use crate::server::read::{Cap, Read};
use crate::server::reply::Reply;
use crate::server::LANES;
use evoflow::{graph, Program};

/// The server over `front` and `back`, one worker each. `accept` is used
/// on `front` (on `back`, one that never binds will do); the files under
/// `root` are read on `back`.
pub fn program(accept: Accept, root: &Root, max_connections: usize) -> std::io::Result<Program> {
    let accept = accept.spread_over(LANES);
    let cap = Cap::new(max_connections);
    let (read0, read1) = (Read::new(cap.clone())?, Read::new(cap)?);
    let (load0, load1) = (Load::from_root(root.clone()), Load::from_root(root.clone()));
    Ok(graph! {
        name = "webserver-split";
        machines = { front: 1, back: 1 };
        #[machine(front)]
        accept: Accept = accept;
        #[machine(front)]
        read0: Read = read0;
        #[machine(front)]
        reply0: Reply;
        #[machine(front)]
        read1: Read = read1;
        #[machine(front)]
        reply1: Reply;
        #[machine(back)]
        parse0: Parse;
        #[machine(back)]
        load0: Load = load0;
        #[machine(back)]
        #[on_panic(restart(max = 10000, within = 1s))]
        compose0: Compose;
        #[machine(back)]
        parse1: Parse;
        #[machine(back)]
        load1: Load = load1;
        #[machine(back)]
        #[on_panic(restart(max = 10000, within = 1s))]
        compose1: Compose;
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
