//! Throughput of an arc between machines (two endpoints over loopback
//! TCP on this machine), side by side in one run with what it is built on
//! and what it replaces:
//! - raw tonic: the same gRPC streaming call with the same batches (512
//!   packets, at most 64 KiB), the packets' bytes copied into each batch
//!   by hand, no framing, no encoding, no credits;
//! - raw tonic + postcard: the same, each packet encoded and decoded with
//!   postcard as evoflow-net does (the work any typed arc needs), still
//!   no framing or credits;
//! - in-process: an `rtrb` ring between two threads (what an arc between
//!   two workers of one machine is).
//!
//! `cargo bench -p evoflow-net --bench arc`: u64 packets and 1 KiB
//! packets, 3 rounds, median [min, max] in M packets/s and ratios (the
//! ratios are of the wide arc, whose credits do not bound the rate), and
//! the CPU time per packet of the threads that send and take, beside raw
//! tonic's (the transport's threads not counted).

use bytes::{Buf, BufMut, Bytes};
use evoflow_net::{Endpoint, Item, SendError, BATCH, BATCH_BYTES};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::os::fd::AsRawFd;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio_stream::StreamExt;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::{http, BoxFuture, Service, StdError};
use tonic::{Status, Streaming};

fn wait_readable(fd: &impl AsRawFd) {
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    unsafe { libc::poll(&mut p, 1, 100) };
}

/// CPU time this thread has used.
fn thread_cpu() -> Duration {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: writes one timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// A run: packets per second, and CPU time per packet (ns) of the thread
/// that makes and sends the packets and of the one that takes them (the
/// transport's threads not counted): where a gap to raw tonic lies.
struct Run {
    rate: f64,
    send: f64,
    take: f64,
}

/// CPU time per packet since `from`, in ns.
fn per_packet(from: Duration, n: u64) -> f64 {
    (thread_cpu() - from).as_nanos() as f64 / n as f64
}

/// Through an evoflow-net arc of `capacity`.
fn evoflow_net<T: Serialize + DeserializeOwned + Send + 'static>(
    n: u64,
    capacity: usize,
    make: fn(u64) -> T,
) -> Run {
    let (a, b) = (
        Endpoint::bind("127.0.0.1:0".parse().unwrap()).unwrap(),
        Endpoint::bind("127.0.0.1:0".parse().unwrap()).unwrap(),
    );
    let mut rx = b.accept::<T>(1, capacity).unwrap();
    let mut tx = a.connect::<T>(b.local_addr(), 1, capacity).unwrap();
    let t = Instant::now();
    let sender = std::thread::spawn(move || {
        let cpu = thread_cpu();
        for i in 0..n {
            let mut item = Item::Packet(make(i));
            loop {
                match tx.try_send(item) {
                    Ok(()) => break,
                    Err(SendError::Full(back)) => {
                        item = back;
                        wait_readable(&tx);
                    }
                    Err(SendError::Failed(e)) => panic!("{e}"),
                }
            }
        }
        let _ = tx.try_send(Item::End);
        per_packet(cpu, n)
    });
    let (mut got, cpu) = (0, thread_cpu());
    loop {
        match rx.try_recv().unwrap() {
            Some(Item::Packet(_)) => got += 1,
            Some(Item::End) => break,
            Some(Item::Marker(_)) => {}
            None => wait_readable(&rx),
        }
    }
    let rate = n as f64 / t.elapsed().as_secs_f64();
    let take = per_packet(cpu, n);
    let send = sender.join().unwrap();
    assert_eq!(got, n);
    Run { rate, send, take }
}

#[derive(Clone, Copy)]
struct Raw;
struct RawEncoder;
struct RawDecoder;

impl Codec for Raw {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawEncoder;
    type Decoder = RawDecoder;
    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }
    fn decoder(&mut self) -> RawDecoder {
        RawDecoder
    }
}

impl Encoder for RawEncoder {
    type Item = Bytes;
    type Error = Status;
    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawDecoder {
    type Item = Bytes;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

/// A server that hands each batch of one stream to a consuming thread,
/// counts the bytes and answers the total.
#[derive(Clone)]
struct Count(tokio::sync::mpsc::Sender<Bytes>);

impl tonic::server::NamedService for Count {
    const NAME: &'static str = "bench.Raw";
}

type Total = std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<Bytes, Status>> + Send>>;

impl Service<tonic::Request<Streaming<Bytes>>> for Count {
    type Response = tonic::Response<Total>;
    type Error = Status;
    type Future = BoxFuture<Self::Response, Self::Error>;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Status>> {
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, req: tonic::Request<Streaming<Bytes>>) -> Self::Future {
        let consumer = self.0.clone();
        Box::pin(async move {
            let mut input = req.into_inner();
            let mut bytes = 0u64;
            while let Some(b) = input.message().await? {
                bytes += b.len() as u64;
                let _ = consumer.send(b).await;
            }
            let total: Total = Box::pin(tokio_stream::once(Ok(Bytes::copy_from_slice(
                &bytes.to_le_bytes(),
            ))));
            Ok(tonic::Response::new(total))
        })
    }
}

impl<B> Service<http::Request<B>> for Count
where
    B: tonic::codegen::Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = std::convert::Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let count = self.clone();
        Box::pin(async move { Ok(tonic::server::Grpc::new(Raw).streaming(count, req).await) })
    }
}

/// Through a raw tonic stream: batches of 512 packets
/// of `size` bytes, made by a sending thread and read packet by packet by
/// a consuming thread, each side with a runtime of one thread, as
/// evoflow-net's are.
fn raw_tonic<T: Serialize + DeserializeOwned + Send + 'static>(
    n: u64,
    size: usize,
    encoded: Option<fn(u64) -> T>,
) -> Run {
    let runtime = || {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap()
    };
    let (server, rt) = (runtime(), runtime());
    let listener = server
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let (consumer, mut consumed) = tokio::sync::mpsc::channel::<Bytes>(4);
    let reader = std::thread::spawn(move || {
        let cpu = thread_cpu();
        let mut packets = 0u64;
        let mut sum = 0u64;
        while let Some(b) = consumed.blocking_recv() {
            if encoded.is_some() {
                let mut rest = &b[..];
                while !rest.is_empty() {
                    let (_, r) = postcard::take_from_bytes::<T>(rest).unwrap();
                    rest = r;
                    packets += 1;
                }
            } else {
                for p in b.chunks(size) {
                    sum = sum.wrapping_add(u64::from(p[0]));
                    packets += 1;
                }
            }
        }
        std::hint::black_box(sum);
        (packets, per_packet(cpu, packets.max(1)))
    });
    server.spawn(async move {
        tonic::transport::Server::builder()
            .add_service(Count(consumer))
            .serve_with_incoming(
                tokio_stream::wrappers::TcpListenerStream::new(listener).map(|s| {
                    s.inspect(|s| {
                        let _ = s.set_nodelay(true);
                    })
                }),
            )
            .await
    });
    let (tx, batches) = tokio::sync::mpsc::channel::<Bytes>(4);
    let t = Instant::now();
    let maker = std::thread::spawn(move || {
        let cpu = thread_cpu();
        let packet = vec![7u8; size];
        let mut sent = 0;
        while sent < n {
            let k = (n - sent).min(BATCH.min(BATCH_BYTES / size) as u64);
            let mut batch = Vec::with_capacity(k as usize * size);
            for i in 0..k {
                if let Some(make) = encoded {
                    batch = postcard::to_extend(&make(sent + i), batch).unwrap();
                } else if size == 8 {
                    batch.extend_from_slice(&(sent + i).to_le_bytes());
                } else {
                    batch.extend_from_slice(&packet);
                }
            }
            tx.blocking_send(Bytes::from(batch)).unwrap();
            sent += k;
        }
        per_packet(cpu, n)
    });
    let total = rt.block_on(async move {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .tcp_nodelay(true)
            .connect()
            .await
            .unwrap();
        let mut grpc = tonic::client::Grpc::new(channel);
        grpc.ready().await.unwrap();
        let path = http::uri::PathAndQuery::from_static("/bench.Raw/Count");
        let requests = tokio_stream::wrappers::ReceiverStream::new(batches);
        let mut answer = grpc
            .streaming(tonic::Request::new(requests), path, Raw)
            .await
            .unwrap()
            .into_inner();
        let total = answer.next().await.unwrap().unwrap();
        u64::from_le_bytes(total[..8].try_into().unwrap())
    });
    let send = maker.join().unwrap();
    drop(server);
    let (packets, take) = reader.join().unwrap();
    let rate = n as f64 / t.elapsed().as_secs_f64();
    assert_eq!(packets, n);
    assert!(encoded.is_some() || total == n * size as u64);
    Run { rate, send, take }
}

/// Packets per second through an `rtrb` ring (capacity 1024) between two
/// threads.
fn in_process<T: Send + 'static>(n: u64, make: fn(u64) -> T) -> f64 {
    let (mut tx, mut rx) = rtrb::RingBuffer::<T>::new(1024);
    let t = Instant::now();
    let sender = std::thread::spawn(move || {
        for i in 0..n {
            let mut item = make(i);
            loop {
                match tx.push(item) {
                    Ok(()) => break,
                    Err(rtrb::PushError::Full(back)) => {
                        item = back;
                        std::thread::yield_now();
                    }
                }
            }
        }
    });
    let mut got = 0;
    while got < n {
        match rx.pop() {
            Ok(_) => got += 1,
            Err(_) => std::thread::yield_now(),
        }
    }
    sender.join().unwrap();
    n as f64 / t.elapsed().as_secs_f64()
}

/// The bytes of each 1 KiB packet.
static KIB: [u8; 1024] = [7; 1024];

/// A capacity wide enough to cover the round trip on loopback (its
/// bandwidth-delay product), so the transport's own rate shows.
const WIDE: usize = 65_536;

fn stats(v: &mut [f64]) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

/// A serde format, as an arc would use it.
trait Format {
    fn encode<T: Serialize>(&self, packet: &T, batch: &mut Vec<u8>);
    /// A packet from the start of `bytes`, and how many bytes it took.
    fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> (T, usize);
}

struct Postcard;

impl Format for Postcard {
    fn encode<T: Serialize>(&self, packet: &T, batch: &mut Vec<u8>) {
        *batch = postcard::to_extend(packet, std::mem::take(batch)).unwrap();
    }
    fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> (T, usize) {
        let (p, rest) = postcard::take_from_bytes(bytes).unwrap();
        (p, bytes.len() - rest.len())
    }
}

struct Bincode<C>(C);

impl<C: bincode::config::Config> Format for Bincode<C> {
    fn encode<T: Serialize>(&self, packet: &T, batch: &mut Vec<u8>) {
        bincode::serde::encode_into_std_write(packet, batch, self.0).unwrap();
    }
    fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> (T, usize) {
        bincode::serde::decode_from_slice(bytes, self.0).unwrap()
    }
}

/// Encoding then decoding `n` packets in batches of [`BATCH`] with
/// `format`, per packet: (ns, bytes).
fn codec<T: Serialize + DeserializeOwned>(
    n: u64,
    make: fn(u64) -> T,
    format: &impl Format,
) -> (f64, f64) {
    let packets: Vec<T> = (0..BATCH as u64).map(make).collect();
    let (mut batch, mut bytes) = (Vec::new(), 0u64);
    let t = Instant::now();
    for _ in 0..n / BATCH as u64 {
        batch.clear();
        for p in &packets {
            format.encode(p, &mut batch);
        }
        bytes += batch.len() as u64;
        let mut at = 0;
        while at < batch.len() {
            let (p, used) = format.decode::<T>(&batch[at..]);
            std::hint::black_box(p);
            at += used;
        }
    }
    let per = (n / BATCH as u64 * BATCH as u64) as f64;
    (t.elapsed().as_nanos() as f64 / per, bytes as f64 / per)
}

/// postcard (what evoflow-net uses) beside bincode 2 (varint and fixed
/// integers), encode + decode per packet.
fn codecs() {
    println!("encode + decode per packet, batches of {BATCH} (ns, bytes):");
    compare("u64:  ", 10_000_000, |i| i * 7919);
    compare("1 KiB:", 500_000, |_| {
        serde_bytes::ByteBuf::from(vec![7u8; 1024])
    });
}

/// One packet type in each format.
fn compare<T: Serialize + DeserializeOwned>(label: &str, n: u64, make: fn(u64) -> T) {
    let p = codec(n, make, &Postcard);
    let v = codec(n, make, &Bincode(bincode::config::standard()));
    let f = codec(
        n,
        make,
        &Bincode(bincode::config::standard().with_fixed_int_encoding()),
    );
    println!(
        "  {label} postcard {:.1} ns {:.1} B; bincode varint {:.1} ns {:.1} B; bincode fixed {:.1} ns {:.1} B",
        p.0, p.1, v.0, v.1, f.0, f.1
    );
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    if std::env::var("EVOFLOW_NET_BENCH").as_deref() == Ok("codecs") {
        codecs();
        return;
    }
    let rounds = 3;
    // `EVOFLOW_NET_BENCH=u64` (or `1 KiB`) runs one size only;
    // `codecs` compares serde formats only.
    let only = std::env::var("EVOFLOW_NET_BENCH").ok();
    for (label, n, size) in [("u64", 5_000_000u64, 8usize), ("1 KiB", 500_000, 1024)] {
        if only.as_deref().is_some_and(|o| o != label) {
            continue;
        }
        let (mut net, mut small, mut raw, mut coded, mut local) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        // CPU per packet of the sending and taking threads: evoflow-net's
        // wide arc, raw tonic's.
        let (mut net_cpu, mut raw_cpu) = (Vec::new(), Vec::new());
        // 1 KiB: packets allocated one by one.
        let mut owned = Vec::new();
        let wide = |run: Run, rates: &mut Vec<f64>, cpu: &mut Vec<(f64, f64)>| {
            rates.push(run.rate);
            cpu.push((run.send, run.take));
        };
        for _ in 0..rounds {
            if size == 8 {
                wide(evoflow_net(n, WIDE, |i| i), &mut net, &mut net_cpu);
                small.push(evoflow_net(n, 1024, |i| i).rate);
                local.push(in_process(n, |i| i));
            } else {
                // The same bytes each time, shared (a cached body): no
                // allocation to make a packet, as raw tonic's maker.
                let shared = |_| Bytes::from_static(&KIB);
                wide(evoflow_net(n, WIDE, shared), &mut net, &mut net_cpu);
                small.push(evoflow_net(n, 1024, shared).rate);
                // Bytes made anew for each packet: `serde_bytes` (a plain
                // `Vec<u8>` is a sequence to serde, encoded byte by byte).
                let made = |_| serde_bytes::ByteBuf::from(vec![7u8; 1024]);
                owned.push(evoflow_net(n, WIDE, made).rate);
                local.push(in_process(n, |_| vec![7u8; 1024]));
            }
            if size == 8 {
                wide(raw_tonic::<u64>(n, size, None), &mut raw, &mut raw_cpu);
                coded.push(raw_tonic(n, size, Some(|i| i)).rate);
            } else {
                let raw_run = raw_tonic::<serde_bytes::ByteBuf>(n, size, None);
                wide(raw_run, &mut raw, &mut raw_cpu);
                // The shared packets of the arc's first row, encoded and
                // decoded (into new bytes) as the arc does.
                coded.push(raw_tonic(n, size, Some(|_| Bytes::from_static(&KIB))).rate);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let ratios: Vec<(f64, f64)> = net
            .iter()
            .zip(&raw)
            .zip(&local)
            .map(|((n, r), l)| (n / r, n / l))
            .collect();
        let (mut to_raw, mut to_local): (Vec<f64>, Vec<f64>) = ratios.into_iter().unzip();
        let mut to_coded: Vec<f64> = net.iter().zip(&coded).map(|(n, c)| n / c).collect();
        let mut owned_to_raw: Vec<f64> = owned.iter().zip(&raw).map(|(o, r)| o / r).collect();
        let ((cm, clo, chi), (c, cmin, cmax)) = (stats(&mut coded), stats(&mut to_coded));
        let ((nm, nlo, nhi), (rm, rlo, rhi), (lm, llo, lhi)) =
            (stats(&mut net), stats(&mut raw), stats(&mut local));
        let (sm, slo, shi) = stats(&mut small);
        let ((a, alo, ahi), (b, blo, bhi)) = (stats(&mut to_raw), stats(&mut to_local));
        println!(
            "{label} packets, {n} per run, median [min, max] of {rounds} rounds (M packets/s):"
        );
        println!(
            "  evoflow-net arc, capacity 65536 {:>7.2} [{:.2}, {:.2}]",
            nm / 1e6,
            nlo / 1e6,
            nhi / 1e6
        );
        println!(
            "  evoflow-net arc, capacity 1024  {:>7.2} [{:.2}, {:.2}]   (bound by its credits: capacity / round trip)",
            sm / 1e6,
            slo / 1e6,
            shi / 1e6
        );
        if !owned.is_empty() {
            let ((om, olo, ohi), (o, omin, omax)) = (stats(&mut owned), stats(&mut owned_to_raw));
            println!("  evoflow-net arc, each made anew {:>7.2} [{:.2}, {:.2}]   (capacity 65536) / raw: {o:.2}x [{omin:.2}, {omax:.2}]", om / 1e6, olo / 1e6, ohi / 1e6);
        }
        println!("  raw tonic stream, same batches  {:>7.2} [{:.2}, {:.2}]   evoflow-net / raw: {a:.2}x [{alo:.2}, {ahi:.2}]", rm / 1e6, rlo / 1e6, rhi / 1e6);
        println!("  raw tonic + postcard per packet {:>7.2} [{:.2}, {:.2}]   evoflow-net / raw+postcard: {c:.2}x [{cmin:.2}, {cmax:.2}]", cm / 1e6, clo / 1e6, chi / 1e6);
        println!("  in-process rtrb ring            {:>7.2} [{:.2}, {:.2}]   evoflow-net / in-process: {b:.3}x [{blo:.3}, {bhi:.3}]", lm / 1e6, llo / 1e6, lhi / 1e6);
        let median = |cpu: &[(f64, f64)], side: fn(&(f64, f64)) -> f64| {
            stats(&mut cpu.iter().map(side).collect::<Vec<f64>>()).0
        };
        println!(
            "  CPU per packet, median (ns; the transport's threads not counted): evoflow-net sender {:.0}, receiver {:.0}; raw tonic maker {:.0}, reader {:.0}",
            median(&net_cpu, |c| c.0),
            median(&net_cpu, |c| c.1),
            median(&raw_cpu, |c| c.0),
            median(&raw_cpu, |c| c.1),
        );
    }
}
