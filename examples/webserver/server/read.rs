//! Reads requests from every open connection: frames them (pipelined
//! requests one after another), enforces size limits, and drops
//! connections that are closed or idle too long.

use super::http::{Conn, ConnRef, Raw, Status};
use evoflow::{component, Flow, Outputs};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use std::collections::HashMap;
use std::io::{ErrorKind, Read as _};
use std::os::fd::AsRawFd;
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
    last_sweep: Instant,
}

impl Read {
    /// A reader with no connections.
    pub fn new() -> std::io::Result<Self> {
        Ok(Read {
            poll: Poll::new()?,
            events: Events::with_capacity(256),
            open: HashMap::new(),
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

fn frame(buf: &[u8]) -> Framed {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return if buf.len() > MAX_HEAD {
            Framed::Refused(Status::HeadersTooLarge)
        } else {
            Framed::Partial
        };
    };
    if end + 4 > MAX_HEAD {
        return Framed::Refused(Status::HeadersTooLarge);
    }
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(&buf[..end + 4]) {
        Ok(httparse::Status::Complete(_)) => {}
        // Another HTTP version: `parse` answers 505 and the connection closes.
        Err(httparse::Error::Version) => {
            return Framed::Request {
                head: end,
                total: end + 4,
            }
        }
        Err(httparse::Error::TooManyHeaders) => return Framed::Refused(Status::HeadersTooLarge),
        _ => return Framed::Refused(Status::BadRequest),
    }
    let mut body = 0usize;
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return Framed::Refused(Status::BadRequest);
        }
        if h.name.eq_ignore_ascii_case("content-length") {
            match std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok())
            {
                Some(n) if n > MAX_BODY => return Framed::Refused(Status::PayloadTooLarge),
                Some(n) => body = n,
                None => return Framed::Refused(Status::BadRequest),
            }
        }
    }
    if buf.len() < end + 4 + body {
        return Framed::Partial;
    }
    Framed::Request {
        head: end,
        total: end + 4 + body,
    }
}

impl Open {
    /// Emits every complete request in the buffer.
    fn emit(&mut self, out: &mut Outputs<Read>) -> bool {
        let mut emitted = false;
        while !self.done {
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

    /// Reads what the socket has; false once the peer closed or failed.
    fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match (&*self.conn.stream).read(&mut chunk) {
                Ok(0) => return false,
                Ok(n) => {
                    if !self.done {
                        self.buf.extend_from_slice(&chunk[..n]);
                    }
                    // A short read drained the socket; on Linux, data that
                    // arrives later raises a new readiness edge.
                    if n < chunk.len() || self.buf.len() > MAX_HEAD + MAX_BODY + 4 {
                        return true;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return false,
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
        let ready: Vec<u64> = self.events.iter().map(|e| e.token().0 as u64).collect();
        for id in ready {
            let Some(open) = self.open.get_mut(&id) else {
                continue;
            };
            let alive = open.fill();
            emitted |= open.emit(out);
            if !alive {
                self.close(id, false);
            }
        }
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
        if emitted {
            Flow::Continue
        } else if self.open.is_empty() {
            Flow::Done
        } else {
            Flow::Idle
        }
    }

    /// Stops reading a connection. `reply` drops it once its responses
    /// are written; an idle one is shut down at once.
    fn close(&mut self, id: u64, shutdown: bool) {
        if let Some(open) = self.open.remove(&id) {
            let fd = open.conn.stream.as_raw_fd();
            let _ = self.poll.registry().deregister(&mut SourceFd(&fd));
            if shutdown {
                let _ = open.conn.stream.shutdown(std::net::Shutdown::Both);
            }
        }
    }
}
