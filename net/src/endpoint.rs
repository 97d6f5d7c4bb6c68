//! A machine's end of the network: a gRPC server that receiving ends of
//! arcs attach to, and the client side of the arcs it sends on. The
//! transport runs on a small tokio runtime of its own, so the graph's
//! workers never block on the network: they hand batches over and take
//! them, and wait on the ends' descriptors.

use crate::codec::Raw;
use crate::error::NetError;
use crate::frame;
use crate::receiver::{Inbox, Inboxes, RawReceiver, Receiver};
use crate::sender::{Outbox, RawSender, Sender};
use crate::transport::Transport;
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_stream::wrappers::{TcpListenerStream, UnboundedReceiverStream};
use tokio_stream::{Stream, StreamExt};
use tonic::codegen::{http, BoxFuture, Service, StdError};
use tonic::{Status, Streaming};

/// The gRPC method every arc's stream uses.
const PATH: &str = "/evoflow.Arc/Stream";
/// HTTP/2 keepalive: a peer that stops answering (frozen, cut off) is
/// declared gone after about `KEEPALIVE + KEEPALIVE_TIMEOUT`.
const KEEPALIVE: Duration = Duration::from_secs(1);
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a stream waits for its arc to be accepted here, unless the
/// endpoint says otherwise ([`Endpoint::bind_waiting`]): machines start in
/// any order.
pub const ACCEPT_WAIT: Duration = Duration::from_secs(5);

/// One machine's end of the network.
pub struct Endpoint {
    runtime: Option<tokio::runtime::Runtime>,
    addr: SocketAddr,
    inboxes: Inboxes,
    /// The sending ends, to fail when this endpoint stops.
    outboxes: Mutex<Vec<Weak<Outbox>>>,
    channels: Mutex<HashMap<SocketAddr, tonic::transport::Channel>>,
}

impl Endpoint {
    /// Listens on `addr` (port 0 picks one) for the streams of the arcs
    /// this machine receives.
    pub fn bind(addr: SocketAddr) -> std::io::Result<Self> {
        Endpoint::bind_waiting(addr, ACCEPT_WAIT)
    }

    /// As [`Endpoint::bind`], a stream waiting up to `accept_wait` for its
    /// arc to be accepted here (a machine that builds its part slowly).
    pub fn bind_waiting(addr: SocketAddr, accept_wait: Duration) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("evoflow-net")
            .enable_all()
            .build()?;
        let listener = runtime.block_on(tokio::net::TcpListener::bind(addr))?;
        let addr = listener.local_addr()?;
        let inboxes: Inboxes = Arc::default();
        let service = ArcService {
            accept_wait,
            inboxes: inboxes.clone(),
        };
        runtime.spawn(async move {
            let incoming = TcpListenerStream::new(listener).map(|s| {
                s.inspect(|s| {
                    let _ = s.set_nodelay(true);
                })
            });
            let _ = tonic::transport::Server::builder()
                .http2_keepalive_interval(Some(KEEPALIVE))
                .http2_keepalive_timeout(Some(KEEPALIVE_TIMEOUT))
                .add_service(service)
                .serve_with_incoming(incoming)
                .await;
        });
        Ok(Endpoint {
            runtime: Some(runtime),
            addr,
            inboxes,
            outboxes: Mutex::new(Vec::new()),
            channels: Mutex::new(HashMap::new()),
        })
    }

    /// Where peers reach this machine.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The receiving end of arc `arc`, whose sender will connect here.
    /// `capacity` is the arc's (the sender's bounds what is in flight;
    /// this end gives credits back in halves of the smaller of the two).
    pub fn accept<T: DeserializeOwned>(
        &self,
        arc: u64,
        capacity: usize,
    ) -> std::io::Result<Receiver<T>> {
        self.accept_raw(arc, capacity).map(Receiver::from_raw)
    }

    /// The sending end of arc `arc` to the machine at `peer`, with at most
    /// `capacity` packets in flight (sent and not yet taken there). The
    /// stream opens in the background; if it cannot, or breaks later, the
    /// sender reports it and its descriptor becomes readable.
    pub fn connect<T: Serialize>(
        &self,
        peer: SocketAddr,
        arc: u64,
        capacity: usize,
    ) -> std::io::Result<Sender<T>> {
        self.connect_raw(peer, arc, capacity).map(Sender::from_raw)
    }

    /// One HTTP/2 connection per peer, shared by the arcs to it.
    fn channel(&self, peer: SocketAddr) -> std::io::Result<tonic::transport::Channel> {
        let mut channels = crate::lock(&self.channels);
        if let Some(c) = channels.get(&peer) {
            return Ok(c.clone());
        }
        let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{peer}"))
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(3))
            .http2_keep_alive_interval(KEEPALIVE)
            .keep_alive_timeout(KEEPALIVE_TIMEOUT)
            .keep_alive_while_idle(true);
        let _guard = self.runtime.as_ref().expect("running").enter();
        let channel = endpoint.connect_lazy();
        channels.insert(peer, channel.clone());
        Ok(channel)
    }
}

impl Transport for Endpoint {
    fn accept_raw(&self, arc: u64, capacity: usize) -> std::io::Result<RawReceiver> {
        let inbox = Arc::new(Inbox::new()?);
        let mut inboxes = crate::lock(&self.inboxes);
        if inboxes.contains_key(&arc) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("arc {arc} is received here already"),
            ));
        }
        inboxes.insert(arc, inbox.clone());
        Ok(RawReceiver {
            inbox,
            arc,
            inboxes: self.inboxes.clone(),
            capacity,
        })
    }

    fn connect_raw(
        &self,
        peer: SocketAddr,
        arc: u64,
        capacity: usize,
    ) -> std::io::Result<RawSender> {
        let outbox = Arc::new(Outbox::new()?);
        let channel = self.channel(peer)?;
        {
            let mut outboxes = crate::lock(&self.outboxes);
            outboxes.retain(|o| o.strong_count() > 0);
            outboxes.push(Arc::downgrade(&outbox));
        }
        let (out, batches) = mpsc::unbounded_channel::<Bytes>();
        let runtime = self.runtime.as_ref().expect("running");
        let state = outbox.clone();
        runtime.spawn(async move {
            let hello = tokio_stream::once(Bytes::from(frame::hello(arc, capacity as u64)));
            let taker = state.clone();
            let batches = UnboundedReceiverStream::new(batches).map(move |b: Bytes| {
                taker.taken_on(b.len());
                b
            });
            let requests = hello.chain(batches);
            let mut grpc = tonic::client::Grpc::new(channel);
            let call = async {
                grpc.ready()
                    .await
                    .map_err(|e| NetError::Disconnected(e.to_string()))?;
                let path = http::uri::PathAndQuery::from_static(PATH);
                let credits = grpc
                    .streaming(tonic::Request::new(requests), path, Raw)
                    .await
                    .map_err(disconnected)?;
                let mut credits = credits.into_inner();
                while let Some(c) = credits.message().await.map_err(disconnected)? {
                    let taken = frame::taken_of(&c).ok_or_else(|| {
                        NetError::Malformed("a credit message of the wrong size".into())
                    })?;
                    state
                        .taken
                        .fetch_max(taken, std::sync::atomic::Ordering::AcqRel);
                    state.notify.signal();
                }
                // The receiver closed the stream: cleanly after the end,
                // else it dropped the arc.
                if state.ended.load(std::sync::atomic::Ordering::Acquire) {
                    state
                        .finished
                        .store(true, std::sync::atomic::Ordering::Release);
                    Ok(())
                } else {
                    Err(NetError::Closed)
                }
            };
            if let Err(e) = call.await {
                state.fail(e);
            }
        });
        Ok(RawSender {
            outbox,
            out: Box::new(move |batch| out.send(batch).is_ok()),
            capacity,
        })
    }
}

impl Drop for Endpoint {
    /// Stops the transport: every stream of this machine breaks, and its
    /// peers see their arcs fail.
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
        let stopped = || NetError::Disconnected("this machine's transport stopped".into());
        for outbox in crate::lock(&self.outboxes).iter() {
            if let Some(o) = outbox.upgrade() {
                o.fail(stopped());
            }
        }
        for inbox in crate::lock(&self.inboxes).values() {
            inbox.update(|a| {
                a.failed.get_or_insert(stopped());
            });
        }
    }
}

fn disconnected(s: Status) -> NetError {
    match s.code() {
        tonic::Code::NotFound | tonic::Code::AlreadyExists | tonic::Code::InvalidArgument => {
            NetError::Refused(s.message().to_owned())
        }
        _ => NetError::Disconnected(format!("{}: {}", s.code(), s.message())),
    }
}

/// The server side: attaches each incoming stream to its arc's inbox.
#[derive(Clone)]
struct ArcService {
    accept_wait: Duration,
    inboxes: Inboxes,
}

impl tonic::server::NamedService for ArcService {
    const NAME: &'static str = "evoflow.Arc";
}

impl<B> Service<http::Request<B>> for ArcService
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
        let attach = Attach {
            accept_wait: self.accept_wait,
            inboxes: self.inboxes.clone(),
        };
        Box::pin(async move {
            if req.uri().path() != PATH {
                return Ok(
                    Status::unimplemented(format!("no method {}", req.uri().path())).into_http(),
                );
            }
            // No limit on a message's size beyond the batch's: a batch
            // holds at least one whole packet, whatever its size (tonic's
            // default of 4 MiB failed the arc of any larger packet). The
            // peers are machines of the same program.
            let mut grpc = tonic::server::Grpc::new(Raw).max_decoding_message_size(usize::MAX);
            Ok(grpc.streaming(attach, req).await)
        })
    }
}

type Credits = Pin<Box<dyn Stream<Item = Result<Bytes, Status>> + Send>>;

/// One incoming stream: its hello names the arc; its batches go to the
/// arc's inbox; credits go back as the response stream.
struct Attach {
    accept_wait: Duration,
    inboxes: Inboxes,
}

impl Service<tonic::Request<Streaming<Bytes>>> for Attach {
    type Response = tonic::Response<Credits>;
    type Error = Status;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: tonic::Request<Streaming<Bytes>>) -> Self::Future {
        let (inboxes, accept_wait) = (self.inboxes.clone(), self.accept_wait);
        Box::pin(async move {
            let mut batches = req.into_inner();
            let hello = batches
                .message()
                .await?
                .ok_or_else(|| Status::invalid_argument("a stream without its hello"))?;
            let (arc, capacity) = frame::read_hello(&hello)
                .ok_or_else(|| Status::invalid_argument("a malformed hello"))?;
            // The receiving side may not have accepted the arc yet.
            let waited = tokio::time::Instant::now();
            let inbox = loop {
                let found = crate::lock(&inboxes).get(&arc).cloned();
                match found {
                    Some(inbox) => break inbox,
                    None if waited.elapsed() < accept_wait => {
                        tokio::time::sleep(Duration::from_millis(20)).await
                    }
                    None => {
                        return Err(Status::not_found(format!(
                            "arc {arc} is not received here (waited {accept_wait:?})"
                        )))
                    }
                }
            };
            let (credits, owed) = mpsc::unbounded_channel::<u64>();
            {
                let mut arrived = inbox.lock();
                if arrived.attached {
                    return Err(Status::already_exists(format!(
                        "arc {arc} has a stream already"
                    )));
                }
                arrived.attached = true;
                arrived.sender_capacity = Some(capacity);
                arrived.credits = Some(Box::new(move |taken| credits.send(taken).is_ok()));
            }
            tokio::spawn(async move {
                loop {
                    match batches.message().await {
                        Ok(Some(batch)) => inbox.update(|a| a.batches.push_back(batch)),
                        Ok(None) => {
                            inbox.update(|a| a.closed = true);
                            break;
                        }
                        Err(s) => {
                            inbox.update(|a| {
                                a.failed.get_or_insert(disconnected(s));
                            });
                            break;
                        }
                    }
                }
            });
            let credits: Credits = Box::pin(
                UnboundedReceiverStream::new(owed)
                    .map(|taken| Ok(Bytes::from(frame::credit(taken)))),
            );
            Ok(tonic::Response::new(credits))
        })
    }
}
