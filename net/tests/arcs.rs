//! Arcs between two endpoints over real TCP (loopback): order, no loss or
//! duplication, markers in band, backpressure in packets, and failures
//! seen on both ends.

mod common;

use common::wait_readable;
use evoflow_net::{Endpoint, Item, NetError, Receiver, SendError, Sender};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn endpoint() -> Endpoint {
    Endpoint::bind("127.0.0.1:0".parse().unwrap()).unwrap()
}

/// Sends `item`, waiting for credit as long as it takes (up to 10 s).
fn send<T: serde::Serialize>(tx: &mut Sender<T>, mut item: Item<T>) -> Result<(), NetError> {
    let t = Instant::now();
    loop {
        match tx.try_send(item) {
            Ok(()) => return Ok(()),
            Err(SendError::Failed(e)) => return Err(e),
            Err(SendError::Full(back)) => {
                assert!(t.elapsed() < Duration::from_secs(10), "no credit for 10 s");
                item = back;
                wait_readable(tx, Duration::from_millis(100));
            }
        }
    }
}

/// The next item, waiting up to 10 s.
fn recv<T: serde::de::DeserializeOwned>(rx: &mut Receiver<T>) -> Result<Item<T>, NetError> {
    let t = Instant::now();
    loop {
        if let Some(item) = rx.try_recv()? {
            return Ok(item);
        }
        assert!(t.elapsed() < Duration::from_secs(10), "nothing for 10 s");
        wait_readable(rx, Duration::from_millis(100));
    }
}

#[test]
fn packets_markers_and_the_end_arrive_once_in_order_within_the_capacity() {
    const N: u64 = 200_000;
    const CAPACITY: usize = 16;
    let (a, b) = (endpoint(), endpoint());
    let mut rx = b.accept::<(u64, String)>(7, CAPACITY).unwrap();
    let mut tx = a
        .connect::<(u64, String)>(b.local_addr(), 7, CAPACITY)
        .unwrap();
    let sent = Arc::new(AtomicU64::new(0));
    let counted = sent.clone();
    let sender = std::thread::spawn(move || {
        for n in 0..N {
            if n % 10_000 == 0 {
                send(&mut tx, Item::Marker(n.to_le_bytes().to_vec())).unwrap();
            }
            send(&mut tx, Item::Packet((n, format!("p{n}")))).unwrap();
            counted.store(n + 1, Ordering::Release);
        }
        send(&mut tx, Item::End).unwrap();
    });
    let mut next = 0;
    let mut markers = Vec::new();
    loop {
        match recv(&mut rx).unwrap() {
            Item::Packet((n, text)) => {
                assert_eq!((n, text.as_str()), (next, format!("p{next}").as_str()));
                next += 1;
                // Never more than the capacity sent and not yet taken.
                let in_flight = sent.load(Ordering::Acquire) - next;
                assert!(in_flight <= CAPACITY as u64, "{in_flight} in flight");
                // A slow consumer now and then.
                if next % 50_000 == 0 {
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
            Item::Marker(m) => {
                assert_eq!(
                    u64::from_le_bytes(m.try_into().unwrap()),
                    next,
                    "marker out of place"
                );
                markers.push(next);
            }
            Item::End => break,
        }
    }
    sender.join().unwrap();
    assert_eq!(next, N);
    assert_eq!(markers.len() as u64, N / 10_000);
    assert!(matches!(rx.try_recv(), Ok(None)), "nothing after the end");
}

#[test]
fn a_sender_whose_receiver_is_gone_fails_with_the_reason_and_so_does_the_receiver() {
    let (a, b) = (endpoint(), endpoint());
    let mut rx = b.accept::<u64>(1, 8).unwrap();
    let mut tx = a.connect::<u64>(b.local_addr(), 1, 8).unwrap();
    send(&mut tx, Item::Packet(1)).unwrap();
    tx.flush();
    assert_eq!(recv(&mut rx).unwrap(), Item::Packet(1));
    // The receiving machine stops (its receiving end still held): the
    // sender notices, and its descriptor wakes it.
    drop(b);
    let t = Instant::now();
    let failed = loop {
        match tx.try_send(Item::Packet(2)) {
            Err(SendError::Failed(e)) => break e,
            _ => {
                tx.flush();
                assert!(
                    t.elapsed() < Duration::from_secs(5),
                    "no failure seen in 5 s"
                );
                wait_readable(&tx, Duration::from_millis(100));
            }
        }
    };
    assert!(matches!(failed, NetError::Disconnected(_)), "{failed}");
    drop(rx);
    println!(
        "sender saw the receiver gone in {:?}: {failed}",
        t.elapsed()
    );

    // The other way round: the sending machine stops in the middle.
    let c = endpoint();
    let mut rx = c.accept::<u64>(2, 8).unwrap();
    let mut tx = a.connect::<u64>(c.local_addr(), 2, 8).unwrap();
    send(&mut tx, Item::Packet(1)).unwrap();
    tx.flush();
    assert_eq!(recv(&mut rx).unwrap(), Item::Packet(1));
    drop(tx);
    drop(a);
    let t = Instant::now();
    let failed = loop {
        match rx.try_recv() {
            Err(e) => break e,
            Ok(got) => {
                assert_eq!(got, None);
                assert!(
                    t.elapsed() < Duration::from_secs(5),
                    "no failure seen in 5 s"
                );
                wait_readable(&rx, Duration::from_millis(100));
            }
        }
    };
    assert!(
        matches!(failed, NetError::Disconnected(_) | NetError::Truncated),
        "{failed}"
    );
}

#[test]
fn a_stream_to_an_arc_not_received_there_is_refused_with_the_reason() {
    let (a, b) = (endpoint(), endpoint());
    let tx = a.connect::<u64>(b.local_addr(), 99, 4).unwrap();
    let t = Instant::now();
    let failed = loop {
        if let Some(e) = tx.failure() {
            break e;
        }
        assert!(t.elapsed() < Duration::from_secs(10), "no refusal in 10 s");
        wait_readable(&tx, Duration::from_millis(100));
    };
    assert!(
        failed.to_string().contains("arc 99 is not received here"),
        "{failed}"
    );
    // And an arc accepted twice on one machine is refused at once.
    let _rx = b.accept::<u64>(5, 4).unwrap();
    assert!(b.accept::<u64>(5, 4).is_err());
}

/// A packet whose encoding fails when it is `u64::MAX`.
#[derive(Debug, PartialEq, serde::Deserialize)]
struct Picky(u64);

impl serde::Serialize for Picky {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0 == u64::MAX {
            return Err(serde::ser::Error::custom("cannot encode u64::MAX"));
        }
        s.serialize_u64(self.0)
    }
}

#[test]
fn a_packet_that_cannot_be_encoded_is_refused_alone() {
    let (a, b) = (endpoint(), endpoint());
    let mut rx = b.accept::<Picky>(3, 16).unwrap();
    let mut tx = a.connect::<Picky>(b.local_addr(), 3, 16).unwrap();
    for n in 0..3 {
        send(&mut tx, Item::Packet(Picky(n))).unwrap();
    }
    let refused = tx.try_send(Item::Packet(Picky(u64::MAX)));
    assert!(
        matches!(refused, Err(SendError::Failed(NetError::Encode(_)))),
        "{refused:?}"
    );
    send(&mut tx, Item::Packet(Picky(3))).unwrap();
    send(&mut tx, Item::End).unwrap();
    let mut got = Vec::new();
    loop {
        match recv(&mut rx).unwrap() {
            Item::Packet(p) => got.push(p.0),
            Item::End => break,
            Item::Marker(_) => unreachable!(),
        }
    }
    assert_eq!(got, [0, 1, 2, 3]);
}

#[test]
fn a_sender_out_of_credit_sends_its_batch_and_wakes_when_credits_come() {
    let (a, b) = (endpoint(), endpoint());
    let mut rx = b.accept::<u64>(4, 4).unwrap();
    let mut tx = a.connect::<u64>(b.local_addr(), 4, 4).unwrap();
    let mut n = 0;
    while tx.has_credit() {
        assert!(tx.try_send(Item::Packet(n)).is_ok());
        n += 1;
    }
    assert_eq!(n, 4);
    // Never flushed by hand: `has_credit` sent the batch, the receiver
    // takes it and gives credits back, the descriptor wakes the sender.
    let taker = std::thread::spawn(move || {
        let got: Vec<_> = (0..4).map(|_| recv(&mut rx).unwrap()).collect();
        (got, rx)
    });
    wait_readable(&tx, Duration::from_secs(5));
    assert!(tx.has_credit(), "no credit came back");
    let (got, _rx) = taker.join().unwrap();
    assert_eq!(got, (0..4).map(Item::Packet).collect::<Vec<_>>());
}

#[test]
fn a_dropped_receiver_fails_its_sender_and_frees_the_arc_id() {
    let (a, b) = (endpoint(), endpoint());
    let mut rx = b.accept::<u64>(5, 4).unwrap();
    let mut tx = a.connect::<u64>(b.local_addr(), 5, 4).unwrap();
    send(&mut tx, Item::Packet(0)).unwrap();
    tx.flush();
    assert_eq!(recv(&mut rx).unwrap(), Item::Packet(0));
    drop(rx);
    let t = Instant::now();
    let failed = loop {
        match tx.try_send(Item::Packet(1)) {
            Err(SendError::Failed(e)) => break e,
            _ => {
                assert!(t.elapsed() < Duration::from_secs(5), "no failure in 5 s");
                wait_readable(&tx, Duration::from_millis(100));
            }
        }
    };
    assert_eq!(failed, NetError::Closed);
    assert!(b.accept::<u64>(5, 4).is_ok(), "the arc id stayed taken");
}

#[test]
fn stopping_the_sending_machine_wakes_its_senders() {
    let (a, b) = (endpoint(), endpoint());
    let _rx = b.accept::<u64>(6, 1).unwrap();
    let mut tx = a.connect::<u64>(b.local_addr(), 6, 1).unwrap();
    send(&mut tx, Item::Packet(0)).unwrap();
    assert!(matches!(
        tx.try_send(Item::Packet(1)),
        Err(SendError::Full(_))
    ));
    drop(a);
    wait_readable(&tx, Duration::from_secs(2));
    assert!(tx.failure().is_some(), "not woken with the failure");
}

#[test]
fn a_finished_arc_closes_its_stream_and_stays_finished() {
    let (a, b) = (endpoint(), endpoint());
    let mut rx = b.accept::<u64>(7, 4).unwrap();
    let mut tx = a.connect::<u64>(b.local_addr(), 7, 4).unwrap();
    send(&mut tx, Item::Packet(0)).unwrap();
    send(&mut tx, Item::End).unwrap();
    assert_eq!(recv(&mut rx).unwrap(), Item::Packet(0));
    assert_eq!(recv(&mut rx).unwrap(), Item::End);
    std::thread::sleep(Duration::from_millis(200));
    // The receiving machine stops after the arc ended: no failure.
    drop(rx);
    drop(b);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(tx.failure(), None);
}

#[test]
fn a_sender_may_connect_before_its_receiver_accepts() {
    let (a, b) = (endpoint(), endpoint());
    let mut tx = a.connect::<u64>(b.local_addr(), 8, 4).unwrap();
    send(&mut tx, Item::Packet(0)).unwrap();
    tx.flush();
    std::thread::sleep(Duration::from_millis(500));
    let mut rx = b.accept::<u64>(8, 4).unwrap();
    assert_eq!(recv(&mut rx).unwrap(), Item::Packet(0));
    assert_eq!(tx.failure(), None);
}

/// A packet far larger than a batch (and than gRPC's default limit of
/// 4 MiB on a received message, which failed the arc) arrives whole,
/// between small ones.
#[test]
fn a_packet_of_many_mebibytes_arrives_whole() {
    let (a, b) = (endpoint(), endpoint());
    let mut rx = b.accept::<Vec<u8>>(3, 4).unwrap();
    let mut tx = a.connect::<Vec<u8>>(b.local_addr(), 3, 4).unwrap();
    let big: Vec<u8> = (0..9_000_000u32).map(|i| (i % 251) as u8).collect();
    let sent = big.clone();
    let sender = std::thread::spawn(move || {
        send(&mut tx, Item::Packet(vec![1])).unwrap();
        send(&mut tx, Item::Packet(sent)).unwrap();
        send(&mut tx, Item::Packet(vec![2])).unwrap();
        send(&mut tx, Item::End).unwrap();
    });
    let mut got = Vec::new();
    loop {
        match recv(&mut rx).unwrap() {
            Item::Packet(p) => got.push(p),
            Item::Marker(_) => panic!("no marker was sent"),
            Item::End => break,
        }
    }
    sender.join().unwrap();
    assert_eq!(got.len(), 3);
    assert!(got[0] == [1] && got[1] == big && got[2] == [2]);
}

#[test]
fn a_packet_this_end_cannot_read_fails_its_arc_alone_with_the_reason() {
    let (a, b) = (endpoint(), endpoint());
    // A peer that disagrees on the packet type: its bytes are a length,
    // then a string length and a byte that is not UTF-8.
    let mut rx = b.accept::<(u64, String)>(21, 64).unwrap();
    let mut tx = a.connect::<Vec<u8>>(b.local_addr(), 21, 64).unwrap();
    send(&mut tx, Item::Packet(vec![1, 0xC3])).unwrap();
    tx.flush();
    let why = match recv(&mut rx) {
        Err(NetError::Malformed(why)) => why,
        other => panic!("expected a malformed entry, got {other:?}"),
    };
    assert!(why.contains("entry 0"), "{why}");
    // It stays failed: the same reason again, no item, no panic.
    assert!(matches!(rx.try_recv(), Err(NetError::Malformed(_))));
    // The endpoints go on carrying other arcs.
    let mut rx2 = b.accept::<(u64, String)>(22, 64).unwrap();
    let mut tx2 = a.connect::<(u64, String)>(b.local_addr(), 22, 64).unwrap();
    send(&mut tx2, Item::Packet((5, "five".into()))).unwrap();
    send(&mut tx2, Item::End).unwrap();
    assert_eq!(recv(&mut rx2).unwrap(), Item::Packet((5, "five".into())));
    assert_eq!(recv(&mut rx2).unwrap(), Item::End);
}

#[test]
fn a_sender_whose_transport_is_stalled_waits_after_a_few_batches_whatever_its_credits() {
    // A peer that accepts the connection and never reads: the transport
    // takes on what its HTTP/2 window allows, then nothing.
    let stalled = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let peer = stalled.local_addr().unwrap();
    let held = std::thread::spawn(move || stalled.accept().map(|(s, _)| s));
    let a = endpoint();
    let mut tx = a.connect::<Vec<u8>>(peer, 1, 10_000_000).unwrap();
    let packet = vec![7u8; 1024];
    let limit = 2 * evoflow_net::QUEUED_BYTES / packet.len();
    let t = Instant::now();
    let mut sent = 0;
    let full = loop {
        match tx.try_send(Item::Packet(packet.clone())) {
            Ok(()) => sent += 1,
            Err(SendError::Full(_)) => break true,
            Err(SendError::Failed(e)) => panic!("{e}"),
        }
        if sent == limit {
            break false;
        }
        if sent % 64 == 0 {
            // Give the transport time to take on what it can.
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(t.elapsed() < Duration::from_secs(10));
    };
    // Millions of credits, yet the sender holds a few batches, not all
    // it may have in flight (before: on past twice the bound).
    assert!(full, "{sent} packets taken with the transport stalled");
    assert_eq!(tx.credit(), 0);
    assert!(!tx.has_credit());
    drop(tx);
    drop(held);
}

#[test]
fn a_sender_held_by_its_transport_is_woken_when_the_transport_catches_up() {
    const N: u32 = 30_000;
    let (a, b) = (endpoint(), endpoint());
    // Credits never run out: every wait is for the transport.
    let mut rx = b
        .accept::<(u32, serde_bytes::ByteBuf)>(31, 10_000_000)
        .unwrap();
    let mut tx = a
        .connect::<(u32, serde_bytes::ByteBuf)>(b.local_addr(), 31, 10_000_000)
        .unwrap();
    let sender = std::thread::spawn(move || {
        let (mut waits, mut longest) = (0, Duration::ZERO);
        for i in 0..N {
            let mut item = Item::Packet((i, serde_bytes::ByteBuf::from(vec![i as u8; 1024])));
            loop {
                match tx.try_send(item) {
                    Ok(()) => break,
                    Err(SendError::Full(back)) => {
                        item = back;
                        // Long enough that only a wake-up ends it early.
                        let t = Instant::now();
                        wait_readable(&tx, Duration::from_secs(5));
                        waits += 1;
                        longest = longest.max(t.elapsed());
                    }
                    Err(SendError::Failed(e)) => panic!("{e}"),
                }
            }
        }
        send(&mut tx, Item::End).unwrap();
        (waits, longest)
    });
    let mut next = 0;
    while let Item::Packet((i, bytes)) = recv(&mut rx).unwrap() {
        assert_eq!(i, next);
        assert!(bytes.len() == 1024 && bytes.iter().all(|&b| b == i as u8));
        next += 1;
    }
    assert_eq!(next, N);
    let (waits, longest) = sender.join().unwrap();
    // 30 MiB through a 1 MiB bound: the sender waited, and each wait
    // ended with a wake-up, not the timeout.
    assert!(waits > 0, "the sender never waited for its transport");
    assert!(longest < Duration::from_secs(2), "a wait of {longest:?}");
}

#[test]
fn ends_of_different_capacities_give_credits_back_by_the_smaller() {
    let (a, b) = (endpoint(), endpoint());
    // The receiver's half capacity (32) is more than the sender can ever
    // have in flight (1): credits by the receiver's alone never came.
    let mut rx = b.accept::<u64>(41, 64).unwrap();
    let mut tx = a.connect::<u64>(b.local_addr(), 41, 1).unwrap();
    for i in 0..100 {
        send(&mut tx, Item::Packet(i)).unwrap();
        tx.flush();
        assert_eq!(recv(&mut rx).unwrap(), Item::Packet(i));
    }
    send(&mut tx, Item::End).unwrap();
    assert_eq!(recv(&mut rx).unwrap(), Item::End);
}
