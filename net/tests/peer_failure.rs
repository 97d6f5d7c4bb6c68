//! A peer machine that dies (SIGKILL) or freezes (SIGSTOP) is seen by the
//! arcs to it within seconds, with the reason. The peer is this test
//! binary run again as a receiving machine, in a process of its own.

mod common;

use common::link::{sh, Link};
use common::wait_readable;
use evoflow_net::{Endpoint, Item, NetError, SendError, Sender};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PEER: &str = "EVOFLOW_NET_TEST_PEER";

/// Run as the peer (only when the parent test asks for it): receives arc 1
/// and takes everything, forever.
#[test]
fn peer() {
    let Some(bind) = std::env::var_os(PEER) else {
        return;
    };
    let bind: SocketAddr = bind.to_str().unwrap().parse().unwrap();
    let ep = Endpoint::bind(bind).unwrap();
    let mut rx = ep.accept::<u64>(1, 64).unwrap();
    println!("listening on {}", ep.local_addr());
    loop {
        while let Ok(Some(_)) = rx.try_recv() {}
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The peer, in network namespace `netns` if given, bound to `bind`.
fn spawn_peer_in(netns: Option<&str>, bind: &str) -> (Child, SocketAddr) {
    let exe = std::env::current_exe().unwrap();
    let mut command = match netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns]).arg(exe);
            c
        }
        None => Command::new(exe),
    };
    let mut child = command
        .args(["--exact", "peer", "--nocapture", "--test-threads=1"])
        .env(PEER, bind)
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
    let (killed, why) =
        fault_seen_after(&ep, None, "127.0.0.1:0", Duration::from_secs(5), |peer| {
            signal(peer, libc::SIGKILL)
        });
    println!("killed peer seen after {killed:?}: {why}");
    // Frozen: its sockets stay open; the HTTP/2 keepalive (1 s, 2 s to
    // answer) declares it gone.
    let (frozen, why) =
        fault_seen_after(&ep, None, "127.0.0.1:0", Duration::from_secs(10), |peer| {
            signal(peer, libc::SIGSTOP)
        });
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

/// Runs a peer (in network namespace `netns`, if given, bound to `bind`),
/// streams to it until the stream is established, applies `fault`, and
/// returns how long the sender took to see its arc fail, and why.
fn fault_seen_after(
    ep: &Endpoint,
    netns: Option<&str>,
    bind: &str,
    limit: Duration,
    fault: impl FnOnce(&Child),
) -> (Duration, NetError) {
    let (mut peer, addr) = spawn_peer_in(netns, bind);
    let mut tx = ep.connect::<u64>(addr, 1, 64).unwrap();
    warm_up(&mut tx);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(tx.failure(), None);
    fault(&peer);
    let seen = send_until_failed(&mut tx, Instant::now(), limit);
    let _ = peer.kill();
    peer.wait().unwrap();
    seen
}

#[test]
fn a_peer_cut_off_by_a_link_down_or_a_one_way_drop_is_seen_within_the_keepalive() {
    let link = match Link::up() {
        Ok(link) => link,
        Err(why) => {
            println!("SKIPPED (not a silent pass): {why}");
            return;
        }
    };
    let ep = Endpoint::bind("10.77.0.1:0".parse().unwrap()).unwrap();
    let b = Some("evonet-b");
    // The link goes down under a running arc.
    let (down, why) = fault_seen_after(&ep, b, "10.77.0.2:0", Duration::from_secs(10), |_| {
        sh("ip link set evonet-a down")
    });
    println!("link down seen after {down:?}: {why}");
    sh("ip link set evonet-a up");
    assert!(
        down < Duration::from_secs(5),
        "a link down was seen after {down:?}"
    );
    // Packets from the peer are dropped, packets to it still pass: its
    // credits and keepalive answers never come back.
    if Command::new("nft").arg("--version").output().is_err() {
        println!(
            "SKIPPED the one-way drop (not a silent pass): no `nft` (apt-get install nftables)"
        );
        return;
    }
    let (dropped, why) = fault_seen_after(&ep, b, "10.77.0.2:0", Duration::from_secs(10), |_| {
        sh("ip netns exec evonet-b nft add table inet evonet");
        sh("ip netns exec evonet-b nft add chain inet evonet out '{ type filter hook output priority 0; }'");
        sh("ip netns exec evonet-b nft add rule inet evonet out ip daddr 10.77.0.1 drop");
    });
    println!("one-way drop seen after {dropped:?}: {why}");
    drop(link);
    assert!(
        dropped < Duration::from_secs(5),
        "a one-way drop was seen after {dropped:?}"
    );
}
