//! How the server's packets cross machines, when the graph is split over
//! two (`examples/webserver/split.rs`): the sockets stay on the machine
//! that accepted them, so a request going to another machine carries its
//! connection's name, and its response brings the socket back with it.
//!
//! A socket whose packets are away is held in this process's table, with
//! how many of them are away: each packet that leaves adds one, each that
//! comes back takes one, and the entry goes at zero. Until then `reply`
//! sees the socket as still shared and keeps the connection open, as it
//! does for a response in flight within one machine.

use super::http::{At, Body, ConnRef, Response, Socket};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::os::unix::fs::FileExt;
use std::sync::{Arc, LazyLock, Mutex};

/// Names this process among the machines: a connection is "here" only in
/// the process that accepted it (two machines may share a process, as in
/// tests, or a connection id).
static PROCESS: LazyLock<u64> = LazyLock::new(|| {
    let mut h = std::hash::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.finish()
});

/// Sockets with packets on another machine: `id -> (socket, packets away)`.
static AWAY: LazyLock<Mutex<HashMap<u64, (Arc<Socket>, u64)>>> = LazyLock::new(Default::default);

fn away() -> std::sync::MutexGuard<'static, HashMap<u64, (Arc<Socket>, u64)>> {
    // The table is consistent after every statement: a panic elsewhere
    // while it was held leaves nothing half done.
    AWAY.lock().unwrap_or_else(|e| e.into_inner())
}

/// A connection on the wire: the process that holds it, and its id.
#[derive(Serialize, Deserialize)]
struct Name {
    home: u64,
    id: u64,
}

impl Serialize for ConnRef {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let home = match &self.at {
            At::Here(socket) => {
                let mut table = away();
                let entry = table.entry(self.id).or_insert_with(|| (socket.clone(), 0));
                entry.1 += 1;
                *PROCESS
            }
            At::Away { home } => *home,
        };
        Name { home, id: self.id }.serialize(s)
    }
}

impl<'de> Deserialize<'de> for ConnRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let Name { home, id } = Name::deserialize(d)?;
        if home != *PROCESS {
            return Ok(ConnRef {
                id,
                at: At::Away { home },
            });
        }
        let mut table = away();
        let Some((socket, count)) = table.get_mut(&id) else {
            // Not counted out (cannot happen): its response is dropped by
            // `reply`, which serves every other connection on.
            return Ok(ConnRef {
                id,
                at: At::Away { home },
            });
        };
        let socket = socket.clone();
        *count -= 1;
        if *count == 0 {
            table.remove(&id);
        }
        Ok(ConnRef::here(id, socket))
    }
}

/// A response on the wire: its body as bytes, read from the file on the
/// machine that has it.
#[derive(Serialize)]
struct WireResponse<'a> {
    conn: &'a ConnRef,
    seq: u64,
    #[serde(with = "serde_bytes")]
    head: &'a [u8],
    #[serde(with = "serde_bytes")]
    body: Option<Vec<u8>>,
    close: bool,
}

#[derive(Deserialize)]
struct WireResponseOwned {
    conn: ConnRef,
    seq: u64,
    #[serde(with = "serde_bytes")]
    head: Vec<u8>,
    #[serde(with = "serde_bytes")]
    body: Option<Vec<u8>>,
    close: bool,
}

/// Appends `body`'s bytes to `to`; false if a file could not be read to
/// its length (it shrank, or failed).
fn bytes_of(body: &Body, to: &mut Vec<u8>) -> bool {
    match body {
        Body::Memory(b) => {
            to.extend_from_slice(b);
            true
        }
        Body::File { file, offset, len } => {
            let start = to.len();
            to.resize(start + *len as usize, 0);
            let mut done = 0;
            while done < *len as usize {
                match file.read_at(&mut to[start + done..], offset + done as u64) {
                    Ok(0) => break,
                    Ok(n) => done += n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
            to.truncate(start + done);
            done == *len as usize
        }
        Body::Parts(parts) => parts.iter().all(|p| bytes_of(p, to)),
    }
}

impl Serialize for Response {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut whole = true;
        let body = self.body.as_ref().map(|b| {
            let mut bytes = Vec::with_capacity(b.len() as usize);
            whole = bytes_of(b, &mut bytes);
            bytes
        });
        WireResponse {
            conn: &self.conn,
            seq: self.seq,
            head: &self.head,
            body,
            // A body cut short ends its connection, so the client sees it
            // is incomplete (as when a file shrinks under `sendfile`).
            close: self.close || !whole,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Response {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let r = WireResponseOwned::deserialize(d)?;
        Ok(Response {
            conn: r.conn,
            seq: r.seq,
            head: r.head,
            body: r.body.map(|b| Body::Memory(b.into())),
            close: r.close,
        })
    }
}

/// How many connections have packets on another machine now.
pub fn connections_away() -> usize {
    away().len()
}
