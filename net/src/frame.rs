//! The bytes on an arc's stream. The first message names the arc; then
//! each message is a batch of entries, one after another, each a tag byte
//! and its body (a packet's postcard encoding, a marker's bytes). Credits
//! flow back as the cumulative count of packets the receiver has taken.

use serde::de::DeserializeOwned;
use serde::Serialize;

const PACKET: u8 = 0;
const MARKER: u8 = 1;
const END: u8 = 2;

/// What travels on an arc, in order: packets, update markers (opaque to
/// the transport) and the end of the stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item<T> {
    /// A packet.
    Packet(T),
    /// An update marker, in band with the packets.
    Marker(Vec<u8>),
    /// The end of the stream: nothing follows.
    End,
}

/// A batch entry that cannot be read: a bug or a peer of another build.
#[derive(Debug)]
pub struct Malformed(pub String);

/// Appends `item` to `batch`. On an error, part of it may have been
/// written: the caller cuts the batch back.
pub(crate) fn push<T: Serialize>(
    batch: &mut Vec<u8>,
    item: &Item<T>,
) -> Result<(), postcard::Error> {
    match item {
        Item::Packet(p) => {
            batch.push(PACKET);
            postcard::serialize_with_flavor(p, Append(batch))
        }
        Item::Marker(m) => {
            batch.push(MARKER);
            postcard::serialize_with_flavor(m, Append(batch))
        }
        Item::End => {
            batch.push(END);
            Ok(())
        }
    }
}

/// Serializes in place at the end of a batch. Short pieces (varints,
/// small fields) are pushed byte by byte rather than by a `memcpy` call
/// each.
struct Append<'a>(&'a mut Vec<u8>);

impl postcard::ser_flavors::Flavor for Append<'_> {
    type Output = ();

    fn try_push(&mut self, byte: u8) -> postcard::Result<()> {
        self.0.push(byte);
        Ok(())
    }

    fn try_extend(&mut self, bytes: &[u8]) -> postcard::Result<()> {
        if bytes.len() <= 16 {
            self.0.reserve(bytes.len());
            for &b in bytes {
                self.0.push(b);
            }
        } else {
            self.0.extend_from_slice(bytes);
        }
        Ok(())
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

/// The first entry of `bytes`, and what follows it.
pub(crate) fn take<T: DeserializeOwned>(bytes: &[u8]) -> Result<(Item<T>, &[u8]), Malformed> {
    let (&tag, rest) = bytes
        .split_first()
        .ok_or_else(|| Malformed("an empty entry".into()))?;
    let bad = |e: postcard::Error| Malformed(format!("entry {tag}: {e}"));
    match tag {
        PACKET => postcard::take_from_bytes(rest)
            .map(|(p, rest)| (Item::Packet(p), rest))
            .map_err(bad),
        MARKER => postcard::take_from_bytes(rest)
            .map(|(m, rest)| (Item::Marker(m), rest))
            .map_err(bad),
        END => Ok((Item::End, rest)),
        other => Err(Malformed(format!("unknown entry tag {other}"))),
    }
}

/// The first message of a stream: which arc it carries.
pub(crate) fn hello(arc: u64) -> Vec<u8> {
    arc.to_le_bytes().to_vec()
}

/// The arc a first message names.
pub(crate) fn arc_of(hello: &[u8]) -> Option<u64> {
    Some(u64::from_le_bytes(hello.try_into().ok()?))
}

/// A credit message: packets taken so far.
pub(crate) fn credit(taken: u64) -> Vec<u8> {
    taken.to_le_bytes().to_vec()
}

/// The count a credit message carries.
pub(crate) fn taken_of(credit: &[u8]) -> Option<u64> {
    Some(u64::from_le_bytes(credit.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_come_back_in_order() {
        let items: Vec<Item<(u64, String)>> = vec![
            Item::Packet((1, "a".into())),
            Item::Marker(vec![7, 8, 9]),
            Item::Packet((u64::MAX, String::new())),
            Item::Marker(Vec::new()),
            Item::End,
        ];
        let mut batch = Vec::new();
        for i in &items {
            push(&mut batch, i).unwrap();
        }
        let mut rest = &batch[..];
        let mut got = Vec::new();
        while !rest.is_empty() {
            let (item, r) = take(rest).unwrap();
            got.push(item);
            rest = r;
        }
        assert_eq!(got, items);
    }

    #[test]
    fn a_cut_or_unknown_entry_is_malformed_not_a_panic() {
        let mut batch = Vec::new();
        push(&mut batch, &Item::Packet(u64::MAX)).unwrap();
        assert!(take::<u64>(&batch[..batch.len() - 1]).is_err());
        assert!(take::<u64>(&[9]).is_err());
        assert!(take::<u64>(&[]).is_err());
    }
}
