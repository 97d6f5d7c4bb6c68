//! Out of file descriptors, the web server answers 503 with Retry-After —
//! it never reports an existing file as missing — and serves it again
//! once descriptors are free. In a process of its own: it exhausts the
//! process's descriptors, and the server module's own unit tests, which
//! this binary also runs, need some.

#[path = "../examples/webserver/server/mod.rs"]
#[allow(dead_code)]
mod server;

mod common;

use common::Exhausted;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

/// Sends one GET on `s` and returns the status line and the headers.
fn get(s: &mut TcpStream) -> String {
    s.write_all(b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk).unwrap();
        assert!(n > 0, "closed");
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .unwrap()
                .parse()
                .unwrap();
            while buf.len() < end + 4 + len {
                let n = s.read(&mut chunk).unwrap();
                buf.extend_from_slice(&chunk[..n]);
            }
            return head;
        }
    }
}

/// Set in the child process that runs the test.
const CHILD: &str = "EVOFLOW_FDS_CHILD";

#[test]
fn out_of_descriptors_a_file_is_unavailable_not_missing() {
    if std::env::var_os(CHILD).is_none() {
        let name = "out_of_descriptors_a_file_is_unavailable_not_missing";
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", name, "--test-threads=1"])
            .env(CHILD, "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "in its own process:\n{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        return;
    }
    let dir = std::env::temp_dir().join(format!("evoflow-site-fds-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("a.txt"), "file a").unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let running = server::server(server::Config {
        listener,
        root: Some(dir.clone()),
        workers: 1,
        max_connections: server::MAX_CONNECTIONS,
    })
    .unwrap()
    .run()
    .unwrap();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    assert!(get(&mut s).starts_with("HTTP/1.1 200"));
    // Take every descriptor the process may still open.
    let exhausted = Exhausted::now();
    let head = get(&mut s);
    assert!(head.starts_with("HTTP/1.1 503"), "{head}");
    assert!(head.contains("Retry-After: 1"), "{head}");
    exhausted.release();
    assert!(get(&mut s).starts_with("HTTP/1.1 200"));
    running.stop();
    drop(s);
    running.join().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
