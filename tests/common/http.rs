//! A small HTTP/1.1 client for the web server tests: raw requests over
//! real sockets, responses parsed just enough to check them.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Connects, with a 10 s read timeout.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// One parsed response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Reads one response from `s`, using `buf` for bytes read past it.
pub fn read_response(s: &mut TcpStream, buf: &mut Vec<u8>, head_request: bool) -> Resp {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8(buf[..end].to_vec()).unwrap();
            let mut lines = head.split("\r\n");
            let status = lines
                .next()
                .unwrap()
                .split(' ')
                .nth(1)
                .unwrap()
                .parse()
                .unwrap();
            let headers: Vec<(String, String)> = lines
                .map(|l| {
                    let (n, v) = l.split_once(':').unwrap();
                    (n.trim().to_owned(), v.trim().to_owned())
                })
                .collect();
            // Only a 304 may have no length (and no body).
            let len: usize = match headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            {
                Some((_, v)) => v.parse().unwrap(),
                None if status == 304 => 0,
                None => panic!("no Content-Length in a {status}"),
            };
            let len = if head_request { 0 } else { len };
            while buf.len() < end + 4 + len {
                fill(s, buf);
            }
            let body = buf[end + 4..end + 4 + len].to_vec();
            buf.drain(..end + 4 + len);
            return Resp {
                status,
                headers,
                body,
            };
        }
        fill(s, buf);
    }
}

/// Reads more of a response into `buf`; panics if the server closed.
pub fn fill(s: &mut TcpStream, buf: &mut Vec<u8>) {
    let mut chunk = [0u8; 4096];
    let n = s.read(&mut chunk).expect("response");
    assert!(n > 0, "connection closed before a complete response");
    buf.extend_from_slice(&chunk[..n]);
}

/// Sends `raw` on a new connection and reads the one response.
pub fn request(addr: SocketAddr, raw: &str) -> Resp {
    let mut s = connect(addr);
    s.write_all(raw.as_bytes()).unwrap();
    read_response(&mut s, &mut Vec::new(), raw.starts_with("HEAD"))
}

/// `GET path` on a new connection.
pub fn get(addr: SocketAddr, path: &str) -> Resp {
    request(addr, &format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n"))
}

/// True once the server has closed the connection.
pub fn closed(s: &mut TcpStream) -> bool {
    let mut b = [0u8; 1];
    matches!(s.read(&mut b), Ok(0) | Err(_))
}
