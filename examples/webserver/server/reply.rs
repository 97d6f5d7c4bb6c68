//! Writes responses: in request order per connection, without blocking on
//! a slow client (unwritten bytes wait and are retried when polled).
//!
//! Two implementations share the writing: `Reply` takes in-memory
//! responses, `ReplyStream` also streams open files. Switching between them
//! hands the connections and their unwritten bytes over in-process.

use super::http::{Body, Response, Socket, Streamed};
use super::prefetch::ReadAhead;
use evoflow::{component, Flow, Resources};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::{ErrorKind, Write as _};
use std::os::fd::AsRawFd as _;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A client that takes nothing for this long is dropped.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Bytes written to one connection per visit at most: a client that
/// reads as fast as the server writes (a large download, a long pipeline)
/// must not hold the worker; the other connections, and the other
/// instances on the worker, get their turn between bursts.
const BURST: usize = 256 * 1024;

enum Chunk {
    /// A response's last byte is written: counts it answered (which lets
    /// `read` frame the connection's next pipelined request).
    Answered,
    Bytes(Vec<u8>),
    Shared(Arc<[u8]>),
    /// An open file with `left` bytes to send from `pos`, read into
    /// memory `ahead` of sending.
    File {
        file: Arc<std::fs::File>,
        pos: u64,
        left: u64,
        ahead: ReadAhead,
    },
}

struct Out {
    socket: Arc<Socket>,
    next_seq: u64,
    /// Responses that arrived ahead of their turn.
    early: BTreeMap<u64, Streamed>,
    /// What to write, in order, with the offset written so far.
    queue: VecDeque<(Chunk, usize)>,
    close_after: bool,
    /// Closed (after `Connection: close`, a failed write or a timeout):
    /// later responses for it are dropped. The entry stays until nothing
    /// else holds the connection, so a late response cannot reopen it.
    closed: bool,
    last_progress: Instant,
}

enum Wrote {
    All,
    /// This visit's [`BURST`] is spent; more is written at the next.
    Paused,
    Blocked,
    /// What comes next is being read from disk, off the worker.
    Fetching,
    Failed,
}

/// Sends up to `budget` of the `left` bytes of `file` from `pos` with
/// `sendfile` (no copy through user space), only what is in memory: the
/// rest is read in by a prefetch thread first (`ahead`), since `sendfile`
/// would wait for the disk on the worker.
fn send_file(
    socket: &Socket,
    file: &Arc<std::fs::File>,
    (pos, left, ahead): (&mut u64, &mut u64, &mut ReadAhead),
    budget: &mut usize,
    progress: &mut Instant,
) -> Wrote {
    while *left > 0 {
        if *budget == 0 {
            return Wrote::Paused;
        }
        let count = (*left).min(*budget as u64);
        let Some(count) = ahead.sendable(file, *pos, *left, count) else {
            return Wrote::Fetching;
        };
        let count = count as usize;
        let mut off = *pos as libc::off_t;
        // SAFETY: both descriptors stay open for the call (the socket and
        // the file are borrowed), and `off` points to a live `off_t`.
        let n =
            unsafe { libc::sendfile(socket.stream.as_raw_fd(), file.as_raw_fd(), &mut off, count) };
        match n {
            n if n > 0 => {
                *pos += n as u64;
                *left -= n as u64;
                *budget -= n as usize;
                *progress = Instant::now();
            }
            // The file is shorter than when it was opened (rewritten
            // meanwhile): its length is already sent, so the response fails.
            0 => return Wrote::Failed,
            _ => match std::io::Error::last_os_error().kind() {
                ErrorKind::WouldBlock => return Wrote::Blocked,
                ErrorKind::Interrupted => {}
                _ => return Wrote::Failed,
            },
        }
    }
    Wrote::All
}

/// In-memory chunks written by one `writev` at most: a response's head
/// and body (and pipelined responses after it) leave in one system call
/// and, small, one TCP segment.
const GATHER: usize = 16;

impl Chunk {
    /// The bytes of an in-memory chunk.
    fn memory(&self) -> Option<&[u8]> {
        match self {
            Chunk::Bytes(b) => Some(b),
            Chunk::Shared(b) => Some(b),
            Chunk::Answered | Chunk::File { .. } => None,
        }
    }
}

impl Out {
    /// Writes the in-memory chunks at the front of the queue (and counts
    /// the responses they finish) with one `writev`, at most `budget`
    /// bytes. `None` if the front chunk is a file.
    fn write_gathered(&mut self, budget: &mut usize) -> Option<Wrote> {
        let mut slices = [std::io::IoSlice::new(&[]); GATHER];
        let (mut n, mut total) = (0, 0);
        for (chunk, off) in self.queue.iter() {
            if n == GATHER {
                break;
            }
            match chunk {
                Chunk::Answered => {}
                chunk => match chunk.memory() {
                    Some(bytes) => {
                        let bytes = &bytes[*off..];
                        let bytes = &bytes[..bytes.len().min(*budget - total)];
                        slices[n] = std::io::IoSlice::new(bytes);
                        total += bytes.len();
                        n += 1;
                        if total == *budget {
                            break;
                        }
                    }
                    None => break,
                },
            }
        }
        if n == 0 {
            return match self.queue.front() {
                Some((Chunk::File { .. }, _)) | None => None,
                Some(_) => {
                    self.consume(0);
                    Some(Wrote::All)
                }
            };
        }
        let wrote = loop {
            match (&self.socket.stream).write_vectored(&slices[..n]) {
                Ok(0) => return Some(Wrote::Failed),
                Ok(wrote) => break wrote,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Some(Wrote::Blocked),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return Some(Wrote::Failed),
            }
        };
        self.last_progress = Instant::now();
        *budget -= wrote;
        self.consume(wrote);
        // A short write: the socket is full for now.
        Some(if wrote < total {
            Wrote::Blocked
        } else {
            Wrote::All
        })
    }

    /// Drops `written` bytes of in-memory chunks from the front of the
    /// queue, counting each response whose last byte went out.
    fn consume(&mut self, mut written: usize) {
        while let Some((chunk, off)) = self.queue.front_mut() {
            match chunk {
                Chunk::Answered => {
                    self.socket.answered.fetch_add(1, Ordering::Release);
                }
                chunk => match chunk.memory() {
                    Some(bytes) if bytes.len() - *off <= written => written -= bytes.len() - *off,
                    Some(_) => {
                        *off += written;
                        return;
                    }
                    None => return,
                },
            }
            self.queue.pop_front();
        }
    }

    /// Writes what the socket takes, up to a [`BURST`]; false once the
    /// connection is done.
    fn write(&mut self) -> bool {
        let mut budget = BURST;
        loop {
            if budget == 0 {
                return true;
            }
            let wrote = match self.write_gathered(&mut budget) {
                Some(wrote) => wrote,
                None => match self.queue.front_mut() {
                    Some((
                        Chunk::File {
                            file,
                            pos,
                            left,
                            ahead,
                        },
                        _,
                    )) => {
                        let wrote = send_file(
                            &self.socket,
                            file,
                            (pos, left, ahead),
                            &mut budget,
                            &mut self.last_progress,
                        );
                        if let Wrote::All = wrote {
                            self.queue.pop_front();
                        }
                        wrote
                    }
                    _ => break,
                },
            };
            match wrote {
                Wrote::All => {}
                Wrote::Paused => return true,
                // A read that takes as long (a stuck file system) ends the
                // connection like a client that takes nothing.
                Wrote::Blocked | Wrote::Fetching => {
                    return self.last_progress.elapsed() < WRITE_TIMEOUT
                }
                Wrote::Failed => return false,
            }
        }
        if self.close_after {
            let _ = self.socket.stream.shutdown(std::net::Shutdown::Both);
            return false;
        }
        true
    }

    /// Queues a body's bytes.
    fn push_body(&mut self, body: Body) {
        match body {
            Body::Memory(b) if !b.is_empty() => self.queue.push_back((Chunk::Shared(b), 0)),
            Body::File { file, offset, len } if len > 0 => self.queue.push_back((
                Chunk::File {
                    file,
                    pos: offset,
                    left: len,
                    ahead: ReadAhead::default(),
                },
                0,
            )),
            Body::Parts(parts) => {
                for part in parts.iter() {
                    self.push_body(part.clone());
                }
            }
            _ => {}
        }
    }

    /// Moves responses whose turn has come into the write queue.
    fn admit(&mut self) {
        while !self.close_after {
            let Some(r) = self.early.remove(&self.next_seq) else {
                break;
            };
            self.next_seq += 1;
            self.queue.push_back((Chunk::Bytes(r.head), 0));
            if let Some(body) = r.body {
                self.push_body(body);
            }
            self.queue.push_back((Chunk::Answered, 0));
            self.close_after = r.close;
        }
    }
}

/// The connections being written to; what moves between implementations.
#[derive(Default)]
pub struct Writers {
    outs: HashMap<u64, Out>,
}

impl Out {
    /// Writes what it can; closes the connection once it is done with.
    fn progress(&mut self) {
        if !self.closed && !self.write() {
            self.close();
        }
    }

    /// Drops what is left to write and closes the connection.
    fn close(&mut self) {
        self.closed = true;
        self.queue.clear();
        self.early.clear();
        let _ = self.socket.stream.shutdown(std::net::Shutdown::Both);
    }
}

impl Writers {
    fn push(&mut self, r: Streamed) {
        // A connection whose socket is not in this process: one of
        // another machine (a graph split so that this `reply` is not where
        // its `read` is), or — a bug — a response that lost its socket on
        // the way; its client would wait for it forever: close it.
        let Some(socket) = r.conn.socket() else {
            if let Some(out) = self.outs.get_mut(&r.conn.id) {
                out.close();
            }
            return;
        };
        let out = self.outs.entry(r.conn.id).or_insert_with(|| Out {
            socket: socket.clone(),
            next_seq: 0,
            early: BTreeMap::new(),
            queue: VecDeque::new(),
            close_after: false,
            closed: false,
            last_progress: Instant::now(),
        });
        if out.closed {
            return;
        }
        out.early.insert(r.seq, r);
        out.admit();
        out.progress();
    }

    fn flush(&mut self) -> Flow {
        self.outs.retain(|_, o| {
            o.progress();
            // Nothing left to write, and nobody else holds the connection
            // (`read` has let go, no response is on its way): forget it,
            // which closes the socket.
            let done = o.closed || (o.queue.is_empty() && o.early.is_empty());
            !(done && Arc::strong_count(&o.socket) == 1)
        });
        if self.outs.values().any(|o| !o.queue.is_empty()) {
            Flow::Idle
        } else {
            Flow::Done
        }
    }

    fn hand_over(&mut self, r: &mut Resources) {
        r.put("writers", std::mem::take(self));
    }

    fn take_over(&mut self, r: &mut Resources) {
        if let Some(w) = r.take::<Writers>("writers") {
            *self = w;
        }
    }
}

/// Writes in-memory responses.
#[derive(Default)]
pub struct Reply {
    writers: Writers,
}

#[component(outputs())]
impl Reply {
    #[input]
    fn inp(&mut self, r: Response) {
        self.writers.push(r.into());
    }

    #[poll]
    fn flush(&mut self) -> Flow {
        self.writers.flush()
    }

    #[handover]
    fn hand_over(&mut self, r: &mut Resources) {
        self.writers.hand_over(r)
    }

    #[takeover]
    fn take_over(&mut self, r: &mut Resources) {
        self.writers.take_over(r)
    }
}

/// Writes responses whose bodies may be open files, streamed in chunks.
#[derive(Default)]
pub struct ReplyStream {
    writers: Writers,
}

#[component(version = 2, outputs())]
impl ReplyStream {
    #[input]
    fn inp(&mut self, r: Streamed) {
        self.writers.push(r);
    }

    #[poll]
    fn flush(&mut self) -> Flow {
        self.writers.flush()
    }

    #[handover]
    fn hand_over(&mut self, r: &mut Resources) {
        self.writers.hand_over(r)
    }

    #[takeover]
    fn take_over(&mut self, r: &mut Resources) {
        self.writers.take_over(r)
    }
}

#[cfg(test)]
mod tests {
    // Imports in the test: the benchmark compiles this module with
    // `cfg(test)` but without its tests.
    /// A file `reply` streams whose pages are not in memory is read in
    /// off the worker, and sent whole.
    #[test]
    fn a_file_not_in_memory_is_read_in_and_sent() {
        use super::super::prefetch;
        use super::*;
        use std::io::Read as _;
        use std::net::{TcpListener, TcpStream};
        let len = 8 * prefetch::WINDOW;
        let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let file = prefetch::evicted("reply", &data);
        if prefetch::cached(&file, 0, len) != Some(false) {
            eprintln!("skipped: no cachestat, or the file system keeps files in memory");
            return;
        }
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let stream = listener.accept().unwrap().0;
        stream.set_nonblocking(true).unwrap();
        client.set_nonblocking(true).unwrap();
        let mut out = Out {
            socket: Arc::new(Socket {
                stream: mio::net::TcpStream::from_std(stream),
                answered: Default::default(),
            }),
            next_seq: 0,
            early: BTreeMap::new(),
            queue: VecDeque::from([(
                Chunk::File {
                    file: file.clone(),
                    pos: 0,
                    left: len,
                    ahead: ReadAhead::default(),
                },
                0,
            )]),
            close_after: false,
            closed: false,
            last_progress: Instant::now(),
        };
        // It all arrives, a window read in at a time (that nothing is
        // sent before it is in memory is `ReadAhead`'s test).
        let mut buf = vec![0u8; 1 << 20];
        let (mut got, t) = (0u64, Instant::now());
        while got < len {
            assert!(t.elapsed() < Duration::from_secs(20), "stuck at {got}");
            assert!(out.write());
            match client.read(&mut buf) {
                Ok(n) => {
                    assert!(n > 0, "closed at {got}");
                    assert_eq!(buf[..n], data[got as usize..got as usize + n], "at {got}");
                    got += n as u64;
                }
                Err(_) => std::thread::sleep(Duration::from_micros(200)),
            }
        }
        assert!(out.queue.is_empty());
        assert_eq!(prefetch::cached(&file, 0, len), Some(true));
    }
}
