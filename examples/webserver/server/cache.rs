//! A cache inserted in front of `load` while the server runs: hits are
//! answered from memory straight to `compose`, the rest go on to `load`.
//! Its contents are state, so an update of the cache itself keeps them.

use super::http::{Body, Loaded, Method, Request, Status};
use super::load::{clean_path, content_type, Root};
use evoflow::{component, Outputs};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;

/// Files larger than this are never cached.
pub const MAX_ENTRY: usize = 256 * 1024;

/// Caches the files it reads; sends what it cannot cache to `load`.
#[derive(Serialize, Deserialize)]
pub struct Cache {
    root: Root,
    entries: HashMap<String, Vec<u8>>,
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
fn lookup(root: &Root, entries: &mut HashMap<String, Vec<u8>>, r: &Request) -> Option<Arc<[u8]>> {
    if r.error.is_some() {
        return None;
    }
    // One key per file however the path is spelled (`/./a`, `//a`, `/%61`).
    let key = clean_path(&r.path)?;
    if let Some(body) = entries.get(&key) {
        return Some(body.as_slice().into());
    }
    let body = root.read(&r.path).filter(|b| b.len() <= MAX_ENTRY)?;
    let shared: Arc<[u8]> = body.as_slice().into();
    entries.insert(key, body);
    Some(shared)
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
    entries: HashMap<String, Vec<u8>>,
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
