//! The server: its configuration (every timeout finite by default, every client-controlled
//! size bounded), and starting it on listeners. `serve` holds the accept loop (over any
//! `net::Accept`) and each connection's task, `connection` serves one connection of any IO
//! on its own, `shutdown` holds the handle that stops a server. The connection life cycle it
//! reports lives in `crate::conn`, below both this layer and the protocol engines.

mod connection;
mod per_ip;
mod proxy_header;
mod proxy_protocol;
mod serve;
mod shutdown;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use crate::conn::{
    ConnInfo, ConnState, ConnStateHook, Peer, PeerCred, Rejection, RejectionHook,
};
pub use crate::proto::rate::MinDataRate;
pub use connection::Connection;
pub(crate) use per_ip::{key as client_key, IpSlot};
pub use proxy_protocol::{IpNet, ProxyProtocol, UntrustedPeers, DEFAULT_MAX_PROXY_HEADER_BYTES};
pub use shutdown::{ServerHandle, ShutdownReport};

use crate::handler::Handler;
use crate::net::{Accept, BindOptions, Listener, SocketOptions, UnixBindOptions, UnixListener};
use crate::proto::h1::parse::HeadLimits;
use crate::proto::h1::server::ConnConfig;
use crate::proto::h2::server::H2Config;
use crate::tls::ServerTls;

/// An HTTP server's configuration (HTTP/1.1, and HTTP/2 over TLS or by prior knowledge). Build it with the setters, then [`Server::serve`] a
/// handler on a listener. Cloning is cheap.
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// use nethttp::{Body, HttpRequest, Server};
/// let server = Server::new().idle_timeout(std::time::Duration::from_secs(30));
/// let listener = server.bind("127.0.0.1:8080".parse().unwrap())?;
/// let handle = server.serve(listener, |_req: HttpRequest| async {
///     http::Response::new(Body::from("hello\n"))
/// });
/// handle.wait().await
/// # }
/// ```
#[derive(Clone)]
pub struct Server {
    read_header_timeout: Duration,
    read_timeout: Duration,
    write_timeout: Duration,
    idle_timeout: Duration,
    first_request_grace: Duration,
    max_header_bytes: usize,
    max_uri_bytes: usize,
    max_body_bytes: Option<u64>,
    min_body_rate: Option<MinDataRate>,
    max_drain_bytes: u64,
    keep_alive: bool,
    options_asterisk: bool,
    max_connections: Option<usize>,
    /// Shared by clones: see [`Server::max_connections_per_ip`].
    per_ip: Option<Arc<per_ip::PerIp>>,
    bind: BindOptions,
    socket: SocketOptions,
    rejection_hook: Option<RejectionHook>,
    conn_state_hook: Option<ConnStateHook>,
    conn_info: bool,
    track_connections: bool,
    metrics: bool,
    tls: Option<ServerTls>,
    http2: bool,
    h2: Http2Settings,
    proxy_protocol: ProxyProtocol,
}

/// HTTP/2 settings, kept apart so the HTTP/1.1 fields above read as they always did.
#[derive(Debug, Clone)]
struct Http2Settings {
    max_concurrent_streams: u32,
    max_header_list_size: Option<u32>,
    initial_stream_window: u32,
    initial_conn_window: u32,
    max_frame_size: u32,
    max_send_buffer: usize,
    conn_send_buffer: usize,
    keepalive_interval: Option<Duration>,
    keepalive_timeout: Duration,
    max_resets: u32,
    reset_window: Duration,
}

impl Default for Server {
    fn default() -> Self {
        Server::new()
    }
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("read_header_timeout", &self.read_header_timeout)
            .field("read_timeout", &self.read_timeout)
            .field("write_timeout", &self.write_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("first_request_grace", &self.first_request_grace)
            .field("max_header_bytes", &self.max_header_bytes)
            .field("max_uri_bytes", &self.max_uri_bytes)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("min_body_rate", &self.min_body_rate)
            .field("max_connections", &self.max_connections)
            .field(
                "max_connections_per_ip",
                &self.per_ip.as_ref().map(|l| l.max()),
            )
            .field("proxy_protocol", &self.proxy_protocol)
            .finish_non_exhaustive()
    }
}

/// The default of [`Server::max_body_bytes`]: 64 MiB.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 64 * 1024 * 1024;

impl Server {
    /// A server with the defaults documented on each setter.
    pub fn new() -> Self {
        Server {
            read_header_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(300),
            write_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            first_request_grace: Duration::from_secs(2),
            max_header_bytes: 64 * 1024,
            max_uri_bytes: 16 * 1024,
            max_body_bytes: Some(DEFAULT_MAX_BODY_BYTES),
            min_body_rate: Some(MinDataRate {
                bytes_per_sec: 240,
                grace: Duration::from_secs(5),
            }),
            max_drain_bytes: 256 * 1024,
            keep_alive: true,
            options_asterisk: true,
            max_connections: None,
            per_ip: None,
            bind: BindOptions::default(),
            socket: SocketOptions::default(),
            conn_state_hook: None,
            rejection_hook: None,
            conn_info: false,
            track_connections: false,
            metrics: false,
            tls: None,
            http2: true,
            h2: Http2Settings {
                max_concurrent_streams: 250,
                max_header_list_size: None,
                initial_stream_window: 1024 * 1024,
                initial_conn_window: 2 * 1024 * 1024,
                max_frame_size: 16 * 1024,
                max_send_buffer: 400 * 1024,
                conn_send_buffer: 1024 * 1024,
                keepalive_interval: None,
                keepalive_timeout: Duration::from_secs(20),
                max_resets: 200,
                reset_window: Duration::from_secs(10),
            },
            proxy_protocol: ProxyProtocol::off(),
        }
    }

    /// Whether connections open with a PROXY protocol header (v1 or v2) from the L4 load
    /// balancer in front, and from which peers: see [`ProxyProtocol`]. The header is read in
    /// each connection's task, before TLS and before HTTP, within
    /// [`ProxyProtocol::timeout`] (default: the read-header timeout); with it the client's
    /// address becomes the connection's ([`ConnInfo::remote_addr`], the state hook's), and
    /// the balancer's is kept in [`ConnInfo::proxied_by`]. A connection that owes a header
    /// and does not send a valid one is closed with nothing written. Default:
    /// [`ProxyProtocol::off`].
    pub fn proxy_protocol(mut self, pp: ProxyProtocol) -> Self {
        self.proxy_protocol = pp;
        self
    }

    /// Serve HTTPS: every accepted connection does a TLS handshake first (bounded by the
    /// handshake timeout of `tls`), then speaks the protocol ALPN picked — HTTP/2 for `h2`,
    /// HTTP/1.1 otherwise. Default: none, plain TCP.
    pub fn tls(mut self, tls: ServerTls) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Whether the server speaks HTTP/2: over TLS when the client picks `h2` by ALPN, and on
    /// plain TCP when the client opens with the HTTP/2 preface (h2c by prior knowledge; one
    /// port serves both). Default: true. Off, `h2` is not offered and the preface is
    /// answered as a malformed HTTP/1.1 request.
    pub fn http2(mut self, on: bool) -> Self {
        self.http2 = on;
        self
    }

    /// Most streams one HTTP/2 client may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS).
    /// Default: 250.
    pub fn http2_max_concurrent_streams(mut self, n: u32) -> Self {
        self.h2.max_concurrent_streams = n;
        self
    }

    /// Largest HTTP/2 header list (decoded, RFC 9113 §6.5.2), which also bounds a
    /// CONTINUATION flood. Default: `max_header_bytes` (64 KiB).
    pub fn http2_max_header_list_size(mut self, n: u32) -> Self {
        self.h2.max_header_list_size = Some(n);
        self
    }

    /// Flow-control windows granted to a client: per stream and for the whole connection.
    /// Defaults: 1 MiB and 2 MiB. (They are credit, not buffers allocated up front.) The
    /// connection's bounds the request data one client can make the server hold. Behind a
    /// proxy that carries many clients' requests on one connection, grant a connection
    /// window well above the stream window: requests whose handlers have not read their
    /// bodies hold their share of it, and once it is full the other uploads on the
    /// connection wait.
    pub fn http2_initial_window_sizes(mut self, stream: u32, conn: u32) -> Self {
        self.h2.initial_stream_window = stream;
        self.h2.initial_conn_window = conn;
        self
    }

    /// Largest HTTP/2 frame payload the client may send. Default: 16 KiB (the minimum).
    pub fn http2_max_frame_size(mut self, n: u32) -> Self {
        self.h2.max_frame_size = n;
        self
    }

    /// Most response data one HTTP/2 connection holds queued for its client to read, all
    /// streams together, counting each queued DATA frame's bookkeeping (256 bytes) besides
    /// its payload. A client that opens many streams and does not read gets at most this
    /// much; the handlers' bodies are not polled for more until it reads (and past the write
    /// timeout the connection is closed). Values under one frame (16 KiB plus 256 bytes)
    /// count as one frame. Default: 1 MiB.
    pub fn http2_max_send_buffer(mut self, n: usize) -> Self {
        self.h2.conn_send_buffer = n;
        self
    }

    /// Most response payload `h2` buffers for one stream waiting for the client's window, a
    /// bound within [`Server::http2_max_send_buffer`]. Default: 400 KiB.
    pub fn http2_max_send_buffer_size(mut self, n: usize) -> Self {
        self.h2.max_send_buffer = n;
        self
    }

    /// Send a PING every `interval` and close the connection if the answer takes longer than
    /// `timeout`. Default: off (the idle timeout still closes unused connections).
    pub fn http2_keepalive(mut self, interval: Option<Duration>, timeout: Duration) -> Self {
        self.h2.keepalive_interval = interval;
        self.h2.keepalive_timeout = timeout;
        self
    }

    /// Rapid-reset defence (CVE-2023-44487): a client that resets more than `max` streams
    /// within `window` while their handlers run, and more than half of the streams that
    /// ended in it, gets a GOAWAY that lets its running streams finish and refuses new ones;
    /// one that goes on resetting past twice `max` gets GOAWAY `ENHANCE_YOUR_CALM` and is
    /// disconnected. A proxy that carries many clients' requests on one connection passes
    /// their cancellations on as resets among its answered streams, and keeps its
    /// connection. Streams reset before the server took them are bounded separately (20
    /// pending at once). Default: 200 per 10 s.
    pub fn http2_max_resets(mut self, max: u32, window: Duration) -> Self {
        self.h2.max_resets = max;
        self.h2.reset_window = window;
        self
    }

    /// Time allowed to read a request head, from its first byte (for a new connection: from
    /// accept). A client that dribbles its head (slowloris) is cut off here.
    /// Default: 10 s. Over it a started request gets `408` and the connection closes.
    pub fn read_header_timeout(mut self, d: Duration) -> Self {
        self.read_header_timeout = d;
        self
    }

    /// Time allowed to read a whole request, head and body, from its first byte.
    /// Default: 300 s. Reading the body past it fails with a timeout error.
    pub fn read_timeout(mut self, d: Duration) -> Self {
        self.read_timeout = d;
        self
    }

    /// Time any single write of response bytes may wait for the client to read.
    /// A client that stops reading is disconnected after it. Default: 30 s.
    pub fn write_timeout(mut self, d: Duration) -> Self {
        self.write_timeout = d;
        self
    }

    /// How long a keep-alive connection may wait for its next request. Advertised to
    /// clients as `Keep-Alive: timeout=N` so they retire the connection first. Default: 60 s.
    pub fn idle_timeout(mut self, d: Duration) -> Self {
        self.idle_timeout = d;
        self
    }

    /// Largest request head (request line and header fields) accepted. Default: 64 KiB.
    /// Over it: `431 Request Header Fields Too Large`.
    pub fn max_header_bytes(mut self, n: usize) -> Self {
        self.max_header_bytes = n;
        self
    }

    /// Longest request-target accepted. Default: 16 KiB. Over it: `414 URI Too Long`.
    pub fn max_uri_bytes(mut self, n: usize) -> Self {
        self.max_uri_bytes = n;
        self
    }

    /// Largest request body accepted. Default: 64 MiB ([`DEFAULT_MAX_BODY_BYTES`]); `None`
    /// means no limit.
    /// A Content-Length over it is refused with `413` before the handler runs; a chunked body
    /// that grows past it fails the handler's read, and the response becomes `413`.
    pub fn max_body_bytes(mut self, n: Option<u64>) -> Self {
        self.max_body_bytes = n;
        self
    }

    /// Minimum rate at which a request body must arrive while the handler waits for it.
    /// Default: 240 bytes/s after a 5 s grace period; `None` turns it off.
    pub fn min_body_rate(mut self, rate: Option<MinDataRate>) -> Self {
        self.min_body_rate = rate;
        self
    }

    /// Most unread request-body bytes the server reads and discards after a response so the
    /// connection can be reused. Past it the connection closes. Default: 256 KiB.
    pub fn max_drain_bytes(mut self, n: u64) -> Self {
        self.max_drain_bytes = n;
        self
    }

    /// At a graceful shutdown, how long a connection that has not begun its first request
    /// (nor finished its TLS handshake, its PROXY header or the bytes that tell HTTP/2 from
    /// HTTP/1.1) is still waited for, counted from the start of the shutdown and never past
    /// its read-header timeout. A client connects and sends its request at once, so a new
    /// connection is most likely a request on its way: closing it would lose that request,
    /// which the client cannot safely retry (nothing tells it the server never saw it).
    /// Bytes that arrive in time are served to the end of that request, whose response says
    /// `Connection: close`; a connection still silent at the end is closed. A keep-alive
    /// connection between requests is not waited for: it closes at once, as a client of a
    /// reused connection expects. `Duration::ZERO` closes new connections at once too.
    /// Default: 2 s (Go waits up to 5 s from the accept).
    pub fn first_request_grace(mut self, d: Duration) -> Self {
        self.first_request_grace = d;
        self
    }

    /// Whether connections are kept open between requests. Default: true.
    pub fn keep_alive(mut self, on: bool) -> Self {
        self.keep_alive = on;
        self
    }

    /// Whether the server answers `OPTIONS *` itself (RFC 9110 §9.3.7: a question about the
    /// server, not a resource) with `200` and an empty body, as Go's server does, instead of
    /// passing it to the handler. Default: true. (Other methods with the `*` target are `400`
    /// either way: RFC 9112 §3.2.4.)
    pub fn options_asterisk(mut self, answer: bool) -> Self {
        self.options_asterisk = answer;
        self
    }

    /// Most connections open at once; past it, the accept loop waits for one to close (the
    /// kernel's backlog holds newcomers). Default: `None`, no limit.
    pub fn max_connections(mut self, n: Option<usize>) -> Self {
        self.max_connections = n;
        self
    }

    /// Most connections one client may have open at once (nginx's `limit_conn` by address;
    /// `Some(0)` is taken as 1); past it, its new connections are closed as soon as its
    /// address is known, before TLS or a request byte is read, and counted
    /// ([`ServerHandle::refused_per_ip`]). An upgraded connection (a WebSocket, a tunnel)
    /// counts until it ends. The address is the socket's peer, or the client a PROXY header
    /// names ([`Server::proxy_protocol`]; a header that names none, a balancer's health
    /// check, counts against the balancer); IPv6 clients are counted by their /64, and
    /// IPv4-mapped IPv6 addresses as IPv4. Connections without an address (Unix sockets
    /// without a PROXY header) are not counted. Default: `None`, no limit.
    ///
    /// The counts belong to this configuration: clones of it, and every server started from
    /// them, share them (so a client's connections to `serve_connection` calls add up).
    /// Another process (a successor taking over the listener) counts its own.
    /// Behind a load balancer that does not send the PROXY protocol, every connection comes
    /// from the balancer: leave this off there.
    pub fn max_connections_per_ip(mut self, n: Option<usize>) -> Self {
        self.per_ip = n.map(per_ip::PerIp::new);
        self
    }

    /// Options for the listening socket (backlog, SO_REUSEADDR, SO_REUSEPORT, IPV6_V6ONLY).
    pub fn bind_options(mut self, opts: BindOptions) -> Self {
        self.bind = opts;
        self
    }

    /// `listen(2)` backlog. Default: 1024.
    pub fn backlog(mut self, n: u32) -> Self {
        self.bind.backlog = n;
        self
    }

    /// Options for accepted sockets (TCP_NODELAY, keepalive period).
    pub fn socket_options(mut self, opts: SocketOptions) -> Self {
        self.socket = opts;
        self
    }

    /// Called on every connection state change. Default: none.
    pub fn conn_state_hook(
        mut self,
        hook: impl Fn(SocketAddr, ConnState) + Send + Sync + 'static,
    ) -> Self {
        self.conn_state_hook = Some(Arc::new(hook));
        self
    }

    /// Called for every request the server answers itself before any handler sees it (a
    /// malformed head `400`, a head not in by the read-header timeout `408`, a target or
    /// head too large `414`/`431`, ...), with the client's address and the request line as
    /// it came: what an access log ([`crate::access_log::AccessLog::rejection_hook`]) or an
    /// alert needs, as nginx logs such requests. It runs on the connection's task: keep it
    /// short and never block. Over HTTP/2 it hears of a declared body over
    /// [`Server::max_body_bytes`] (`413`) and of a malformed request, which is reset rather
    /// than answered and told as `400` (nginx logs it so), with a request line made from the
    /// pseudo-header fields. Default: none.
    pub fn rejection_hook(mut self, hook: impl Fn(&Rejection<'_>) + Send + Sync + 'static) -> Self {
        self.rejection_hook = Some(Arc::new(hook));
        self
    }

    /// Attach a [`ConnInfo`] (client and server addresses) to every request's extensions, and
    /// on a TLS connection a [`crate::tls::TlsInfo`] (the client's certificate chain under
    /// mutual TLS, SNI, ALPN, version, cipher suite; shared by the connection's requests).
    /// Default: off — it costs an allocation per request, which a server that does not log
    /// or filter by address should not pay.
    pub fn conn_info(mut self, on: bool) -> Self {
        self.conn_info = on;
        self
    }

    /// Keep a live record of every open connection (its peer, protocol, state, age, requests
    /// served and the request it is busy with) for [`crate::debug::handler`]'s page and the
    /// connection gauges of [`crate::debug::metrics`]. Default: off — it costs a record per
    /// connection and a few relaxed stores per request.
    pub fn track_connections(mut self, on: bool) -> Self {
        self.track_connections = on;
        self
    }

    /// Report the server's metrics through the `metrics` facade (feature `metrics`): requests
    /// by method and status class, their duration to the response head, connections
    /// accepted and closed by protocol, rejections before a handler by kind, TLS handshake
    /// failures, HTTP/2 resets; and, read when [`crate::debug::metrics`] renders, the open
    /// connections by protocol and state. Installs the Prometheus recorder behind
    /// `debug::metrics` unless the process already has a recorder, which then receives them.
    /// Implies [`Server::track_connections`]. Default: off. Without the feature it only
    /// tracks connections.
    pub fn metrics(mut self, on: bool) -> Self {
        self.metrics = on;
        self
    }

    /// Binds and listens on `addr` with this server's bind options.
    /// Must be called inside a tokio runtime.
    pub fn bind(&self, addr: SocketAddr) -> std::io::Result<Listener> {
        Listener::bind(addr, &self.bind)
    }

    /// Binds and listens on the Unix domain socket `path` with this server's backlog: a
    /// stale socket file (nothing listening) is replaced, a live one is an `AddrInUse` error,
    /// and the file is removed when the listener is dropped. For the file's permissions and
    /// the other choices, bind with [`UnixListener::bind`] and [`UnixBindOptions`].
    /// Must be called inside a tokio runtime.
    ///
    /// ```no_run
    /// # async fn run() -> std::io::Result<()> {
    /// use std::sync::Arc;
    /// use nethttp::{Body, HttpRequest, Server};
    /// let server = Server::new();
    /// let listener = server.bind_unix("/tmp/app.sock")?;
    /// let handler = |_req: HttpRequest| async { http::Response::new(Body::from("hi\n")) };
    /// let handle = server.serve(listener, handler);
    /// # Ok(()) }
    /// ```
    pub fn bind_unix(&self, path: impl AsRef<std::path::Path>) -> std::io::Result<UnixListener> {
        let opts = UnixBindOptions {
            backlog: self.bind.backlog,
            ..UnixBindOptions::default()
        };
        UnixListener::bind(path, &opts)
    }

    /// Starts serving `handler` on `listener` in background tasks; returns at once.
    /// Must be called inside a tokio runtime.
    ///
    /// The listener is a [`Listener`] (TCP, from [`Server::bind`] or one the caller bound),
    /// or any other [`Accept`]; the connections of a TCP one get everything TCP allows, those
    /// of others what [`Server::serve_connection`] describes.
    pub fn serve<H: Handler, A: Accept>(&self, listener: A, handler: H) -> ServerHandle {
        serve::start(self, vec![listener], Arc::new(handler))
    }

    /// Starts one accept loop per listener, all serving `handler` under one handle (its
    /// shutdown stops them all): for listeners bound elsewhere, such as several inherited
    /// from a supervisor ([`crate::net::inherited_listeners`]) or SO_REUSEPORT ones.
    /// Must be called inside a tokio runtime.
    pub fn serve_many<H: Handler, A: Accept>(&self, listeners: Vec<A>, handler: H) -> ServerHandle {
        serve::start(self, listeners, Arc::new(handler))
    }

    /// Starts `workers` accept loops, each on its own SO_REUSEPORT listener bound to the same
    /// address, so the kernel spreads new connections across them (accept scaling across
    /// cores). With port 0 the first listener's port is used for the rest.
    pub fn serve_reuseport<H: Handler>(
        &self,
        addr: SocketAddr,
        workers: usize,
        handler: H,
    ) -> std::io::Result<ServerHandle> {
        let opts = BindOptions {
            reuse_port: true,
            ..self.bind.clone()
        };
        let first = Listener::bind(addr, &opts)?;
        let addr = first.local_addr()?;
        let mut listeners = vec![first];
        for _ in 1..workers.max(1) {
            listeners.push(Listener::bind(addr, &opts)?);
        }
        Ok(serve::start(self, listeners, Arc::new(handler)))
    }

    pub(crate) fn h2_config(&self) -> Option<H2Config> {
        if !self.http2 {
            return None;
        }
        let h = &self.h2;
        Some(H2Config {
            max_concurrent_streams: h.max_concurrent_streams,
            max_header_list_size: h
                .max_header_list_size
                .unwrap_or(u32::try_from(self.max_header_bytes).unwrap_or(u32::MAX)),
            initial_stream_window: h.initial_stream_window,
            initial_conn_window: h.initial_conn_window,
            max_frame_size: h.max_frame_size,
            max_send_buffer: h.max_send_buffer,
            conn_send_buffer: h.conn_send_buffer,
            handshake_timeout: self.read_header_timeout,
            idle_timeout: self.idle_timeout,
            read_timeout: self.read_timeout,
            min_body_rate: self.min_body_rate,
            write_timeout: self.write_timeout,
            keepalive_interval: h.keepalive_interval,
            keepalive_timeout: h.keepalive_timeout,
            max_body_bytes: self.max_body_bytes,
            options_asterisk: self.options_asterisk,
            max_resets: h.max_resets,
            reset_window: h.reset_window,
            rejection_hook: self
                .rejection_hook
                .clone()
                .map(crate::conn::RejectionHookCfg),
        })
    }

    /// The HTTP/1.1 connection settings; `upgrades` is the count of upgraded connections
    /// the server's handle reports.
    fn conn_config(&self, upgrades: Arc<std::sync::atomic::AtomicUsize>) -> ConnConfig {
        ConnConfig {
            limits: HeadLimits {
                max_head_bytes: self.max_header_bytes,
                max_uri_bytes: self.max_uri_bytes.min(self.max_header_bytes),
            },
            read_header_timeout: self.read_header_timeout,
            read_timeout: self.read_timeout,
            write_timeout: self.write_timeout,
            idle_timeout: self.idle_timeout,
            max_body_bytes: self.max_body_bytes,
            min_body_rate: self.min_body_rate,
            max_drain_bytes: self.max_drain_bytes,
            drain_timeout: Duration::from_secs(5).min(self.read_timeout),
            keep_alive: self.keep_alive,
            options_asterisk: self.options_asterisk,
            keep_alive_line: crate::proto::h1::encode::keep_alive_line(self.idle_timeout),
            upgrades,
            rejection_hook: self
                .rejection_hook
                .clone()
                .map(crate::conn::RejectionHookCfg),
        }
    }
}
