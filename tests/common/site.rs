//! A small site for the web server tests, and a keep-alive client that
//! checks every response it gets from it.

use super::http::{connect, read_response, Resp};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

/// A fresh directory named after `tag` with `index.html`, `a.txt` and a
/// 1 MB `big.bin`, whose bytes are returned.
pub fn site(tag: &str) -> (PathBuf, Vec<u8>) {
    let dir = std::env::temp_dir().join(format!("evoflow-site-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("index.html"), "<h1>index</h1>").unwrap();
    std::fs::write(dir.join("a.txt"), "file a").unwrap();
    let big: Vec<u8> = (0..1_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    std::fs::write(dir.join("big.bin"), &big).unwrap();
    (dir, big)
}

/// Client `c`: GETs the site's files and a missing one in turn on one
/// keep-alive connection until `stop`, asserting each response (`big` is
/// `big.bin`'s bytes) and handing it to `seen`; returns how many it got.
pub fn client(
    addr: SocketAddr,
    c: u64,
    big: &[u8],
    stop: &AtomicBool,
    mut seen: impl FnMut(&Resp),
) -> u64 {
    let mut s = connect(addr);
    let mut buf = Vec::new();
    let mut served = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let (path, want): (&str, Option<&[u8]>) = match (served + c) % 4 {
            0 => ("/index.html", Some(b"<h1>index</h1>")),
            1 => ("/big.bin", Some(big)),
            2 => ("/a.txt", Some(b"file a")),
            _ => ("/missing", None),
        };
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .unwrap();
        let r = read_response(&mut s, &mut buf, false);
        match want {
            Some(body) => assert_eq!((r.status, r.body.as_slice()), (200, body), "{path}"),
            None => assert_eq!(r.status, 404),
        }
        seen(&r);
        served += 1;
    }
    served
}
