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
    // The receiving machine stops: the sender notices within the
    // keepalive, and its descriptor wakes it.
    drop(rx);
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
        assert!(t.elapsed() < Duration::from_secs(5), "no refusal in 5 s");
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
