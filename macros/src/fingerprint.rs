//! Stable hashes of source code, computed at compile time: they let a
//! running program tell which parts of a rebuilt library changed.

use proc_macro2::TokenStream;
use std::hash::Hasher;

/// FNV-1a of the tokens' text: whitespace and comments do not count, doc
/// comments and every token do.
pub(crate) fn tokens(streams: &[&TokenStream]) -> u64 {
    let mut h = fnv::FnvHasher::default();
    for s in streams {
        h.write(s.to_string().as_bytes());
        h.write_u8(0);
    }
    h.finish()
}
