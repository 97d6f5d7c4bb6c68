//! Accepts connections.

use super::http::Conn;
use evoflow::{component, Flow, Outputs};
use mio::net::TcpListener;
use std::io::Write;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// After finding no connection waiting, don't ask again for this long: an
/// idle source is called on every pass of its worker, and each call would
/// be a system call.
const QUIET: Duration = Duration::from_micros(100);

/// Source of new connections from a non-blocking listener, handed round
/// robin to the lanes in use (see [`super::graph_of`]).
pub struct Accept {
    listener: Listener,
    next_id: u64,
    quiet_until: Instant,
    /// Lanes in use, from 1 to [`super::LANES`]: lanes beyond the worker
    /// count would share a worker with another lane for no gain.
    lanes: u64,
}

enum Listener {
    Bound(TcpListener),
    /// Bound in the first call.
    Later(SocketAddr),
}

impl Accept {
    /// Takes over a bound listener.
    pub fn new(listener: std::net::TcpListener) -> std::io::Result<Self> {
        listener.set_nonblocking(true)?;
        Ok(Accept {
            listener: Listener::Bound(TcpListener::from_std(listener)),
            next_id: 0,
            quiet_until: Instant::now(),
            lanes: 1,
        })
    }

    /// Binds `addr` in its first call, then prints `listening on <address>`
    /// to stdout. For a graph that every reload constructs again: only the
    /// instance that runs may take the port.
    pub fn bind_later(addr: SocketAddr) -> Self {
        Accept {
            listener: Listener::Later(addr),
            next_id: 0,
            quiet_until: Instant::now(),
            lanes: 1,
        }
    }

    /// Hands connections to the first `lanes` lanes (1 to
    /// [`super::LANES`]).
    pub fn spread_over(self, lanes: usize) -> Self {
        assert!((1..=super::LANES).contains(&lanes), "{lanes} lanes");
        Accept {
            lanes: lanes as u64,
            ..self
        }
    }
}

#[component(outputs(lane0: Conn, lane1: Conn))]
impl Accept {
    #[source]
    fn accept(&mut self, out: &mut Outputs<Self>) -> Flow {
        let now = Instant::now();
        if now < self.quiet_until {
            return Flow::after(self.quiet_until - now);
        }
        let listener = match &self.listener {
            Listener::Bound(l) => l,
            Listener::Later(addr) => {
                let l = TcpListener::bind(*addr)
                    .unwrap_or_else(|e| panic!("cannot listen on {addr}: {e}"));
                let mut stdout = std::io::stdout().lock();
                let _ = writeln!(stdout, "listening on {}", l.local_addr().expect("bound"));
                let _ = stdout.flush();
                self.listener = Listener::Bound(l);
                return Flow::Continue;
            }
        };
        match listener.accept() {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                self.next_id += 1;
                let conn = Conn {
                    id: self.next_id,
                    stream,
                };
                if self.next_id.is_multiple_of(self.lanes) {
                    out.lane0(conn)
                } else {
                    out.lane1(conn)
                }
                Flow::Continue
            }
            // Nothing waiting: the worker sleeps until a connection comes.
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Flow::readable(listener),
            // Out of file descriptors, a connection reset before accept,
            // ...: try again a little later rather than stop serving.
            Err(_) => {
                self.quiet_until = Instant::now() + QUIET;
                Flow::Idle
            }
        }
    }
}
