//! Parses request heads: method, target, version, keep-alive.

use super::http::{Conditions, Method, Raw, Request, Status};
use evoflow::{component, Outputs};

/// Turns framed heads into requests; malformed ones get their status.
#[derive(Default)]
pub struct Parse;

/// Method, target and keep-alive of a complete request head (ending with
/// its blank line), or the status that refuses it.
/// What a request head says that the server uses.
pub struct Head {
    pub method: Method,
    pub path: String,
    pub keep_alive: bool,
    pub conditions: Conditions,
    pub gzip: bool,
}

pub fn parse_head(head: &[u8]) -> Result<Head, Status> {
    if other_version(head) {
        return Err(Status::VersionNotSupported);
    }
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Err(httparse::Error::Version) => return Err(Status::VersionNotSupported),
        _ => return Err(Status::BadRequest),
    }
    let minor = req.version.ok_or(Status::BadRequest)?;
    let method = match req.method.ok_or(Status::BadRequest)? {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        _ => return Err(Status::MethodNotAllowed),
    };
    let target = req.path.ok_or(Status::BadRequest)?;
    // The absolute form (`http://host/path`) must be accepted too (RFC
    // 9112 3.2.2); its path is what is served.
    let path = match target.split_once("://") {
        Some((scheme, rest))
            if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") =>
        {
            match rest.find('/') {
                Some(at) => rest[at..].to_owned(),
                None => "/".to_owned(),
            }
        }
        _ => target.to_owned(),
    };
    if !path.starts_with('/') {
        return Err(Status::BadRequest);
    }
    // RFC 9112 3.2: a 1.1 request has exactly one Host; none has two.
    let hosts = req
        .headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("host"))
        .count();
    if hosts > 1 || (minor == 1 && hosts == 0) {
        return Err(Status::BadRequest);
    }
    let keep_alive = keeps_alive(minor, req.headers);
    let header = |name: &str| {
        req.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .and_then(|h| std::str::from_utf8(h.value).ok())
            .map(str::to_owned)
    };
    let conditions = Conditions {
        if_none_match: header("if-none-match"),
        if_modified_since: header("if-modified-since"),
        range: header("range"),
        if_range: header("if-range"),
        if_match: header("if-match"),
        if_unmodified_since: header("if-unmodified-since"),
    };
    // A list header: its lines joined.
    let accept_encoding: Vec<&str> = req
        .headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("accept-encoding"))
        .filter_map(|h| std::str::from_utf8(h.value).ok())
        .collect();
    let gzip = accepts_gzip(&accept_encoding.join(","));
    Ok(Head {
        method,
        path,
        keep_alive,
        conditions,
        gzip,
    })
}

/// True if the connection stays open after a request of HTTP/1.`minor`
/// with `headers` (RFC 9112 9.3). `read` asks it too, and frames nothing
/// after a request that closes: the two never disagree.
pub fn keeps_alive(minor: u8, headers: &[httparse::Header]) -> bool {
    // `Connection` is a list: every line of it counts.
    let says = |word: &str| {
        headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case("connection"))
            .flat_map(|h| h.value.split(|b| *b == b','))
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(word.as_bytes()))
    };
    // `close` wins over `keep-alive` when both are listed.
    !says("close") && (minor == 1 || says("keep-alive"))
}

/// True if an `Accept-Encoding` value admits gzip (RFC 9110 12.5.3):
/// named, or covered by `*`, with a non-zero quality.
pub fn accepts_gzip(value: &str) -> bool {
    let mut star = false;
    for item in value.split(',') {
        let mut params = item.split(';');
        let coding = params.next().unwrap_or_default().trim();
        let q = params
            .filter_map(|p| p.split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
            .map_or(1.0, |(_, v)| v.trim().parse::<f32>().unwrap_or(0.0));
        if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
            return q > 0.0;
        }
        if coding == "*" {
            star = q > 0.0;
        }
    }
    star
}

/// httparse accepts only HTTP/1.x; anything else in the request line's
/// version position is reported as 505 rather than 400.
fn other_version(head: &[u8]) -> bool {
    let line = head.split(|b| *b == b'\r').next().unwrap_or_default();
    line.rsplit(|b| *b == b' ')
        .next()
        .is_some_and(|v| v.starts_with(b"HTTP/") && !v.starts_with(b"HTTP/1."))
}

#[component(outputs(out: Request))]
impl Parse {
    #[input]
    fn inp(&mut self, raw: Raw, out: &mut Outputs<Self>) {
        let parsed = match raw.problem {
            Some(status) => Err(status),
            None => parse_head(&raw.head),
        };
        let request = match parsed {
            Ok(head) => Request {
                conn: raw.conn,
                seq: raw.seq,
                method: head.method,
                path: head.path,
                keep_alive: head.keep_alive,
                error: None,
                conditions: head.conditions,
                gzip: head.gzip,
            },
            Err(status) => Request {
                conn: raw.conn,
                seq: raw.seq,
                method: Method::Get,
                path: String::new(),
                keep_alive: false,
                error: Some(status),
                conditions: Conditions::default(),
                gzip: false,
            },
        };
        out.out(request)
    }
}
