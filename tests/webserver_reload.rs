//! The flagship, updated from a rebuild while it serves: builds the web
//! server as a component library with its host, keeps keep-alive clients
//! requesting without pause, changes `compose` (a new version that adds a
//! response header), rebuilds with cargo and sends SIGHUP. Every request
//! must succeed, and each connection sees the old responses, then only the
//! new ones.

mod common;

use common::keepalive::Connection;
use common::scratch::{Workspace, WEBSERVER};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CLIENTS: usize = 4;
const WAIT: Duration = Duration::from_secs(60);

/// The running server; killed if the test fails before it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What one client saw: per response, whether it had the new header.
struct Seen {
    new: Vec<bool>,
    failures: Vec<String>,
}

/// Requests `/` on one keep-alive connection until `stop`; a failure is
/// recorded and the client reconnects.
fn client(addr: String, stop: Arc<AtomicBool>, new_seen: Arc<AtomicU64>) -> Seen {
    let mut seen = Seen {
        new: Vec::new(),
        failures: Vec::new(),
    };
    while !stop.load(Ordering::Relaxed) {
        let mut conn = Connection::open(&addr, WAIT).unwrap();
        while !stop.load(Ordering::Relaxed) {
            match conn.get() {
                Ok(headers) => {
                    let new = headers.iter().any(|h| h == "X-Reloaded: yes");
                    if new {
                        new_seen.fetch_add(1, Ordering::Relaxed);
                    }
                    seen.new.push(new);
                }
                Err(e) => {
                    seen.failures.push(e);
                    break;
                }
            }
        }
    }
    seen
}

#[test]
fn the_web_server_is_updated_from_a_rebuild_while_it_serves() {
    let ws = Workspace::create("webserver-reload-e2e", &WEBSERVER, false);
    ws.build(true);
    // A port in use stops the start at once, with the reason, before
    // anything runs (the graph started, then its `accept` panicked).
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let refused = Command::new(ws.host())
        .args(["run", "--socket"])
        .arg(ws.dir.join("taken.sock"))
        .env("EVOFLOW_WEB_ADDR", taken.local_addr().unwrap().to_string())
        .output()
        .expect("the host runs");
    let err = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{err}");
    assert!(
        err.contains("error: cannot start:") && err.contains("Address already in use"),
        "{err}"
    );
    assert!(!err.contains("started graph"), "{err}");
    drop(taken);
    let mut child = Command::new(ws.host())
        .args(["run", "--socket"])
        .arg(ws.socket())
        .env("EVOFLOW_WEB_ADDR", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the host starts");
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let server = Server(child);
    let addr = first
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("expected the address, got {first:?}"))
        .to_owned();

    let (stop, new_seen) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
    );
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (addr, stop, new_seen) = (addr.clone(), stop.clone(), new_seen.clone());
            std::thread::spawn(move || client(addr, stop, new_seen))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));

    ws.edit(
        "server/compose.rs",
        "#[component(outputs(out: Response))]\nimpl Compose {",
        "#[component(version = 2, outputs(out: Response))]\nimpl Compose {",
    );
    ws.edit(
        "server/compose.rs",
        "out.out(response(l, \"\"));",
        "out.out(response(l, \"X-Reloaded: yes\\r\\n\"));",
    );
    ws.build(false);
    let pid = server.0.id().to_string();
    assert!(Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap()
        .success());
    let deadline = Instant::now() + WAIT;
    while new_seen.load(Ordering::Relaxed) < 1000 {
        assert!(
            Instant::now() < deadline,
            "no response from the new version"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    stop.store(true, Ordering::Relaxed);
    let seen: Vec<Seen> = clients.into_iter().map(|c| c.join().unwrap()).collect();

    let status = ws.cli(&["status"]);
    let status = String::from_utf8_lossy(&status.stdout);
    for lane in 0..2 {
        let line = format!("compose{lane}: Compose v2");
        assert!(status.contains(&line), "{status}");
    }
    for (i, s) in seen.iter().enumerate() {
        assert!(s.failures.is_empty(), "client {i} failed: {:?}", s.failures);
        let switched = s.new.iter().position(|&n| n).unwrap_or(s.new.len());
        assert!(
            switched > 0,
            "client {i} saw no response of the old version"
        );
        assert!(
            s.new[switched..].iter().all(|&n| n),
            "client {i} saw an old response after a new one"
        );
    }
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let mut server = server;
    assert!(server.0.wait().unwrap().success());
}
