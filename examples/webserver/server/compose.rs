//! Writes response heads.

use super::http::{Body, DateText, Loaded, Opened, Response, Status, Streamed};
use evoflow::{component, Outputs};
use std::sync::Arc;

/// Composes the status line and headers.
#[derive(Default)]
pub struct Compose;

/// The head of a response for `l`, with `extra` headers.
pub fn head(l: &Loaded, extra: &str) -> Vec<u8> {
    head_of(
        l.status,
        &l.content_type,
        l.body.len(),
        l.keep_alive,
        &[&l.extra, extra],
    )
}

/// A response head: status line, type, length, connection, `extra` header
/// lines. Pieces are copied in, numbers by `itoa`: `format!` machinery was
/// a tenth of the server's user time.
pub fn head_of(
    status: super::http::Status,
    content_type: &str,
    len: u64,
    keep_alive: bool,
    extra: &[&str],
) -> Vec<u8> {
    let (code, reason) = status.line();
    let mut numbers = itoa::Buffer::new();
    let mut h = Vec::with_capacity(160 + extra.iter().map(|e| e.len()).sum::<usize>());
    h.extend_from_slice(b"HTTP/1.1 ");
    h.extend_from_slice(numbers.format(code).as_bytes());
    h.push(b' ');
    h.extend_from_slice(reason.as_bytes());
    h.extend_from_slice(b"\r\nServer: evoflow\r\nDate: ");
    DATE.with(|d| {
        d.with(std::time::SystemTime::now(), |now| {
            h.extend_from_slice(now.as_bytes())
        })
    });
    h.extend_from_slice(b"\r\nContent-Type: ");
    h.extend_from_slice(content_type.as_bytes());
    h.extend_from_slice(b"\r\n");
    // A 304 has no body, and a length there would have to be the 200's
    // (RFC 9110 8.6): none is sent.
    if status != super::http::Status::NotModified {
        h.extend_from_slice(b"Content-Length: ");
        h.extend_from_slice(numbers.format(len).as_bytes());
        h.extend_from_slice(b"\r\n");
    }
    h.extend_from_slice(if keep_alive {
        b"Connection: keep-alive\r\n"
    } else {
        b"Connection: close\r\n"
    });
    for e in extra {
        h.extend_from_slice(e.as_bytes());
    }
    h.extend_from_slice(b"\r\n");
    h
}

thread_local! {
    static DATE: DateText = const { DateText::new() };
}

/// The response for `l`, with `extra` headers.
fn response(l: Loaded, extra: &str) -> Response {
    let head = head(&l, extra);
    let body = (!l.head_only).then_some(l.body);
    Response {
        conn: l.conn,
        seq: l.seq,
        head,
        body,
        close: !l.keep_alive,
    }
}

/// The answer to a request whose handler panicked: a 500, on a
/// connection that stays open as the client asked.
fn failed(l: Loaded) -> Response {
    response(
        Loaded {
            status: Status::InternalError,
            content_type: "text/plain".into(),
            body: Body::Memory(Arc::from(&b"internal server error\n"[..])),
            extra: String::new(),
            ..l
        },
        "",
    )
}

#[component(outputs(out: Response))]
impl Compose {
    #[input]
    fn inp(&mut self, l: Loaded, out: &mut Outputs<Self>) {
        out.out(response(l, ""));
    }

    #[recover(inp)]
    fn failed(&mut self, l: Loaded, out: &mut Outputs<Self>) {
        out.out(failed(l));
    }
}

/// Version 2: the same responses with one more header, the kind of change
/// made live to a running server.
#[derive(Default)]
pub struct ComposeV2;

#[component(version = 2, outputs(out: Response))]
impl ComposeV2 {
    #[input]
    fn inp(&mut self, l: Loaded, out: &mut Outputs<Self>) {
        out.out(response(l, "X-Evoflow-Compose: 2\r\n"));
    }

    #[recover(inp)]
    fn failed(&mut self, l: Loaded, out: &mut Outputs<Self>) {
        out.out(failed(l));
    }
}

/// A bad version 2, as a real update might ship: it panics on every
/// `EVERY`-th request of a connection. Watched, it is rolled back after
/// its first panic; its `#[recover]` answers the failing requests with a
/// 500 meanwhile.
#[derive(Default)]
pub struct ComposeBuggy;

/// How often [`ComposeBuggy`] panics: every this many requests per
/// connection.
pub const EVERY: u64 = 50;

#[component(version = 2, outputs(out: Response))]
impl ComposeBuggy {
    #[input]
    fn inp(&mut self, l: Loaded, out: &mut Outputs<Self>) {
        if l.seq % EVERY == EVERY - 1 {
            panic!(
                "compose v2 bug: request {} of connection {}",
                l.seq, l.conn.id
            );
        }
        out.out(response(l, "X-Evoflow-Compose: 2\r\n"));
    }

    #[recover(inp)]
    fn failed(&mut self, l: Loaded, out: &mut Outputs<Self>) {
        out.out(failed(l));
    }
}

/// Version 3: composes heads for opened files, passing their bodies on to
/// `ReplyStream` (the coordinated switch to streaming).
#[derive(Default)]
pub struct ComposeStream;

#[component(version = 3, outputs(out: Streamed))]
impl ComposeStream {
    #[input]
    fn inp(&mut self, o: Opened, out: &mut Outputs<Self>) {
        let head = head_of(
            o.status,
            &o.content_type,
            o.body.len(),
            o.keep_alive,
            &[&o.extra],
        );
        let body = (!o.head_only).then_some(o.body);
        out.out(Streamed {
            conn: o.conn,
            seq: o.seq,
            head,
            body,
            close: !o.keep_alive,
        });
    }
}
