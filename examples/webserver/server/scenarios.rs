//! The live updates a user would make to the running server, as `Update`s.
//! Each lane has its own instances (`load0`, `load1`, ...): an update
//! changes every lane's in one coordinated step, so no lane serves the old
//! version once it is applied.

use super::cache::{Cache, CacheV2};
use super::compose::{Compose, ComposeBuggy, ComposeStream, ComposeV2};
use super::load::{Load, LoadOpen, Root};
use super::reply::{Reply, ReplyStream};
use super::LANES;
use evoflow::Update;
use std::time::Duration;

/// Applies `step` to an update for each lane, given its number.
fn every_lane(step: impl Fn(Update, usize) -> Update) -> Update {
    (0..LANES).fold(Update::new(), step)
}

/// Single: change a response header (adds `X-Evoflow-Compose: 2`), or back.
pub fn header(on: bool) -> Update {
    every_lane(|u, lane| {
        let name = format!("compose{lane}");
        if on {
            u.replace_with(&name, ComposeV2)
        } else {
            u.replace_with(&name, Compose)
        }
    })
}

/// A bad single update: a `compose` that panics on some requests,
/// watched for `window`, so that the server rolls it back by itself.
pub fn buggy_header(window: Duration) -> Update {
    every_lane(|u, lane| u.replace_with(&format!("compose{lane}"), ComposeBuggy)).watch(window)
}

/// Coordinated: switch every lane's `load`, `compose` and `reply` together
/// from in-memory bodies to streamed files; the packets between them
/// change type. The `load`s' state (their root) migrates; each `reply`'s
/// open connections and unwritten bytes are handed over in-process.
pub fn streaming(on: bool, root: Root) -> Update {
    every_lane(|u, lane| {
        let (load, compose, reply) = (
            format!("load{lane}"),
            format!("compose{lane}"),
            format!("reply{lane}"),
        );
        if on {
            u.replace::<LoadOpen>(&load)
                .replace_with(&compose, ComposeStream)
                .replace_with(&reply, ReplyStream::default())
        } else {
            u.replace_with(&load, Load::from_root(root.clone()))
                .replace_with(&compose, Compose)
                .replace_with(&reply, Reply::default())
        }
    })
}

/// Structural: insert a cache in front of each `load` (hits go straight to
/// its lane's `compose`).
pub fn insert_cache(root: Root) -> Update {
    every_lane(|u, lane| {
        let (parse, cache) = (format!("parse{lane}.out"), format!("cache{lane}"));
        u.disconnect(&parse, &format!("load{lane}.inp"))
            .insert(&cache, Cache::new(root.clone()))
            .connect(&parse, &format!("{cache}.inp"))
            .connect(&format!("{cache}.miss"), &format!("load{lane}.inp"))
            .connect(&format!("{cache}.hit"), &format!("compose{lane}.inp"))
    })
}

/// Updates the caches themselves; their entries survive through migration.
pub fn upgrade_cache() -> Update {
    every_lane(|u, lane| u.replace::<CacheV2>(&format!("cache{lane}")))
}

/// Structural: remove the caches again.
pub fn remove_cache() -> Update {
    every_lane(|u, lane| {
        u.remove(&format!("cache{lane}"))
            .connect(&format!("parse{lane}.out"), &format!("load{lane}.inp"))
    })
}
