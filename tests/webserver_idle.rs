//! The web server costs nothing while idle: its workers sleep until a
//! connection or a request comes (readiness, not polling), and a request
//! on an idle connection is still answered at once. In a process of its
//! own, so that no other server's threads are counted.

mod common;

#[path = "../examples/webserver/server/mod.rs"]
#[allow(dead_code)]
mod server;

use common::cpu_ticks;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

fn exchange(s: &mut TcpStream) -> Duration {
    let t = Instant::now();
    s.write_all(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.ends_with(b"hello from evoflow\n") {
        let n = s.read(&mut chunk).unwrap();
        assert!(n > 0);
        buf.extend_from_slice(&chunk[..n]);
    }
    t.elapsed()
}

/// A request whose `100 Continue` was due behind a large response, and
/// whose body came before it was sent: answered, and then nothing is left
/// to poll for on its connection.
fn continue_overtaken(addr: std::net::SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(
        b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n\
          GET /hello.txt HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
    )
    .unwrap();
    // The large response fills the socket while nothing is read: the
    // interim response waits for it; the body overtakes it.
    std::thread::sleep(Duration::from_millis(200));
    s.write_all(b"hello").unwrap();
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    while !buf.ends_with(b"hello from evoflow\n") {
        let n = s.read(&mut chunk).unwrap();
        assert!(n > 0);
        buf.extend_from_slice(&chunk[..n]);
    }
    s
}

#[test]
fn an_idle_server_sleeps_and_still_answers_at_once() {
    let dir = std::env::temp_dir().join(format!("evoflow-site-idle-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("hello.txt"), "hello from evoflow\n").unwrap();
    std::fs::File::create(dir.join("big.bin"))
        .unwrap()
        .set_len(32 << 20)
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let running = server::server(server::Config {
        listener,
        root: Some(dir.clone()),
        workers: 2,
        max_connections: server::MAX_CONNECTIONS,
    })
    .unwrap()
    .run()
    .unwrap();
    let mut idle_conn = TcpStream::connect(addr).unwrap();
    exchange(&mut idle_conn);
    let _overtaken = continue_overtaken(addr);
    std::thread::sleep(Duration::from_millis(300));
    // 100 ticks a second on Linux: over 3 s, 0.1 % of a core is 0.3 tick.
    let (before, t) = (cpu_ticks("evoflow-"), Instant::now());
    std::thread::sleep(Duration::from_secs(3));
    let used = cpu_ticks("evoflow-") - before;
    let elapsed = t.elapsed();
    assert!(
        used <= 1,
        "idle workers used {used} ticks of CPU in {elapsed:?} (at most 1, 0.3 % of a core)"
    );
    // A request on the connection that sat idle, and a new connection, are
    // answered without waiting for a poll.
    let late = exchange(&mut idle_conn);
    let fresh = exchange(&mut TcpStream::connect(addr).unwrap());
    assert!(late < Duration::from_millis(50), "{late:?}");
    assert!(fresh < Duration::from_millis(50), "{fresh:?}");
    running.stop();
    drop(idle_conn);
    running.join().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
