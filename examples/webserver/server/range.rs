//! Byte ranges (RFC 9110 14): which parts of a file a `Range` header asks
//! for, and the `multipart/byteranges` body that carries several.

use super::http::Body;
use std::sync::Arc;

/// More ranges than this in one header: the header is ignored and the
/// whole file sent (RFC 9110 14.2 lets a server ignore such requests).
pub const MAX_RANGES: usize = 16;

/// Ranges closer than this are merged into one part: a part's own
/// headers cost about as much (RFC 9110 14.2 allows the coalescing).
const MERGE_GAP: u64 = 80;

/// What a `Range` header asks of a representation.
#[derive(Debug, PartialEq, Eq)]
pub enum Ranges {
    /// Ignored (not `bytes`, malformed, too many): send it all.
    Whole,
    /// No range overlaps the representation: 416.
    Unsatisfiable,
    /// Inclusive `(first, last)` byte positions, sorted, disjoint and
    /// not adjacent.
    Parts(Vec<(u64, u64)>),
}

/// The ranges `header` asks of `len` bytes.
pub fn parse(header: &str, len: u64) -> Ranges {
    let Some((unit, set)) = header.split_once('=') else {
        return Ranges::Whole;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return Ranges::Whole;
    }
    // Empty list elements are allowed and skipped (RFC 9110 5.6.1).
    let specs: Vec<&str> = set
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if specs.len() > MAX_RANGES {
        return Ranges::Whole;
    }
    let mut parts = Vec::with_capacity(specs.len());
    for spec in specs {
        let Some((first, last)) = spec.split_once('-') else {
            return Ranges::Whole;
        };
        let (first, last) = (first.trim(), last.trim());
        // Digits only; a number too large for u64 is past any end anyway.
        let number = |s: &str| {
            (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse::<u64>().unwrap_or(u64::MAX))
        };
        let range = match (first.is_empty(), last.is_empty()) {
            // `-n`: the last n bytes.
            (true, false) => match number(last) {
                Some(0) => None,
                // The whole of an empty representation (RFC 9110 14.1.1):
                // nothing to cut, so it is sent whole.
                Some(_) if len == 0 => return Ranges::Whole,
                Some(n) => Some((len.saturating_sub(n), len - 1)),
                None => return Ranges::Whole,
            },
            // `a-`: from a to the end.
            (false, true) => match number(first) {
                Some(a) => (a < len).then(|| (a, len - 1)),
                None => return Ranges::Whole,
            },
            (false, false) => match (number(first), number(last)) {
                (Some(a), Some(b)) if a <= b => (a < len).then(|| (a, b.min(len - 1))),
                _ => return Ranges::Whole,
            },
            (true, true) => return Ranges::Whole,
        };
        parts.extend(range);
    }
    if parts.is_empty() {
        return Ranges::Unsatisfiable;
    }
    parts.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::with_capacity(parts.len());
    for (a, b) in parts {
        match merged.last_mut() {
            Some((_, end)) if a <= end.saturating_add(MERGE_GAP) => *end = (*end).max(b),
            _ => merged.push((a, b)),
        }
    }
    Ranges::Parts(merged)
}

/// The `multipart/byteranges` body for `parts` of `file` (`len` bytes,
/// of `content_type`), with `boundary`.
pub fn multipart(
    file: &Arc<std::fs::File>,
    len: u64,
    content_type: &str,
    parts: &[(u64, u64)],
    boundary: &str,
) -> Body {
    let mut bodies = Vec::with_capacity(2 * parts.len() + 1);
    for (i, &(a, b)) in parts.iter().enumerate() {
        let lead = if i == 0 { "" } else { "\r\n" };
        let head = format!(
            "{lead}--{boundary}\r\nContent-Type: {content_type}\r\nContent-Range: bytes {a}-{b}/{len}\r\n\r\n"
        );
        bodies.push(Body::Memory(head.into_bytes().into()));
        bodies.push(Body::File {
            file: file.clone(),
            offset: a,
            len: b - a + 1,
        });
    }
    bodies.push(Body::Memory(
        format!("\r\n--{boundary}--\r\n").into_bytes().into(),
    ));
    Body::Parts(bodies.into())
}

/// A boundary unlikely to occur in any file: random per process, then a
/// counter.
pub fn boundary() -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;
    static SEED: OnceLock<u64> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let seed = *SEED.get_or_init(|| {
        std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish()
    });
    format!(
        "evoflow-{seed:016x}-{:x}",
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}
