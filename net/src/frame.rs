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
        Item::Packet(p) => push_packet(batch, p),
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

/// Appends a packet's entry to `batch` (as [`push`]).
#[inline]
pub(crate) fn push_packet<T: Serialize>(
    batch: &mut Vec<u8>,
    packet: &T,
) -> Result<(), postcard::Error> {
    batch.push(PACKET);
    postcard::serialize_with_flavor(packet, Append(batch))
}

/// Serializes in place at the end of a batch. Short pieces (varints,
/// small fields) are copied by [`copy_short`], with the batch's length
/// set once: on an arc of `u64`s a `memcpy` call each, or a push per
/// byte, was the sender's largest cost.
struct Append<'a>(&'a mut Vec<u8>);

impl postcard::ser_flavors::Flavor for Append<'_> {
    type Output = ();

    #[inline]
    fn try_push(&mut self, byte: u8) -> postcard::Result<()> {
        self.0.push(byte);
        Ok(())
    }

    #[inline]
    fn try_extend(&mut self, bytes: &[u8]) -> postcard::Result<()> {
        let n = bytes.len();
        if n > 16 {
            self.0.extend_from_slice(bytes);
            return Ok(());
        }
        self.0.reserve(n);
        let len = self.0.len();
        // SAFETY: `reserve` made room for `n` bytes past `len`, which
        // `copy_short` initializes, all of them, before the length grows.
        unsafe {
            copy_short(bytes, self.0.as_mut_ptr().add(len));
            self.0.set_len(len + n);
        }
        Ok(())
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

/// Copies `src` (at most 16 bytes) to `dst` a byte at a time.
///
/// postcard has just written these bytes (a varint) one at a time to a
/// buffer of its own. A copy that reads them back with wider loads — a
/// `memcpy`, or what the optimizer makes of a plain loop — cannot take
/// them from the pending byte stores and stalls until they land: `perf`
/// put three quarters of the encoder's time on that one load. Volatile
/// reads keep each load a byte wide.
///
/// # Safety
/// `dst` is valid for `src.len()` bytes of writes and does not overlap
/// `src`.
#[inline(always)]
unsafe fn copy_short(src: &[u8], dst: *mut u8) {
    for (i, b) in src.iter().enumerate() {
        // SAFETY: `i < src.len()`: `b` is a valid read and `dst + i` a
        // valid write (the caller's promise).
        unsafe { dst.add(i).write(std::ptr::read_volatile(b)) };
    }
}

/// The first entry of `bytes`, and what follows it.
#[inline]
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

/// The first message of a stream: which arc it carries, and the sender's
/// capacity (the receiver gives credits back by the smaller of the two).
pub(crate) fn hello(arc: u64, capacity: u64) -> Vec<u8> {
    [arc.to_le_bytes(), capacity.to_le_bytes()].concat()
}

/// The arc and the sender's capacity a first message names.
pub(crate) fn read_hello(hello: &[u8]) -> Option<(u64, u64)> {
    let (arc, capacity) = hello.split_first_chunk::<8>()?;
    Some((
        u64::from_le_bytes(*arc),
        u64::from_le_bytes(capacity.try_into().ok()?),
    ))
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
    fn a_packet_entry_is_its_tag_and_postcards_own_bytes() {
        // Varints of every length (1 to 10 bytes) and byte strings on
        // both sides of the short copy's limit.
        let ints = (0..64).map(|b| 1u64 << b).chain([0, u64::MAX]);
        let strings = (0..=40).map(|n| "x".repeat(n));
        let packets: Vec<(u64, String)> = ints.zip(strings.cycle()).collect();
        let mut batch = vec![9];
        for p in &packets {
            let before = batch.len();
            push_packet(&mut batch, p).unwrap();
            let mut expected = vec![PACKET];
            expected.extend(postcard::to_allocvec(p).unwrap());
            assert_eq!(batch[before..], expected[..], "{p:?}");
        }
        let mut rest = &batch[1..];
        for p in &packets {
            let (got, r) = take::<(u64, String)>(rest).unwrap();
            assert_eq!(got, Item::Packet(p.clone()));
            rest = r;
        }
        assert!(rest.is_empty());
    }

    use proptest::prelude::*;

    fn item() -> impl Strategy<Value = Item<(u64, String)>> {
        prop_oneof![
            8 => (any::<u64>(), ".{0,40}").prop_map(Item::Packet),
            1 => proptest::collection::vec(any::<u8>(), 0..20).prop_map(Item::Marker),
        ]
    }

    proptest! {
        /// What a peer of this build sends comes back whole, in order,
        /// however packets and markers mix.
        #[test]
        fn any_mix_of_items_comes_back_in_order(items in proptest::collection::vec(item(), 0..60)) {
            let mut batch = Vec::new();
            for i in &items {
                push(&mut batch, i).unwrap();
            }
            let mut rest = &batch[..];
            for i in &items {
                let (got, r) = take::<(u64, String)>(rest).unwrap();
                prop_assert_eq!(&got, i);
                rest = r;
            }
            prop_assert!(rest.is_empty());
        }

        /// Bytes from anywhere (a hostile peer, a corrupted batch): each
        /// entry read is an item or `Malformed`, never a panic, and the
        /// reader always moves forward.
        #[test]
        fn any_bytes_read_as_items_or_malformed_never_a_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut rest = &bytes[..];
            while !rest.is_empty() {
                match take::<(u64, String)>(rest) {
                    Ok((_, r)) => {
                        prop_assert!(r.len() < rest.len());
                        rest = r;
                    }
                    Err(Malformed(why)) => {
                        prop_assert!(!why.is_empty());
                        break;
                    }
                }
            }
        }

        /// A valid batch with its bytes flipped or cut anywhere: still no
        /// panic, and a cut last entry is never read as whole.
        #[test]
        fn a_damaged_batch_is_read_without_a_panic(
            items in proptest::collection::vec(item(), 1..20),
            flip in any::<proptest::sample::Index>(),
            mask in 1u8..,
        ) {
            let mut batch = Vec::new();
            for i in &items {
                push(&mut batch, i).unwrap();
            }
            let mut damaged = batch.clone();
            let at = flip.index(damaged.len());
            damaged[at] ^= mask;
            let mut rest = &damaged[..];
            while let Ok((_, r)) = take::<(u64, String)>(rest) {
                if r.is_empty() { break; }
                rest = r;
            }
            // Cut one byte short: the last entry does not come back whole.
            let cut = &batch[..batch.len() - 1];
            let mut rest = cut;
            let mut whole = 0;
            while let Ok((_, r)) = take::<(u64, String)>(rest) {
                whole += 1;
                rest = r;
                if rest.is_empty() { break; }
            }
            prop_assert!(whole < items.len());
        }
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
