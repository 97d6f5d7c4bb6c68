//! Writes responses: in request order per connection, without blocking on
//! a slow client (unwritten bytes wait and are retried when polled).

use super::http::{ConnRef, Response};
use evoflow::{component, Flow};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::{ErrorKind, Write as _};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A client that takes nothing for this long is dropped.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

struct Out {
    conn: ConnRef,
    next_seq: u64,
    /// Responses that arrived ahead of their turn.
    early: BTreeMap<u64, Response>,
    /// Bytes to write, in order, with the offset written so far.
    queue: VecDeque<(Chunk, usize)>,
    close_after: bool,
    last_progress: Instant,
}

enum Chunk {
    Head(Vec<u8>),
    Body(Arc<[u8]>),
}

impl Chunk {
    fn bytes(&self) -> &[u8] {
        match self {
            Chunk::Head(v) => v,
            Chunk::Body(b) => b,
        }
    }
}

impl Out {
    /// Writes what the socket takes; false once the connection is done.
    fn write(&mut self) -> bool {
        while let Some((chunk, off)) = self.queue.front_mut() {
            match (&*self.conn.stream).write(&chunk.bytes()[*off..]) {
                Ok(0) => return false,
                Ok(n) => {
                    *off += n;
                    self.last_progress = Instant::now();
                    if *off == chunk.bytes().len() {
                        self.queue.pop_front();
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    return self.last_progress.elapsed() < WRITE_TIMEOUT
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        if self.close_after {
            let _ = self.conn.stream.shutdown(std::net::Shutdown::Both);
            return false;
        }
        true
    }

    /// Moves responses whose turn has come into the write queue.
    fn admit(&mut self) {
        while !self.close_after {
            let Some(r) = self.early.remove(&self.next_seq) else {
                break;
            };
            self.next_seq += 1;
            self.queue.push_back((Chunk::Head(r.head), 0));
            if let Some(body) = r.body.filter(|b| !b.is_empty()) {
                self.queue.push_back((Chunk::Body(body), 0));
            }
            self.close_after = r.close;
        }
    }
}

/// Writes responses to their connections.
#[derive(Default)]
pub struct Reply {
    outs: HashMap<u64, Out>,
}

#[component]
impl Reply {
    #[input]
    fn inp(&mut self, r: Response) {
        let id = r.conn.id;
        let out = self.outs.entry(id).or_insert_with(|| Out {
            conn: r.conn.clone(),
            next_seq: 0,
            early: BTreeMap::new(),
            queue: VecDeque::new(),
            close_after: false,
            last_progress: Instant::now(),
        });
        out.early.insert(r.seq, r);
        out.admit();
        if !out.write() {
            self.outs.remove(&id);
        }
    }

    #[poll]
    fn flush(&mut self) -> Flow {
        self.outs.retain(|_, o| {
            // Written out, and nobody else holds the connection: done.
            let idle =
                o.queue.is_empty() && o.early.is_empty() && Arc::strong_count(&o.conn.stream) == 1;
            !idle && o.write()
        });
        if self.outs.values().any(|o| !o.queue.is_empty()) {
            Flow::Idle
        } else {
            Flow::Done
        }
    }
}
