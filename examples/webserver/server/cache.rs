//! A cache inserted in front of `load` while the server runs: hits are
//! answered from memory straight to `compose`, the rest go on to `load`.
//! Its contents are state, so an update of the cache itself keeps them.
//! Each hit is checked against the file (size, modification time, inode):
//! a file rewritten on disk is read again, never served stale.

use super::http::{Body, Loaded, Method, Request, Status};
use super::load::{clean_path, content_type, validators, Root, Target};
use evoflow::{component, Outputs};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;

/// Files larger than this are never cached.
pub const MAX_ENTRY: usize = 256 * 1024;

/// A cached file and what it was when read.
#[derive(Clone, Serialize, Deserialize)]
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

    /// The `ETag` and `Last-Modified` lines `load` sends for the file.
    fn validators(self) -> String {
        let Stamp(len, secs, nanos, _) = self;
        let modified =
            std::time::UNIX_EPOCH.checked_add(std::time::Duration::new(secs as u64, nanos as u32));
        validators(len, modified, false).1
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

/// Looks `r` up, filling on a miss; `None` if it cannot be cached. A
/// request that is conditional, asks for ranges or may take a `.gz`
/// sibling goes to `load`, which answers those.
fn lookup(root: &Root, entries: &mut HashMap<String, Entry>, r: &Request) -> Option<Entry> {
    let c = &r.conditions;
    if r.error.is_some()
        || r.gzip
        || c.range.is_some()
        || c.if_none_match.is_some()
        || c.if_modified_since.is_some()
    {
        return None;
    }
    // One key per file however the path is spelled (`/./a`, `//a`, `/%61`).
    let key = clean_path(&r.path)?;
    if let Root::Embedded = root {
        // The embedded site never changes.
        if let Some(e) = entries.get(&key) {
            return Some(e.clone());
        }
        let bytes: Arc<[u8]> = Root::embedded(&r.path)
            .filter(|b| b.len() <= MAX_ENTRY)?
            .into();
        let entry = Entry {
            bytes,
            stamp: Stamp::default(),
        };
        entries.insert(key, entry.clone());
        return Some(entry);
    }
    let Some(Target::File(mut file, meta)) = root.open(&r.path) else {
        // Gone, never there, or a directory: `load` answers.
        entries.remove(&key);
        return None;
    };
    let (stamp, len) = (Stamp::of(&meta), meta.len());
    if let Some(e) = entries.get(&key).filter(|e| e.stamp == stamp) {
        return Some(e.clone());
    }
    if len > MAX_ENTRY as u64 {
        entries.remove(&key);
        return None;
    }
    let mut bytes = Vec::with_capacity(len as usize);
    std::io::Read::read_to_end(&mut file, &mut bytes).ok()?;
    let entry = Entry {
        bytes: bytes.into(),
        stamp,
    };
    entries.insert(key, entry.clone());
    Some(entry)
}

/// The answer to `r` from its entry: the bytes and, for a file, the
/// validators `load` would send.
fn hit(r: Request, e: Entry) -> Loaded {
    let content_type = content_type(&r.path).into();
    let head_only = r.method == Method::Head;
    Loaded {
        conn: r.conn,
        seq: r.seq,
        status: Status::Ok,
        content_type,
        body: Body::Memory(e.bytes),
        head_only,
        keep_alive: r.keep_alive,
        extra: if e.stamp == Stamp::default() {
            String::new()
        } else {
            e.stamp.validators()
        },
    }
}

#[component(state, outputs(hit: Loaded, miss: Request))]
impl Cache {
    #[input]
    fn inp(&mut self, r: Request, out: &mut Outputs<Self>) {
        match lookup(&self.root, &mut self.entries, &r) {
            Some(entry) => out.hit(hit(r, entry)),
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
            Some(entry) => {
                self.hits += 1;
                out.hit(hit(r, entry))
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
