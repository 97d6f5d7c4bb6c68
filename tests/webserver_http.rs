//! HTTP that clients expect from a file server, over real sockets: byte
//! ranges (single, suffix, open-ended, several as `multipart/byteranges`,
//! unsatisfiable), precompressed `.gz` siblings, `Expect: 100-continue`,
//! and chunked request bodies read and discarded.

mod common;
#[path = "../examples/webserver/server/mod.rs"]
#[allow(dead_code)]
mod server;

use common::http::{closed, connect, fill, read_response, request, Resp};
use evoflow::Running;
use server::range::{parse, Ranges, MAX_RANGES};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

struct Served {
    addr: SocketAddr,
    running: Running,
    dir: PathBuf,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.running.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// 1,000 bytes of text.
fn data() -> Vec<u8> {
    (0..1000u32).map(|i| b'a' + (i % 26) as u8).collect()
}

/// 300 KiB, streamed from the open file rather than read into memory.
fn big() -> Vec<u8> {
    (0..300 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect()
}

/// A server over a directory with `data.txt`, `big.bin`, `page.html`
/// and its precompressed `page.html.gz`, and `dir/index.html`.
fn serve(tag: &str) -> Served {
    let dir = std::env::temp_dir().join(format!("evoflow-http-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("dir")).unwrap();
    std::fs::write(dir.join("data.txt"), data()).unwrap();
    std::fs::write(dir.join("big.bin"), big()).unwrap();
    std::fs::write(dir.join("page.html"), "<p>plain</p>").unwrap();
    std::fs::write(dir.join("page.html.gz"), b"\x1f\x8bcompressed").unwrap();
    std::fs::write(dir.join("dir/index.html"), "<p>index</p>").unwrap();
    std::fs::write(dir.join("dir.gz"), "not for /dir/").unwrap();
    std::fs::write(dir.join("empty.txt"), "").unwrap();
    std::fs::write(dir.join("only.txt.gz"), "a sibling without its file").unwrap();
    // FIFOs: opening one for reading blocks until a writer comes.
    std::fs::write(dir.join("fifo.txt"), "a file whose sibling is a FIFO").unwrap();
    for fifo in ["pipe", "fifo.txt.gz"] {
        let path = std::ffi::CString::new(dir.join(fifo).to_str().unwrap()).unwrap();
        // SAFETY: a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o644) }, 0);
    }
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
    Served { addr, running, dir }
}

/// `GET path` with more header lines.
fn get_with(addr: SocketAddr, path: &str, headers: &str) -> Resp {
    request(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: x\r\n{headers}\r\n"),
    )
}

fn range(addr: SocketAddr, path: &str, spec: &str) -> Resp {
    get_with(addr, path, &format!("Range: {spec}\r\n"))
}

#[test]
fn range_header_forms() {
    assert_eq!(parse("bytes=0-9", 100), Ranges::Parts(vec![(0, 9)]));
    assert_eq!(parse("bytes=90-", 100), Ranges::Parts(vec![(90, 99)]));
    assert_eq!(parse("bytes=-10", 100), Ranges::Parts(vec![(90, 99)]));
    assert_eq!(parse("bytes=-500", 100), Ranges::Parts(vec![(0, 99)]));
    assert_eq!(parse("bytes=50-500", 100), Ranges::Parts(vec![(50, 99)]));
    assert_eq!(parse("Bytes = 1-2", 100), Ranges::Parts(vec![(1, 2)]));
    // Sorted; overlapping, adjacent or close ones merged; repeats once.
    assert_eq!(
        parse("bytes=500-599,0-9", 1000),
        Ranges::Parts(vec![(0, 9), (500, 599)])
    );
    assert_eq!(
        parse("bytes=0-5,3-9,10-20", 1000),
        Ranges::Parts(vec![(0, 20)])
    );
    assert_eq!(parse("bytes=0-,0-,0-", 1000), Ranges::Parts(vec![(0, 999)]));
    // Satisfiable if any one is.
    assert_eq!(parse("bytes=0-1,200-", 100), Ranges::Parts(vec![(0, 1)]));
    for none in ["bytes=100-", "bytes=-0", "bytes=200-300,100-"] {
        assert_eq!(parse(none, 100), Ranges::Unsatisfiable, "{none}");
    }
    for ignored in [
        "bytes=a-b",
        "bytes=5-1",
        "items=0-1",
        "bytes",
        "bytes=-",
        "bytes=1",
        "bytes=+1-2",
    ] {
        assert_eq!(parse(ignored, 100), Ranges::Whole, "{ignored}");
    }
    let many = format!("bytes={}", vec!["0-0"; MAX_RANGES + 1].join(","));
    assert_eq!(parse(&many, 100), Ranges::Whole);
    // Empty list elements are skipped; numbers past u64 are past the end.
    assert_eq!(parse("bytes=0-1,", 100), Ranges::Parts(vec![(0, 1)]));
    assert_eq!(parse("bytes=, 0-1", 100), Ranges::Parts(vec![(0, 1)]));
    assert_eq!(
        parse("bytes=0-99999999999999999999999", 100),
        Ranges::Parts(vec![(0, 99)])
    );
    // A suffix of an empty representation is all of it: sent whole.
    assert_eq!(parse("bytes=-5", 0), Ranges::Whole);
    assert_eq!(parse("bytes=0-", 0), Ranges::Unsatisfiable);
}

#[test]
fn single_ranges_answer_206_and_unsatisfiable_ones_416() {
    let s = serve("single");
    let (data, big) = (data(), big());
    for (spec, from, to) in [
        ("bytes=0-9", 0, 9),
        ("bytes=-10", 990, 999),
        ("bytes=995-", 995, 999),
        ("bytes=990-5000", 990, 999),
    ] {
        let r = range(s.addr, "/data.txt", spec);
        assert_eq!(r.status, 206, "{spec}");
        assert_eq!(
            r.header("content-range"),
            Some(&*format!("bytes {from}-{to}/1000")),
            "{spec}"
        );
        assert_eq!(r.body, data[from..=to], "{spec}");
        assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    }
    // A streamed file, from the middle.
    let r = range(s.addr, "/big.bin", "bytes=200000-200099");
    assert_eq!(r.status, 206);
    assert_eq!(r.body, big[200_000..200_100]);

    let r = range(s.addr, "/data.txt", "bytes=1000-");
    assert_eq!(r.status, 416);
    assert_eq!(r.header("content-range"), Some("bytes */1000"));
    // Malformed or another unit: the whole file, saying ranges work.
    for spec in ["bytes=x-1", "lines=1-2"] {
        let r = range(s.addr, "/data.txt", spec);
        assert_eq!(r.status, 200);
        assert_eq!(r.body, data);
        assert_eq!(r.header("accept-ranges"), Some("bytes"));
    }
    let r = range(s.addr, "/empty.txt", "bytes=-5");
    assert_eq!((r.status, r.body.len()), (200, 0));
    // HEAD ignores Range.
    let r = request(
        s.addr,
        "HEAD /data.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=0-9\r\n\r\n",
    );
    assert_eq!((r.status, r.header("content-length")), (200, Some("1000")));
}

#[test]
fn if_range_and_if_none_match_decide_before_the_range() {
    let s = serve("ifrange");
    let whole = range(s.addr, "/data.txt", "bytes=0-0");
    let etag = whole.header("etag").unwrap().to_owned();
    let modified = whole.header("last-modified").unwrap().to_owned();
    let with = |h: String| get_with(s.addr, "/data.txt", &format!("Range: bytes=0-9\r\n{h}"));
    assert_eq!(with(format!("If-Range: {etag}\r\n")).status, 206);
    assert_eq!(with(format!("If-Range: {modified}\r\n")).status, 206);
    // Another version, or a weak tag: the whole current file.
    assert_eq!(with("If-Range: \"other\"\r\n".into()).status, 200);
    assert_eq!(with(format!("If-Range: W/{etag}\r\n")).status, 200);
    assert_eq!(
        with("If-Range: Tue, 01 Jan 2019 00:00:00 GMT\r\n".into()).status,
        200
    );
    // The client has it: 304 wins over the range.
    assert_eq!(with(format!("If-None-Match: {etag}\r\n")).status, 304);
}

/// The parts of a `multipart/byteranges` body: each part's
/// `Content-Range` and bytes.
fn parts(r: &Resp) -> Vec<(String, Vec<u8>)> {
    let ct = r.header("content-type").unwrap();
    let boundary = ct
        .strip_prefix("multipart/byteranges; boundary=")
        .unwrap_or_else(|| panic!("not multipart: {ct}"));
    let delimiter = format!("--{boundary}");
    let close = format!("\r\n--{boundary}--\r\n");
    assert!(r.body.ends_with(close.as_bytes()), "no closing delimiter");
    let mut body = &r.body[..r.body.len() - close.len()];
    let mut out = Vec::new();
    loop {
        body = body.strip_prefix(delimiter.as_bytes()).expect("delimiter");
        let head_end = body.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = std::str::from_utf8(&body[..head_end]).unwrap();
        let range = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Range: "))
            .unwrap()
            .to_owned();
        let (a, b) = range
            .strip_prefix("bytes ")
            .and_then(|r| r.split_once('/'))
            .and_then(|(r, _)| r.split_once('-'))
            .unwrap();
        let n = b.parse::<usize>().unwrap() - a.parse::<usize>().unwrap() + 1;
        let data = &body[head_end + 4..head_end + 4 + n];
        out.push((range, data.to_vec()));
        body = &body[head_end + 4 + n..];
        if body.is_empty() {
            return out;
        }
        body = body.strip_prefix(b"\r\n").expect("CRLF before a delimiter");
    }
}

#[test]
fn several_ranges_answer_multipart_byteranges() {
    let s = serve("multi");
    let (data, big) = (data(), big());
    let r = range(s.addr, "/data.txt", "bytes=500-504, 0-4, -5");
    assert_eq!(r.status, 206);
    assert_eq!(
        parts(&r),
        vec![
            ("bytes 0-4/1000".to_owned(), data[0..5].to_vec()),
            ("bytes 500-504/1000".to_owned(), data[500..505].to_vec()),
            ("bytes 995-999/1000".to_owned(), data[995..].to_vec()),
        ]
    );
    // From a streamed file, on one connection with a plain GET after it.
    let mut c = connect(s.addr);
    c.write_all(
        b"GET /big.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=0-99999,250000-\r\n\r\n\
          GET /data.txt HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .unwrap();
    let mut buf = Vec::new();
    let r = read_response(&mut c, &mut buf, false);
    let got = parts(&r);
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].1, big[..100_000]);
    assert_eq!(got[1].1, big[250_000..]);
    let next = read_response(&mut c, &mut buf, false);
    assert_eq!((next.status, next.body), (200, data));
    // Overlapping ranges are one part, not a multipart body.
    let r = range(s.addr, "/data.txt", "bytes=0-5,3-9");
    assert_eq!(r.header("content-range"), Some("bytes 0-9/1000"));
}

#[test]
fn precompressed_siblings_for_clients_that_take_gzip() {
    let s = serve("gzip");
    let gz = b"\x1f\x8bcompressed".to_vec();
    for accept in ["gzip", "deflate, gzip;q=0.5", "br, *", "GZIP"] {
        let r = get_with(
            s.addr,
            "/page.html",
            &format!("Accept-Encoding: {accept}\r\n"),
        );
        assert_eq!(r.status, 200, "{accept}");
        assert_eq!(r.body, gz, "{accept}");
        assert_eq!(r.header("content-encoding"), Some("gzip"));
        assert_eq!(r.header("vary"), Some("Accept-Encoding"));
        assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    }
    for accept in [
        None,
        Some("identity"),
        Some("gzip;q=0"),
        Some("gzip;q=0, *"),
    ] {
        let h = accept.map_or(String::new(), |a| format!("Accept-Encoding: {a}\r\n"));
        let r = get_with(s.addr, "/page.html", &h);
        assert_eq!(r.body, b"<p>plain</p>", "{accept:?}");
        assert_eq!(r.header("content-encoding"), None);
    }
    // Each representation has its own validator and ranges.
    let plain = get_with(s.addr, "/page.html", "");
    let zipped = get_with(s.addr, "/page.html", "Accept-Encoding: gzip\r\n");
    assert_ne!(plain.header("etag"), zipped.header("etag"));
    let r = get_with(
        s.addr,
        "/page.html",
        "Accept-Encoding: gzip\r\nRange: bytes=0-1\r\n",
    );
    assert_eq!((r.status, r.body), (206, gz[..2].to_vec()));
    // A directory's index is never replaced by `dir.gz`, nor is the
    // directory's redirect; a sibling never stands in for a missing file.
    let r = get_with(s.addr, "/dir/", "Accept-Encoding: gzip\r\n");
    assert_eq!(r.body, b"<p>index</p>");
    let r = get_with(s.addr, "/dir", "Accept-Encoding: gzip\r\n");
    assert_eq!((r.status, r.header("location")), (301, Some("/dir/")));
    let r = get_with(s.addr, "/only.txt", "Accept-Encoding: gzip\r\n");
    assert_eq!(r.status, 404);
    // Caches are told that the encoding decides, whichever was sent.
    assert_eq!(plain.header("vary"), Some("Accept-Encoding"));
    // A 416 is an error page, not gzip.
    let r = get_with(
        s.addr,
        "/page.html",
        "Accept-Encoding: gzip\r\nRange: bytes=1000-\r\n",
    );
    assert_eq!(r.status, 416);
    assert_eq!(r.header("content-encoding"), None);
    assert_eq!(r.header("content-range"), Some("bytes */12"));
}

#[test]
fn what_a_path_names_and_preconditions() {
    let s = serve("paths");
    // A file asked for as a directory is not there (and never a page).
    assert_eq!(get_with(s.addr, "/data.txt/", "").status, 404);
    // A FIFO is not served and does not hang the server, nor does a
    // FIFO sibling for a client that takes gzip.
    for _ in 0..4 {
        assert_eq!(get_with(s.addr, "/pipe", "").status, 404);
        let r = get_with(s.addr, "/fifo.txt", "Accept-Encoding: gzip\r\n");
        assert_eq!(r.body, b"a file whose sibling is a FIFO");
    }
    // A redirect stays on this site: `//dir` is not `//host`.
    let r = get_with(s.addr, "//dir?q=1", "");
    assert_eq!((r.status, r.header("location")), (301, Some("/dir/?q=1")));
    // The absolute form is accepted.
    let r = request(s.addr, "GET http://x/data.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!((r.status, r.body), (200, data()));
    // `Connection` is a list over all its lines.
    let mut c = connect(s.addr);
    c.write_all(
        b"GET /data.txt HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let r = read_response(&mut c, &mut Vec::new(), false);
    assert_eq!(r.header("connection"), Some("close"));
    assert!(closed(&mut c));
    // If-Match and If-Unmodified-Since: a resumed download never
    // splices two versions.
    let etag = get_with(s.addr, "/data.txt", "")
        .header("etag")
        .unwrap()
        .to_owned();
    let with = |h: String| get_with(s.addr, "/data.txt", &h);
    assert_eq!(with(format!("If-Match: \"old\", {etag}\r\n")).status, 200);
    assert_eq!(with("If-Match: \"old\"\r\n".into()).status, 412);
    assert_eq!(
        with("If-Unmodified-Since: Tue, 01 Jan 2019 00:00:00 GMT\r\n".into()).status,
        412
    );
    // A 304 carries no Content-Length.
    let r = with(format!("If-None-Match: {etag}\r\n"));
    assert_eq!((r.status, r.header("content-length")), (304, None));
}

/// Reads exactly the interim `100 Continue` from `c`.
fn read_continue(c: &mut TcpStream) {
    let want = b"HTTP/1.1 100 Continue\r\n\r\n";
    let mut got = vec![0; want.len()];
    c.read_exact(&mut got).expect("100 Continue");
    assert_eq!(got, want, "{}", String::from_utf8_lossy(&got));
}

/// True if nothing arrives on `c` within `wait`.
fn silent(c: &mut TcpStream, wait: Duration) -> bool {
    c.set_read_timeout(Some(wait)).unwrap();
    let mut b = [0u8; 1];
    let quiet = matches!(c.read(&mut b), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock);
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    quiet
}

#[test]
fn expect_100_continue_is_answered_before_the_body_and_in_order() {
    let s = serve("expect");
    let (data, big) = (data(), big());
    let mut c = connect(s.addr);
    c.write_all(
        b"GET /data.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
    )
    .unwrap();
    read_continue(&mut c);
    c.write_all(b"hello").unwrap();
    let r = read_response(&mut c, &mut Vec::new(), false);
    assert_eq!((r.status, r.body), (200, data.clone()));

    // Behind a large response: the interim one follows it, never lands
    // inside it.
    let mut c = connect(s.addr);
    c.write_all(
        b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n\
          GET /data.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n",
    )
    .unwrap();
    let mut buf = Vec::new();
    let r = read_response(&mut c, &mut buf, false);
    assert_eq!(r.body, big);
    while buf.len() < 25 {
        fill(&mut c, &mut buf);
    }
    assert_eq!(&buf[..25], b"HTTP/1.1 100 Continue\r\n\r\n");
    c.write_all(b"abc").unwrap();
    buf.drain(..25);
    assert_eq!(read_response(&mut c, &mut buf, false).status, 200);

    // Chunked bodies are continued too.
    let mut c = connect(s.addr);
    c.write_all(b"GET /data.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nExpect: 100-Continue\r\n\r\n")
        .unwrap();
    read_continue(&mut c);
    c.write_all(b"3\r\nabc\r\n0\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut c, &mut Vec::new(), false).status, 200);

    // HTTP/1.0 clients' Expect is ignored: no interim response.
    let mut c = connect(s.addr);
    c.write_all(b"GET /data.txt HTTP/1.0\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n")
        .unwrap();
    assert!(silent(&mut c, Duration::from_millis(300)));
    c.write_all(b"ok").unwrap();
    assert_eq!(read_response(&mut c, &mut Vec::new(), false).status, 200);

    // A body over the limit is refused at once, without 100.
    let r = request(
        s.addr,
        "GET /data.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\nExpect: 100-continue\r\n\r\n",
    );
    assert_eq!(r.status, 413);
    // Another expectation: 417, and the connection closes.
    let mut c = connect(s.addr);
    c.write_all(b"GET /data.txt HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut c, &mut Vec::new(), false).status, 417);
    assert!(closed(&mut c));
}

#[test]
fn chunked_request_bodies_are_read_and_discarded() {
    let s = serve("chunked");
    let data = data();
    let get = b"GET /data.txt HTTP/1.1\r\nHost: x\r\n\r\n";
    let chunked = b"GET /data.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
        5;name=value\r\nhello\r\n0b\r\n, pipelined\r\n0\r\nX-Trailer: yes\r\n\r\n";
    // Pipelined between two plain requests: three answers, in order.
    let mut c = connect(s.addr);
    c.write_all(&[&get[..], chunked, get].concat()).unwrap();
    let mut buf = Vec::new();
    for _ in 0..3 {
        let r = read_response(&mut c, &mut buf, false);
        assert_eq!((r.status, &r.body), (200, &data));
    }
    // One byte at a time.
    let mut c = connect(s.addr);
    c.set_nodelay(true).unwrap();
    for b in chunked.iter().chain(get) {
        c.write_all(&[*b]).unwrap();
    }
    let mut buf = Vec::new();
    for _ in 0..2 {
        assert_eq!(read_response(&mut c, &mut buf, false).status, 200);
    }
    // Many small chunks within the limit.
    let mut body =
        b"GET /data.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..1000 {
        body.extend_from_slice(b"a\r\n0123456789\r\n");
    }
    body.extend_from_slice(b"0\r\n\r\n");
    let mut c = connect(s.addr);
    c.write_all(&body).unwrap();
    assert_eq!(read_response(&mut c, &mut Vec::new(), false).status, 200);
}

#[test]
fn unclear_or_oversized_chunked_bodies_are_refused_and_close() {
    let s = serve("refused");
    let head = "GET /data.txt HTTP/1.1\r\nHost: x\r\n";
    let cases: Vec<(String, u16)> = vec![
        // Two framings: which one a proxy used is unknown.
        (
            format!("{head}Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n"),
            400,
        ),
        // Chunked not last, twice, or empty.
        (
            format!("{head}Transfer-Encoding: chunked, gzip\r\n\r\n"),
            400,
        ),
        (
            format!(
                "{head}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
            ),
            400,
        ),
        (format!("{head}Transfer-Encoding: \r\n\r\n"), 400),
        // A coding this server does not know.
        (
            format!("{head}Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"),
            501,
        ),
        // In HTTP/1.0.
        (
            "GET /data.txt HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".into(),
            400,
        ),
        // Malformed chunks: no digits, not hex, data without its CRLF,
        // a bare LF in the size line.
        (
            format!("{head}Transfer-Encoding: chunked\r\n\r\n\r\n\r\n"),
            400,
        ),
        (
            format!("{head}Transfer-Encoding: chunked\r\n\r\nzz\r\n"),
            400,
        ),
        (
            format!("{head}Transfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n"),
            400,
        ),
        (
            format!("{head}Transfer-Encoding: chunked\r\n\r\n3;a\nb\r\nabc\r\n0\r\n\r\n"),
            400,
        ),
        // A bare LF ending the body or a trailer line.
        (
            format!(
                "{head}Transfer-Encoding: chunked\r\n\r\n0\r\n\nGET /a HTTP/1.1\r\nHost: x\r\n\r\n"
            ),
            400,
        ),
        (
            format!("{head}Transfer-Encoding: chunked\r\n\r\n0\r\nX: y\n\r\n"),
            400,
        ),
        // Data over 64 KiB, announced or sent.
        (
            format!("{head}Transfer-Encoding: chunked\r\n\r\n10001\r\n"),
            413,
        ),
        (
            format!(
                "{head}Transfer-Encoding: chunked\r\n\r\n{}",
                "8000\r\n".to_owned() + &"x".repeat(0x8000) + "\r\n8001\r\n"
            ),
            413,
        ),
    ];
    for (raw, status) in cases {
        let mut c = connect(s.addr);
        c.write_all(raw.as_bytes()).unwrap();
        let r = read_response(&mut c, &mut Vec::new(), false);
        assert_eq!(r.status, status, "{raw:?}");
        assert!(closed(&mut c), "{raw:?} left the connection open");
    }
    // Chunk framing that outgrows the request buffer (64 KiB of data in
    // one-byte chunks is 384 KiB on the wire) is refused, not held.
    let mut raw = format!("{head}Transfer-Encoding: chunked\r\n\r\n").into_bytes();
    for _ in 0..20_000 {
        raw.extend_from_slice(b"1\r\nx\r\n");
    }
    let mut c = connect(s.addr);
    let _ = c.write_all(&raw);
    assert_eq!(read_response(&mut c, &mut Vec::new(), false).status, 413);
}

/// `GET /` on `s` (keep-alive), answered 200.
fn served(s: &mut TcpStream) {
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_eq!(read_response(s, &mut Vec::new(), false).status, 200);
}

/// A connection over the cap is answered 503 and closed at once; the
/// clients already served go on, and a place freed by a client that left
/// is taken again.
#[test]
fn a_connection_over_the_cap_is_answered_503_and_the_others_go_on() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let running = server::server(server::Config {
        listener,
        root: None,
        workers: 1,
        max_connections: 2,
    })
    .unwrap()
    .run()
    .unwrap();
    let mut kept: Vec<TcpStream> = (0..2).map(|_| connect(addr)).collect();
    kept.iter_mut().for_each(served);
    let mut over = connect(addr);
    let refused = read_response(&mut over, &mut Vec::new(), false);
    assert_eq!(refused.status, 503);
    assert_eq!(refused.header("Retry-After"), Some("1"));
    assert!(closed(&mut over), "the connection over the cap stays open");
    kept.iter_mut().for_each(served);
    drop(kept.pop());
    // The server frees the place when it reads the client's end.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mut s = connect(addr);
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        match read_response(&mut s, &mut Vec::new(), false).status {
            200 => break,
            503 => assert!(
                std::time::Instant::now() < deadline,
                "the place was never freed"
            ),
            other => panic!("unexpected {other}"),
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    served(&mut kept[0]);
    running.stop();
    running.join().unwrap();
}

/// The cap counts the connections of every lane: with two workers the
/// connections alternate between the lanes, and the fourth of a cap of 3
/// is refused whichever lane it lands on.
#[test]
fn the_cap_counts_the_connections_of_both_lanes() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let running = server::server(server::Config {
        listener,
        root: None,
        workers: 2,
        max_connections: 3,
    })
    .unwrap()
    .run()
    .unwrap();
    let mut kept: Vec<TcpStream> = (0..3).map(|_| connect(addr)).collect();
    kept.iter_mut().for_each(served);
    let mut over = connect(addr);
    assert_eq!(read_response(&mut over, &mut Vec::new(), false).status, 503);
    assert!(closed(&mut over), "the connection over the cap stays open");
    kept.iter_mut().for_each(served);
    running.stop();
    running.join().unwrap();
}
