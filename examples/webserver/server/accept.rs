//! Accepts connections.

use super::http::Conn;
use evoflow::{component, Flow, Outputs};
use mio::net::TcpListener;
use std::io::ErrorKind;

/// Source of new connections from a non-blocking listener.
pub struct Accept {
    listener: TcpListener,
    next_id: u64,
}

impl Accept {
    /// Takes over a bound listener.
    pub fn new(listener: std::net::TcpListener) -> std::io::Result<Self> {
        listener.set_nonblocking(true)?;
        Ok(Accept {
            listener: TcpListener::from_std(listener),
            next_id: 0,
        })
    }
}

#[component(outputs(out: Conn))]
impl Accept {
    #[source]
    fn accept(&mut self, out: &mut Outputs<Self>) -> Flow {
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
            Err(e) if e.kind() == ErrorKind::WouldBlock => Flow::Idle,
            // Out of file descriptors, a connection reset before accept, ...:
            // try again later rather than stop serving.
            Err(_) => Flow::Idle,
        }
    }
}
