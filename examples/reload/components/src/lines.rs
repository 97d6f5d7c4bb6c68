//! Reads lines from TCP clients (address from `RELOAD_EXAMPLE_ADDR`,
//! default 127.0.0.1:7878). Binds in its first poll, not when constructed:
//! every reload constructs the graph again, and only new instances run.

use crate::types::Line;
use evoflow::{component, Flow, Outputs};
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};

#[derive(Default)]
pub struct Lines {
    listener: Option<TcpListener>,
    clients: Vec<(TcpStream, Vec<u8>)>,
}

#[component(outputs(out: Line))]
impl Lines {
    #[source]
    fn poll(&mut self, out: &mut Outputs<Self>) -> Flow {
        let Some(listener) = &self.listener else {
            let addr = std::env::var("RELOAD_EXAMPLE_ADDR").unwrap_or("127.0.0.1:7878".into());
            let listener = TcpListener::bind(&addr).expect("cannot bind RELOAD_EXAMPLE_ADDR");
            listener
                .set_nonblocking(true)
                .expect("nonblocking listener");
            let mut stdout = std::io::stdout().lock();
            let _ = writeln!(
                stdout,
                "listening on {}",
                listener.local_addr().expect("bound")
            );
            let _ = stdout.flush();
            self.listener = Some(listener);
            return Flow::Continue;
        };
        let mut moved = false;
        while let Ok((stream, _)) = listener.accept() {
            stream.set_nonblocking(true).expect("nonblocking stream");
            self.clients.push((stream, Vec::new()));
        }
        let mut buf = [0u8; 16 * 1024];
        self.clients.retain_mut(|(stream, pending)| loop {
            match stream.read(&mut buf) {
                Ok(0) => return false,
                Ok(n) => {
                    pending.extend_from_slice(&buf[..n]);
                    while let Some(end) = pending.iter().position(|&b| b == b'\n') {
                        let line: Vec<u8> = pending.drain(..=end).collect();
                        out.out(Line(String::from_utf8_lossy(&line[..end]).into_owned()));
                        moved = true;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        });
        if moved {
            Flow::Continue
        } else {
            Flow::Idle
        }
    }
}
