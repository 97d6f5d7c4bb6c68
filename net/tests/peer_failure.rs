//! A peer machine that dies (SIGKILL) or freezes (SIGSTOP) is seen by the
//! arcs to it within seconds, with the reason. The peer is this test
//! binary run again as a receiving machine, in a process of its own.

use evoflow_net::{Endpoint, Item, NetError, SendError, Sender};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PEER: &str = "EVOFLOW_NET_TEST_PEER";

/// Run as the peer (only when the parent test asks for it): receives arc 1
/// and takes everything, forever.
#[test]
fn peer() {
    if std::env::var_os(PEER).is_none() {
        return;
    }
    let ep = Endpoint::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let mut rx = ep.accept::<u64>(1, 64).unwrap();
    println!("listening on {}", ep.local_addr());
    loop {
        while let Ok(Some(_)) = rx.try_recv() {}
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn spawn_peer() -> (Child, SocketAddr) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "peer", "--nocapture", "--test-threads=1"])
        .env(PEER, "1")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("the peer prints its address").unwrap();
        if let Some((_, a)) = line.split_once("listening on ") {
            break a.parse().unwrap();
        }
    };
    (child, addr)
}

fn wait_readable(fd: &impl AsRawFd, limit: Duration) {
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    unsafe { libc::poll(&mut p, 1, limit.as_millis() as i32) };
}

/// Sends packets until the arc fails; returns how long after `since` it
/// was seen, and why.
fn send_until_failed(
    tx: &mut Sender<u64>,
    since: Instant,
    limit: Duration,
) -> (Duration, NetError) {
    let mut n = 0;
    loop {
        match tx.try_send(Item::Packet(n)) {
            Ok(()) => n += 1,
            Err(SendError::Failed(e)) => return (since.elapsed(), e),
            Err(SendError::Full(_)) => wait_readable(tx, Duration::from_millis(50)),
        }
        tx.flush();
        assert!(since.elapsed() < limit, "no failure seen in {limit:?}");
    }
}

/// Sends a few packets and checks the arc works before the fault.
fn warm_up(tx: &mut Sender<u64>) {
    for n in 0..100 {
        assert!(!matches!(
            tx.try_send(Item::Packet(n)),
            Err(SendError::Failed(_))
        ));
    }
    tx.flush();
}

fn signal(child: &Child, sig: libc::c_int) {
    // SAFETY: a plain syscall on our child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, sig) }, 0);
}

#[test]
fn a_killed_peer_is_seen_at_once_and_a_frozen_one_within_the_keepalive() {
    let ep = Endpoint::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    // Killed: the kernel closes its sockets, the stream breaks.
    let (mut child, addr) = spawn_peer();
    let mut tx = ep.connect::<u64>(addr, 1, 64).unwrap();
    warm_up(&mut tx);
    std::thread::sleep(Duration::from_millis(200));
    signal(&child, libc::SIGKILL);
    let (killed, why) = send_until_failed(&mut tx, Instant::now(), Duration::from_secs(5));
    child.wait().unwrap();
    println!("killed peer seen after {killed:?}: {why}");

    // Frozen: its sockets stay open; the HTTP/2 keepalive (1 s, 2 s to
    // answer) declares it gone.
    let (mut child, addr) = spawn_peer();
    let mut tx = ep.connect::<u64>(addr, 1, 64).unwrap();
    warm_up(&mut tx);
    std::thread::sleep(Duration::from_millis(200));
    signal(&child, libc::SIGSTOP);
    let (frozen, why) = send_until_failed(&mut tx, Instant::now(), Duration::from_secs(10));
    signal(&child, libc::SIGKILL);
    child.wait().unwrap();
    println!("frozen peer seen after {frozen:?}: {why}");
    assert!(
        killed < Duration::from_secs(1),
        "a killed peer was seen after {killed:?}"
    );
    assert!(
        frozen < Duration::from_secs(5),
        "a frozen peer was seen after {frozen:?}"
    );
}
