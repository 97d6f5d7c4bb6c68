//! The live updates a user would make to the running server, as `Update`s.

use super::cache::{Cache, CacheV2};
use super::compose::{Compose, ComposeStream, ComposeV2};
use super::load::{Load, LoadOpen, Root};
use super::reply::{Reply, ReplyStream};
use evoflow::Update;

/// Single: change a response header (adds `X-Evoflow-Compose: 2`), or back.
pub fn header(on: bool) -> Update {
    if on {
        Update::new().replace_with("compose", ComposeV2)
    } else {
        Update::new().replace_with("compose", Compose)
    }
}

/// Coordinated: switch `load`, `compose` and `reply` together from
/// in-memory bodies to streamed files; the packets between them change
/// type. `load`'s state (its root) migrates; `reply`'s open connections and
/// unwritten bytes are handed over in-process.
pub fn streaming(on: bool, root: Root) -> Update {
    if on {
        Update::new()
            .replace::<LoadOpen>("load")
            .replace_with("compose", ComposeStream)
            .replace_with("reply", ReplyStream::default())
    } else {
        Update::new()
            .replace_with("load", Load::from_root(root))
            .replace_with("compose", Compose)
            .replace_with("reply", Reply::default())
    }
}

/// Structural: insert a cache between `parse` and `load` (hits go straight
/// to `compose`).
pub fn insert_cache(root: Root) -> Update {
    Update::new()
        .disconnect("parse.out", "load.inp")
        .insert("cache", Cache::new(root))
        .connect("parse.out", "cache.inp")
        .connect("cache.miss", "load.inp")
        .connect("cache.hit", "compose.inp")
}

/// Updates the cache itself; its entries survive through migration.
pub fn upgrade_cache() -> Update {
    Update::new().replace::<CacheV2>("cache")
}

/// Structural: remove the cache again.
pub fn remove_cache() -> Update {
    Update::new()
        .remove("cache")
        .connect("parse.out", "load.inp")
}
