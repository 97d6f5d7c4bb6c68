//! A cache inserted in front of `load` while the server runs: hits are
//! answered from memory straight to `compose`, the rest go on to `load`.
//! Its contents are state, so an update of the cache itself keeps them.
//! Each hit is checked against the file (size, modification time, inode):
//! a file rewritten on disk is read again, never served stale.

use super::http::{Body, Loaded, Method, Request, Status};
use super::load::{clean_path, content_type, Root, Target};
use evoflow::{component, Outputs};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;

/// Files larger than this are never cached.
pub const MAX_ENTRY: usize = 256 * 1024;

/// A cached file and what it was when read.
#[derive(Serialize, Deserialize)]
pub struct Entry {
    bytes: Arc<[u8]>,
    stamp: Stamp,
}

/// What tells a rewritten file: size, modification time, inode.
#[derive(Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Stamp(u64, i64, i64, u64);

impl Stamp {
    fn of(meta: &std::fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        Stamp(meta.size(), meta.mtime(), meta.mtime_nsec(), meta.ino())
    }
}

/// Caches the files it reads; sends what it cannot cache to `load`.
#[derive(Serialize, Deserialize)]
pub struct Cache {
    root: Root,
    entries: HashMap<String, Entry>,
}

impl Cache {
    /// An empty cache over `root`.
    pub fn new(root: Root) -> Self {
        Cache {
            root,
            entries: HashMap::new(),
        }
    }
}

/// Looks `r` up, filling on a miss; `None` if it cannot be cached.
fn lookup(root: &Root, entries: &mut HashMap<String, Entry>, r: &Request) -> Option<Arc<[u8]>> {
    if r.error.is_some() {
        return None;
    }
    // One key per file however the path is spelled (`/./a`, `//a`, `/%61`).
    let key = clean_path(&r.path)?;
    if let Root::Embedded = root {
        // The embedded site never changes.
        if let Some(e) = entries.get(&key) {
            return Some(e.bytes.clone());
        }
        let bytes: Arc<[u8]> = Root::embedded(&r.path)
            .filter(|b| b.len() <= MAX_ENTRY)?
            .into();
        let stamp = Stamp::default();
        entries.insert(
            key,
            Entry {
                bytes: bytes.clone(),
                stamp,
            },
        );
        return Some(bytes);
    }
    let Some(Target::File(mut file, meta)) = root.open(&r.path) else {
        // Gone, never there, or a directory: `load` answers.
        entries.remove(&key);
        return None;
    };
    let (stamp, len) = (Stamp::of(&meta), meta.len());
    if let Some(e) = entries.get(&key).filter(|e| e.stamp == stamp) {
        return Some(e.bytes.clone());
    }
    if len > MAX_ENTRY as u64 {
        entries.remove(&key);
        return None;
    }
    let mut bytes = Vec::with_capacity(len as usize);
    std::io::Read::read_to_end(&mut file, &mut bytes).ok()?;
    let bytes: Arc<[u8]> = bytes.into();
    entries.insert(
        key,
        Entry {
            bytes: bytes.clone(),
            stamp,
        },
    );
    Some(bytes)
}

fn hit(r: Request, body: Arc<[u8]>) -> Loaded {
    let content_type = content_type(&r.path);
    let head_only = r.method == Method::Head;
    Loaded {
        conn: r.conn,
        seq: r.seq,
        status: Status::Ok,
        content_type,
        body: Body::Memory(body),
        head_only,
        keep_alive: r.keep_alive,
        extra: String::new(),
    }
}

#[component(state, outputs(hit: Loaded, miss: Request))]
impl Cache {
    #[input]
    fn inp(&mut self, r: Request, out: &mut Outputs<Self>) {
        match lookup(&self.root, &mut self.entries, &r) {
            Some(body) => out.hit(hit(r, body)),
            None => out.miss(r),
        }
    }
}

/// Version 2: the same cache, counting hits; migrates version 1's entries.
#[derive(Serialize, Deserialize)]
pub struct CacheV2 {
    root: Root,
    entries: HashMap<String, Entry>,
    hits: u64,
}

#[component(version = 2, state, outputs(hit: Loaded, miss: Request))]
impl CacheV2 {
    #[input]
    fn inp(&mut self, r: Request, out: &mut Outputs<Self>) {
        match lookup(&self.root, &mut self.entries, &r) {
            Some(body) => {
                self.hits += 1;
                out.hit(hit(r, body))
            }
            None => out.miss(r),
        }
    }

    #[migrate(from = 1)]
    fn from_v1(old: Cache) -> Self {
        CacheV2 {
            root: old.root,
            entries: old.entries,
            hits: 0,
        }
    }
}
