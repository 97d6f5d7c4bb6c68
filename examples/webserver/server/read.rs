//! Reads requests from every open connection: frames them (pipelined
//! requests one after another), enforces size limits, and drops
//! connections that are closed or idle too long.

use super::http::{Conn, ConnRef, Raw, Socket, Status, MAX_PIPELINED};
use evoflow::{component, Flow, Outputs};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use std::collections::HashMap;
use std::io::{ErrorKind, Read as _, Write as _};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Largest request head accepted (431 beyond).
pub const MAX_HEAD: usize = 8 * 1024;
/// Largest request body accepted (413 beyond); bodies are read and ignored.
pub const MAX_BODY: usize = 64 * 1024;
/// A connection with no complete request for this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(10);

struct Open {
    id: u64,
    socket: Arc<Socket>,
    buf: Vec<u8>,
    seq: u64,
    last_active: Instant,
    /// No more requests are read (an error response will close it).
    done: bool,
    /// What is left to write of a `100 Continue`: nothing more is framed
    /// (so no response can be written) until it is all out.
    interim: &'static [u8],
    /// The request a `100 Continue` went out for.
    continued: Option<u64>,
    /// A request waits for its `100 Continue` until the responses before
    /// it are written.
    awaits_continue: bool,
    /// How far the chunked body being received has been checked.
    scan: ChunkScan,
    /// The pipelining bound stopped the last framing with bytes left.
    held: bool,
}

/// The server's cap on open connections, shared by the lanes' readers so
/// that it bounds the total whatever lane a connection lands on.
pub struct Cap {
    open: AtomicUsize,
    max: usize,
}

impl Cap {
    /// At most `max` connections open at once.
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Cap {
            open: AtomicUsize::new(0),
            max,
        })
    }

    /// Counts one more connection; false (counting nothing) if at the cap.
    fn take(&self) -> bool {
        self.open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .is_ok()
    }

    /// `n` connections closed.
    fn give_back(&self, n: usize) {
        self.open.fetch_sub(n, Ordering::AcqRel);
    }
}

impl Drop for Read {
    /// The connections of a reader that goes (the graph ends, or an update
    /// replaces it) close with it.
    fn drop(&mut self) {
        self.cap.give_back(self.open.len());
    }
}

/// The answer to a connection over the limit, before it sends anything.
const OVER_LIMIT: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\nRetry-After: 1\r\n\r\n";

/// The interim response to `Expect: 100-continue`.
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Reads and frames requests.
pub struct Read {
    /// The server's cap on open connections, shared by every lane's
    /// reader: one more is answered `503` and closed, so a flood of
    /// connections costs bounded memory and the clients already served
    /// keep being served.
    cap: Arc<Cap>,
    poll: Poll,
    events: Events,
    open: HashMap<u64, Open>,
    /// Connections with data left to read before the next readiness event.
    more: Vec<u64>,
    /// Connections to read in this poll; kept to reuse its allocation.
    ready: Vec<u64>,
    /// What a read lands in before it is appended to a connection's
    /// buffer (kept: zeroing 16 KiB per read showed in profiles).
    chunk: Box<[u8]>,
    last_sweep: Instant,
}

impl Read {
    /// A reader with no connections, counting them against `cap`.
    pub fn new(cap: Arc<Cap>) -> std::io::Result<Self> {
        Ok(Read {
            cap,
            poll: Poll::new()?,
            events: Events::with_capacity(256),
            open: HashMap::new(),
            more: Vec::new(),
            ready: Vec::new(),
            chunk: vec![0; 16 * 1024].into_boxed_slice(),
            last_sweep: Instant::now(),
        })
    }
}

/// What framing found at the start of a buffer.
enum Framed {
    /// Not a complete request head yet.
    Partial,
    /// A complete head whose body has not all arrived; the client waits
    /// for a `100 Continue` before it sends the body if `expects_continue`.
    Body { expects_continue: bool },
    /// A request head of `head` bytes, then a body; `total` bytes in all.
    /// `last` if the connection closes after it: nothing after it is
    /// framed (it would be read, loaded and then dropped by `reply`).
    Request {
        head: usize,
        total: usize,
        last: bool,
    },
    /// A request that cannot be served; the connection closes after.
    Refused(Status),
}

/// End of the first blank line (`\r\n\r\n`, or a bare `\n\n`).
fn blank_line(buf: &[u8]) -> Option<usize> {
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    crlf.into_iter().chain(lf).min()
}

/// Frames the request at the start of `buf` exactly as httparse reads it,
/// so that framing and parsing can never disagree about where a request
/// ends (no desync, no smuggling).
fn frame(buf: &[u8], scan: &mut ChunkScan) -> Framed {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    let head = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => {
            return Framed::Refused(Status::HeadersTooLarge)
        }
        Ok(httparse::Status::Partial) => return Framed::Partial,
        // Another HTTP version: `parse` answers 505 and the connection closes.
        Err(httparse::Error::Version) => {
            return match blank_line(buf) {
                Some(end) => Framed::Request {
                    head: end,
                    total: end,
                    last: true,
                },
                None if buf.len() > MAX_HEAD => Framed::Refused(Status::HeadersTooLarge),
                None => Framed::Partial,
            }
        }
        Err(httparse::Error::TooManyHeaders) => return Framed::Refused(Status::HeadersTooLarge),
        Err(_) => return Framed::Refused(Status::BadRequest),
    };
    if head > MAX_HEAD {
        return Framed::Refused(Status::HeadersTooLarge);
    }
    let http11 = req.version == Some(1);
    let mut length: Option<usize> = None;
    // Transfer codings in order, over every `Transfer-Encoding` line.
    let mut codings: Vec<&[u8]> = Vec::new();
    let mut expects_continue = false;
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            codings.extend(
                h.value
                    .split(|b| *b == b',')
                    .map(<[u8]>::trim_ascii)
                    .filter(|c| !c.is_empty()),
            );
            // An empty value names no coding but still claims one.
            if h.value.trim_ascii().is_empty() {
                return Framed::Refused(Status::BadRequest);
            }
        } else if h.name.eq_ignore_ascii_case("content-length") {
            let v = h.value.trim_ascii();
            let n = match std::str::from_utf8(v) {
                Ok(d) if !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()) => {
                    d.parse::<usize>().ok()
                }
                _ => None,
            };
            match (n, length) {
                (None, _) => return Framed::Refused(Status::BadRequest),
                // Two different lengths: which one a proxy used is unknown.
                (Some(n), Some(b)) if n != b => return Framed::Refused(Status::BadRequest),
                (Some(n), _) if n > MAX_BODY => return Framed::Refused(Status::PayloadTooLarge),
                (Some(n), _) => length = Some(n),
            }
        } else if h.name.eq_ignore_ascii_case("expect") && http11 {
            // RFC 9110 10.1.1; HTTP/1.0 clients' `Expect` is ignored.
            if !h.value.trim_ascii().eq_ignore_ascii_case(b"100-continue") {
                return Framed::Refused(Status::ExpectationFailed);
            }
            expects_continue = true;
        }
    }
    let body = if codings.is_empty() {
        Ok(length
            .map(|n| (buf.len() >= head + n).then_some(n))
            .unwrap_or(Some(0)))
    } else {
        // RFC 9112 6.1-6.3: with both framings, or chunked not last (or
        // twice), or in HTTP/1.0, where a body ends is unclear: refused,
        // as is a coding this server does not know.
        let chunked = |c: &&[u8]| c.eq_ignore_ascii_case(b"chunked");
        match codings.iter().position(chunked) {
            _ if length.is_some() || !http11 => return Framed::Refused(Status::BadRequest),
            Some(at) if at + 1 == codings.len() && codings.len() == 1 => {
                chunked_end(&buf[head..], scan)
            }
            Some(at) if at + 1 == codings.len() && !codings[..at].iter().any(chunked) => {
                return Framed::Refused(Status::NotImplemented)
            }
            _ => return Framed::Refused(Status::BadRequest),
        }
    };
    match body {
        Ok(Some(n)) => Framed::Request {
            head,
            total: head + n,
            last: !super::parse::keeps_alive(req.version.unwrap_or(0), req.headers),
        },
        Err(status) => Framed::Refused(status),
        // What is framed must fit the buffer (chunk headers included).
        Ok(None) if buf.len() > MAX_HEAD + MAX_BODY => Framed::Refused(Status::PayloadTooLarge),
        Ok(None) => Framed::Body { expects_continue },
    }
}

/// How far a chunked body has been checked: framing resumes there as
/// more arrives, so a body sent a byte at a time costs linear time.
#[derive(Default)]
struct ChunkScan {
    /// Bytes of whole chunks checked, from the body's start.
    pos: usize,
    /// Data bytes in them.
    data: u64,
}

/// The position of the first CRLF in `b`, refusing a bare CR or LF
/// before it (RFC 9112 2.2: parsers that differ there can be made to
/// disagree about where a request ends).
fn line_end(b: &[u8]) -> Result<Option<usize>, Status> {
    for (i, &c) in b.iter().enumerate() {
        match c {
            b'\r' if b.get(i + 1) == Some(&b'\n') => return Ok(Some(i)),
            b'\r' if i + 1 == b.len() => return Ok(None),
            b'\r' | b'\n' => return Err(Status::BadRequest),
            _ => {}
        }
    }
    if b.len() > MAX_HEAD {
        return Err(Status::BadRequest);
    }
    Ok(None)
}

/// The length of the chunked body at the start of `b`, trailers
/// included, once it has all arrived; refused if malformed or if its
/// data exceeds [`MAX_BODY`]. Strict where parsers are known to differ
/// (RFC 9112 7.1): a size line has at least one hex digit, every line
/// ends with CRLF (no bare CR or LF), and each chunk's data ends with
/// CRLF. Resumes from `scan`.
fn chunked_end(b: &[u8], scan: &mut ChunkScan) -> Result<Option<usize>, Status> {
    loop {
        let pos = scan.pos;
        let Some(eol) = line_end(&b[pos..])? else {
            return Ok(None);
        };
        let line = &b[pos..pos + eol];
        if !line.first().is_some_and(u8::is_ascii_hexdigit) {
            return Err(Status::BadRequest);
        }
        let size = match httparse::parse_chunk_size(&b[pos..pos + eol + 2]) {
            Ok(httparse::Status::Complete((_, size))) => size,
            _ => return Err(Status::BadRequest),
        };
        let start = pos + eol + 2;
        if size == 0 {
            return trailers_end(b, start);
        }
        let data = scan.data.saturating_add(size);
        if data > MAX_BODY as u64 {
            return Err(Status::PayloadTooLarge);
        }
        let end = start + size as usize;
        if b.len() < end + 2 {
            return Ok(None);
        }
        if &b[end..end + 2] != b"\r\n" {
            return Err(Status::BadRequest);
        }
        *scan = ChunkScan { pos: end + 2, data };
    }
}

/// The end of the trailer section starting at `start` (field lines, then
/// an empty line, each ending with CRLF), once it has all arrived.
fn trailers_end(b: &[u8], start: usize) -> Result<Option<usize>, Status> {
    const MAX_TRAILERS: usize = 32;
    let (mut end, mut lines) = (start, 0);
    loop {
        let Some(eol) = line_end(&b[end..])? else {
            return Ok(None);
        };
        end += eol + 2;
        if eol == 0 {
            break;
        }
        lines += 1;
        if lines > MAX_TRAILERS {
            return Err(Status::HeadersTooLarge);
        }
    }
    let mut fields = [httparse::EMPTY_HEADER; MAX_TRAILERS];
    match httparse::parse_headers(&b[start..end], &mut fields) {
        Ok(httparse::Status::Complete((n, _))) if n == end - start => Ok(Some(end)),
        _ => Err(Status::BadRequest),
    }
}

/// What reading a socket found.
enum Filled {
    /// Read until the socket had nothing more.
    Drained,
    /// Stopped with data left in the socket (buffer full): read again
    /// without waiting for a readiness event, which will not come.
    More,
    /// The peer closed, or the socket failed.
    Closed,
}

impl Open {
    /// True while fewer than [`MAX_PIPELINED`] of its requests wait for
    /// their responses.
    fn may_frame(&self) -> bool {
        self.seq - self.socket.answered.load(Ordering::Acquire) < MAX_PIPELINED
    }

    /// True if its buffer is full: nothing more is read from the socket
    /// until requests have been framed from it.
    fn is_full(&self) -> bool {
        self.buf.len() > MAX_HEAD + MAX_BODY
    }

    /// True if it must be tried again without a readiness event: the
    /// last [`Open::emit`] left requests in the buffer for the pipelining
    /// bound, or a `100 Continue` is due or half written.
    fn stalled(&self) -> bool {
        self.held || self.awaits_continue || !self.interim.is_empty()
    }

    /// Writes what is left of the interim response; true once it is out
    /// (or the connection failed, which `reply` will find).
    fn send_interim(&mut self) -> bool {
        while !self.interim.is_empty() {
            match (&self.socket.stream).write(self.interim) {
                Ok(n) if n > 0 => self.interim = &self.interim[n..],
                Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                _ => self.interim = &[],
            }
        }
        true
    }

    /// Answers `Expect: 100-continue` for the request being read: at
    /// once if every response before it is written (so the interim one
    /// cannot land inside another), else when they are.
    fn continue_body(&mut self) {
        self.awaits_continue = false;
        if self.continued == Some(self.seq) {
            return;
        }
        if self.socket.answered.load(Ordering::Acquire) < self.seq {
            self.awaits_continue = true;
            return;
        }
        self.continued = Some(self.seq);
        self.interim = CONTINUE;
        self.send_interim();
    }

    /// Emits every complete request in the buffer, as far as the
    /// pipelining bound allows.
    fn emit(&mut self, out: &mut Outputs<Read>) -> bool {
        let mut emitted = false;
        // Whether to come back is decided here, from what stopped the
        // framing: asking `may_frame` again afterwards races with the
        // writer, which may answer in between, and a connection whose
        // requests all arrived would never be read again.
        self.held = false;
        while !self.done {
            if !self.may_frame() {
                self.held = !self.buf.is_empty();
                break;
            }
            if !self.send_interim() {
                break;
            }
            let (head, problem, used) = match frame(&self.buf, &mut self.scan) {
                Framed::Partial => break,
                Framed::Body { expects_continue } => {
                    if expects_continue {
                        self.continue_body();
                    }
                    break;
                }
                Framed::Request { head, total, last } => {
                    self.done |= last;
                    (self.buf[..head].to_vec(), None, total)
                }
                Framed::Refused(status) => {
                    self.done = true;
                    (Vec::new(), Some(status), self.buf.len())
                }
            };
            self.buf.drain(..used);
            // The next request starts afresh: no body checked, no
            // `100 Continue` due.
            self.scan = ChunkScan::default();
            self.awaits_continue = false;
            out.out(Raw {
                conn: ConnRef::here(self.id, self.socket.clone()),
                seq: self.seq,
                head,
                problem,
            });
            self.seq += 1;
            self.last_active = Instant::now();
            emitted = true;
        }
        emitted
    }

    /// Reads what the socket has, up to a full buffer.
    fn fill(&mut self, chunk: &mut [u8]) -> Filled {
        loop {
            match (&self.socket.stream).read(chunk) {
                Ok(0) => return Filled::Closed,
                Ok(n) => {
                    if !self.done {
                        self.buf.extend_from_slice(&chunk[..n]);
                    }
                    // A short read drained the socket; on Linux, data that
                    // arrives later raises a new readiness edge.
                    if n < chunk.len() {
                        return Filled::Drained;
                    }
                    if self.is_full() {
                        return Filled::More;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Filled::Drained,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return Filled::Closed,
            }
        }
    }
}

#[component(outputs(out: Raw))]
impl Read {
    #[input]
    fn conns(&mut self, c: Conn) {
        let mut stream = c.stream;
        if !self.cap.take() {
            // Best effort: a full send buffer of a fresh socket is not
            // possible, and the close follows either way.
            let _ = std::io::Write::write(&mut stream, OVER_LIMIT);
            return;
        }
        if self
            .poll
            .registry()
            .register(&mut stream, Token(c.id as usize), Interest::READABLE)
            .is_err()
        {
            self.cap.give_back(1);
        } else {
            let socket = Arc::new(Socket {
                stream,
                answered: AtomicU64::new(0),
            });
            self.open.insert(
                c.id,
                Open {
                    id: c.id,
                    socket,
                    buf: Vec::new(),
                    seq: 0,
                    last_active: Instant::now(),
                    done: false,
                    interim: &[],
                    continued: None,
                    awaits_continue: false,
                    scan: ChunkScan::default(),
                    held: false,
                },
            );
        }
    }

    #[poll]
    fn read(&mut self, out: &mut Outputs<Self>) -> Flow {
        if self
            .poll
            .poll(&mut self.events, Some(Duration::ZERO))
            .is_err()
        {
            return Flow::Idle;
        }
        let mut emitted = false;
        let mut ready = std::mem::take(&mut self.ready);
        ready.clear();
        ready.append(&mut self.more);
        ready.extend(self.events.iter().map(|e| e.token().0 as u64));
        for &id in &ready {
            let Some(open) = self.open.get_mut(&id) else {
                continue;
            };
            // A connection waiting for its responses (pipelining bound)
            // is not read further while its buffer is full: it is held
            // in `more` and tried again at each poll.
            let filled = if open.is_full() {
                Filled::More
            } else {
                open.fill(&mut self.chunk)
            };
            emitted |= open.emit(out);
            match filled {
                Filled::Drained if open.stalled() => self.more.push(id),
                Filled::Drained => {}
                Filled::More => self.more.push(id),
                Filled::Closed => self.close(id, false),
            }
        }
        self.ready = ready;
        if self.last_sweep.elapsed() > Duration::from_secs(1) {
            self.last_sweep = Instant::now();
            // Idle means no request arriving and no response in flight: a
            // long download is not cut (its writer has its own timeout
            // for a client that stops reading).
            let now = Instant::now();
            let stale: Vec<u64> = self
                .open
                .iter_mut()
                .filter_map(|(id, o)| {
                    if o.socket.answered.load(Ordering::Acquire) < o.seq {
                        o.last_active = now;
                    }
                    (o.last_active.elapsed() > IDLE_TIMEOUT).then_some(*id)
                })
                .collect();
            for id in stale {
                self.close(id, true);
            }
        }
        if emitted {
            Flow::Continue
        } else if !self.more.is_empty() {
            // Connections held by the pipelining bound: their responses
            // are written by `reply`, which does not wake this one.
            Flow::Idle
        } else if self.open.is_empty() {
            Flow::Done
        } else {
            // Asleep until a socket is readable (the poll's own descriptor
            // is readable then), or the next sweep for idle connections.
            Flow::readable(&self.poll).within(Duration::from_secs(1))
        }
    }

    /// Stops reading a connection. `reply` closes it once its responses
    /// are written; an idle one stops receiving at once (a response still
    /// being written goes on).
    fn close(&mut self, id: u64, shutdown: bool) {
        if let Some(open) = self.open.remove(&id) {
            self.cap.give_back(1);
            let fd = open.socket.stream.as_raw_fd();
            let _ = self.poll.registry().deregister(&mut SourceFd(&fd));
            if shutdown {
                let _ = open.socket.stream.shutdown(std::net::Shutdown::Read);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{frame, ChunkScan, Framed};

    fn last(head: &str) -> bool {
        match frame(head.as_bytes(), &mut ChunkScan::default()) {
            Framed::Request { last, .. } => last,
            _ => panic!("not framed: {head:?}"),
        }
    }

    /// Nothing is framed after a request that closes its connection
    /// (before, the requests pipelined after it were framed, parsed and
    /// loaded, then dropped by `reply`): the same rule as `parse`'s.
    #[test]
    fn a_request_that_closes_its_connection_is_the_last_framed() {
        assert!(last(
            "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        ));
        assert!(last(
            "GET / HTTP/1.1\r\nHost: x\r\nConnection: te\r\nConnection: Close\r\n\r\n"
        ));
        assert!(!last("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
        assert!(last("GET / HTTP/1.0\r\n\r\n"));
        assert!(!last("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
        assert!(last(
            "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n"
        ));
        // Another version is answered 505, and the connection closes.
        assert!(last("GET / HTTP/2.0\r\nHost: x\r\n\r\n"));
    }
}
