//! `Transport`: one request, one response. Takes a pooled connection (or a stream on a shared
//! HTTP/2 one) or dials one (TCP through the dialer and resolver, or a connector's stream: a
//! Unix socket, a caller's transport; retrying refused dials with backoff under a budget; the
//! proxy's protocol — TLS to an `https://` proxy, the CONNECT tunnel, the SOCKS5 handshake —
//! then TLS and ALPN over whichever stream), runs the HTTP/1.1 or HTTP/2 exchange,
//! and retries on a fresh connection when a reused one turns out dead, or the server did not
//! process the request, and it is safe to resend. A reused connection dying under a request
//! is its lifecycle, not the host failing: that one resend goes to a new connection without
//! drawing on the retry budget, and the host is remembered so that requests which cannot be
//! resent get new connections for a while.

use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use http::header::{HeaderMap, HeaderValue, ACCEPT_ENCODING, RANGE};
use http::request::Parts;
use http::{Request, Response};
use tokio::time::Instant;

use super::connect::{Connect, Destination, Link};
use super::decode;
use super::h2_pool::{H2Conn, H2Stream};
use super::no_proxy::NoProxy;
use super::pool::{
    Checkout, Conn, ConnectKey, Pool, PoolConfig, PoolStats, Pooled, Scheme, Stream, Want,
};
use super::proxy::{Proxy, ProxyKind, ProxyUrl};
use super::proxy_config::{Proxies, ProxyFn};
use super::retry::{self, DialRetry, RetryBudget};
use super::socks5;
use super::trace::{GotConn, Observe, Trace, TraceHook, Tunnel};
use crate::body::Body;
use crate::error::{BoxError, Error, Kind};
use crate::net::{DialEvents, Dialer, Overrides, Resolve, SystemResolver};
use crate::proto::events::ExchangeEvents;
use crate::proto::h1::client::{self as h1, ConnSlot, Exchange, ExchangeConfig};
use crate::proto::h1::io::ClientIo;
use crate::proto::h2::client::{self as h2c, H2ClientConfig, H2Exchange};
use crate::proto::io::BoxedIo;
use crate::tls::{ClientTls, MaybeTls};

/// The default of [`TransportBuilder::max_decompressed_bytes`]: 1 GiB.
pub const DEFAULT_MAX_DECOMPRESSED: u64 = 1 << 30;

/// The HTTP/2 connection window the client grants by default: 1 GiB, as Go's transport
/// does. It is far above the sum of the stream windows the connection can have open, so a
/// response nobody reads pins its own stream's window and never the connection's: with a
/// connection window near a stream's (4 MiB against 2 MiB, say), two unread responses stop
/// every other request on the connection, and through a proxy those belong to other
/// clients. What a server can make the client hold stays one stream window per request.
pub const DEFAULT_HTTP2_CONN_WINDOW: u32 = 1 << 30;

/// Most times a request is resent after failing on a reused connection.
const MAX_REQUEST_RETRIES: u32 = 3;
/// Most times a request refused by an HTTP/2 server (REFUSED_STREAM) is resent on the
/// connection that refused it.
const MAX_REFUSALS: u32 = 6;

/// How a request on an HTTP/2 stream failed.
enum H2Failure {
    /// The server refused the stream (REFUSED_STREAM) and its connection takes others: the
    /// request may be resent on that connection.
    Refused { error: Error, conn: Arc<H2Conn> },
    /// Any other failure; `unprocessed` when the server certainly did not process it.
    Failed { error: Error, unprocessed: bool },
}

/// Sends requests over pooled connections; cheap to clone (clones share the pool).
///
/// Go's `http.Transport`: one request in, one response out ([`Transport::round_trip`]), no
/// redirects; [`crate::Client`] adds those. The pool is keyed by (scheme, host, port, proxy),
/// its state is visible in [`Transport::pool_stats`], and every limit has a finite default.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let server = nethttp::test::TestServer::start(|_req: nethttp::HttpRequest| async {
/// #     nethttp::text_response(nethttp::http::StatusCode::OK, "pooled")
/// # }).await;
/// # let url = server.url("/");
/// use std::time::Duration;
/// use nethttp::{Body, Transport};
///
/// let transport = Transport::builder()
///     .max_conns_per_host(4)
///     .max_idle_per_host(4)
///     .idle_timeout(Duration::from_secs(90))
///     .connect_timeout(Duration::from_secs(5))
///     .build()?;
/// for _ in 0..3 {
///     let req = nethttp::http::Request::get(&url).body(Body::empty())?;
///     let res = transport.round_trip(req).await?;
///     res.into_body().to_bytes(64).await?;
/// }
/// let stats = transport.pool_stats();
/// assert_eq!((stats.dials, stats.reuses), (1, 2)); // one connection, reused
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Transport {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    dialer: Dialer,
    /// Names to addresses, for the dialer (overrides in front, if any).
    resolver: Arc<dyn Resolve>,
    /// Opens every connection's stream instead of the dialer, when set.
    connector: Option<Arc<dyn Connect>>,
    exchange: ExchangeConfig,
    dial_retry: DialRetry,
    budget: RetryBudget,
    proxies: Proxies,
    disable_keep_alives: bool,
    compression: bool,
    max_decompressed: Option<u64>,
    tls: Arc<rustls::ClientConfig>,
    /// `tls` offering only `http/1.1` by ALPN, made when first needed: for an upgrade the
    /// host's HTTP/2 connections cannot carry (see [`Want::h1_only`]).
    tls_h1: std::sync::OnceLock<Arc<rustls::ClientConfig>>,
    /// TLS to `https://` proxies: ALPN offers only `http/1.1` (CONNECT and absolute-form
    /// requests are HTTP/1.1).
    proxy_tls: Arc<rustls::ClientConfig>,
    proxy_tls_handshake_timeout: Duration,
    tls_handshake_timeout: Duration,
    pool_timeout: Duration,
    http2: bool,
    http2_prior_knowledge: bool,
    h2: H2ClientConfig,
}

impl Transport {
    /// Takes one retry from the retry budget (for a retry decided above the transport, such
    /// as a `429`/`503` retried by the client); false when it is spent.
    pub(crate) fn withdraw_retry(&self) -> bool {
        self.inner.budget.withdraw()
    }
}

/// A fresh connection, by the protocol it speaks.
enum Dialed {
    H1(Conn),
    H2(
        h2::client::SendRequest<bytes::Bytes>,
        Box<h2c::ClientConnection<Stream>>,
        Option<std::net::SocketAddr>,
    ),
}

/// What a request was given to send on.
enum Slot {
    /// An HTTP/1.1 connection, and whether its host is remembered as closing connections
    /// after their responses.
    H1(Pooled, bool),
    H2(H2Stream),
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport").finish_non_exhaustive()
    }
}

impl Default for Transport {
    fn default() -> Self {
        Transport::new()
    }
}

/// How a transport opens its connections' streams.
#[derive(Clone)]
enum Via {
    /// TCP through the dialer.
    Tcp,
    /// A Unix domain socket at this path.
    Unix(PathBuf),
    /// The caller's connector.
    Connector(Arc<dyn Connect>),
}

impl std::fmt::Debug for Via {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Via::Tcp => f.write_str("Tcp"),
            Via::Unix(path) => f.debug_tuple("Unix").field(path).finish(),
            Via::Connector(_) => f.write_str("Connector"),
        }
    }
}

/// How a transport finds addresses: a resolver of the caller's (or the system's), and fixed
/// answers for some hosts and ports in front of it.
#[derive(Clone, Default)]
struct Resolution {
    resolver: Option<Arc<dyn Resolve>>,
    overrides: Vec<(String, u16, SocketAddr)>,
}

impl std::fmt::Debug for Resolution {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolution")
            .field("custom", &self.resolver.is_some())
            .field("overrides", &self.overrides)
            .finish()
    }
}

impl Resolution {
    fn build(self) -> Arc<dyn Resolve> {
        let base = self.resolver.unwrap_or_else(|| Arc::new(SystemResolver));
        if self.overrides.is_empty() {
            return base;
        }
        Arc::new(Overrides::new(&self.overrides, base))
    }
}

/// Where a transport's proxy comes from.
#[derive(Clone)]
enum ProxySource {
    Env,
    Fixed(String),
    Custom(ProxyFn),
    Off,
}

impl std::fmt::Debug for ProxySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProxySource::Env => f.write_str("Env"),
            // The address may hold credentials.
            ProxySource::Fixed(p) => match ProxyUrl::parse(p) {
                Ok(url) => write!(f, "Fixed({url})"),
                Err(_) => f.write_str("Fixed(<unparsed>)"),
            },
            ProxySource::Custom(_) => f.write_str("Custom"),
            ProxySource::Off => f.write_str("Off"),
        }
    }
}

/// Configures a [`Transport`]. Every timeout is finite by default.
#[derive(Debug, Clone)]
pub struct TransportBuilder {
    pool: PoolConfig,
    dialer: Dialer,
    via: Via,
    resolution: Resolution,
    exchange: ExchangeConfig,
    dial_retry: DialRetry,
    budget: (f64, u64, Duration),
    proxy: ProxySource,
    proxy_bypass: Option<String>,
    disable_keep_alives: bool,
    disable_compression: bool,
    max_decompressed: Option<u64>,
    tls: ClientTls,
    proxy_tls: Option<ClientTls>,
    http2: bool,
    http2_prior_knowledge: bool,
    h2: H2ClientConfig,
}

impl Default for TransportBuilder {
    fn default() -> Self {
        TransportBuilder {
            pool: PoolConfig {
                // Go's default of 2 idle connections per host closes most of the connections
                // a busy client just opened, and each close leaves a TIME_WAIT socket behind:
                // at steady concurrency above 2 the client churns connections forever. Keeping
                // up to 256 idle per host lets a client at steady concurrency reuse them all.
                max_idle_per_host: 256,
                max_idle: 1024,
                idle_timeout: Duration::from_secs(90),
                max_conns_per_host: 0,
                pool_timeout: Duration::from_secs(60),
                http2_max_streams: usize::MAX,
                http2_keepalive: None,
            },
            dialer: Dialer::default(),
            via: Via::Tcp,
            resolution: Resolution::default(),
            exchange: ExchangeConfig {
                response_header_timeout: Duration::from_secs(60),
                read_timeout: Duration::from_secs(60),
                write_timeout: Duration::from_secs(60),
                expect_continue_timeout: Duration::from_secs(1),
                max_response_head_bytes: 1024 * 1024,
                max_drain_bytes: 256 * 1024,
                drain_timeout: Duration::from_secs(2),
            },
            dial_retry: DialRetry::default(),
            budget: (0.2, 10, Duration::from_secs(10)),
            proxy: ProxySource::Env,
            proxy_bypass: None,
            disable_keep_alives: false,
            disable_compression: false,
            max_decompressed: Some(DEFAULT_MAX_DECOMPRESSED),
            tls: ClientTls::new(),
            proxy_tls: None,
            http2: true,
            http2_prior_knowledge: false,
            h2: H2ClientConfig {
                initial_stream_window: 2 * 1024 * 1024,
                initial_conn_window: DEFAULT_HTTP2_CONN_WINDOW,
                max_frame_size: 16 * 1024,
                max_header_list_size: 1024 * 1024,
                max_send_buffer: 1024 * 1024,
            },
        }
    }
}

impl TransportBuilder {
    /// Most idle connections kept per host. Default: 256 (see the source for why not Go's 2).
    /// Zero keeps none.
    pub fn max_idle_per_host(mut self, n: usize) -> Self {
        self.pool.max_idle_per_host = n;
        self
    }

    /// Most idle connections kept over all hosts. Default: 1024.
    pub fn max_idle(mut self, n: usize) -> Self {
        self.pool.max_idle = n;
        self
    }

    /// How long an idle connection is kept. Default: 90 s. A server's shorter
    /// `Keep-Alive: timeout` hint wins. Zero keeps no idle connection.
    pub fn idle_timeout(mut self, d: Duration) -> Self {
        self.pool.idle_timeout = d;
        self
    }

    /// Most connections per host, idle, active and being dialed together. Requests beyond it
    /// wait in FIFO order. Default: 0, no limit.
    pub fn max_conns_per_host(mut self, n: usize) -> Self {
        self.pool.max_conns_per_host = n;
        self
    }

    /// Longest wait for a connection under `max_conns_per_host`. Default: 60 s.
    pub fn pool_timeout(mut self, d: Duration) -> Self {
        self.pool.pool_timeout = d;
        self
    }

    /// Longest time for a dial, name resolution included. Through a proxy the dial is to the
    /// proxy, and its handshake gets this long again: the answer to CONNECT (https through
    /// an HTTP or HTTPS proxy), or the whole SOCKS5 exchange (greeting, authentication,
    /// reply; for `socks5://` the target's name resolution gets its own). TLS to an
    /// `https://` proxy has the TLS handshake timeout. Default: 30 s.
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.dialer.connect_timeout = d;
        self
    }

    /// Replaces the whole dialer (keepalive, local address, Happy Eyeballs delay).
    pub fn dialer(mut self, dialer: Dialer) -> Self {
        self.dialer = dialer;
        self
    }

    /// Sends every request over the Unix domain socket at `path` (curl's and reqwest's
    /// `--unix-socket`): each new connection is a `tokio::net::UnixStream` to it, whatever
    /// host the URL names. The URL still gives everything else: the scheme (for https, TLS
    /// runs over the socket, with SNI and the certificate checked against the URL's host,
    /// and ALPN may pick HTTP/2), the `Host` header, and the pool key (connections are
    /// pooled per URL host as usual, all of them to this socket). `http2_prior_knowledge`
    /// speaks h2c over it. No proxy is used, whatever [`proxy`](Self::proxy) or the
    /// environment say; the resolver is not used either. The connect timeout and dial
    /// retries apply (a socket nobody listens on refuses; a missing path fails at once).
    ///
    /// Pooled connections to a Unix socket are checked before reuse by reading rather than
    /// peeking, and the kernel is asked before a request that could not be resent, as on
    /// TCP; see [`ConnectedIo::new`](super::ConnectedIo::new). Replaces a
    /// [`connector`](Self::connector). Default: none (TCP).
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), nethttp::Error> {
    /// let client = nethttp::Client::builder()
    ///     .transport(|t| t.unix_socket("/var/run/docker.sock"))
    ///     .build()?;
    /// let res = client.get("http://localhost/version").send().await?;
    /// # let _ = res; Ok(()) }
    /// ```
    pub fn unix_socket(mut self, path: impl Into<PathBuf>) -> Self {
        self.via = Via::Unix(path.into());
        self
    }

    /// Opens each new connection's stream with `connector` instead of dialing TCP (Go's
    /// `DialContext`). It is given the destination — the URL's scheme, host and port, or the
    /// proxy's when the request goes through one — and the transport runs the CONNECT
    /// tunnel, TLS and HTTP/2 over what it returns, as over TCP. The connect timeout bounds
    /// each call and dial retries apply; the resolver is not used. See [`Connect`] for an
    /// example. Replaces a [`unix_socket`](Self::unix_socket). Default: none (TCP).
    pub fn connector(mut self, connector: impl Connect + 'static) -> Self {
        self.via = Via::Connector(Arc::new(connector));
        self
    }

    /// Finds the addresses of hosts with `resolver` instead of the system's (getaddrinfo):
    /// the dialer asks it for every name it connects to (the URL's host, or the proxy's),
    /// never for an IP literal, within the connect timeout; Happy Eyeballs, dial retries and
    /// the fallback from one address to the next apply to what it returns. Overrides set with
    /// [`resolve`](Self::resolve) are answered before it is asked. TLS still checks the
    /// URL's host, never an address. Not used with a connector or a Unix socket, except for
    /// the target of a `socks5://` proxy (whose first address is named to the proxy); never
    /// for the target of a `socks5h://` proxy, which resolves it. See [`Resolve`] for an
    /// example. Default: the system's ([`SystemResolver`]).
    pub fn resolver(mut self, resolver: impl Resolve + 'static) -> Self {
        self.resolution.resolver = Some(Arc::new(resolver));
        self
    }

    /// Connects to `addr` for `host` on `addr`'s port, without asking the resolver (curl's
    /// `--resolve HOST:PORT:ADDR`): it applies only when the port to connect to is
    /// `addr.port()` (the URL's, or the proxy's when the proxy is `host`), and a request for
    /// `host` on another port is resolved as usual. The URL, `Host` header and TLS (SNI and
    /// certificate name) keep `host`. Host names compare without case. Called again for the
    /// same host and port, it adds the address: they are tried in order, as a resolver's
    /// answer. Not used with a connector or a Unix socket (but for a `socks5://` proxy's
    /// target, as [`resolver`](Self::resolver)), nor for a `socks5h://` proxy's target, which
    /// the proxy resolves. Default: none.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), nethttp::Error> {
    /// // As `curl --resolve example.com:443:127.0.0.1 https://example.com/`.
    /// let client = nethttp::Client::builder()
    ///     .transport(|t| t.resolve("example.com", "127.0.0.1:443".parse().unwrap()))
    ///     .build()?;
    /// let res = client.get("https://example.com/").send().await?;
    /// # let _ = res; Ok(()) }
    /// ```
    pub fn resolve(mut self, host: impl Into<String>, addr: SocketAddr) -> Self {
        self.resolution
            .overrides
            .push((host.into(), addr.port(), addr));
        self
    }

    /// Connects to `addr` for `host` on `port`, another port included (curl's `--connect-to
    /// HOST:PORT:ADDR:PORT2`): as [`resolve`](Self::resolve), the URL, `Host` and TLS keep
    /// `host`, and only connections for `host` on `port` are moved.
    pub fn connect_to(mut self, host: impl Into<String>, port: u16, addr: SocketAddr) -> Self {
        self.resolution.overrides.push((host.into(), port, addr));
        self
    }

    /// How refused dials are retried. Default: [`DialRetry::default`].
    pub fn dial_retry(mut self, r: DialRetry) -> Self {
        self.dial_retry = r;
        self
    }

    /// The retry budget, shared by dial retries and resent requests: retries may add at most
    /// `ratio` of the requests made in `window`, plus `floor`. Default: 0.2, 10, 10 s.
    pub fn retry_budget(mut self, ratio: f64, floor: u64, window: Duration) -> Self {
        self.budget = (ratio, floor, window);
        self
    }

    /// Longest wait for the response head once the request is written. Default: 60 s.
    pub fn response_header_timeout(mut self, d: Duration) -> Self {
        self.exchange.response_header_timeout = d;
        self
    }

    /// Longest silence while reading a response body. Default: 60 s.
    pub fn read_timeout(mut self, d: Duration) -> Self {
        self.exchange.read_timeout = d;
        self
    }

    /// Longest a write of the request may stay blocked. Default: 60 s.
    pub fn write_timeout(mut self, d: Duration) -> Self {
        self.exchange.write_timeout = d;
        self
    }

    /// With `Expect: 100-continue`, how long to wait for the server's go-ahead before sending
    /// the body anyway. Default: 1 s.
    pub fn expect_continue_timeout(mut self, d: Duration) -> Self {
        self.exchange.expect_continue_timeout = d;
        self
    }

    /// Largest response head accepted. Default: 1 MiB.
    pub fn max_response_header_bytes(mut self, n: usize) -> Self {
        self.exchange.max_response_head_bytes = n;
        self
    }

    /// A response body dropped before its end is drained in the background up to this many
    /// bytes and this long, so its connection is reused; beyond, it is closed. Default:
    /// 256 KiB, 2 s. Zero bytes closes at once.
    pub fn drain_limits(mut self, bytes: u64, time: Duration) -> Self {
        self.exchange.max_drain_bytes = bytes;
        self.exchange.drain_timeout = time;
        self
    }

    /// Sends every request through the proxy at `[scheme://][user:password@]host[:port]`,
    /// instead of the environment's (not with a [`unix_socket`](Self::unix_socket)); the
    /// schemes, their default ports and how each is spoken to are in [`ProxyUrl`]:
    ///
    /// - `http://` (or no scheme): http requests go to the proxy in absolute form, https
    ///   requests through a CONNECT tunnel (TLS, and HTTP/2 by ALPN, end to end with the
    ///   target). With credentials (percent-encoded as in a URL), each CONNECT and each
    ///   request to the proxy carries `Proxy-Authorization: Basic`.
    /// - `https://`: the same inside TLS to the proxy, whose certificate is checked against
    ///   the proxy's host with [`proxy_tls`](Self::proxy_tls); an https target's TLS runs
    ///   inside the proxy's.
    /// - `socks5://` and `socks5h://`: a SOCKS5 handshake (RFC 1928; username/password, RFC
    ///   1929, with credentials) opens a connection to the target, then used as a direct one
    ///   (origin-form requests, TLS and HTTP/2, h2c by prior knowledge). `socks5://` resolves
    ///   the target here and names the first address; `socks5h://` names the host for the
    ///   proxy to resolve.
    ///
    /// Loopback targets go through it too; [`proxy_bypass`](Self::proxy_bypass) names hosts
    /// that do not. A malformed address fails [`build`](Self::build) with a usage error.
    pub fn proxy(mut self, proxy: impl Into<String>) -> Self {
        self.proxy = ProxySource::Fixed(proxy.into());
        self
    }

    /// Chooses the proxy for each request with `f` (Go's `Transport.Proxy`): given the
    /// request's method, URL, headers and extensions, it returns the proxy to use, or `None`
    /// to go direct. Called once per round trip (each redirect is one), before a connection
    /// is taken; it alone decides, so neither the environment nor
    /// [`proxy_bypass`](Self::proxy_bypass) applies. Connections are pooled per target and
    /// proxy (its scheme, host, port and credentials), so requests sent through different
    /// proxies never share one. An error fails the request: a [`crate::Error`] (from
    /// [`ProxyUrl::parse`] and `?`) as it is, any other as a usage error naming it. Not used
    /// with a [`unix_socket`](Self::unix_socket). Replaces [`proxy`](Self::proxy) and
    /// [`no_proxy`](Self::no_proxy).
    ///
    /// ```
    /// use nethttp::client::ProxyUrl;
    ///
    /// let tor = ProxyUrl::parse("socks5h://127.0.0.1:9050")?;
    /// let transport = nethttp::Transport::builder()
    ///     .proxy_fn(move |req| {
    ///         let onion = req.uri.host().is_some_and(|h| h.ends_with(".onion"));
    ///         Ok(onion.then(|| tor.clone()))
    ///     })
    ///     .build()?;
    /// # let _ = transport;
    /// # Ok::<(), nethttp::Error>(())
    /// ```
    pub fn proxy_fn<F>(mut self, f: F) -> Self
    where
        F: Fn(&Parts) -> Result<Option<ProxyUrl>, BoxError> + Send + Sync + 'static,
    {
        self.proxy = ProxySource::Custom(Arc::new(f));
        self
    }

    /// TLS to `https://` proxies: the roots the proxy's certificate must chain to (checked
    /// against the proxy's host, sent as SNI), and the handshake timeout. ALPN offers only
    /// `http/1.1`, whatever the config says. Default: the transport's [`tls`](Self::tls).
    pub fn proxy_tls(mut self, tls: ClientTls) -> Self {
        self.proxy_tls = Some(tls);
        self
    }

    /// Takes the proxy from the environment, as Go's default transport, curl and reqwest do:
    /// `HTTP_PROXY` for http URLs, `HTTPS_PROXY` for https URLs, `ALL_PROXY` for either when
    /// its own is unset (as curl; uppercase or lowercase names, uppercase first), and
    /// `NO_PROXY` for hosts that go direct; `localhost` and loopback addresses always go
    /// direct. Each may name any proxy [`proxy`](Self::proxy) takes (`socks5h://...`
    /// included). The variables are read once, when the transport is built. A variable naming
    /// an unusable proxy (e.g. `socks4://`) fails the requests it would carry with a usage
    /// error rather than sending them direct. This is the default.
    pub fn proxy_from_env(mut self) -> Self {
        self.proxy = ProxySource::Env;
        self
    }

    /// Every request goes direct, whatever the environment says.
    pub fn no_proxy(mut self) -> Self {
        self.proxy = ProxySource::Off;
        self
    }

    /// Hosts that go direct even with a proxy set, in `NO_PROXY` syntax: comma-separated
    /// domains (each matching itself and its subdomains; `.example.com` its subdomains only),
    /// IP addresses, CIDR blocks (`10.0.0.0/8`), any of them with `:port`, or `*` for all.
    /// Replaces the environment's `NO_PROXY`. Default: none (or `NO_PROXY`).
    pub fn proxy_bypass(mut self, hosts: impl Into<String>) -> Self {
        self.proxy_bypass = Some(hosts.into());
        self
    }

    /// TLS for https URLs: trusted roots, handshake timeout. Default: [`ClientTls::new`]
    /// (the Mozilla roots, 10 s).
    pub fn tls(mut self, tls: ClientTls) -> Self {
        self.tls = tls;
        self
    }

    /// Whether https connections offer HTTP/2 (ALPN `h2`) beside HTTP/1.1. Default: true.
    /// An HTTP/2 connection carries many requests at once, up to the server's
    /// MAX_CONCURRENT_STREAMS; past that a new connection is opened (within
    /// `max_conns_per_host`, where requests then queue for streams).
    pub fn http2(mut self, on: bool) -> Self {
        self.http2 = on;
        self
    }

    /// Speak HTTP/2 on plain `http` connections without asking first (h2c by prior
    /// knowledge, RFC 9113 §3.3). Only for servers known to support it. Default: off.
    pub fn http2_prior_knowledge(mut self, on: bool) -> Self {
        self.http2_prior_knowledge = on;
        self
    }

    /// HTTP/2 flow-control windows the client grants: per stream and per connection.
    /// Defaults: 2 MiB and [`DEFAULT_HTTP2_CONN_WINDOW`] (1 GiB). A response that is not
    /// read holds at most its stream's window; keep the connection's well above the
    /// stream's times the requests a connection carries at once, or unread responses stall
    /// the connection's other requests.
    pub fn http2_initial_window_sizes(mut self, stream: u32, conn: u32) -> Self {
        self.h2.initial_stream_window = stream;
        self.h2.initial_conn_window = conn;
        self
    }

    /// Most requests one HTTP/2 connection carries at once; the server's
    /// MAX_CONCURRENT_STREAMS applies too, whichever is lower. More concurrent requests open
    /// more connections (within `max_conns_per_host`). Default: no cap of our own.
    pub fn http2_max_streams_per_connection(mut self, n: usize) -> Self {
        self.pool.http2_max_streams = n.max(1);
        self
    }

    /// HTTP/2 keepalive: send a PING on each connection every `interval`, and close it (failing
    /// its requests at once, so they can be retried elsewhere) if the answer takes longer than
    /// `timeout`. Finds a connection whose server vanished without closing it. Default: off
    /// (the per-request timeouts still bound every request).
    pub fn http2_keepalive(mut self, interval: Option<Duration>, timeout: Duration) -> Self {
        self.pool.http2_keepalive = interval.map(|i| (i, timeout));
        self
    }

    /// Turns off transparent decompression. By default, as Go does for gzip, a request
    /// without `Accept-Encoding` or `Range` (and not HEAD) is sent with the codings the
    /// client decodes ([`ACCEPT_ENCODING`](crate::client::ACCEPT_ENCODING): `gzip`, then
    /// `br`, `zstd` and `deflate` as their cargo features are on), and an answer in them is
    /// decoded as it streams (stacked codings, `gzip, br`, last applied first; at most four):
    /// `Content-Encoding` and `Content-Length` are removed from the response, which carries
    /// the [`Decompressed`](crate::client::Decompressed) and
    /// [`DecodedCodings`](crate::client::DecodedCodings) extensions. An answer in any other
    /// coding comes as sent, its `Content-Encoding` kept. A request that sets
    /// `Accept-Encoding` itself gets the body as sent. Default: off (compression on).
    pub fn disable_compression(mut self, yes: bool) -> Self {
        self.disable_compression = yes;
        self
    }

    /// Most bytes a response body the client decodes itself (transparent decompression) may
    /// decode to; past it the body fails with [`ErrorKind::DecompressedTooLarge`]
    /// (`is_decompressed_too_large()`), having handed out no more than this. Default: 1 GiB.
    /// `None`: no limit. `Some(0)`: only empty bodies. Every coding is held to it, and each
    /// layer of a stacked answer (`gzip, br`) separately.
    ///
    /// Go and reqwest set none. But the client asks for compression on its own initiative,
    /// and deflate expands up to about 1000 to 1, brotli and zstd far more (1 GiB of zeros is
    /// under 50 KB of zstd): a 1 MB answer can become 1 GB and more, so without a bound a
    /// caller that collects a body sized by what it expects from the wire can be made to hold
    /// a thousand times that. 1 GiB is past any page or API answer and bounds a bomb;
    /// a larger download is better fetched with compression off (`disable_compression`) or
    /// a higher limit. Bodies the client does not decode (compression off, or a request
    /// that set `Accept-Encoding` itself) are not counted.
    ///
    /// [`ErrorKind::DecompressedTooLarge`]: crate::ErrorKind::DecompressedTooLarge
    pub fn max_decompressed_bytes(mut self, max: Option<u64>) -> Self {
        self.max_decompressed = max;
        self
    }

    /// One connection per request, closed after it (`Connection: close`). Default: off.
    pub fn disable_keep_alives(mut self, yes: bool) -> Self {
        self.disable_keep_alives = yes;
        self
    }

    /// Builds the transport.
    pub fn build(self) -> Result<Transport, Error> {
        let bypass = self.proxy_bypass.as_deref().map(NoProxy::parse);
        let proxies = match &self.proxy {
            // Every connection is to the socket: there is no proxy to go through.
            _ if matches!(self.via, Via::Unix(_)) => Proxies::default(),
            ProxySource::Off => Proxies::default(),
            ProxySource::Fixed(p) => Proxies::fixed(Proxy::parse(p)?, bypass.unwrap_or_default()),
            ProxySource::Custom(f) => Proxies::custom(f.clone()),
            ProxySource::Env => Proxies::from_env(|name| std::env::var(name).ok(), bypass),
        };
        let (ratio, floor, window) = self.budget;
        let tls = self.tls.build(self.http2)?;
        let proxy_tls = self.proxy_tls.as_ref().unwrap_or(&self.tls);
        let proxy_handshake = proxy_tls.handshake_timeout;
        let proxy_tls = proxy_tls.build(false)?;
        let pool_timeout = self.pool.pool_timeout;
        let connector: Option<Arc<dyn Connect>> = match self.via {
            Via::Tcp => None,
            Via::Unix(path) => Some(Arc::new(super::unix::UnixSocket(path))),
            Via::Connector(c) => Some(c),
        };
        let pool = Pool::new(self.pool);
        crate::debug::registry::add_pool(&pool);
        Ok(Transport {
            inner: Arc::new(Inner {
                pool,
                dialer: self.dialer,
                resolver: self.resolution.build(),
                connector,
                exchange: self.exchange,
                dial_retry: self.dial_retry,
                budget: RetryBudget::new(ratio, floor, window),
                proxies,
                disable_keep_alives: self.disable_keep_alives,
                compression: !self.disable_compression,
                max_decompressed: self.max_decompressed,
                tls,
                tls_h1: std::sync::OnceLock::new(),
                proxy_tls,
                proxy_tls_handshake_timeout: proxy_handshake,
                tls_handshake_timeout: self.tls.handshake_timeout,
                pool_timeout,
                http2: self.http2,
                http2_prior_knowledge: self.http2_prior_knowledge,
                h2: self.h2,
            }),
        })
    }
}

impl Transport {
    /// A transport with the default configuration.
    pub fn new() -> Transport {
        TransportBuilder::default()
            .build()
            .expect("the default configuration is valid")
    }

    /// Starts configuring a transport.
    pub fn builder() -> TransportBuilder {
        TransportBuilder::default()
    }

    /// Sends one request and returns the response once its head has arrived; the body
    /// streams. Redirects are not followed (that is [`super::Client`]'s job).
    pub async fn round_trip(&self, req: Request<Body>) -> Result<Response<Body>, Error> {
        let (parts, body) = req.into_parts();
        self.send(&parts, body, None, None, None, None).await
    }

    /// [`Transport::round_trip`] with a trace hook given here rather than in the request's
    /// extensions (which would cost the request an extension map).
    pub(crate) async fn round_trip_traced(
        &self,
        req: Request<Body>,
        hook: Option<TraceHook>,
    ) -> Result<Response<Body>, Error> {
        let (parts, body) = req.into_parts();
        self.send(&parts, body, None, None, hook, None).await
    }

    /// [`Transport::round_trip_traced`] that gives the body back in `unsent` when the
    /// request failed before any of it was sent (no connection could be had: a dial, TLS or
    /// pool failure), so the caller may send it elsewhere.
    pub(crate) async fn round_trip_or_unsent(
        &self,
        req: Request<Body>,
        hook: Option<TraceHook>,
        unsent: &mut Option<Body>,
    ) -> Result<Response<Body>, Error> {
        let (parts, body) = req.into_parts();
        self.send(&parts, body, None, None, hook, Some(unsent))
            .await
    }

    /// Counters and per-host connection counts of the pool.
    pub fn pool_stats(&self) -> PoolStats {
        self.inner.pool.stats()
    }

    /// Closes every idle connection (connections in use finish their requests).
    pub fn close_idle_connections(&self) {
        self.inner.pool.close_idle();
    }

    /// The round trip with the client's extras: a total deadline (which also bounds the
    /// response body) and default headers; a trace `hook` given here is used instead of one
    /// in the request's extensions. With `unsent`, a failure before any connection was had
    /// leaves the body there.
    pub(crate) async fn send(
        &self,
        parts: &Parts,
        mut body: Body,
        deadline: Option<Instant>,
        defaults: Option<&HeaderMap>,
        hook: Option<TraceHook>,
        mut unsent: Option<&mut Option<Body>>,
    ) -> Result<Response<Body>, Error> {
        let inner = &*self.inner;
        let mut key = ConnectKey::from_uri(&parts.uri, None)?;
        let proxy = inner
            .proxies
            .select(parts, key.scheme, &key.host, key.port)?;
        let proxy = proxy.as_deref();
        if let Some(p) = proxy {
            key.proxy = Some(p.key.clone());
        }
        // The proxy this request speaks HTTP to: plain http through an HTTP(S) proxy; https
        // is tunnelled, and a SOCKS5 connection is used as a direct one.
        let to_proxy = proxy.filter(|p| key.scheme == Scheme::Http && p.speaks_http());
        let expect_h2 = match key.scheme {
            // Through a proxy, https runs in a tunnel, where ALPN works as direct.
            Scheme::Https => inner.http2,
            Scheme::Http => inner.http2_prior_knowledge && to_proxy.is_none(),
        };
        let decodes = self.asks_encoding(parts, defaults);
        let hook = hook.or_else(|| parts.extensions.get::<TraceHook>().cloned());
        let trace: Option<&dyn Trace> = hook.as_ref().map(|h| &*h.0);
        let observe = trace.map(Observe);
        inner.budget.deposit();
        // Whether the method allows a resend (the body is checked per attempt): a request
        // that does not gets a connection checked with the kernel, or a new one.
        let resend_allowed = retry::method_allows_resend(&parts.method, &parts.headers);
        let mut retries = 0;
        // The one resend after a reused HTTP/1.1 connection died under the request, which
        // goes out on a new connection and costs no retry budget (see `retry::is_lifecycle_failure`).
        let mut lifecycle_resent = false;
        let mut force_new = false;
        // A refused stream is resent on the connection that refused it (which by then knows
        // the server's stream limit, so the request waits for a free stream instead of
        // overrunning a fresh connection the same way), a bounded number of times.
        let mut refusals = 0;
        let mut pinned: Option<Arc<H2Conn>> = None;
        // An HTTP/1.1 upgrade (`Upgrade`, named by `Connection`) has no HTTP/2 form but the
        // extended CONNECT (RFC 9113 §8.2.2 forbids those fields), so it goes on an HTTP/1.1
        // connection of its own, as nginx sends upgrades upstream. So does an extended
        // CONNECT that met an HTTP/2 connection not allowing it: again, in its HTTP/1.1 form.
        let mut h1_only = expect_h2 && asks_http11_upgrade(parts);
        // The latter happened: its errors say why HTTP/1.1 was tried.
        let mut fell_back = false;
        loop {
            // Keep a copy of a body that can be sent again, for a retry.
            let spare = body.try_clone();
            let want = Want {
                expect_h2: expect_h2 && !h1_only,
                fresh: std::mem::take(&mut force_new),
                cannot_resend: !resend_allowed || spare.is_none(),
                h1_only,
            };
            // The attempt ran on HTTP/1.1 (set below).
            let mut on_h1 = false;
            let attempt = async {
                if let Some(t) = trace {
                    t.get_conn(&key);
                }
                let fresh = GotConn {
                    reused: false,
                    was_idle: false,
                    idle_time: Duration::ZERO,
                    local_addr: None,
                    http2: false,
                    streams_in_flight: 0,
                };
                if let Some(conn) = pinned.take().filter(|c| !c.is_dead()) {
                    let got = GotConn {
                        reused: true,
                        ..fresh
                    };
                    return Ok((Slot::H2(H2Stream::take(&conn)), got));
                }
                let got = match inner.pool.checkout(&key, want).await? {
                    Checkout::Idle(p, idle_time, closes) => (
                        Slot::H1(p, closes),
                        GotConn {
                            reused: true,
                            was_idle: !idle_time.is_zero(),
                            idle_time,
                            ..fresh
                        },
                    ),
                    Checkout::H2(stream) => (
                        Slot::H2(stream),
                        GotConn {
                            reused: true,
                            ..fresh
                        },
                    ),
                    Checkout::Dial(permit) => match self.dial(&key, proxy, trace, h1_only).await? {
                        Dialed::H1(conn) => (Slot::H1(permit.fulfil(conn), false), fresh),
                        Dialed::H2(send, conn, local) => {
                            (Slot::H2(permit.fulfil_h2(send, *conn, local)), fresh)
                        }
                    },
                };
                Ok::<(Slot, GotConn), Error>(got)
            };
            let attempted = match deadline {
                Some(d) => tokio::time::timeout_at(d, attempt)
                    .await
                    .unwrap_or_else(|_| Err(Error::new(Kind::TotalTimeout, "request timed out"))),
                None => attempt.await,
            };
            let (slot, mut got) = match attempted {
                Ok(got) => got,
                Err(e) => {
                    if let Some(unsent) = unsent.as_deref_mut() {
                        *unsent = Some(body);
                    }
                    return Err(after_fallback(fell_back, e));
                }
            };
            // Either protocol ends in a response, or in the facts the retry rule needs.
            let (error, nothing_written, no_response, unprocessed) = match slot {
                Slot::H2(stream) => {
                    if let Some(t) = trace {
                        got.http2 = true;
                        got.streams_in_flight = stream.in_flight();
                        got.local_addr = stream.local_addr();
                        t.got_conn(&got);
                    }
                    let cfg = &inner.exchange;
                    let x = H2Exchange {
                        stream_wait_timeout: inner.pool_timeout,
                        response_header_timeout: cfg.response_header_timeout,
                        read_timeout: cfg.read_timeout,
                        write_timeout: cfg.write_timeout,
                        deadline,
                        defaults,
                        accept_encoding: decodes.then_some(&decode::ACCEPT_ENCODING_VALUE),
                        events: observe.as_ref().map(|o| o as &dyn ExchangeEvents),
                    };
                    if parts.extensions.get::<h2c::ExtendedConnect>().is_some() {
                        // RFC 8441 §3: extended CONNECT only once the server's SETTINGS
                        // enabled it. A server without it gets the request in its HTTP/1.1
                        // form (an `Upgrade`), on an HTTP/1.1 connection of its own, as
                        // browsers open a WebSocket there; the HTTP/2 connection stays in
                        // the pool for everything else. Nothing was sent: the body is whole.
                        let conn = stream.conn();
                        match conn.extended_connect(cfg.response_header_timeout).await {
                            Some(true) => {}
                            Some(false) if !h1_only => {
                                tracing::debug!(host = %key, "no extended CONNECT on the HTTP/2 connection; upgrading over HTTP/1.1");
                                drop(stream);
                                h1_only = true;
                                fell_back = true;
                                continue;
                            }
                            Some(false) => {
                                return Err(Error::new(
                                    Kind::Upgrade,
                                    "the HTTP/2 server does not allow extended CONNECT (RFC 8441: \
                                     no SETTINGS_ENABLE_CONNECT_PROTOCOL), so no upgrade can \
                                     run on its connection",
                                ))
                            }
                            None => {
                                return Err(Error::new(
                                    Kind::ResponseHeaderTimeout,
                                    "timed out waiting for the HTTP/2 server's SETTINGS",
                                ))
                            }
                        }
                    }
                    match self.send_h2(stream, parts, body, &x).await {
                        Ok(res) => return decode::response(res, decodes, inner.max_decompressed),
                        Err(H2Failure::Refused { error: err, conn }) => {
                            let Some(again) = spare.filter(|_| refusals < MAX_REFUSALS) else {
                                return Err(err);
                            };
                            tracing::debug!(host = %key, error = %err, "stream refused; resending on the same connection");
                            refusals += 1;
                            pinned = Some(conn);
                            body = again;
                            continue;
                        }
                        // The stream's response head never arrived: `send_h2` returns at it.
                        Err(H2Failure::Failed { error, unprocessed }) => {
                            (error, false, true, unprocessed)
                        }
                    }
                }
                Slot::H1(mut slot, host_closes) => {
                    on_h1 = true;
                    if let Some(t) = trace {
                        got.local_addr = slot.conn().local_addr();
                        t.got_conn(&got);
                    }
                    let x = Exchange {
                        cfg: &inner.exchange,
                        defaults,
                        absolute_form: to_proxy.is_some(),
                        proxy_auth: to_proxy.and_then(|p| p.auth.as_ref()),
                        close: inner.disable_keep_alives,
                        accept_encoding: decodes.then_some(decode::ACCEPT_ENCODING_FIELD),
                        deadline,
                        events: observe.as_ref().map(|o| o as &dyn ExchangeEvents),
                    };
                    let sent = h1::send(slot, parts, body, &x);
                    let result = match deadline {
                        Some(d) => match tokio::time::timeout_at(d, sent).await {
                            Ok(r) => r,
                            Err(_) => {
                                return Err(Error::new(Kind::TotalTimeout, "request timed out"))
                            }
                        },
                        None => sent.await,
                    };
                    match result {
                        Ok(res) => {
                            if host_closes && got.reused {
                                inner.pool.reused_answered(&key);
                            }
                            return decode::response(res, decodes, inner.max_decompressed);
                        }
                        Err(e) => (e.error, e.nothing_written, e.no_response, false),
                    }
                }
            };
            let failure = retry::Failure {
                error: &error,
                nothing_written,
                no_response,
                unprocessed,
            };
            let verdict = retry::should_retry(
                &parts.method,
                &parts.headers,
                spare.is_some(),
                got.reused,
                &failure,
            );
            let lifecycle = on_h1 && retry::is_lifecycle_failure(got.reused, &failure);
            if lifecycle {
                inner.pool.remember_closing(&key);
            }
            match (verdict, spare) {
                // A request the server did not process is resent without drawing on the
                // retry budget: it cost the server nothing, and a burst that overran a new
                // HTTP/2 connection's stream limit is turned away in bulk. Nor does the one
                // resend after a reused connection died idle: that is how connections end,
                // not a host failing, and it goes out on a new connection whose failure is
                // final.
                (Ok(()), Some(again))
                    if retries < MAX_REQUEST_RETRIES
                        && (unprocessed
                            || (lifecycle && !lifecycle_resent)
                            || inner.budget.withdraw()) =>
                {
                    tracing::debug!(host = %key, error = %error, "retrying on another connection");
                    if lifecycle && !lifecycle_resent {
                        lifecycle_resent = true;
                        force_new = true;
                    }
                    retries += 1;
                    body = again;
                }
                (Err(why), _) => {
                    let error = match why.explanation() {
                        Some(msg) => Error::with_cause(error.kind(), msg, error),
                        None => error,
                    };
                    return Err(after_fallback(fell_back, error));
                }
                (Ok(()), _) => return Err(after_fallback(fell_back, error)),
            }
        }
    }

    /// Whether to ask for the codings the client decodes (and then decode the answer): Go's
    /// rule for gzip, a request that states no `Accept-Encoding` (nor do the client's default
    /// headers) and no `Range` (a range of the compressed form would not decode), and is not
    /// HEAD.
    fn asks_encoding(&self, parts: &Parts, defaults: Option<&HeaderMap>) -> bool {
        self.inner.compression
            && parts.method != http::Method::HEAD
            && !parts.headers.contains_key(ACCEPT_ENCODING)
            && !parts.headers.contains_key(RANGE)
            && !defaults.is_some_and(|d| d.contains_key(ACCEPT_ENCODING))
    }

    /// One request on a stream of a shared HTTP/2 connection.
    async fn send_h2(
        &self,
        stream: H2Stream,
        parts: &Parts,
        body: Body,
        x: &H2Exchange<'_>,
    ) -> Result<Response<Body>, H2Failure> {
        let mut sender = stream.sender();
        let conn = stream.conn();
        match h2c::send(&mut sender, parts, body, x, stream).await {
            Ok(res) => Ok(res),
            Err(e) => {
                if e.conn_dead {
                    conn.retire();
                }
                Err(if e.unprocessed && !e.conn_dead {
                    H2Failure::Refused {
                        error: e.error,
                        conn,
                    }
                } else {
                    H2Failure::Failed {
                        error: e.error,
                        unprocessed: e.unprocessed,
                    }
                })
            }
        }
    }

    /// Opens the stream to the key's host (or its proxy): TCP through the dialer and the
    /// resolver, or the connector's stream. Refused attempts are retried with backoff while
    /// the retry budget allows.
    async fn dial_stream(
        &self,
        key: &ConnectKey,
        proxy: Option<&Proxy>,
        trace: Option<&dyn Trace>,
    ) -> Result<Link, Error> {
        let inner = &*self.inner;
        let (host, port) = match proxy {
            Some(p) => (&*p.host, p.port),
            None => (&*key.host, key.port),
        };
        let observe = trace.map(Observe);
        let events: &dyn DialEvents = match &observe {
            Some(o) => o,
            None => &NoEvents,
        };
        let mut attempt = 0;
        loop {
            let dialed = match &inner.connector {
                None => inner
                    .dialer
                    .dial_with(host, port, &*inner.resolver, events)
                    .await
                    .map(Link::Tcp),
                Some(connector) => {
                    let dst = match proxy.map(|p| p.kind) {
                        Some(ProxyKind::Https) => Destination::tls_proxy(host, port),
                        Some(_) => Destination::proxy(host, port),
                        None => Destination::new(key.scheme, host, port),
                    };
                    connect_within(&**connector, &dst, inner.dialer.connect_timeout).await
                }
            };
            // A failure to reach the proxy is the proxy's.
            let blame = |e: Error| match proxy {
                Some(_) => e.at_proxy(),
                None => e,
            };
            match dialed {
                Ok(link) => return Ok(link),
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                    return Err(blame(Error::with_cause(
                        Kind::ConnectTimeout,
                        "connect timed out",
                        e,
                    )))
                }
                Err(e) => {
                    if attempt < inner.dial_retry.max_retries
                        && retry::is_retryable_dial_error(&e)
                        && inner.budget.withdraw()
                    {
                        tokio::time::sleep(inner.dial_retry.backoff(attempt)).await;
                        attempt += 1;
                        continue;
                    }
                    return Err(blame(Error::with_cause(Kind::Connect, "dial failed", e)));
                }
            }
        }
    }

    /// Dials the key: its stream (through a proxy, to the proxy and then through it: see
    /// [`through_proxy`](Self::through_proxy)), then for https TLS (ALPN picks HTTP/2 or
    /// HTTP/1.1), then the HTTP/2 handshake when that is the protocol. TCP stays unboxed
    /// throughout (a SOCKS5 connection included); any other stream was boxed once by the
    /// connector's [`ConnectedIo`](super::ConnectedIo), TLS to an `https://` proxy is boxed
    /// once, and TLS over either is boxed again as the connection's stream.
    async fn dial(
        &self,
        key: &ConnectKey,
        proxy: Option<&Proxy>,
        trace: Option<&dyn Trace>,
        h1_only: bool,
    ) -> Result<Dialed, Error> {
        let inner = &*self.inner;
        let mut link = self.dial_stream(key, proxy, trace).await?;
        if let Some(proxy) = proxy {
            link = self.through_proxy(link, key, proxy, trace).await?;
        }
        let h2c = inner.http2_prior_knowledge && !h1_only && !proxy.is_some_and(Proxy::speaks_http);
        let (io, h2) = match key.scheme {
            Scheme::Http => (link.plain(), h2c),
            Scheme::Https => match link {
                Link::Tcp(tcp) => {
                    let (tls, h2) = self.tls(key, tcp, trace, h1_only).await?;
                    (MaybeTls::Tls(Box::new(tls)), h2)
                }
                Link::Other(io, fd) => {
                    let (tls, h2) = self.tls(key, io, trace, h1_only).await?;
                    (MaybeTls::Other(BoxedIo::new(tls), fd), h2)
                }
            },
        };
        if !h2 {
            return Ok(Dialed::H1(Conn::new(io)));
        }
        let local = io.local_addr();
        let (send, conn) = h2c::handshake(io, &inner.h2).await?;
        Ok(Dialed::H2(send, Box::new(conn), local))
    }

    /// Turns the stream to the proxy into what the key's requests are sent on:
    ///
    /// - SOCKS5: the handshake (within the connect timeout) makes it a connection to the
    ///   target; for `socks5://` the target is resolved here first (within the connect
    ///   timeout too) and its first address named.
    /// - HTTP(S): TLS to an `https://` proxy first (SNI and certificate for the proxy's host,
    ///   ALPN `http/1.1`); then for an https target a CONNECT tunnel (within the connect
    ///   timeout). Plain http needs nothing more: its requests go to the proxy in absolute
    ///   form.
    ///
    /// Every failure here is the proxy's ([`Error::is_proxy`]).
    async fn through_proxy(
        &self,
        link: Link,
        key: &ConnectKey,
        proxy: &Proxy,
        trace: Option<&dyn Trace>,
    ) -> Result<Link, Error> {
        let inner = &*self.inner;
        let timeout = inner.dialer.connect_timeout;
        let (host, port) = (&*key.host, key.port);
        match proxy.kind {
            ProxyKind::Socks5 { remote_dns } => {
                let target = match remote_dns {
                    true => socks5::Target::Name(host, port),
                    false => socks5::Target::Addr(self.resolve_first(host, port, trace).await?),
                };
                let auth = proxy
                    .socks_auth
                    .as_ref()
                    .map(|a| (&a.user[..], &a.password[..]));
                tunnel_start(trace, Tunnel::Socks5, key);
                let linked = match link {
                    Link::Tcp(mut tcp) => socks5::connect(&mut tcp, &target, auth, timeout)
                        .await
                        .map(|()| Link::Tcp(tcp)),
                    Link::Other(mut io, fd) => socks5::connect(&mut io, &target, auth, timeout)
                        .await
                        .map(|()| Link::Other(io, fd)),
                };
                tunnel_done(trace, linked)
            }
            ProxyKind::Http | ProxyKind::Https => {
                let link = match proxy.kind {
                    ProxyKind::Https => self.proxy_tls(link, proxy, trace).await?,
                    _ => link,
                };
                if key.scheme == Scheme::Http {
                    return Ok(link);
                }
                let auth = proxy.auth.as_ref();
                tunnel_start(trace, Tunnel::Connect, key);
                let linked = match link {
                    Link::Tcp(tcp) => super::tunnel::connect(tcp, host, port, auth, timeout)
                        .await
                        .map(Link::Tcp),
                    Link::Other(io, fd) => super::tunnel::connect(io, host, port, auth, timeout)
                        .await
                        .map(|io| Link::Other(io, fd)),
                };
                tunnel_done(trace, linked)
            }
        }
    }

    /// TLS to an `https://` proxy over the stream to it, boxed once; the socket's descriptor
    /// stays known for the pool's checks.
    async fn proxy_tls(
        &self,
        link: Link,
        proxy: &Proxy,
        trace: Option<&dyn Trace>,
    ) -> Result<Link, Error> {
        let inner = &*self.inner;
        let (config, timeout) = (inner.proxy_tls.clone(), inner.proxy_tls_handshake_timeout);
        let host = &*proxy.host;
        let peer = crate::tls::Peer::Proxy;
        if let Some(t) = trace {
            t.proxy_tls_handshake_start(host);
        }
        let tls = match link {
            Link::Tcp(tcp) => {
                let fd = tcp.as_raw_fd();
                let tls = crate::tls::connect(config, timeout, host, tcp, peer).await;
                tls.map(|s| Link::Other(BoxedIo::new(s), Some(fd)))
            }
            Link::Other(io, fd) => {
                let tls = crate::tls::connect(config, timeout, host, io, peer).await;
                tls.map(|s| Link::Other(BoxedIo::new(s), fd))
            }
        };
        let tls = tls.map_err(Error::at_proxy);
        if let Some(t) = trace {
            t.proxy_tls_handshake_done(tls.as_ref().err());
        }
        tls
    }

    /// The address a `socks5://` proxy is asked to connect to: an IP literal as it is, a name
    /// through the transport's resolver (overrides included) within the connect timeout, its
    /// first address (the proxy connects, so there is no Happy Eyeballs to run here).
    async fn resolve_first(
        &self,
        host: &str,
        port: u16,
        trace: Option<&dyn Trace>,
    ) -> Result<SocketAddr, Error> {
        if let Ok(ip) = host.parse::<std::net::IpAddr>() {
            return Ok(SocketAddr::new(ip, port));
        }
        let inner = &*self.inner;
        let observe = trace.map(Observe);
        let events: &dyn DialEvents = match &observe {
            Some(o) => o,
            None => &NoEvents,
        };
        events.dns_start(host);
        let found = tokio::time::timeout(
            inner.dialer.connect_timeout,
            inner.resolver.resolve(host, port),
        )
        .await;
        let found = match found {
            Ok(Ok(addrs)) if !addrs.is_empty() => Ok(addrs),
            Ok(Ok(_)) => Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("no address for {host}"),
            )),
            Ok(Err(e)) => Err(e),
            Err(_) => {
                let e = std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("resolving {host} timed out"),
                );
                events.dns_done(&[], Some(&e));
                return Err(Error::with_cause(
                    Kind::ConnectTimeout,
                    "resolving the target for the SOCKS5 proxy timed out",
                    e,
                ));
            }
        };
        match found {
            Ok(addrs) => {
                events.dns_done(&addrs, None);
                Ok(addrs[0])
            }
            Err(e) => {
                events.dns_done(&[], Some(&e));
                Err(Error::with_cause(
                    Kind::Connect,
                    "resolving the target for the SOCKS5 proxy failed",
                    e,
                ))
            }
        }
    }

    /// The TLS handshake with the key's host over `io`, reported to the trace; whether ALPN
    /// chose HTTP/2 (never offered when `h1_only`).
    async fn tls<T>(
        &self,
        key: &ConnectKey,
        io: T,
        trace: Option<&dyn Trace>,
        h1_only: bool,
    ) -> Result<(tokio_rustls::client::TlsStream<T>, bool), Error>
    where
        T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        let inner = &*self.inner;
        if let Some(t) = trace {
            t.tls_handshake_start();
        }
        let config = if h1_only && inner.http2 {
            // A clone shares the session cache: resumption works across both.
            let h1 = inner.tls_h1.get_or_init(|| {
                let mut c = (*inner.tls).clone();
                c.alpn_protocols = vec![crate::tls::ALPN_HTTP11.to_vec()];
                Arc::new(c)
            });
            h1.clone()
        } else {
            inner.tls.clone()
        };
        let tls = crate::tls::connect(
            config,
            inner.tls_handshake_timeout,
            &key.host,
            io,
            crate::tls::Peer::Server,
        )
        .await;
        let tls = match tls {
            Ok(s) => s,
            Err(e) => {
                if let Some(t) = trace {
                    t.tls_handshake_done(None, Some(&e));
                }
                return Err(e);
            }
        };
        let alpn = tls.get_ref().1.alpn_protocol();
        if let Some(t) = trace {
            t.tls_handshake_done(alpn, None);
        }
        let h2 = alpn == Some(crate::tls::ALPN_H2);
        Ok((tls, h2))
    }
}

/// Whether `parts` is an HTTP/1.1 upgrade (not a `CONNECT`, which HTTP/2 carries) that is not
/// also an extended CONNECT (which goes on HTTP/2 where the connection allows it).
fn asks_http11_upgrade(parts: &Parts) -> bool {
    parts.method != http::Method::CONNECT
        && crate::upgrade::is_upgrade_request(&parts.method, &parts.headers)
        && parts.extensions.get::<h2c::ExtendedConnect>().is_none()
}

/// An error of the HTTP/1.1 try that an extended CONNECT fell back to (`fell_back`) says why
/// HTTP/1.1 was tried, which its failure alone would not; a total timeout stays one.
fn after_fallback(fell_back: bool, error: Error) -> Error {
    if !fell_back || error.kind() == Kind::TotalTimeout {
        return error;
    }
    Error::with_cause(
        Kind::Upgrade,
        "the HTTP/2 server does not allow extended CONNECT (RFC 8441: no \
         SETTINGS_ENABLE_CONNECT_PROTOCOL), and the upgrade over HTTP/1.1 tried instead failed",
        error,
    )
}

/// Dial events nobody listens to.
struct NoEvents;
impl DialEvents for NoEvents {}

/// One call of a connector, within the connect timeout (zero fails at once, as a TCP dial).
async fn connect_within(
    connector: &dyn Connect,
    dst: &Destination,
    timeout: Duration,
) -> std::io::Result<Link> {
    let timed_out = |why: &str| {
        std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("connect to {dst} {why}"),
        )
    };
    if timeout.is_zero() {
        return Err(timed_out("failed: the connect timeout is zero"));
    }
    match tokio::time::timeout(timeout, connector.connect(dst)).await {
        Ok(Ok(io)) => Ok(io.0),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(timed_out("timed out")),
    }
}

/// The `User-Agent` sent when the caller sets none.
pub(crate) fn default_user_agent() -> HeaderValue {
    HeaderValue::from_static(concat!("nethttp/", env!("CARGO_PKG_VERSION")))
}

/// Tells the trace a tunnel to the key's target starts.
fn tunnel_start(trace: Option<&dyn Trace>, how: Tunnel, key: &ConnectKey) {
    if let Some(t) = trace {
        let target = crate::client::Destination::new(key.scheme, &key.host, key.port);
        t.proxy_tunnel_start(how, &target.to_string());
    }
}

/// Tells the trace how the tunnel ended, and passes the result on.
fn tunnel_done(trace: Option<&dyn Trace>, linked: Result<Link, Error>) -> Result<Link, Error> {
    if let Some(t) = trace {
        t.proxy_tunnel_done(linked.as_ref().err());
    }
    linked
}
