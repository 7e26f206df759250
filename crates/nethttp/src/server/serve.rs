//! The accept loop: accept (backing off on temporary errors, inside `net::Listener`), apply
//! socket options, spawn one task per connection, and stop when the server shuts down. The
//! optional connection cap is a semaphore acquired before accepting, so the loop waits
//! instead of accepting what it cannot serve. No lock is taken on this path.

use std::future::Future;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;

use tokio::sync::{watch, Semaphore};

use super::shutdown::{LiveGuard, Phase, ServerHandle, Shared};
use super::{ConnEvents, ConnInfo, ConnStateHook, Server};
use crate::handler::Handler;
use crate::net::{Listener, SocketOptions};
use crate::proto::h1::server::{self as h1, ConnConfig};

/// What every connection task of one server shares.
struct Ctx<H> {
    handler: Arc<H>,
    cfg: Arc<ConnConfig>,
    socket: SocketOptions,
    hook: Option<ConnStateHook>,
    limiter: Option<Arc<Semaphore>>,
    shared: Arc<Shared>,
    conn_info: bool,
}

pub(super) fn start<H: Handler>(
    server: &Server,
    listeners: Vec<Listener>,
    handler: Arc<H>,
) -> ServerHandle {
    let shared = Shared::new();
    let ctx = Arc::new(Ctx {
        handler,
        cfg: Arc::new(server.conn_config()),
        socket: server.socket.clone(),
        hook: server.conn_state_hook.clone(),
        limiter: server
            .max_connections
            .map(|n| Arc::new(Semaphore::new(n.max(1)))),
        shared: shared.clone(),
        conn_info: server.conn_info,
    });
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

/// One connection's task: the HTTP/1.1 connection, watched for shutdown. The shutdown
/// signal is registered once per connection, not per request: on graceful shutdown an idle
/// connection is closed at once and a busy one finishes its response (it sees the phase and
/// says `Connection: close`); on immediate close the connection is dropped wherever it is.
async fn serve_conn<H: Handler>(
    stream: tokio::net::TcpStream,
    remote: std::net::SocketAddr,
    ctx: &Ctx<H>,
    mut phase: watch::Receiver<Phase>,
) {
    let mut events = ConnEvents::new(remote, ctx.hook.clone(), phase.clone());
    if ctx.conn_info {
        if let Ok(local_addr) = stream.local_addr() {
            events.info = Some(ConnInfo {
                remote_addr: remote,
                local_addr,
            });
        }
    }
    let idle = AtomicBool::new(false);
    let fd = stream.as_raw_fd();
    let (rd, wr) = stream.into_split();
    let mut conn = std::pin::pin!(h1::serve(
        rd,
        wr,
        &*ctx.handler,
        &ctx.cfg,
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
