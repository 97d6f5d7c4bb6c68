//! A minimal HTTP/1.1 keep-alive client for the reload tests and benchmark:
//! one GET at a time on one connection.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// One keep-alive connection.
pub struct Connection {
    writer: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Connection {
    pub fn open(addr: &str, timeout: Duration) -> std::io::Result<Connection> {
        let stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_nodelay(true)?;
        Ok(Connection {
            reader: BufReader::new(stream.try_clone()?),
            writer: stream,
        })
    }

    /// GET `/`; expects 200 and returns the header lines.
    pub fn get(&mut self) -> Result<Vec<String>, String> {
        self.writer
            .write_all(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
            .map_err(|e| format!("write: {e}"))?;
        let mut status = String::new();
        self.reader
            .read_line(&mut status)
            .map_err(|e| format!("read: {e}"))?;
        if !status.starts_with("HTTP/1.1 200 ") {
            return Err(format!("status line {status:?}"));
        }
        let (mut headers, mut length) = (Vec::new(), None);
        loop {
            let mut line = String::new();
            self.reader
                .read_line(&mut line)
                .map_err(|e| format!("read: {e}"))?;
            let line = line.trim_end().to_owned();
            if line.is_empty() {
                break;
            }
            if let Some(v) = line.strip_prefix("Content-Length: ") {
                length = v.parse::<usize>().ok();
            }
            headers.push(line);
        }
        let mut body = vec![0; length.ok_or("no Content-Length")?];
        self.reader
            .read_exact(&mut body)
            .map_err(|e| format!("body: {e}"))?;
        Ok(headers)
    }
}
