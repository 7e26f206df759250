//! The accept loop: accept (backing off on temporary errors, inside `net::Listener`), apply
//! socket options, spawn one task per connection, and stop when the server shuts down. The
//! optional connection cap is a semaphore acquired before accepting, so the loop waits
//! instead of accepting what it cannot serve. No lock is taken on this path.
//!
//! Each connection task picks its protocol: TLS first if configured, then HTTP/2 when ALPN
//! chose `h2` (or, on plain TCP, when the client opens with the HTTP/2 preface), else HTTP/1.1.

use std::future::Future;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;

use tokio::sync::{watch, Semaphore};

use super::shutdown::{LiveGuard, ServerHandle, Shared};
use super::Server;
use crate::conn::{ConnEvents, ConnInfo, ConnStateHook, Phase};
use crate::handler::Handler;
use crate::net::stall::{WatchWrites, WriteStall};
use crate::net::{Listener, SocketOptions};
use crate::proto::h1::io::ReadIo;
use crate::proto::h1::server::{self as h1, ConnConfig};
use crate::proto::h2::server::{self as h2, H2Config};
use crate::tls::ServerTls;

/// What every connection task of one server shares.
struct Ctx<H> {
    handler: Arc<H>,
    cfg: Arc<ConnConfig>,
    socket: SocketOptions,
    hook: Option<ConnStateHook>,
    limiter: Option<Arc<Semaphore>>,
    shared: Arc<Shared>,
    conn_info: bool,
    tls: Option<ServerTls>,
    /// `None` when HTTP/2 is off.
    h2: Option<Arc<H2Config>>,
}

impl<H: Handler> Ctx<H> {
    fn new(server: &Server, handler: Arc<H>, shared: Arc<Shared>) -> Self {
        Ctx {
            handler,
            cfg: Arc::new(server.conn_config()),
            socket: server.socket.clone(),
            hook: server.conn_state_hook.clone(),
            limiter: server
                .max_connections
                .map(|n| Arc::new(Semaphore::new(n.max(1)))),
            shared,
            conn_info: server.conn_info,
            tls: server.tls.as_ref().map(|t| t.for_server(server.http2)),
            h2: server.h2_config().map(Arc::new),
        }
    }
}

pub(super) fn start<H: Handler>(
    server: &Server,
    listeners: Vec<Listener>,
    handler: Arc<H>,
) -> ServerHandle {
    let shared = Shared::new();
    let ctx = Arc::new(Ctx::new(server, handler, shared.clone()));
    let addrs = listeners
        .iter()
        .filter_map(|l| l.local_addr().ok())
        .collect();
    let loops = listeners
        .into_iter()
        .map(|l| tokio::spawn(accept_loop(l, ctx.clone())))
        .collect();
    ServerHandle {
        shared,
        addrs,
        loops: Arc::new(Mutex::new(loops)),
    }
}

async fn accept_loop<H: Handler>(mut listener: Listener, ctx: Arc<Ctx<H>>) -> std::io::Result<()> {
    let mut phase = ctx.shared.phase.subscribe();
    if let Ok(addr) = listener.local_addr() {
        tracing::debug!(%addr, "accepting connections");
    }
    loop {
        let permit = match &ctx.limiter {
            None => None,
            Some(sem) => tokio::select! {
                biased;
                _ = stopping(&mut phase) => break,
                p = sem.clone().acquire_owned() => p.ok(),
            },
        };
        let (stream, remote) = tokio::select! {
            biased;
            _ = stopping(&mut phase) => break,
            r = listener.accept() => match r {
                Ok(conn) => conn,
                Err(e) => {
                    tracing::error!(error = %e, "listener failed; accept loop stops");
                    return Err(e);
                }
            },
        };
        if let Err(e) = ctx.socket.apply(&stream) {
            tracing::debug!(error = %e, %remote, "setting socket options failed");
        }
        let live = LiveGuard::new(&ctx.shared);
        let ctx = ctx.clone();
        let phase = phase.clone();
        tokio::spawn(async move {
            let _live = live;
            let _permit = permit;
            serve_conn(stream, remote, &ctx, phase).await;
        });
    }
    // Dropping the listener closes the socket: new connections are refused from here on.
    drop(listener);
    Ok(())
}

/// One connection's task: TLS if configured, then the protocol the client speaks.
async fn serve_conn<H: Handler>(
    stream: tokio::net::TcpStream,
    remote: std::net::SocketAddr,
    ctx: &Ctx<H>,
    mut phase: watch::Receiver<Phase>,
) {
    let mut events = ConnEvents::new(remote, ctx.hook.clone(), phase.clone());
    if ctx.conn_info {
        if let Ok(local_addr) = stream.local_addr() {
            events.info = Some(ConnInfo::new(remote, local_addr));
        }
    }
    // The TLS and HTTP/2 paths are boxed: their futures are several KB, and inline they
    // would make every connection task that large, including idle plain HTTP/1.1 ones.
    if let Some(tls) = &ctx.tls {
        Box::pin(serve_tls(tls, stream, remote, ctx, events, phase)).await;
        return;
    }
    // The first request's head is due within the header timeout of the accept, whatever
    // happens first (the preface sniff included).
    let first_deadline = tokio::time::Instant::now() + ctx.cfg.read_header_timeout;
    if let Some(cfg) = &ctx.h2 {
        let sniffed = tokio::select! {
            biased;
            h2 = sniff_preface(&stream, first_deadline) => Some(h2),
            _ = stopping(&mut phase) => None,
        };
        match sniffed {
            Some(true) => {
                let stall = WriteStall::new();
                let io = WatchWrites::new(stream, stall.clone());
                let serving = h2::serve(io, &stall, &ctx.handler, cfg, &mut events, phase);
                Box::pin(serving).await;
                return;
            }
            Some(false) => {}
            // Shutting down before the client said anything: close. (Bytes already here
            // are a request, answered by HTTP/1.1 with `Connection: close`.)
            None if !crate::net::has_pending_input(stream.as_raw_fd()) => return,
            None => {}
        }
    }
    let fd = stream.as_raw_fd();
    let (rd, wr) = stream.into_split();
    serve_h1(rd, wr, fd, first_deadline, ctx, events, phase).await;
}

/// A TLS connection: the handshake, then HTTP/2 or HTTP/1.1 as ALPN chose.
async fn serve_tls<H: Handler>(
    tls: &ServerTls,
    stream: tokio::net::TcpStream,
    remote: std::net::SocketAddr,
    ctx: &Ctx<H>,
    mut events: ConnEvents,
    mut phase: watch::Receiver<Phase>,
) {
    // Under TLS, so a record buffer taking writes while the socket is stuck is not progress.
    let stall = WriteStall::new();
    let tls_stream = tokio::select! {
        biased;
        r = crate::tls::accept(tls, WatchWrites::new(stream, stall.clone())) => match r {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(error = %e, %remote, "TLS handshake failed");
                return;
            }
        },
        // No request can be in flight before the handshake: any shutdown closes it.
        _ = stopping(&mut phase) => return,
    };
    let is_h2 = tls_stream.get_ref().1.alpn_protocol() == Some(crate::tls::ALPN_H2);
    match &ctx.h2 {
        Some(cfg) if is_h2 => {
            h2::serve(tls_stream, &stall, &ctx.handler, cfg, &mut events, phase).await
        }
        _ => {
            let (rd, wr) = crate::tls::split::split(tls_stream);
            let fd = rd.raw_fd();
            let first_deadline = tokio::time::Instant::now() + ctx.cfg.read_header_timeout;
            serve_h1(rd, wr, fd, first_deadline, ctx, events, phase).await;
        }
    }
}

/// Whether a plain connection opens with the HTTP/2 preface (h2c by prior knowledge, RFC
/// 9113 §3.3). Looks without consuming, until the bytes so far differ from the preface, the
/// whole preface is there, or `deadline` (the first request's header deadline, which
/// HTTP/1.1 then keeps to). Anything else, silence included, goes to HTTP/1.1.
///
/// It sleeps between looks: each wait is for the socket to turn readable again, and a look
/// that finds nothing new clears the runtime's readiness first, so a client that sends half
/// a preface (or nothing) costs no CPU while it waits.
async fn sniff_preface(stream: &tokio::net::TcpStream, deadline: tokio::time::Instant) -> bool {
    use crate::proto::h2::PREFACE;
    use tokio::io::Interest;
    let fd = stream.as_raw_fd();
    let mut buf = [0u8; PREFACE.len()];
    let mut seen = 0;
    loop {
        // Ready once bytes (or a close) arrive that were not there at the last look.
        if tokio::time::timeout_at(deadline, stream.readable())
            .await
            .is_err()
        {
            return false;
        }
        let looked = stream.try_io(Interest::READABLE, || {
            match crate::net::peek_now(fd, &mut buf) {
                // Nothing new since the last look: clear the readiness, wait for more.
                Ok(n) if n == seen && n > 0 => Err(std::io::ErrorKind::WouldBlock.into()),
                other => other,
            }
        });
        let n = match looked {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(_) => return false,
        };
        if n == 0 || buf[..n] != PREFACE[..n] {
            return false;
        }
        if n == PREFACE.len() {
            return true;
        }
        seen = n;
    }
}

/// The HTTP/1.1 connection, watched for shutdown. The shutdown signal is registered once
/// per connection, not per request: on graceful shutdown an idle connection is closed at
/// once and a busy one finishes its response (it sees the phase and says
/// `Connection: close`); on immediate close the connection is dropped wherever it is.
async fn serve_h1<H, R, W>(
    rd: R,
    wr: W,
    fd: RawFd,
    first_deadline: tokio::time::Instant,
    ctx: &Ctx<H>,
    mut events: ConnEvents,
    mut phase: watch::Receiver<Phase>,
) where
    H: Handler,
    R: ReadIo,
    W: tokio::io::AsyncWrite + Unpin + Send,
{
    let idle = AtomicBool::new(false);
    let mut conn = std::pin::pin!(h1::serve(
        rd,
        wr,
        &*ctx.handler,
        &ctx.cfg,
        first_deadline,
        &mut events,
        &idle
    ));
    {
        // The shutdown watch is polled once, which registers this task's waker with it (a
        // tokio task's waker stays valid for the task's life); after that, each wake-up of
        // the connection checks the phase with one atomic load instead of polling the watch.
        let probe = phase.clone();
        let mut signal = std::pin::pin!(stopping(&mut phase));
        let mut registered = false;
        let shutdown = std::future::poll_fn(|cx| {
            if conn.as_mut().poll(cx).is_ready() {
                return Poll::Ready(false);
            }
            if !registered {
                registered = true;
                if signal.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(true);
                }
            }
            if probe.has_changed().unwrap_or(true) {
                return Poll::Ready(true);
            }
            Poll::Pending
        })
        .await;
        if !shutdown {
            return;
        }
    }
    // An idle connection closes at once, unless a request has already arrived that the
    // connection has not noticed yet (the runtime may learn of readiness late): that one is
    // answered first. `fd` is open: `conn` owns the socket and is alive here.
    if idle.load(Ordering::Acquire) && !crate::net::has_pending_input(fd) {
        return;
    }
    tokio::select! {
        biased;
        _ = &mut conn => {}
        _ = phase.wait_for(|p| *p == Phase::Closing) => {}
    }
}

async fn stopping(phase: &mut watch::Receiver<Phase>) {
    let _ = phase.wait_for(|p| *p != Phase::Running).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Body;

    /// Every connection task holds this future for its whole life, idle or not, so its size
    /// is memory per idle connection. The TLS and HTTP/2 paths are boxed to keep it small.
    #[tokio::test]
    async fn plain_connection_task_stays_small() {
        let handler =
            Arc::new(|_req: http::Request<Body>| async { http::Response::new(Body::from("hi")) });
        let ctx = Ctx::new(&Server::new(), handler, Shared::new());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let _client = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (stream, remote) = listener.accept().await.unwrap();
        let conn = serve_conn(stream, remote, &ctx, ctx.shared.phase.subscribe());
        let size = std::mem::size_of_val(&conn);
        // About 1.6 KB in a debug build; with the HTTP/2 path inline it is 3.7 KB.
        assert!(size <= 2048, "connection future is {size} bytes");
    }
}
