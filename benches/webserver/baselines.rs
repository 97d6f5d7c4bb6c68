//! What users would run instead, serving the same files with the same
//! rules (GET/HEAD, keep-alive, status codes, paths confined to the root):
//! a hand-written thread-per-connection server and a hyper server.

use crate::server::compose::head_of;
use crate::server::http::{Body, Status};
use crate::server::load::{answer, Root};
use crate::server::parse::parse_head;
use crate::server::read::MAX_HEAD;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};

/// Thread per connection, blocking I/O.
pub fn threaded(listener: TcpListener, root: Root) {
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let root = root.clone();
            std::thread::spawn(move || connection(stream, &root));
        }
    });
}

fn connection(mut s: TcpStream, root: &Root) {
    let _ = s.set_nodelay(true);
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 8192];
    loop {
        let end = loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break end;
            }
            if buf.len() > MAX_HEAD {
                let _ = respond(
                    &mut s,
                    root,
                    Some(Status::HeadersTooLarge),
                    "",
                    false,
                    false,
                );
                return;
            }
            match s.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let parsed = parse_head(&buf[..end + 4]);
        buf.drain(..end + 4);
        let ok = match parsed {
            Ok(head) => {
                let head_only = head.method == crate::server::http::Method::Head;
                respond(&mut s, root, None, &head.path, head_only, head.keep_alive)
                    && head.keep_alive
            }
            Err(status) => {
                let _ = respond(&mut s, root, Some(status), "", false, false);
                false
            }
        };
        if !ok {
            return;
        }
    }
}

/// The whole body in memory: what these baselines send in one write.
fn bytes(body: Body) -> Vec<u8> {
    match body {
        Body::Memory(b) => b.to_vec(),
        Body::File { file, offset, len } => {
            let mut v = vec![0; len as usize];
            let _ = std::os::unix::fs::FileExt::read_exact_at(&*file, &mut v, offset);
            v
        }
        Body::Parts(parts) => parts.iter().cloned().flat_map(bytes).collect(),
    }
}

fn respond(
    s: &mut TcpStream,
    root: &Root,
    error: Option<Status>,
    path: &str,
    head_only: bool,
    keep_alive: bool,
) -> bool {
    let (status, content_type, body) = answer(root, error, path, head_only);
    let body = bytes(body);
    let mut out = head_of(status, content_type, body.len() as u64, keep_alive, &[]);
    if !head_only {
        out.extend_from_slice(&body);
    }
    s.write_all(&out).is_ok()
}

/// hyper 1 on a two-thread tokio runtime.
pub fn hyper(listener: TcpListener, root: Root) {
    use http_body_util::Full;
    use hyper::body::Bytes;
    use hyper::{Method, Response, StatusCode};
    listener
        .set_nonblocking(true)
        .expect("non-blocking listener");
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let root = root.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(
                        move |req: hyper::Request<hyper::body::Incoming>| {
                            let error = match *req.method() {
                                Method::GET | Method::HEAD => None,
                                _ => Some(Status::MethodNotAllowed),
                            };
                            let path = req
                                .uri()
                                .path_and_query()
                                .map(|p| p.as_str())
                                .unwrap_or("/")
                                .to_owned();
                            let head_only = req.method() == Method::HEAD;
                            let (status, content_type, body) =
                                answer(&root, error, &path, head_only);
                            let body = if head_only {
                                Bytes::new()
                            } else {
                                Bytes::from(bytes(body))
                            };
                            let response = Response::builder()
                                .status(
                                    StatusCode::from_u16(status.line().0).expect("valid status"),
                                )
                                .header("content-type", content_type)
                                .header("server", "hyper")
                                .body(Full::new(body))
                                .expect("valid response");
                            async move { Ok::<_, std::convert::Infallible>(response) }
                        },
                    );
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, service)
                        .await;
                });
            }
        });
    });
}
