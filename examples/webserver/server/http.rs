//! The packets that flow through the server, and HTTP status codes.

use mio::net::TcpStream;
use std::borrow::Cow;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

/// An open connection's socket, shared by `read` (reading) and `reply`
/// (writing).
pub struct Socket {
    /// Non-blocking.
    pub stream: TcpStream,
    /// Responses written so far (counted by `reply`): `read` frames a
    /// connection's next request only while fewer than
    /// [`MAX_PIPELINED`] are unanswered, so a client that pipelines and
    /// does not read holds a bounded number of responses.
    pub answered: AtomicU64,
}

/// The connection a request or response belongs to. On the machine that
/// accepted it, it holds the socket; a packet that crosses to another
/// machine carries only its name there (see [`super::wire`]), and the
/// socket again when it comes back.
#[derive(Clone)]
pub struct ConnRef {
    /// Unique per server.
    pub id: u64,
    pub(super) at: At,
}

/// Where a connection's socket is.
#[derive(Clone)]
pub(super) enum At {
    Here(Arc<Socket>),
    /// In the process named `home`, under `key` ([`super::wire`]).
    Away {
        home: u64,
        key: u64,
    },
}

impl ConnRef {
    /// Connection `id`, whose socket is in this process.
    pub fn here(id: u64, socket: Arc<Socket>) -> Self {
        ConnRef {
            id,
            at: At::Here(socket),
        }
    }

    /// The socket, if it is in this process: a response for a connection
    /// of another machine cannot be written here.
    pub fn socket(&self) -> Option<&Arc<Socket>> {
        match &self.at {
            At::Here(socket) => Some(socket),
            At::Away { .. } => None,
        }
    }
}

/// Requests of one connection framed but not yet answered, at most.
pub const MAX_PIPELINED: u64 = 32;

/// A newly accepted connection.
pub struct Conn {
    /// Unique per server.
    pub id: u64,
    /// The socket, non-blocking.
    pub stream: TcpStream,
}

/// One framed request: its head, or why it could not be framed.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Raw {
    /// Where it came from.
    pub conn: ConnRef,
    /// Position among the connection's requests, from 0.
    pub seq: u64,
    /// Request line and headers, up to and including the blank line.
    #[serde(with = "serde_bytes")]
    pub head: Vec<u8>,
    /// Set when the request is refused at framing (the connection closes).
    pub problem: Option<Status>,
}

/// Methods the server serves.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
}

/// A parsed request.
pub struct Request {
    pub conn: ConnRef,
    pub seq: u64,
    pub method: Method,
    /// Path as sent (percent-encoded, maybe with a query).
    pub path: String,
    /// The client keeps the connection open after the response.
    pub keep_alive: bool,
    /// Set when the request is answered with an error without loading.
    pub error: Option<Status>,
    /// `If-None-Match`, `If-Modified-Since`, `Range`, `If-Range`.
    pub conditions: Conditions,
    /// `Accept-Encoding` admits gzip: a precompressed `.gz` sibling of
    /// the file may be sent instead.
    pub gzip: bool,
}

/// A request's conditional and range headers.
#[derive(Clone, Debug, Default)]
pub struct Conditions {
    pub if_none_match: Option<String>,
    pub if_modified_since: Option<String>,
    pub range: Option<String>,
    pub if_range: Option<String>,
    pub if_match: Option<String>,
    pub if_unmodified_since: Option<String>,
}

/// A loaded response body, or an error.
#[derive(Clone)]
pub struct Loaded {
    pub conn: ConnRef,
    pub seq: u64,
    pub status: Status,
    pub content_type: Cow<'static, str>,
    pub body: Body,
    /// HEAD: send the headers only.
    pub head_only: bool,
    pub keep_alive: bool,
    /// More header lines (`ETag`, `Location`, ...), each ending in CRLF.
    pub extra: String,
}

/// Kept while `compose` handles it: a request whose handler panics is
/// answered with a 500 by `#[recover]` (a clone is an `Arc` increment).
impl evoflow::Recoverable for Loaded {}

impl std::fmt::Debug for Loaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loaded")
            .field("conn", &self.conn.id)
            .field("seq", &self.seq)
            .field("status", &self.status.line().0)
            .field("bytes", &self.body.len())
            .finish()
    }
}

/// A response ready to write.
pub struct Response {
    pub conn: ConnRef,
    pub seq: u64,
    pub head: Vec<u8>,
    pub body: Option<Body>,
    /// Close the connection after this response.
    pub close: bool,
}

/// A body in memory, or an open file streamed as the client takes it.
#[derive(Clone)]
pub enum Body {
    Memory(Arc<[u8]>),
    /// `len` bytes of an open file from `offset`, streamed in chunks as
    /// the client reads (positioned reads, so the file is shared: a
    /// packet holding it can be kept for `#[recover]`).
    File {
        file: Arc<std::fs::File>,
        offset: u64,
        len: u64,
    },
    /// Bodies sent one after another (the parts of a
    /// `multipart/byteranges` response); none is itself `Parts`.
    Parts(Arc<[Body]>),
}

impl Body {
    /// Length in bytes.
    pub fn len(&self) -> u64 {
        match self {
            Body::Memory(b) => b.len() as u64,
            Body::File { len, .. } => *len,
            Body::Parts(parts) => parts.iter().map(Body::len).sum(),
        }
    }

    /// All of an open file of `len` bytes.
    pub fn file(file: std::fs::File, len: u64) -> Self {
        Body::File {
            file: Arc::new(file),
            offset: 0,
            len,
        }
    }
}

/// What the streaming `load` sends: like [`Loaded`], with a [`Body`].
pub struct Opened {
    pub conn: ConnRef,
    pub seq: u64,
    pub status: Status,
    pub content_type: Cow<'static, str>,
    pub body: Body,
    pub head_only: bool,
    pub keep_alive: bool,
    /// More header lines, each ending in CRLF.
    pub extra: String,
}

/// What the streaming `compose` sends: like [`Response`], with a [`Body`].
pub struct Streamed {
    pub conn: ConnRef,
    pub seq: u64,
    pub head: Vec<u8>,
    pub body: Option<Body>,
    pub close: bool,
}

impl From<Response> for Streamed {
    fn from(r: Response) -> Self {
        Streamed {
            conn: r.conn,
            seq: r.seq,
            head: r.head,
            body: r.body,
            close: r.close,
        }
    }
}

/// An HTTP date, formatted again only when the second it names changes
/// (one per thread): the `Date` of every response, a file's
/// `Last-Modified`. Formatting it per response showed in profiles.
pub struct DateText {
    second: std::cell::Cell<u64>,
    text: std::cell::RefCell<String>,
}

impl DateText {
    pub const fn new() -> Self {
        DateText {
            second: std::cell::Cell::new(u64::MAX),
            text: std::cell::RefCell::new(String::new()),
        }
    }

    /// Calls `f` with `t` as an HTTP date.
    pub fn with<R>(&self, t: std::time::SystemTime, f: impl FnOnce(&str) -> R) -> R {
        let second = t
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if second != self.second.get() {
            self.second.set(second);
            *self.text.borrow_mut() = httpdate::fmt_http_date(t);
        }
        f(&self.text.borrow())
    }
}

/// The status codes the server sends.
#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Status {
    Ok = 200,
    PartialContent = 206,
    BadRequest = 400,
    NotFound = 404,
    MethodNotAllowed = 405,
    PayloadTooLarge = 413,
    HeadersTooLarge = 431,
    PreconditionFailed = 412,
    RangeNotSatisfiable = 416,
    ExpectationFailed = 417,
    NotImplemented = 501,
    MovedPermanently = 301,
    NotModified = 304,
    InternalError = 500,
    Unavailable = 503,
    VersionNotSupported = 505,
}

impl Status {
    /// Code and reason phrase.
    pub fn line(self) -> (u16, &'static str) {
        match self {
            Status::Ok => (200, "OK"),
            Status::PartialContent => (206, "Partial Content"),
            Status::BadRequest => (400, "Bad Request"),
            Status::NotFound => (404, "Not Found"),
            Status::MethodNotAllowed => (405, "Method Not Allowed"),
            Status::PayloadTooLarge => (413, "Content Too Large"),
            Status::HeadersTooLarge => (431, "Request Header Fields Too Large"),
            Status::PreconditionFailed => (412, "Precondition Failed"),
            Status::RangeNotSatisfiable => (416, "Range Not Satisfiable"),
            Status::ExpectationFailed => (417, "Expectation Failed"),
            Status::NotImplemented => (501, "Not Implemented"),
            Status::MovedPermanently => (301, "Moved Permanently"),
            Status::NotModified => (304, "Not Modified"),
            Status::InternalError => (500, "Internal Server Error"),
            Status::Unavailable => (503, "Service Unavailable"),
            Status::VersionNotSupported => (505, "HTTP Version Not Supported"),
        }
    }
}
