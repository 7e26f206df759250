//! The accept loop and each connection's task. The loop accepts from any `net::Accept`
//! (which backs off on temporary errors itself), spawns one task per connection, and stops
//! when the server shuts down. The optional connection cap is a semaphore acquired before
//! accepting, so the loop waits instead of accepting what it cannot serve. No lock is taken
//! on this path.
//!
//! Each connection task picks its protocol: TLS first if configured, then HTTP/2 when ALPN
//! chose `h2` (or, on a plain connection, when the client opens with the HTTP/2 preface),
//! else HTTP/1.1. A TCP socket is served with the TCP capabilities of `proto::io`; any other
//! IO is boxed and served with the defaults, so the engines are compiled once for all of it.
//! With [`Server::proxy_protocol`] on, the task first reads the balancer's PROXY header
//! (`server::proxy_protocol`), before TLS and the protocol sniff.

use std::any::Any;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, UnixStream};
use tokio::sync::{watch, Semaphore};
use tokio::time::Instant;

use super::per_ip::{IpSlot, PerIp};
use super::proxy_header::Addresses;
use super::proxy_protocol::{self, Expect, ProxyProtocol};
use super::shutdown::{LiveGuard, ServerHandle, Shared};
use super::Server;
use crate::conn::track::{ConnTable, Proto};
use crate::conn::{ConnEvents, ConnInfo, ConnStateHook, PeerCred, Phase, NO_ADDR};
use crate::handler::Handler;
use crate::net::stall::{WatchWrites, WriteStall};
use crate::net::{Accept, SocketOptions};
use crate::proto::h1::io::{ReadIo, WriteIo};
use crate::proto::h1::server::{self as h1, ConnConfig};
use crate::proto::h1::wait::{Wait, WaitState};
use crate::proto::h2::server::{self as h2, H2Config};
use crate::proto::io::{AnyIo, BoxedIo, ConnIo, Exclusive, Rewind};
use crate::tls::ServerTls;

/// What every connection task of one server shares.
pub(super) struct Ctx<H> {
    handler: Arc<H>,
    cfg: Arc<ConnConfig>,
    socket: SocketOptions,
    hook: Option<ConnStateHook>,
    limiter: Option<Arc<Semaphore>>,
    /// See [`Server::max_connections_per_ip`].
    per_ip: Option<Arc<PerIp>>,
    pub(super) shared: Arc<Shared>,
    conn_info: bool,
    tls: Option<ServerTls>,
    /// `None` when HTTP/2 is off.
    h2: Option<Arc<H2Config>>,
    /// The live records of open connections, when the server tracks them.
    pub(super) table: Option<Arc<ConnTable>>,
    /// `None` when the PROXY protocol is off.
    proxy_protocol: Option<ProxyProtocol>,
    /// See [`Server::first_request_grace`].
    first_request_grace: Duration,
}

impl<H: Handler> Ctx<H> {
    pub(super) fn new(
        server: &Server,
        handler: Arc<H>,
        shared: Arc<Shared>,
        table: Option<Arc<ConnTable>>,
    ) -> Self {
        Ctx {
            table,
            handler,
            cfg: Arc::new(server.conn_config(shared.upgraded.clone())),
            socket: server.socket.clone(),
            hook: server.conn_state_hook.clone(),
            limiter: server
                .max_connections
                .map(|n| Arc::new(Semaphore::new(n.max(1)))),
            per_ip: server.per_ip.clone(),
            shared,
            conn_info: server.conn_info,
            tls: server.tls.as_ref().map(|t| t.for_server(server.http2)),
            h2: server.h2_config().map(Arc::new),
            proxy_protocol: server
                .proxy_protocol
                .is_on()
                .then(|| server.proxy_protocol.clone()),
            first_request_grace: server.first_request_grace,
        }
    }
}

impl<H> Ctx<H> {
    /// Resolves once the server is stopping and a connection that has not begun its first
    /// request has had its grace for it ([`Server::first_request_grace`], from the start
    /// of the stop); at once when every connection is to close now. It waits on a clone of
    /// `phase`: a connection whose first bytes come in time still finds the stop unseen,
    /// as the connection's own checks (`has_changed`) expect.
    async fn first_request_grace_over(&self, phase: &watch::Receiver<Phase>) {
        let mut phase = phase.clone();
        stopping(&mut phase).await;
        let due = self.shared.first_request_due(self.first_request_grace);
        tokio::select! {
            biased;
            _ = phase.wait_for(|p| *p == Phase::Closing) => {}
            _ = tokio::time::sleep_until(due) => {}
        }
    }

    /// Counts a connection from `client` against [`Server::max_connections_per_ip`]:
    /// `Ok(None)` when there is no limit or no address to count, `Ok(Some(slot))` holding
    /// its place until dropped, `Err(Refused)` (logged and counted) when the client has
    /// every connection it may have open; the caller then closes with nothing read or
    /// written.
    fn enter_client(&self, client: Option<IpAddr>) -> Result<Option<IpSlot>, Refused> {
        let (Some(limit), Some(ip)) = (&self.per_ip, client) else {
            return Ok(None);
        };
        match limit.enter(ip) {
            Some(slot) => Ok(Some(slot)),
            None => {
                tracing::debug!(%ip, "client has the most connections allowed open; closing");
                if let Some(table) = &self.table {
                    table.refused_per_ip();
                }
                Err(Refused)
            }
        }
    }
}

/// A connection over its client's limit ([`Ctx::enter_client`]).
struct Refused;

pub(super) fn start<H: Handler, A: Accept>(
    server: &Server,
    listeners: Vec<A>,
    handler: Arc<H>,
) -> ServerHandle {
    let shared = Shared::new();
    let addrs: Vec<SocketAddr> = listeners.iter().filter_map(Accept::local_addr).collect();
    if server.metrics {
        crate::debug::install_recorder();
    }
    let table = (server.track_connections || server.metrics).then(|| {
        let table = ConnTable::new(addrs.clone(), server.metrics);
        crate::debug::registry::add_server(&table);
        table
    });
    let ctx = Arc::new(Ctx::new(server, handler, shared.clone(), table));
    let loops = listeners
        .into_iter()
        .map(|l| tokio::spawn(accept_loop(l, ctx.clone())))
        .collect();
    ServerHandle {
        shared,
        per_ip: server.per_ip.clone(),
        addrs,
        loops: Arc::new(Mutex::new(loops)),
    }
}

async fn accept_loop<H: Handler, A: Accept>(
    mut listener: A,
    ctx: Arc<Ctx<H>>,
) -> std::io::Result<()> {
    let mut phase = ctx.shared.phase.subscribe();
    if let Some(addr) = listener.local_addr() {
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
        let (io, remote) = tokio::select! {
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
        let live = LiveGuard::new(&ctx.shared);
        let ctx = ctx.clone();
        let phase = phase.clone();
        tokio::spawn(async move {
            let _live = live;
            let _permit = permit;
            // A constant: the branch not taken is not compiled into the program.
            if A::TCP_ONLY {
                serve_socket_conn::<_, TcpStream, _>(io, remote, &ctx, phase).await;
            } else if A::UNIX_ONLY {
                serve_socket_conn::<_, UnixStream, _>(io, remote, &ctx, phase).await;
            } else {
                serve_conn(io, remote, &ctx, phase).await;
            }
        });
    }
    // Dropping the listener closes the socket: new connections are refused from here on.
    drop(listener);
    Ok(())
}

/// One connection's task, for any IO: a TCP socket gets the TCP capabilities, anything else
/// the defaults. `remote` is the peer's address if the accept said it.
///
/// A plain function returning the task's future, not an `async fn`: the future is what every
/// connection holds for its life, and an async layer more would store the arguments again.
pub(super) fn serve_conn<'a, H, T>(
    io: T,
    remote: Option<SocketAddr>,
    ctx: &'a Ctx<H>,
    phase: watch::Receiver<Phase>,
) -> impl Future<Output = ()> + Send + 'a
where
    H: Handler,
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // A TCP socket is recognised by its type, so that any `Accept` or caller of
    // `serve_connection` handing one over gets what TCP allows, with no trait to implement.
    match take_tcp(io) {
        Ok(tcp) => Task::Tcp {
            fut: serve_socket(tcp, remote, ctx, phase),
        },
        // Boxed: a TCP connection task must not carry the other paths' state.
        Err(Some(other)) => Task::Other {
            fut: match take::<UnixStream, _>(other) {
                Ok(unix) => Box::pin(serve_socket(unix, remote, ctx, phase)) as OtherTask<'a>,
                Err(Some(other)) => Box::pin(serve_other(
                    BoxedIo::new(Exclusive::new(other)),
                    remote,
                    ctx,
                    phase,
                )),
                Err(None) => Box::pin(std::future::ready(())),
            },
        },
        Err(None) => Task::Done,
    }
}

/// A connection task off the TCP path.
type OtherTask<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// [`serve_conn`] for a listener whose connections are all sockets of type `S` (TCP or
/// Unix): no other path, and the socket's future inline in the task.
fn serve_socket_conn<'a, H, S, T>(
    io: T,
    remote: Option<SocketAddr>,
    ctx: &'a Ctx<H>,
    phase: watch::Receiver<Phase>,
) -> impl Future<Output = ()> + Send + 'a
where
    H: Handler,
    S: Socket,
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    match take::<S, T>(io) {
        Ok(socket) => Task::Tcp {
            fut: serve_socket(socket, remote, ctx, phase),
        },
        Err(_) => Task::<_, std::future::Ready<()>>::Done,
    }
}

/// The IO as a TCP socket, if it is one.
fn take_tcp<T: 'static>(io: T) -> Result<TcpStream, Option<T>> {
    take::<TcpStream, T>(io)
}

/// The IO as an `S`, if it is one; `Err(None)` only if the IO vanished (never).
fn take<S: 'static, T: 'static>(io: T) -> Result<S, Option<T>> {
    let mut io = Some(io);
    match (&mut io as &mut dyn Any)
        .downcast_mut::<Option<S>>()
        .and_then(Option::take)
    {
        Some(s) => Ok(s),
        None => Err(io),
    }
}

pin_project_lite::pin_project! {
    /// A connection's task: the socket path inline (TCP, or the listener's one kind), any
    /// other boxed.
    #[project = TaskProj]
    enum Task<A, B> {
        Tcp { #[pin] fut: A },
        Other { fut: B },
        Done,
    }
}

impl<A, B> Future for Task<A, B>
where
    A: Future<Output = ()>,
    B: Future<Output = ()> + Unpin,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match self.project() {
            TaskProj::Tcp { fut } => fut.poll(cx),
            TaskProj::Other { fut } => Pin::new(fut).poll(cx),
            TaskProj::Done => Poll::Ready(()),
        }
    }
}

/// A socket the server serves with everything sockets allow (peeks, idle waits without a
/// buffer, the client-gone watch): TCP, or a Unix domain socket.
trait Socket: ConnIo<Read: Sync, Write: Sync> + Sync + AsRawFd {
    /// The server's end, for the connection's live record (none for a Unix socket).
    fn local(&self) -> Option<SocketAddr>;
    /// The peer's IP address, for the PROXY protocol's allowlist; `None` if it has none.
    fn peer_ip(&self, remote: Option<SocketAddr>) -> Option<IpAddr>;

    /// Applies the server's socket options (TCP's) and says who the peer is: the address for
    /// the state hook, and the [`ConnInfo`] when the server attaches it.
    fn describe(
        &self,
        remote: Option<SocketAddr>,
        opts: &SocketOptions,
        want_info: bool,
    ) -> (SocketAddr, Option<ConnInfo>);
}

impl Socket for TcpStream {
    fn local(&self) -> Option<SocketAddr> {
        self.local_addr().ok()
    }

    fn peer_ip(&self, remote: Option<SocketAddr>) -> Option<IpAddr> {
        remote.or_else(|| self.peer_addr().ok()).map(|a| a.ip())
    }

    fn describe(
        &self,
        remote: Option<SocketAddr>,
        opts: &SocketOptions,
        want_info: bool,
    ) -> (SocketAddr, Option<ConnInfo>) {
        let remote = remote.or_else(|| self.peer_addr().ok());
        if let Err(e) = opts.apply(self) {
            tracing::debug!(error = %e, ?remote, "setting socket options failed");
        }
        let info = match (want_info, remote) {
            (true, Some(remote)) => self.local_addr().ok().map(|l| ConnInfo::tcp(remote, l)),
            _ => None,
        };
        (remote.unwrap_or(NO_ADDR), info)
    }
}

impl Socket for UnixStream {
    fn local(&self) -> Option<SocketAddr> {
        None
    }

    fn peer_ip(&self, _remote: Option<SocketAddr>) -> Option<IpAddr> {
        None
    }

    fn describe(
        &self,
        _remote: Option<SocketAddr>,
        _opts: &SocketOptions,
        want_info: bool,
    ) -> (SocketAddr, Option<ConnInfo>) {
        let info = want_info.then(|| ConnInfo::unix(peer_cred(self)));
        (NO_ADDR, info)
    }
}

/// The Unix socket peer's credentials, as the kernel recorded them at connect.
fn peer_cred(unix: &UnixStream) -> Option<PeerCred> {
    let cred = unix.peer_cred().ok()?;
    Some(PeerCred {
        uid: cred.uid(),
        gid: cred.gid(),
        pid: cred.pid(),
    })
}

/// A socket connection: socket options, TLS if configured, then the protocol the client
/// speaks.
async fn serve_socket<H: Handler, S: Socket>(
    mut stream: S,
    remote: Option<SocketAddr>,
    ctx: &Ctx<H>,
    phase: watch::Receiver<Phase>,
) {
    // In a block of its own: the header's addresses are not kept once they are in the
    // events.
    let mut events = {
        let relayed = match &ctx.proxy_protocol {
            None => Addresses::Unknown,
            Some(pp) => {
                let peer = stream.peer_ip(remote);
                // Sockets peek: the buffer stays empty (and unallocated).
                let mut none = BytesMut::new();
                match proxy_header(&mut stream, &mut none, peer, pp, ctx, &phase).await {
                    Some(addrs) => addrs,
                    None => return,
                }
            }
        };
        let client = match relayed {
            Addresses::Tcp { src, .. } => Some(src.ip()),
            Addresses::Unknown if ctx.per_ip.is_some() => stream.peer_ip(remote),
            Addresses::Unknown => None,
        };
        let Ok(slot) = ctx.enter_client(client) else {
            return;
        };
        let mut events = socket_events(&stream, remote, relayed, ctx, &phase);
        if let Some(slot) = slot {
            events.hold(slot);
        }
        events
    };
    // The TLS and HTTP/2 paths are boxed: their futures are several KB, and inline they
    // would make every connection task that large, including idle plain HTTP/1.1 ones.
    if let Some(tls) = &ctx.tls {
        match take_tcp(stream) {
            Ok(tcp) => Box::pin(serve_tls_tcp(tls, tcp, ctx, events, phase)).await,
            // TLS over a Unix socket: the halves of any IO.
            Err(Some(other)) => {
                let io = BoxedIo::new(Exclusive::new(other));
                Box::pin(serve_tls_other(tls, io, ctx, events, phase)).await
            }
            Err(None) => {}
        }
        return;
    }
    // The first request's head is due within the header timeout of the accept, whatever
    // happens first (the preface sniff included).
    let first_deadline = Instant::now() + ctx.cfg.read_header_timeout;
    // Sockets peek: the sniff leaves the buffer it is given empty. (Statements of their own,
    // no `match`: the temporaries of a `match` would be kept through the whole connection.)
    let opened = opening(
        &mut stream,
        &mut BytesMut::new(),
        first_deadline,
        ctx,
        &phase,
    )
    .await;
    if let (Opening::Http2, Some(cfg)) = (opened, &ctx.h2) {
        mark_proto(&events, Proto::Http2, false);
        let stall = WriteStall::new();
        let io = WatchWrites::new(stream, stall.clone());
        let serving = h2::serve(io, &stall, &ctx.handler, cfg, &mut events, phase);
        Box::pin(serving).await;
        return;
    }
    if let Opening::Close = opened {
        return;
    }
    mark_proto(&events, Proto::Http1, false);
    let (rd, wr) = stream.split();
    serve_h1(rd, wr, first_deadline, ctx, events, phase).await
}

/// A socket connection's options and events (its addresses, its state hook told `New`).
/// A function of its own so that none of its locals is kept in the connection's future.
/// `relayed` is what a PROXY header said of the client, if one was read.
fn socket_events<H, S: Socket>(
    stream: &S,
    remote: Option<SocketAddr>,
    relayed: Addresses,
    ctx: &Ctx<H>,
    phase: &watch::Receiver<Phase>,
) -> ConnEvents {
    let (mut remote, mut info) = stream.describe(remote, &ctx.socket, ctx.conn_info);
    if let Addresses::Tcp { src, dst } = relayed {
        remote = src;
        if let Some(info) = info.as_mut() {
            info.relayed(src, dst);
        }
    }
    let mut events = ConnEvents::new(remote, ctx.hook.clone(), phase.clone());
    events.set_info(info);
    if let Some(table) = &ctx.table {
        events.set_track(table.open(remote, stream.local(), Some(stream.as_raw_fd())));
    }
    events
}

/// The PROXY header a connection owes, read before anything else of it: what it says of the
/// client (`Unknown` when the peer owes none, or for `LOCAL`/`UNKNOWN`), or `None` when the
/// connection is to be closed, nothing written: a refused peer, a bad header, silence past
/// the deadline, or a shutdown meanwhile (after the first-request grace). On IO that cannot
/// peek, bytes read past the header are left in `buf`.
async fn proxy_header<H, C: ConnIo>(
    io: &mut C,
    buf: &mut BytesMut,
    peer: Option<IpAddr>,
    pp: &ProxyProtocol,
    ctx: &Ctx<H>,
    phase: &watch::Receiver<Phase>,
) -> Option<Addresses> {
    match pp.expect(peer) {
        Expect::Nothing => Some(Addresses::Unknown),
        Expect::Refuse => {
            tracing::debug!(?peer, "peer not trusted to send a PROXY header; closing");
            None
        }
        Expect::Header => {
            let deadline = pp.deadline(ctx.cfg.read_header_timeout);
            // Boxed: inline, its timer would add to every connection's task, not only to
            // those that owe a header.
            let stop = Box::pin(ctx.first_request_grace_over(phase));
            match proxy_protocol::read_header(io, buf, pp.max_len(), deadline, stop).await {
                Ok(addrs) => Some(addrs),
                Err(e) => {
                    tracing::debug!(?peer, error = %e, "no valid PROXY header; closing");
                    None
                }
            }
        }
    }
}

/// A TLS connection over TCP: the handshake, then HTTP/2 or HTTP/1.1 as ALPN chose.
async fn serve_tls_tcp<H: Handler>(
    tls: &ServerTls,
    stream: TcpStream,
    ctx: &Ctx<H>,
    mut events: ConnEvents,
    phase: watch::Receiver<Phase>,
) {
    // Under TLS, so a record buffer taking writes while the socket is stuck is not progress.
    let stall = WriteStall::new();
    let stop = ctx.first_request_grace_over(&phase);
    let Some(tls_stream) = handshake(tls, WatchWrites::new(stream, stall.clone()), stop).await
    else {
        handshake_failed(&events);
        return;
    };
    mark_tls(&mut events, tls_stream.get_ref().1);
    let is_h2 = ctx.h2.is_some() && crate::tls::chose_h2(&tls_stream);
    mark_proto(
        &events,
        if is_h2 { Proto::Http2 } else { Proto::Http1 },
        true,
    );
    match &ctx.h2 {
        Some(cfg) if is_h2 => {
            h2::serve(tls_stream, &stall, &ctx.handler, cfg, &mut events, phase).await
        }
        _ => {
            let first_deadline = Instant::now() + ctx.cfg.read_header_timeout;
            let (rd, wr) = tls_stream.split();
            serve_h1(rd, wr, first_deadline, ctx, events, phase).await;
        }
    }
}

/// A connection of any other IO, as [`serve_socket`] without what only sockets can do: no
/// socket options, the preface sniff reads (and replays what it read), HTTP/1.1 splits the IO
/// with `tokio::io::split`. Addresses are known only if the accept gave the peer's.
async fn serve_other<H: Handler>(
    io: BoxedIo,
    remote: Option<SocketAddr>,
    ctx: &Ctx<H>,
    phase: watch::Receiver<Phase>,
) {
    let mut io = AnyIo(io);
    let mut buf = BytesMut::new();
    let mut remote = remote;
    if let Some(pp) = &ctx.proxy_protocol {
        let peer = remote.map(|a| a.ip());
        match proxy_header(&mut io, &mut buf, peer, pp, ctx, &phase).await {
            None => return,
            Some(Addresses::Tcp { src, .. }) => remote = Some(src),
            Some(Addresses::Unknown) => {}
        }
    }
    let Ok(slot) = ctx.enter_client(remote.map(|a| a.ip())) else {
        return;
    };
    let mut events = ConnEvents::new(remote.unwrap_or(NO_ADDR), ctx.hook.clone(), phase.clone());
    if let Some(slot) = slot {
        events.hold(slot);
    }
    if let Some(table) = &ctx.table {
        events.set_track(table.open(remote.unwrap_or(NO_ADDR), None, None));
    }
    if let Some(tls) = &ctx.tls {
        // What followed the PROXY header is the start of the ClientHello.
        let io = if buf.is_empty() {
            io.0
        } else {
            BoxedIo::new(Rewind::new(buf.freeze(), io.0))
        };
        serve_tls_other(tls, io, ctx, events, phase).await;
        return;
    }
    let first_deadline = Instant::now() + ctx.cfg.read_header_timeout;
    let opened = opening(&mut io, &mut buf, first_deadline, ctx, &phase).await;
    match (opened, &ctx.h2) {
        (Opening::Http2, Some(cfg)) => {
            mark_proto(&events, Proto::Http2, false);
            // What the sniff read goes to HTTP/2 first.
            let stall = WriteStall::new();
            let io = BoxedIo::new(WatchWrites::new(
                Rewind::new(buf.freeze(), io.0),
                stall.clone(),
            ));
            h2::serve(io, &stall, &ctx.handler, cfg, &mut events, phase).await;
        }
        (Opening::Close, _) => {}
        _ => {
            mark_proto(&events, Proto::Http1, false);
            // What the sniff read is the start of the first request.
            let io = if buf.is_empty() {
                io
            } else {
                AnyIo(BoxedIo::new(Rewind::new(buf.freeze(), io.0)))
            };
            let (rd, wr) = io.split();
            serve_h1(rd, wr, first_deadline, ctx, events, phase).await
        }
    }
}

/// A TLS connection over any IO but TCP: the handshake, then HTTP/2 or HTTP/1.1 as ALPN
/// chose, over the halves any IO has.
async fn serve_tls_other<H: Handler>(
    tls: &ServerTls,
    io: BoxedIo,
    ctx: &Ctx<H>,
    mut events: ConnEvents,
    phase: watch::Receiver<Phase>,
) {
    let stall = WriteStall::new();
    let stop = ctx.first_request_grace_over(&phase);
    let Some(tls_stream) = handshake(tls, WatchWrites::new(io, stall.clone()), stop).await else {
        handshake_failed(&events);
        return;
    };
    mark_tls(&mut events, tls_stream.get_ref().1);
    let is_h2 = crate::tls::chose_h2(&tls_stream);
    mark_proto(
        &events,
        if is_h2 && ctx.h2.is_some() {
            Proto::Http2
        } else {
            Proto::Http1
        },
        true,
    );
    let io = BoxedIo::new(tls_stream);
    match &ctx.h2 {
        Some(cfg) if is_h2 => h2::serve(io, &stall, &ctx.handler, cfg, &mut events, phase).await,
        _ => {
            let first_deadline = Instant::now() + ctx.cfg.read_header_timeout;
            let (rd, wr) = AnyIo(io).split();
            serve_h1(rd, wr, first_deadline, ctx, events, phase).await;
        }
    }
}

/// Counts a failed (or abandoned) TLS handshake in the server's metrics, if it keeps them.
fn handshake_failed(events: &ConnEvents) {
    if let Some(t) = events.track() {
        t.tls_failed();
    }
}

/// Records the protocol in the connection's live record and span, if it has them.
fn mark_proto(events: &ConnEvents, proto: Proto, tls: bool) {
    if let Some(t) = events.track() {
        t.set_proto(proto, tls);
    }
    crate::conn::spans::protocol(events.span(), proto == Proto::Http2, tls);
}

/// Records in the connection's [`ConnInfo`] (when the server attaches one) that its requests
/// arrived over TLS, and keeps the handshake's details for them.
fn mark_tls(events: &mut ConnEvents, conn: &rustls::ServerConnection) {
    if let Some(info) = events.info_mut() {
        info.tls = true;
        events.set_tls(crate::tls::TlsInfo::of(conn));
    }
}

/// The TLS handshake (bounded by its timeout), abandoned when `stop` resolves (the server is
/// stopping and the first-request grace is over: a handshake is a request on its way).
async fn handshake<T: AsyncRead + AsyncWrite + Unpin>(
    tls: &ServerTls,
    io: T,
    stop: impl Future<Output = ()>,
) -> Option<tokio_rustls::server::TlsStream<T>> {
    tokio::select! {
        biased;
        r = crate::tls::accept(tls, io) => match r {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::debug!(error = %e, "TLS handshake failed");
                None
            }
        },
        _ = stop => None,
    }
}

/// How a plain connection opens.
#[derive(Clone, Copy)]
enum Opening {
    /// With the HTTP/2 preface (h2c by prior knowledge, RFC 9113 §3.3), HTTP/2 being on.
    Http2,
    /// With anything else, or silence: HTTP/1.1.
    Http1,
    /// The server is stopping and the client said nothing within the first-request grace.
    Close,
}

/// Tells how a plain connection opens, by the first request's header deadline. What had to
/// be read to tell (IO that cannot peek) is left in `buf`.
async fn opening<H, C: ConnIo>(
    io: &mut C,
    buf: &mut BytesMut,
    deadline: Instant,
    ctx: &Ctx<H>,
    phase: &watch::Receiver<Phase>,
) -> Opening {
    if ctx.h2.is_none() {
        return Opening::Http1;
    }
    let sniffed = tokio::select! {
        biased;
        h2 = crate::proto::sniff::opens_with_preface(io, buf, deadline) => Some(h2),
        _ = ctx.first_request_grace_over(phase) => None,
    };
    match sniffed {
        Some(true) => Opening::Http2,
        Some(false) => Opening::Http1,
        // Stopping, and the client said nothing within the grace: close. (Bytes already
        // here are a request, answered by HTTP/1.1 with `Connection: close`.)
        None if buf.is_empty() && !io.has_pending_input() => Opening::Close,
        None => Opening::Http1,
    }
}

/// The HTTP/1.1 connection, watched for shutdown. The shutdown signal is registered once
/// per connection, not per request: on graceful shutdown a connection idle between
/// requests is closed at once, one that has not begun its first request is closed if it is
/// still silent after the first-request grace, and a busy one finishes its response (it
/// sees the phase and says `Connection: close`); on immediate close the connection is
/// dropped wherever it is.
async fn serve_h1<H, R, W>(
    rd: R,
    wr: W,
    first_deadline: Instant,
    ctx: &Ctx<H>,
    mut events: ConnEvents,
    mut phase: watch::Receiver<Phase>,
) where
    H: Handler,
    R: ReadIo,
    W: WriteIo,
{
    let probe = rd.input_probe();
    let state = WaitState::new();
    let mut conn = std::pin::pin!(h1::serve(
        rd,
        wr,
        &*ctx.handler,
        &ctx.cfg,
        first_deadline,
        &mut events,
        &state
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
    // A connection between requests closes at once, unless a request has already arrived
    // that the connection has not noticed yet (the runtime may learn of readiness late):
    // that one is answered first. One that has not begun its first request is most likely
    // sending it: it is closed only if still silent after the grace. The probe's socket is
    // open: `conn` owns it and is alive here.
    match state.get() {
        Wait::Idle if !probe.has_pending_input() => return,
        Wait::First => {
            tokio::select! {
                biased;
                _ = &mut conn => return,
                // Boxed: inline, its timer would add to every connection's task.
                _ = Box::pin(ctx.first_request_grace_over(&phase)) => {}
            }
            if state.get() == Wait::First && !probe.has_pending_input() {
                return;
            }
        }
        Wait::Idle | Wait::Busy => {}
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
        let ctx = Ctx::new(&Server::new(), handler, Shared::new(), None);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let _client = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (stream, remote) = listener.accept().await.unwrap();
        let conn = serve_conn(stream, Some(remote), &ctx, ctx.shared.phase.subscribe());
        let size = std::mem::size_of_val(&conn);
        // About 1.7 KB in a debug build (the ConnInfo it holds counts several times); with
        // the HTTP/2 path inline it is 3.7 KB.
        assert!(size <= 2048, "connection future is {size} bytes");
    }
}
