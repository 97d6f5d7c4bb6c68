//! Reads requests from every open connection: frames them (pipelined
//! requests one after another), enforces size limits, and drops
//! connections that are closed or idle too long.

use super::http::{Conn, ConnRef, Raw, Status, MAX_PIPELINED};
use evoflow::{component, Flow, Outputs};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use std::collections::HashMap;
use std::io::{ErrorKind, Read as _};
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Largest request head accepted (431 beyond).
pub const MAX_HEAD: usize = 8 * 1024;
/// Largest request body accepted (413 beyond); bodies are read and ignored.
pub const MAX_BODY: usize = 64 * 1024;
/// A connection with no complete request for this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(10);

struct Open {
    conn: ConnRef,
    buf: Vec<u8>,
    seq: u64,
    last_active: Instant,
    /// No more requests are read (an error response will close it).
    done: bool,
}

/// Reads and frames requests.
pub struct Read {
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
    /// A reader with no connections.
    pub fn new() -> std::io::Result<Self> {
        Ok(Read {
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
    /// Not a complete request yet.
    Partial,
    /// A request head of `head` bytes, then a body; `total` bytes in all.
    Request { head: usize, total: usize },
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
fn frame(buf: &[u8]) -> Framed {
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
    let mut body: Option<usize> = None;
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return Framed::Refused(Status::BadRequest);
        }
        if h.name.eq_ignore_ascii_case("content-length") {
            let v = h.value.trim_ascii();
            let n = match std::str::from_utf8(v) {
                Ok(d) if !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()) => {
                    d.parse::<usize>().ok()
                }
                _ => None,
            };
            match (n, body) {
                (None, _) => return Framed::Refused(Status::BadRequest),
                // Two different lengths: which one a proxy used is unknown.
                (Some(n), Some(b)) if n != b => return Framed::Refused(Status::BadRequest),
                (Some(n), _) if n > MAX_BODY => return Framed::Refused(Status::PayloadTooLarge),
                (Some(n), _) => body = Some(n),
            }
        }
    }
    let total = head + body.unwrap_or(0);
    if buf.len() < total {
        return Framed::Partial;
    }
    Framed::Request { head, total }
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
        self.seq - self.conn.answered.load(Ordering::Acquire) < MAX_PIPELINED
    }

    /// True if its buffer is full: nothing more is read from the socket
    /// until requests have been framed from it.
    fn is_full(&self) -> bool {
        self.buf.len() > MAX_HEAD + MAX_BODY
    }

    /// Emits every complete request in the buffer, as far as the
    /// pipelining bound allows.
    fn emit(&mut self, out: &mut Outputs<Read>) -> bool {
        let mut emitted = false;
        while !self.done && self.may_frame() {
            let (head, problem, used) = match frame(&self.buf) {
                Framed::Partial => break,
                Framed::Request { head, total } => (self.buf[..head].to_vec(), None, total),
                Framed::Refused(status) => {
                    self.done = true;
                    (Vec::new(), Some(status), self.buf.len())
                }
            };
            self.buf.drain(..used);
            out.out(Raw {
                conn: self.conn.clone(),
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
            match (&*self.conn.stream).read(chunk) {
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
        if self
            .poll
            .registry()
            .register(&mut stream, Token(c.id as usize), Interest::READABLE)
            .is_ok()
        {
            let conn = ConnRef {
                id: c.id,
                stream: Arc::new(stream),
                answered: Arc::default(),
            };
            self.open.insert(
                c.id,
                Open {
                    conn,
                    buf: Vec::new(),
                    seq: 0,
                    last_active: Instant::now(),
                    done: false,
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
                Filled::Drained if !open.may_frame() && !open.buf.is_empty() => self.more.push(id),
                Filled::Drained => {}
                Filled::More => self.more.push(id),
                Filled::Closed => self.close(id, false),
            }
        }
        self.ready = ready;
        if self.last_sweep.elapsed() > Duration::from_secs(1) {
            self.last_sweep = Instant::now();
            let stale: Vec<u64> = self
                .open
                .iter()
                .filter(|(_, o)| o.last_active.elapsed() > IDLE_TIMEOUT)
                .map(|(id, _)| *id)
                .collect();
            for id in stale {
                self.close(id, true);
            }
        }
        if !self.more.is_empty() && emitted {
            return Flow::Continue;
        }
        if emitted {
            Flow::Continue
        } else if !self.more.is_empty() {
            // Connections held by the pipelining bound: their responses
            // are written on another worker, which does not wake this one.
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
            let fd = open.conn.stream.as_raw_fd();
            let _ = self.poll.registry().deregister(&mut SourceFd(&fd));
            if shutdown {
                let _ = open.conn.stream.shutdown(std::net::Shutdown::Read);
            }
        }
    }
}
