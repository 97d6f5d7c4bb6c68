//! A closed- or open-loop HTTP/1.1 load generator on keep-alive
//! connections, recording every request's completion time and latency.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How requests are offered.
#[derive(Copy, Clone, Debug)]
pub enum Offer {
    /// Each connection sends its next request as soon as the last is answered.
    Saturate,
    /// This many requests per second in all, on a fixed schedule; latency is
    /// measured from the scheduled time (no coordinated omission).
    Rate(u64),
}

/// One request's outcome.
#[derive(Copy, Clone)]
pub struct Sample {
    /// Completion, since the start of the run.
    pub at: Duration,
    pub latency: Duration,
    pub ok: bool,
}

/// Runs `conns` connections against `addr` for `duration`.
pub fn run(
    addr: SocketAddr,
    path: &str,
    conns: usize,
    offer: Offer,
    duration: Duration,
) -> Vec<Sample> {
    let start = Instant::now();
    let request: Arc<[u8]> = format!("GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n")
        .into_bytes()
        .into();
    let threads: Vec<_> = (0..conns)
        .map(|c| {
            let request = request.clone();
            std::thread::spawn(move || connection(addr, &request, c, conns, offer, start, duration))
        })
        .collect();
    let mut all: Vec<Sample> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    all.sort_by_key(|s| s.at);
    all
}

fn connection(
    addr: SocketAddr,
    request: &[u8],
    index: usize,
    conns: usize,
    offer: Offer,
    start: Instant,
    duration: Duration,
) -> Vec<Sample> {
    let mut samples = Vec::new();
    let mut stream: Option<TcpStream> = None;
    let mut buf = Vec::with_capacity(4096);
    let mut k = 0u64;
    loop {
        let scheduled = match offer {
            Offer::Saturate => Instant::now(),
            Offer::Rate(rps) => {
                let period = Duration::from_secs_f64(conns as f64 / rps as f64);
                let at = start + period.mul_f64(k as f64 + index as f64 / conns as f64);
                if let Some(wait) = at.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                at
            }
        };
        k += 1;
        if scheduled.duration_since(start) >= duration {
            return samples;
        }
        let ok = exchange(addr, &mut stream, request, &mut buf);
        if !ok {
            stream = None;
            buf.clear();
        }
        let now = Instant::now();
        samples.push(Sample {
            at: now.duration_since(start),
            latency: now.duration_since(scheduled),
            ok,
        });
        if !ok {
            // A refused connection fails fast; don't spin on it.
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// Sends one request and reads one 200 response; false on any failure.
fn exchange(
    addr: SocketAddr,
    stream: &mut Option<TcpStream>,
    request: &[u8],
    buf: &mut Vec<u8>,
) -> bool {
    if stream.is_none() {
        let Ok(s) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
            return false;
        };
        let _ = s.set_nodelay(true);
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        *stream = Some(s);
    }
    let s = stream.as_mut().expect("connected");
    if s.write_all(request).is_err() {
        return false;
    }
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = std::str::from_utf8(&buf[..end]).unwrap_or("");
            let ok = head.starts_with("HTTP/1.1 200");
            let len = head
                .lines()
                .find_map(|l| {
                    l.strip_prefix("Content-Length: ")
                        .or_else(|| l.strip_prefix("content-length: "))
                })
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                match s.read(&mut chunk) {
                    Ok(0) | Err(_) => return false,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            buf.drain(..end + 4 + len);
            return ok;
        }
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return false,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Requests completed, p99 latency and failures in one window.
#[derive(Copy, Clone, Default)]
pub struct Window {
    pub done: u64,
    pub failed: u64,
    pub p50: Duration,
    pub p99: Duration,
}

/// Splits a run into `width` windows.
pub fn windows(samples: &[Sample], duration: Duration, width: Duration) -> Vec<Window> {
    let n = (duration.as_nanos() / width.as_nanos()) as usize;
    let mut lat: Vec<Vec<Duration>> = vec![Vec::new(); n];
    let mut out = vec![Window::default(); n];
    for s in samples {
        let i = (s.at.as_nanos() / width.as_nanos()) as usize;
        if i < n {
            if s.ok {
                out[i].done += 1;
                lat[i].push(s.latency);
            } else {
                out[i].failed += 1;
            }
        }
    }
    for (w, l) in out.iter_mut().zip(&mut lat) {
        w.p50 = percentile(l, 0.50);
        w.p99 = percentile(l, 0.99);
    }
    out
}

/// The `p` quantile of `v` (zero if empty).
pub fn percentile(v: &mut [Duration], p: f64) -> Duration {
    if v.is_empty() {
        return Duration::ZERO;
    }
    v.sort();
    v[((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1]
}
