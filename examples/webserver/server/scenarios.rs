//! The live updates a user would make to the running server, as `Update`s.
//! `load` runs as two instances, `load0` and `load1` (one per lane).

use super::cache::{Cache, CacheV2};
use super::compose::{Compose, ComposeBuggy, ComposeStream, ComposeV2};
use super::load::{Load, LoadOpen, Root};
use super::reply::{Reply, ReplyStream};
use evoflow::Update;
use std::time::Duration;

const LANES: [usize; 2] = [0, 1];

/// Single: change a response header (adds `X-Evoflow-Compose: 2`), or back.
pub fn header(on: bool) -> Update {
    if on {
        Update::new().replace_with("compose", ComposeV2)
    } else {
        Update::new().replace_with("compose", Compose)
    }
}

/// A bad single update: a `compose` that panics on some requests,
/// watched for `window`, so that the server rolls it back by itself.
pub fn buggy_header(window: Duration) -> Update {
    Update::new()
        .replace_with("compose", ComposeBuggy)
        .watch(window)
}

/// Coordinated: switch both `load`s, `compose` and `reply` together from
/// in-memory bodies to streamed files; the packets between them change
/// type. The `load`s' state (their root) migrates; `reply`'s open
/// connections and unwritten bytes are handed over in-process.
pub fn streaming(on: bool, root: Root) -> Update {
    let mut u = Update::new();
    for lane in LANES {
        let name = format!("load{lane}");
        u = if on {
            u.replace::<LoadOpen>(&name)
        } else {
            u.replace_with(&name, Load::from_root(root.clone()))
        };
    }
    if on {
        u.replace_with("compose", ComposeStream)
            .replace_with("reply", ReplyStream::default())
    } else {
        u.replace_with("compose", Compose)
            .replace_with("reply", Reply::default())
    }
}

/// Structural: insert a cache in front of each `load` (hits go straight to
/// `compose`).
pub fn insert_cache(root: Root) -> Update {
    LANES.iter().fold(Update::new(), |u, lane| {
        let (cache, load) = (format!("cache{lane}"), format!("load{lane}"));
        u.disconnect(&format!("parse.lane{lane}"), &format!("{load}.inp"))
            .insert(&cache, Cache::new(root.clone()))
            .connect(&format!("parse.lane{lane}"), &format!("{cache}.inp"))
            .connect(&format!("{cache}.miss"), &format!("{load}.inp"))
            .connect(&format!("{cache}.hit"), "compose.inp")
    })
}

/// Updates the caches themselves; their entries survive through migration.
pub fn upgrade_cache() -> Update {
    LANES.iter().fold(Update::new(), |u, lane| {
        u.replace::<CacheV2>(&format!("cache{lane}"))
    })
}

/// Structural: remove the caches again.
pub fn remove_cache() -> Update {
    LANES.iter().fold(Update::new(), |u, lane| {
        u.remove(&format!("cache{lane}"))
            .connect(&format!("parse.lane{lane}"), &format!("load{lane}.inp"))
    })
}
