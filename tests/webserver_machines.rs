//! The flagship split over two machines (`examples/webserver/split.rs`),
//! against a real etcd: `back` (parse, load, compose) is a process of its
//! own — this test binary, run again — and `front` (accept, read, reply)
//! runs here. Clients check every response byte for byte, in order, while
//! `back` is updated live.

mod common;
#[path = "../cluster/tests/support/etcd.rs"]
mod etcd;
#[path = "../examples/webserver/server/mod.rs"]
#[allow(dead_code)]
mod server;
#[path = "../examples/webserver/split.rs"]
mod split;

use common::http::{closed, connect, get, read_response, request};
use etcd::Etcd;
use evoflow::MachineConfig;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Set in the environment of `back` run as a child process: the etcd
/// endpoint, and the site it serves.
const BACK_ETCD: &str = "EVOFLOW_WEB_SPLIT_TEST_ETCD";
const BACK_ROOT: &str = "EVOFLOW_WEB_SPLIT_TEST_ROOT";

/// The common test site, with a body over gRPC's default message limit
/// and one over what may cross machines at once.
fn site() -> (PathBuf, Vec<u8>) {
    let (dir, big) = common::site::site("split");
    std::fs::write(dir.join("5mb.bin"), pattern(5_000_000)).unwrap();
    let huge = std::fs::File::create(dir.join("huge.bin")).unwrap();
    huge.set_len(server::wire::MAX_WIRE_BODY + 1).unwrap();
    (dir, big)
}

fn pattern(len: u32) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// `back`'s process, killed if the test ends before it does.
struct Back(std::process::Child);

impl Drop for Back {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Run as `back`'s process (only when a test asks for it): serves, then
/// applies the scenarios one after another, printing each outcome, and
/// runs until `front` stops the graph.
#[test]
fn back_machine() {
    use server::scenarios::*;
    let Some(endpoint) = std::env::var_os(BACK_ETCD) else {
        return;
    };
    let dir = PathBuf::from(std::env::var_os(BACK_ROOT).unwrap());
    let root = server::load::Root::new(Some(&dir)).unwrap();
    let accept = server::accept::Accept::bind_later("127.0.0.1:0".parse().unwrap());
    let program = split::program(accept, &root, server::MAX_CONNECTIONS).unwrap();
    let config = MachineConfig::new(
        [endpoint.into_string().unwrap()],
        "127.0.0.1:0".parse().unwrap(),
    );
    let run = program.run_on("back", &config).unwrap();
    println!("running");
    let steps = [
        header(true),
        insert_cache(root.clone()),
        upgrade_cache(),
        // Changes the type of the arcs from back to front: refused.
        streaming(true, root.clone()),
        remove_cache(),
        header(false),
        header(true),
    ];
    for step in steps {
        std::thread::sleep(Duration::from_millis(150));
        match run.update(step) {
            Ok(report) => println!("applied: {report}"),
            Err(e) => println!("refused: {e}"),
        }
    }
    println!("updates done");
    let _ = run.join();
}

#[test]
fn the_server_split_over_two_machines_serves_through_live_updates_of_back() {
    let Some(etcd) = Etcd::start() else { return };
    common::within(Duration::from_secs(180), move || split_server(etcd));
}

fn split_server(etcd: Etcd) {
    let (dir, big) = site();
    let mut back = Back(
        Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "back_machine", "--nocapture", "--test-threads=1"])
            .env(BACK_ETCD, &etcd.endpoint)
            .env(BACK_ROOT, &dir)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let accept = server::accept::Accept::new(listener).unwrap();
    // `front` has no files: every body comes from `back`.
    let embedded = server::load::Root::new(None).unwrap();
    let program = split::program(accept, &embedded, server::MAX_CONNECTIONS).unwrap();
    let config = MachineConfig::new(etcd.endpoints(), "127.0.0.1:0".parse().unwrap());
    let front = program.run_on("front", &config).unwrap();

    // Pipelined requests cross to `back` and come back in order.
    let mut s = connect(addr);
    let paths = ["/a.txt", "/index.html", "/missing"];
    let burst: String = (0..60)
        .map(|i| format!("GET {} HTTP/1.1\r\nHost: x\r\n\r\n", paths[i % 3]))
        .collect();
    s.write_all(burst.as_bytes()).unwrap();
    let mut buf = Vec::new();
    for i in 0..60 {
        let r = read_response(&mut s, &mut buf, false);
        let want: (u16, &[u8]) = match i % 3 {
            0 => (200, b"file a"),
            1 => (200, b"<h1>index</h1>"),
            _ => (404, &r.body),
        };
        assert_eq!((r.status, r.body.as_slice()), want, "response {i}");
    }
    // A body of 5 MB crosses whole; a HEAD of it has none; one over the
    // limit is answered 503 and its connection closed, a range of it is
    // served; `Connection: close` is honoured across machines.
    let r = get(addr, "/5mb.bin");
    assert_eq!((r.status, r.body == pattern(5_000_000)), (200, true));
    let r = request(addr, "HEAD /5mb.bin HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(
        (r.status, r.header("Content-Length")),
        (200, Some("5000000"))
    );
    s.write_all(b"GET /huge.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let r = read_response(&mut s, &mut buf, false);
    assert_eq!(r.status, 503);
    assert!(closed(&mut s), "a refused huge body closes its connection");
    let r = request(
        addr,
        "GET /huge.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=0-9\r\n\r\n",
    );
    assert_eq!((r.status, r.body), (206, vec![0; 10]));
    let mut s = connect(addr);
    s.write_all(b"GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let r = read_response(&mut s, &mut Vec::new(), false);
    assert_eq!((r.status, r.body.as_slice()), (200, &b"file a"[..]));
    assert!(closed(&mut s));

    let (stop, v2) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
    );
    let big = Arc::new(big);
    let clients: Vec<_> = (0..4)
        .map(|c| {
            let (big, stop, v2) = (big.clone(), stop.clone(), v2.clone());
            std::thread::spawn(move || {
                common::site::client(addr, c, &big, &stop, |r| {
                    if r.header("X-Evoflow-Compose").is_some() {
                        v2.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    let mut lines = BufReader::new(back.0.stdout.take().unwrap()).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if line == "updates done" {
            break;
        }
        if line.starts_with("applied") || line.starts_with("refused") {
            outcomes.push(line);
        }
    }
    std::thread::sleep(Duration::from_millis(100));
    stop.store(true, Ordering::Relaxed);
    let served: Vec<u64> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    front.stop().unwrap();
    front.join().unwrap();
    lines.for_each(drop);
    assert!(back.0.wait().unwrap().success());

    // Six of seven applied on `back`; the switch to streamed bodies is
    // refused, naming the arc it would change, and changes nothing.
    let refused: Vec<&String> = outcomes
        .iter()
        .filter(|l| l.starts_with("refused"))
        .collect();
    assert_eq!(outcomes.len(), 7, "{outcomes:#?}");
    assert_eq!(refused.len(), 1, "{outcomes:#?}");
    assert!(refused[0].contains("compose0"), "{refused:?}");
    assert!(served.iter().all(|&n| n > 3), "{served:?}");
    assert!(
        v2.load(Ordering::Relaxed) > 0,
        "no response from compose v2"
    );
    // Every packet that went to `back` came back.
    assert_eq!(server::wire::connections_away(), 0);
    std::fs::remove_dir_all(&dir).unwrap();
}
