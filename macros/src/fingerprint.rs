//! Stable hashes of source code, computed at compile time: they let a
//! running program tell which parts of a rebuilt library changed.

use proc_macro2::TokenStream;
use std::hash::Hasher;

/// FNV-1a of the tokens' text: whitespace and comments do not count, doc
/// comments and every token do.
pub(crate) fn tokens(streams: &[&TokenStream]) -> u64 {
    texts(&streams.iter().map(|s| s.to_string()).collect::<Vec<_>>())
}

/// FNV-1a of texts, each followed by a separator.
pub(crate) fn texts(parts: &[String]) -> u64 {
    let mut h = fnv::FnvHasher::default();
    for p in parts {
        h.write(p.as_bytes());
        h.write_u8(0);
    }
    h.finish()
}
