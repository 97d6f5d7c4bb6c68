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
/// tests).
static PROCESS: LazyLock<u64> = LazyLock::new(|| {
    let mut h = std::hash::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.finish()
});

/// A socket with packets on another machine.
struct Away {
    socket: Arc<Socket>,
    packets: u64,
}

/// Sockets with packets away, by their address: unique while the entry
/// holds the socket (connection ids are not: each server's count from 0).
type Table = HashMap<usize, Away>;

static AWAY: LazyLock<Mutex<Table>> = LazyLock::new(Default::default);

fn away() -> std::sync::MutexGuard<'static, Table> {
    // The table is consistent after every statement: a panic elsewhere
    // while it was held leaves nothing half done.
    AWAY.lock().unwrap_or_else(|e| e.into_inner())
}

/// A connection on the wire: the process that holds its socket, the
/// socket's key in that process's table, and its id.
#[derive(Serialize, Deserialize)]
struct Name {
    home: u64,
    key: u64,
    id: u64,
}

impl Serialize for ConnRef {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (home, key) = match &self.at {
            At::Here(socket) => {
                let key = Arc::as_ptr(socket) as usize;
                let mut table = away();
                let entry = table.entry(key).or_insert_with(|| Away {
                    socket: socket.clone(),
                    packets: 0,
                });
                entry.packets += 1;
                (*PROCESS, key as u64)
            }
            At::Away { home, key } => (*home, *key),
        };
        Name {
            home,
            key,
            id: self.id,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for ConnRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let Name { home, key, id } = Name::deserialize(d)?;
        let away_from_home = ConnRef {
            id,
            at: At::Away { home, key },
        };
        if home != *PROCESS {
            return Ok(away_from_home);
        }
        let mut table = away();
        let Some(entry) = table.get_mut(&(key as usize)) else {
            // Not counted out (cannot happen): `reply` closes the
            // connection, and serves every other one on.
            return Ok(away_from_home);
        };
        let socket = entry.socket.clone();
        entry.packets -= 1;
        if entry.packets == 0 {
            table.remove(&(key as usize));
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

/// Largest body sent between machines: it crosses in one packet and is
/// held whole in memory on both; a larger one is answered 503 (a client
/// can still fetch the file by ranges up to this size).
pub const MAX_WIRE_BODY: u64 = 16 << 20;

const TOO_LARGE: &[u8] =
    b"This file is too large to send between the server's machines; request it by ranges.\n";

impl Serialize for Response {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.body.as_ref().is_some_and(|b| b.len() > MAX_WIRE_BODY) {
            let head = format!(
                "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n",
                TOO_LARGE.len()
            );
            return WireResponse {
                conn: &self.conn,
                seq: self.seq,
                head: head.as_bytes(),
                body: Some(TOO_LARGE.to_vec()),
                close: true,
            }
            .serialize(s);
        }
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
