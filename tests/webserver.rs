//! The web server example over real loopback sockets: status codes,
//! keep-alive, pipelining, HEAD, path traversal, slow clients, and live
//! updates while connections are active.

mod common;
#[path = "../examples/webserver/server/mod.rs"]
#[allow(dead_code)]
mod server;

use common::http::{closed, connect, get, read_response, request};
use common::site::site;
use evoflow::Running;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

struct Served {
    addr: SocketAddr,
    running: Running,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.running.stop();
    }
}

fn serve(root: Option<PathBuf>) -> Served {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let running = server::server(server::Config {
        listener,
        root,
        workers: 2,
        max_connections: server::MAX_CONNECTIONS,
    })
    .unwrap()
    .run()
    .unwrap();
    Served { addr, running }
}

#[test]
fn serves_the_embedded_site_with_content_types() {
    let srv = serve(None);
    let r = get(srv.addr, "/");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert!(String::from_utf8_lossy(&r.body).contains("<h1>evoflow</h1>"));
    let r = get(srv.addr, "/style.css?v=3");
    assert_eq!(
        (r.status, r.header("content-type")),
        (200, Some("text/css; charset=utf-8"))
    );
    let r = get(srv.addr, "/hello.txt");
    assert_eq!(r.body, b"hello from evoflow\n");
    assert_eq!(r.header("content-length"), Some("19"));
}

#[test]
fn answers_every_error_with_its_status() {
    let srv = serve(None);
    assert_eq!(get(srv.addr, "/missing.html").status, 404);
    assert_eq!(
        request(
            srv.addr,
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
        )
        .status,
        405
    );
    assert_eq!(
        request(srv.addr, "DELETE / HTTP/1.1\r\nHost: x\r\n\r\n").status,
        405
    );
    assert_eq!(request(srv.addr, "GET / HTTP/2.0\r\n\r\n").status, 505);
    assert_eq!(
        request(srv.addr, "GET / HTTP/1.1\r\nBad Header Line\r\n\r\n").status,
        400
    );
    assert_eq!(request(srv.addr, "garbage\r\n\r\n").status, 400);
    assert_eq!(
        request(srv.addr, "GET nohost HTTP/1.1\r\nHost: x\r\n\r\n").status,
        400
    );
    let big = format!("GET / HTTP/1.1\r\nX-Big: {}\r\n\r\n", "a".repeat(10_000));
    assert_eq!(request(srv.addr, &big).status, 431);
    assert_eq!(
        request(
            srv.addr,
            "GET / HTTP/1.1\r\nContent-Length: 10000000\r\n\r\n"
        )
        .status,
        413
    );
    // A refused request closes its connection.
    let mut s = connect(srv.addr);
    s.write_all(b"GET / HTTP/9.9\r\n\r\n").unwrap();
    let r = read_response(&mut s, &mut Vec::new(), false);
    assert_eq!((r.status, r.header("connection")), (505, Some("close")));
    assert!(closed(&mut s));
}

#[test]
fn keep_alive_pipelining_and_head() {
    let srv = serve(None);
    let mut s = connect(srv.addr);
    // Three pipelined requests in one write; answered in order.
    s.write_all(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\nHEAD /style.css HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut buf = Vec::new();
    let a = read_response(&mut s, &mut buf, false);
    let b = read_response(&mut s, &mut buf, true);
    let c = read_response(&mut s, &mut buf, false);
    assert_eq!(
        (a.status, a.body.as_slice()),
        (200, &b"hello from evoflow\n"[..])
    );
    assert_eq!((b.status, b.header("content-length")), (200, Some("69")));
    assert_eq!(c.status, 404);
    assert!(buf.is_empty(), "HEAD has no body");
    // The connection is still open for more.
    s.write_all(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let d = read_response(&mut s, &mut buf, false);
    assert_eq!((d.status, d.header("connection")), (200, Some("close")));
    assert!(closed(&mut s));
    // HTTP/1.0 closes unless asked to keep alive.
    let mut s = connect(srv.addr);
    s.write_all(b"GET /hello.txt HTTP/1.0\r\n\r\n").unwrap();
    assert_eq!(
        read_response(&mut s, &mut Vec::new(), false).header("connection"),
        Some("close")
    );
    assert!(closed(&mut s));
}

#[test]
fn no_path_escapes_the_root() {
    let dir = std::env::temp_dir().join(format!("evoflow-root-{}", std::process::id()));
    let root = dir.join("site");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::write(root.join("index.html"), "root index").unwrap();
    std::fs::write(root.join("sub/page.txt"), "inside").unwrap();
    std::fs::write(dir.join("secret.txt"), "outside").unwrap();
    let _ = std::fs::remove_file(root.join("link.txt"));
    std::os::unix::fs::symlink(dir.join("secret.txt"), root.join("link.txt")).unwrap();
    let srv = serve(Some(root.clone()));
    assert_eq!(get(srv.addr, "/").body, b"root index");
    assert_eq!(get(srv.addr, "/sub/page.txt").body, b"inside");
    assert_eq!(
        get(srv.addr, "/sub/../sub/page.txt").status,
        404,
        "no `..`, even harmless"
    );
    for path in [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E/secret.txt",
        "/sub/%2e%2e/%2e%2e/secret.txt",
        "/link.txt",
        "/..%2fsecret.txt",
        "/%00",
    ] {
        let r = get(srv.addr, path);
        assert_eq!(r.status, 404, "{path} must not be served");
        assert!(!String::from_utf8_lossy(&r.body).contains("outside"));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_slow_client_does_not_stall_others() {
    let srv = serve(None);
    // Half a request, never finished; and a client that never reads.
    let mut slow = connect(srv.addr);
    slow.write_all(b"GET /hello.txt HTTP/1.1\r\nHost:").unwrap();
    let mut deaf = connect(srv.addr);
    for _ in 0..200 {
        deaf.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
    }
    for _ in 0..50 {
        assert_eq!(get(srv.addr, "/hello.txt").status, 200);
    }
}

#[test]
fn live_updates_during_active_connections_fail_no_request() {
    let srv = serve(None);
    let addr = srv.addr;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut s = connect(addr);
                let mut buf = Vec::new();
                let (mut served, mut saw_v2) = (0, false);
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    s.write_all(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
                        .unwrap();
                    let r = read_response(&mut s, &mut buf, false);
                    assert_eq!(
                        (r.status, r.body.as_slice()),
                        (200, &b"hello from evoflow\n"[..])
                    );
                    saw_v2 |= r.header("x-evoflow-compose") == Some("2");
                    served += 1;
                }
                (served, saw_v2)
            })
        })
        .collect();
    for i in 0..40 {
        std::thread::sleep(Duration::from_millis(5));
        srv.running
            .update(server::scenarios::header(i % 2 == 0))
            .unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let results: Vec<(u64, bool)> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    assert!(results.iter().all(|(served, _)| *served > 0));
    assert!(
        results.iter().any(|(_, v2)| *v2),
        "some responses came from the updated compose"
    );
}

/// A directory root with a small page, a 1 MB file and a text file.

#[test]
fn every_scenario_applies_live_without_failing_a_request() {
    use server::scenarios::*;
    let (dir, big) = site("scenarios");
    let root = server::load::Root::new(Some(&dir)).unwrap();
    let srv = serve(Some(dir.clone()));
    let addr = srv.addr;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|c| {
            let (stop, big) = (stop.clone(), big.clone());
            std::thread::spawn(move || common::site::client(addr, c, &big, &stop, |_| {}))
        })
        .collect();
    let steps = [
        header(true),
        header(false),
        insert_cache(root.clone()),
        upgrade_cache(),
        remove_cache(),
        streaming(true, root.clone()),
        streaming(false, root.clone()),
        streaming(true, root.clone()),
        insert_cache(root.clone()),
    ];
    let mut refused = Vec::new();
    for (i, step) in steps.into_iter().enumerate() {
        std::thread::sleep(Duration::from_millis(30));
        if let Err(e) = srv.running.update(step) {
            refused.push((i, e.to_string()));
        }
    }
    // A cache serves in-memory bodies; after the switch to streaming its hit
    // path would send the old packet type into the new compose: refused.
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(
        refused[0].0 == 8 && refused[0].1.contains(".hit -> compose0.inp"),
        "{refused:?}"
    );
    std::thread::sleep(Duration::from_millis(30));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for c in clients {
        assert!(c.join().unwrap() > 10);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn cache_contents_survive_an_update_of_the_cache() {
    use server::scenarios::*;
    let (dir, _) = site("cache");
    let root = server::load::Root::new(Some(&dir)).unwrap();
    let srv = serve(Some(dir.clone()));
    // One connection: its requests always take the same lane and cache.
    let mut s = connect(srv.addr);
    let mut buf = Vec::new();
    let mut get_a = || {
        s.write_all(b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        read_response(&mut s, &mut buf, false)
    };
    srv.running.update(insert_cache(root)).unwrap();
    assert_eq!(get_a().body, b"file a");
    srv.running.update(upgrade_cache()).unwrap();
    // Rewritten in place with the same size and modification time: the
    // cache's check sees the same file, so only the migrated entry can
    // still say "file a".
    let file = dir.join("a.txt");
    let mtime = std::fs::metadata(&file).unwrap().modified().unwrap();
    let mut f = std::fs::OpenOptions::new().write(true).open(&file).unwrap();
    f.write_all(b"FILE A").unwrap();
    f.set_modified(mtime).unwrap();
    drop(f);
    let r = get_a();
    assert_eq!(
        (r.status, r.body.as_slice()),
        (200, &b"file a"[..]),
        "served from the migrated cache"
    );
    srv.running.update(remove_cache()).unwrap();
    assert_eq!(
        get_a().body,
        b"FILE A",
        "without the cache, load reads the file"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_cached_file_rewritten_on_disk_is_never_served_stale() {
    use server::scenarios::*;
    let (dir, _) = site("stale");
    let root = server::load::Root::new(Some(&dir)).unwrap();
    let srv = serve(Some(dir.clone()));
    let from_load = get(srv.addr, "/a.txt");
    srv.running.update(insert_cache(root)).unwrap();
    // A hit carries the validators `load` sends; a conditional request
    // still gets its 304.
    for _ in 0..4 {
        let hit = get(srv.addr, "/a.txt");
        for name in ["etag", "last-modified"] {
            assert_eq!(hit.header(name), from_load.header(name), "{name}");
        }
    }
    let etag = from_load.header("etag").unwrap();
    let r = request(
        srv.addr,
        &format!("GET /a.txt HTTP/1.1\r\nHost: x\r\nIf-None-Match: {etag}\r\n\r\n"),
    );
    assert_eq!(r.status, 304);
    // Several connections, so both lanes' caches hold the file.
    let mut conns: Vec<(TcpStream, Vec<u8>)> =
        (0..6).map(|_| (connect(srv.addr), Vec::new())).collect();
    let get_all = |conns: &mut Vec<(TcpStream, Vec<u8>)>| -> Vec<Vec<u8>> {
        conns
            .iter_mut()
            .map(|(s, buf)| {
                s.write_all(b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n")
                    .unwrap();
                read_response(s, buf, false).body
            })
            .collect()
    };
    assert!(get_all(&mut conns).iter().all(|b| b == b"file a"));
    std::fs::write(dir.join("a.txt"), "file a, rewritten").unwrap();
    assert!(get_all(&mut conns)
        .iter()
        .all(|b| b == b"file a, rewritten"));
    std::fs::remove_file(dir.join("a.txt")).unwrap();
    for (s, buf) in &mut conns {
        s.write_all(b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        assert_eq!(read_response(s, buf, false).status, 404);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[test]
fn requests_after_a_close_do_not_leak_connections() {
    let srv = serve(None);
    let before = open_fds();
    for _ in 0..300 {
        let mut s = connect(srv.addr);
        s.write_all(
            b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n",
        )
        .unwrap();
        let r = read_response(&mut s, &mut Vec::new(), false);
        assert_eq!(r.header("connection"), Some("close"));
        assert!(closed(&mut s));
    }
    let t = std::time::Instant::now();
    while open_fds() > before + 20 && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        open_fds() <= before + 20,
        "{} descriptors open, {before} before",
        open_fds()
    );
}

#[test]
fn a_thousand_pipelined_requests_in_one_write_are_all_answered() {
    let srv = serve(None);
    let mut s = connect(srv.addr);
    s.write_all(&b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n".repeat(1000))
        .unwrap();
    let mut buf = Vec::new();
    for i in 0..1000 {
        let r = read_response(&mut s, &mut buf, false);
        assert_eq!((r.status, r.body.len()), (200, 19), "response {i}");
    }
}

#[test]
fn framing_and_parsing_agree_on_where_a_request_ends() {
    let srv = serve(None);
    let mut s = connect(srv.addr);
    s.write_all(b"GET /hello.txt HTTP/1.1\nHost: x\n\nGET /style.css HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut buf = Vec::new();
    assert_eq!(
        read_response(&mut s, &mut buf, false).body,
        b"hello from evoflow\n"
    );
    assert_eq!(
        read_response(&mut s, &mut buf, false).header("content-type"),
        Some("text/css; charset=utf-8")
    );
    let two_lengths = "GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab";
    assert_eq!(request(srv.addr, two_lengths).status, 400);
    assert_eq!(
        request(srv.addr, "GET / HTTP/1.1\r\nContent-Length: +1\r\n\r\na").status,
        400
    );
}

#[test]
fn a_buggy_compose_under_load_answers_500s_and_is_rolled_back_by_itself() {
    // Panics of the bad version are expected; keep them out of the output.
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !info.to_string().contains("compose v2 bug") {
            default(info);
        }
    }));
    let srv = serve(None);
    let addr = srv.addr;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut s = connect(addr);
                let mut buf = Vec::new();
                let (mut ok, mut failed) = (0u64, 0u64);
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    // A reset or a lost response fails here.
                    s.write_all(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
                        .unwrap();
                    let r = read_response(&mut s, &mut buf, false);
                    match r.status {
                        200 => {
                            assert_eq!(r.body, b"hello from evoflow\n");
                            ok += 1
                        }
                        500 => failed += 1,
                        other => panic!("unexpected status {other}"),
                    }
                }
                (ok, failed)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    srv.running
        .update(server::scenarios::buggy_header(Duration::from_secs(30)))
        .unwrap();
    let rollback = loop {
        if let Some(r) = srv.running.rollbacks().pop() {
            break r;
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    std::thread::sleep(Duration::from_millis(100));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let results: Vec<(u64, u64)> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    assert!(rollback.outcome.is_ok(), "{:?}", rollback.outcome);
    assert!(rollback.message.contains("compose v2 bug"));
    let composes: Vec<_> = srv
        .running
        .instances()
        .into_iter()
        .filter(|i| i.name.starts_with("compose"))
        .map(|i| (i.component, i.version))
        .collect();
    assert_eq!(composes, vec![("Compose".to_owned(), 1); server::LANES]);
    let (ok, failed): (u64, u64) = results.iter().fold((0, 0), |(a, b), (o, f)| (a + o, b + f));
    let (letters, dead) = srv.running.dead_letters();
    // Each failed request is one dead letter, answered with a 500.
    assert_eq!(failed, dead, "{letters:?}");
    assert!(failed >= 1 && ok > 100 * failed, "ok {ok}, failed {failed}");
    // After the rollback, every request succeeds again, also those that
    // version 2 would fail (every EVERY-th on a connection).
    let (mut s, mut buf) = (connect(addr), Vec::new());
    for _ in 0..2 * server::compose::EVERY {
        s.write_all(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let r = read_response(&mut s, &mut buf, false);
        assert_eq!((r.status, r.header("x-evoflow-compose")), (200, None));
    }
}

/// Resident memory of this process, in MiB.
/// A site with `a.txt` and a sparse `name` of `len` bytes (no disk
/// space; reads as zeros).
fn sparse_site(tag: &str, name: &str, len: u64) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("evoflow-site-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("a.txt"), "file a").unwrap();
    std::fs::File::create(dir.join(name))
        .unwrap()
        .set_len(len)
        .unwrap();
    dir
}

fn rss_mib() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096 / (1 << 20)
}

/// p99 of 200 sequential small GETs on one keep-alive connection, in ms.
fn small_requests_p99(addr: SocketAddr) -> f64 {
    let (mut s, mut buf) = (connect(addr), Vec::new());
    let mut times: Vec<f64> = (0..200)
        .map(|_| {
            let t = std::time::Instant::now();
            s.write_all(b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            assert_eq!(read_response(&mut s, &mut buf, false).body, b"file a");
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[197]
}

/// A 1 GiB file fetched by a client that reads nothing, and 2,000
/// pipelined GETs of a 1 MiB file from a client that reads nothing: the
/// server holds neither in memory (files stream as clients read; framing
/// waits while 32 requests of a connection are unanswered), other clients
/// are served as usual, and a HEAD of the large file costs no read.
#[test]
fn a_huge_file_or_a_pipelined_burst_neither_fills_memory_nor_stalls_others() {
    let dir = sparse_site("huge", "huge.bin", 1 << 30);
    std::fs::File::create(dir.join("mid.bin"))
        .unwrap()
        .set_len(1 << 20)
        .unwrap();
    let srv = serve(Some(dir.clone()));
    let before = rss_mib();
    let fds = open_fds();

    let t = std::time::Instant::now();
    let head = request(srv.addr, "HEAD /huge.bin HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(
        (head.status, head.header("content-length")),
        (200, Some("1073741824"))
    );
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "HEAD took {:?}",
        t.elapsed()
    );

    let mut huge = connect(srv.addr);
    huge.write_all(b"GET /huge.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut burst = connect(srv.addr);
    let writer = {
        let mut w = burst.try_clone().unwrap();
        std::thread::spawn(move || {
            let one = b"GET /mid.bin HTTP/1.1\r\nHost: x\r\n\r\n";
            let all: Vec<u8> = one
                .iter()
                .copied()
                .cycle()
                .take(one.len() * 2_000)
                .collect();
            // The server stops reading once its buffer for this
            // connection is full; the rest stays in the socket buffers.
            w.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
            let _ = w.write_all(&all);
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    let p99 = small_requests_p99(srv.addr);
    let grown = rss_mib().saturating_sub(before);
    let more_fds = open_fds().saturating_sub(fds);
    assert!(p99 < 50.0, "other clients' p99 {p99:.1} ms");
    assert!(grown < 64, "resident memory grew by {grown} MiB");
    assert!(more_fds < 100, "{more_fds} more file descriptors");

    // Both are still served correctly once their clients read.
    let mut buf = Vec::new();
    let mut got = 0usize;
    while got < 4 << 20 {
        let mut chunk = [0u8; 65536];
        let n = huge.read(&mut chunk).unwrap();
        assert!(n > 0);
        buf.extend_from_slice(&chunk[..n]);
        got += n;
    }
    let text = String::from_utf8_lossy(&buf[..200]).into_owned();
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
    assert!(text.contains("Content-Length: 1073741824"), "{text}");
    let first = read_response(&mut burst, &mut Vec::new(), false);
    assert_eq!((first.status, first.body.len()), (200, 1 << 20));
    drop((huge, burst));
    writer.join().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_client_downloading_at_full_speed_does_not_stall_others() {
    let dir = sparse_site("download", "huge.bin", 1 << 30);
    let srv = serve(Some(dir.clone()));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let downloader = {
        let (mut s, stop) = (connect(srv.addr), stop.clone());
        std::thread::spawn(move || {
            s.write_all(b"GET /huge.bin HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            let (mut got, mut chunk) = (0u64, vec![0u8; 256 * 1024]);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let n = s.read(&mut chunk).unwrap();
                assert!(n > 0, "download ended early");
                got += n as u64;
            }
            got
        })
    };
    std::thread::sleep(Duration::from_millis(200));
    let p99 = small_requests_p99(srv.addr);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let got = downloader.join().unwrap();
    assert!(got > 16 << 20, "the download itself stalled: {got} bytes");
    assert!(
        p99 < 50.0,
        "other clients' p99 {p99:.1} ms beside the download"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A download that outlasts the idle timeout is not cut, even when the
/// client sends its next request meanwhile.
#[test]
fn a_long_download_outlives_the_idle_timeout() {
    let len: usize = 64 << 20;
    let dir = sparse_site("long", "big.bin", len as u64);
    let srv = serve(Some(dir.clone()));
    let mut s = connect(srv.addr);
    s.write_all(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    // Slowly (about 1.6 MiB/s) past the idle timeout.
    let t = std::time::Instant::now();
    let mut got = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    while t.elapsed() < server::read::IDLE_TIMEOUT + Duration::from_millis(1500) {
        let n = s.read(&mut chunk).unwrap();
        assert!(n > 0, "closed after {:?}", t.elapsed());
        got.extend_from_slice(&chunk[..n]);
        std::thread::sleep(Duration::from_millis(10));
    }
    s.write_all(b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let first = read_response(&mut s, &mut got, false);
    assert_eq!((first.status, first.body.len()), (200, len));
    let next = read_response(&mut s, &mut got, false);
    assert_eq!((next.status, &next.body[..]), (200, &b"file a"[..]));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// What clients expect of any HTTP/1.1 server (and nginx does): the
/// content type of the file served (decoded, never guessed as HTML), a
/// `Date`, one `Host` on 1.1 requests, and ordinary names with `:`.
#[test]
fn content_types_date_and_host_as_clients_expect() {
    let dir = std::env::temp_dir().join(format!("evoflow-site-http-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    for name in [
        "a.html",
        "a.txt",
        "a.xml",
        "a.mp4",
        "a.webp",
        "a.woff2",
        "a.mp3",
        "a.zip",
        "a.bin",
        "README",
        "12:30.txt",
    ] {
        std::fs::write(dir.join(name), name).unwrap();
    }
    std::fs::write(dir.join("sub/index.html"), "sub index").unwrap();
    let srv = serve(Some(dir.clone()));
    for (path, expected) in [
        ("/a.html", "text/html; charset=utf-8"),
        ("/a.txt", "text/plain; charset=utf-8"),
        ("/a%2Etxt", "text/plain; charset=utf-8"),
        ("/a.xml", "application/xml"),
        ("/a.mp4", "video/mp4"),
        ("/a.webp", "image/webp"),
        ("/a.woff2", "font/woff2"),
        ("/a.mp3", "audio/mpeg"),
        ("/a.zip", "application/zip"),
        ("/a.bin", "application/octet-stream"),
        ("/README", "application/octet-stream"),
        ("/12:30.txt", "text/plain; charset=utf-8"),
        ("/sub/", "text/html; charset=utf-8"),
    ] {
        let r = get(srv.addr, path);
        assert_eq!(
            (r.status, r.header("content-type")),
            (200, Some(expected)),
            "{path}"
        );
    }
    let date = get(srv.addr, "/a.txt");
    let sent = httpdate::parse_http_date(date.header("date").expect("a Date header")).unwrap();
    let skew = std::time::SystemTime::now()
        .duration_since(sent)
        .unwrap_or_default();
    assert!(skew < Duration::from_secs(5), "{skew:?}");
    for (raw, status) in [
        ("GET /a.txt HTTP/1.1\r\n\r\n", 400),
        ("GET /a.txt HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        ("GET /a.txt HTTP/1.0\r\n\r\n", 200),
    ] {
        assert_eq!(request(srv.addr, raw).status, status, "{raw:?}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Shared-nothing: with two workers, each runs one whole lane (`accept`
/// goes with lane 0).
#[test]
fn with_two_workers_each_runs_its_own_lane() {
    let srv = serve(None);
    let schedule = srv.running.schedule();
    let names = |k: usize| -> Vec<String> {
        schedule.sections[k]
            .iter()
            .map(|i| i.name.clone())
            .collect()
    };
    assert_eq!(
        (names(0), names(1)),
        (
            ["accept", "read0", "parse0", "load0", "compose0", "reply0"]
                .map(String::from)
                .to_vec(),
            ["read1", "parse1", "load1", "compose1", "reply1"]
                .map(String::from)
                .to_vec()
        )
    );
}

/// A directory asked without its slash is redirected to it (301), and a
/// client that has a file (its ETag, or a date not older than the file)
/// gets a 304 with no body; anything else gets the file.
#[test]
fn directories_redirect_and_unchanged_files_answer_304() {
    let (dir, _) = site("conditional");
    std::fs::create_dir_all(dir.join("docs")).unwrap();
    std::fs::write(dir.join("docs/index.html"), "docs").unwrap();
    let srv = serve(Some(dir.clone()));
    let r = get(srv.addr, "/docs?x=1");
    assert_eq!((r.status, r.header("location")), (301, Some("/docs/?x=1")));
    assert_eq!(get(srv.addr, "/docs/").body, b"docs");

    let first = get(srv.addr, "/a.txt");
    let etag = first.header("etag").expect("an ETag").to_owned();
    let modified = first
        .header("last-modified")
        .expect("a Last-Modified")
        .to_owned();
    let ask = |headers: &str| {
        request(
            srv.addr,
            &format!("GET /a.txt HTTP/1.1\r\nHost: x\r\n{headers}\r\n"),
        )
    };
    for headers in [
        format!("If-None-Match: {etag}\r\n"),
        format!("If-None-Match: \"other\", W/{etag}\r\n"),
        "If-None-Match: *\r\n".to_owned(),
        format!("If-Modified-Since: {modified}\r\n"),
    ] {
        let r = ask(&headers);
        assert_eq!((r.status, r.body.len()), (304, 0), "{headers:?}");
        assert_eq!(r.header("etag"), Some(etag.as_str()));
    }
    for headers in [
        "If-None-Match: \"other\"\r\n".to_owned(),
        "If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT\r\n".to_owned(),
        // If-None-Match wins over If-Modified-Since.
        format!("If-None-Match: \"other\"\r\nIf-Modified-Since: {modified}\r\n"),
    ] {
        let r = ask(&headers);
        assert_eq!(
            (r.status, r.body.as_slice()),
            (200, &b"file a"[..]),
            "{headers:?}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
