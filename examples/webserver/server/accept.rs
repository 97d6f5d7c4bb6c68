//! Accepts connections.

use super::http::Conn;
use evoflow::{component, Flow, Outputs};
use mio::net::TcpListener;
use std::time::{Duration, Instant};

/// After finding no connection waiting, don't ask again for this long: an
/// idle source is called on every pass of its worker, and each call would
/// be a system call.
const QUIET: Duration = Duration::from_micros(100);

/// Source of new connections from a non-blocking listener.
pub struct Accept {
    listener: TcpListener,
    next_id: u64,
    quiet_until: Instant,
}

impl Accept {
    /// Takes over a bound listener.
    pub fn new(listener: std::net::TcpListener) -> std::io::Result<Self> {
        listener.set_nonblocking(true)?;
        Ok(Accept {
            listener: TcpListener::from_std(listener),
            next_id: 0,
            quiet_until: Instant::now(),
        })
    }
}

#[component(outputs(out: Conn))]
impl Accept {
    #[source]
    fn accept(&mut self, out: &mut Outputs<Self>) -> Flow {
        if Instant::now() < self.quiet_until {
            return Flow::Idle;
        }
        match self.listener.accept() {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                self.next_id += 1;
                out.out(Conn {
                    id: self.next_id,
                    stream,
                });
                Flow::Continue
            }
            // Nothing waiting; or out of file descriptors, a connection reset
            // before accept, ...: try again later rather than stop serving.
            Err(_) => {
                self.quiet_until = Instant::now() + QUIET;
                Flow::Idle
            }
        }
    }
}
