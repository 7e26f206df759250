//! The client's dial seam for custom transports (Go's `Transport.DialContext`, hyper-util's
//! connectors): a [`Connect`] hands the transport a byte stream for a [`Destination`], and the
//! transport runs over it what it runs over TCP — the CONNECT tunnel to a proxy, TLS with ALPN,
//! HTTP/2 or HTTP/1.1. The stream is kept as [`ConnectedIo`]: a TCP socket stays a TCP socket
//! (unboxed, with its peeks), anything else is boxed once.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, UnixStream};

use super::pool::Scheme;
use crate::proto::io::{BoxedIo, Exclusive};
use crate::tls::MaybeTls;

/// Where a connection goes: the request's scheme, host and port, or the proxy's when the
/// request goes through one. Over a stream to a proxy the transport speaks the proxy's
/// protocol itself: plain HTTP (https requests through a CONNECT tunnel), TLS to an
/// `https://` proxy (the scheme is then `Https`), or the SOCKS5 handshake.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Destination {
    scheme: Scheme,
    host: Box<str>,
    port: u16,
    proxy: bool,
}

impl Destination {
    /// The destination of a request to `scheme://host:port` (the transport makes these; a
    /// connector's own tests may too). `host` as a URL gives it, lowercase, an IPv6 literal
    /// without brackets.
    pub fn new(scheme: Scheme, host: &str, port: u16) -> Destination {
        Destination {
            scheme,
            host: host.into(),
            port,
            proxy: false,
        }
    }

    /// The destination of a connection to the proxy `host:port`, spoken to without TLS (an
    /// `http://` or SOCKS5 proxy).
    pub fn proxy(host: &str, port: u16) -> Destination {
        Destination {
            scheme: Scheme::Http,
            host: host.into(),
            port,
            proxy: true,
        }
    }

    /// The destination of a connection to an `https://` proxy: the transport runs TLS to it.
    pub(crate) fn tls_proxy(host: &str, port: u16) -> Destination {
        Destination {
            scheme: Scheme::Https,
            ..Destination::proxy(host, port)
        }
    }

    /// The scheme the connection serves: `Https` when TLS will run over it first (the
    /// transport does the TLS: to the URL's host, or to an `https://` proxy), `Http`
    /// otherwise.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The host: the URL's (lowercase, an IPv6 literal without brackets), or the proxy's.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port: the URL's (the scheme's default when it has none), or the proxy's.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether this is the proxy the request goes through, rather than its target.
    pub fn is_proxy(&self) -> bool {
        self.proxy
    }
}

/// `host:port`, with brackets around an IPv6 literal.
impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// The future a [`Connect`] returns.
pub type Connecting<'a> = Pin<Box<dyn Future<Output = io::Result<ConnectedIo>> + Send + 'a>>;

/// Opens the byte stream of each new connection, in place of the TCP dialer (Go's
/// `Transport.DialContext`): an in-memory pipe, a socket of another family, a tunnel of the
/// caller's. The transport runs over it what it runs over TCP: the CONNECT tunnel when an
/// https request goes through a proxy, TLS (SNI and certificate checked against the URL's
/// host), ALPN and HTTP/2 or HTTP/1.1. It is called once per new connection, never for a
/// request that reuses a pooled one.
///
/// The connect timeout bounds each call, and an error (or the timeout) fails the request with
/// [`ErrorKind::Connect`](crate::ErrorKind::Connect) or
/// [`ErrorKind::ConnectTimeout`](crate::ErrorKind::ConnectTimeout) (an `io::Error` of kind
/// `TimedOut` counts as a timeout). A refused or reset connect is retried as a TCP dial is
/// ([`DialRetry`](super::DialRetry)). The resolver is not used for the stream: the connector
/// gets the name (only the target of a `socks5://` proxy is resolved by the transport, which
/// names the address to the proxy).
///
/// A stream that is not a `TcpStream` lacks what only a socket the transport knows gives:
/// see [`ConnectedIo::new`].
///
/// ```
/// use nethttp::client::{Connect, ConnectedIo, Connecting, Destination};
///
/// /// Every connection is a TCP connection to one gateway, whatever the URL says.
/// struct Gateway(std::net::SocketAddr);
///
/// impl Connect for Gateway {
///     fn connect<'a>(&'a self, _dst: &'a Destination) -> Connecting<'a> {
///         Box::pin(async move {
///             let tcp = tokio::net::TcpStream::connect(self.0).await?;
///             Ok(ConnectedIo::new(tcp))
///         })
///     }
/// }
///
/// let client = nethttp::Client::builder()
///     .transport(|t| t.connector(Gateway(([127, 0, 0, 1], 8080).into())))
///     .build();
/// # let _ = client;
/// ```
pub trait Connect: Send + Sync {
    /// Opens a stream to `dst`.
    fn connect<'a>(&'a self, dst: &'a Destination) -> Connecting<'a>;
}

impl<C: Connect + ?Sized> Connect for Arc<C> {
    fn connect<'a>(&'a self, dst: &'a Destination) -> Connecting<'a> {
        (**self).connect(dst)
    }
}

impl<C: Connect + ?Sized> Connect for Box<C> {
    fn connect<'a>(&'a self, dst: &'a Destination) -> Connecting<'a> {
        (**self).connect(dst)
    }
}

/// A stream a [`Connect`] opened, as the transport keeps it.
pub struct ConnectedIo(pub(crate) Link);

/// What the transport dialed, before TLS: TCP unboxed, anything else boxed once.
pub(crate) enum Link {
    Tcp(TcpStream),
    /// With the descriptor of the socket, when it is one (a Unix socket).
    Other(BoxedIo, Option<RawFd>),
}

impl ConnectedIo {
    /// Any stream. A `tokio::net::TcpStream` is used exactly as one the transport dialed
    /// itself (unboxed; idle connections checked with peeks), though without the dialer's
    /// socket options: it is the connector's socket to set up. Anything else is boxed once
    /// and checked before reuse by reading: an idle connection the server closed, or sent
    /// something on, is seen once the runtime has reported it, and then not reused.
    ///
    /// What a TCP socket gives and another stream does not: the kernel check made before
    /// a request that could not be sent again (a POST, a streamed body) on an idle connection,
    /// which sees a close that has arrived but not been reported yet (a
    /// `tokio::net::UnixStream` is asked too); and the local address in trace hooks. A
    /// request caught by such a close anyway is resent by the usual rule (idempotent, body in
    /// memory, no byte of a response received).
    pub fn new<T>(io: T) -> ConnectedIo
    where
        T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let mut slot = Some(io);
        let any = &mut slot as &mut dyn Any;
        if let Some(tcp) = any
            .downcast_mut::<Option<TcpStream>>()
            .and_then(Option::take)
        {
            return ConnectedIo(Link::Tcp(tcp));
        }
        if let Some(unix) = any
            .downcast_mut::<Option<UnixStream>>()
            .and_then(Option::take)
        {
            let fd = unix.as_raw_fd();
            return ConnectedIo(Link::Other(BoxedIo::new(unix), Some(fd)));
        }
        match slot {
            Some(io) => ConnectedIo(Link::Other(BoxedIo::new(Exclusive::new(io)), None)),
            None => unreachable!("the stream was taken only when it was returned"),
        }
    }
}

impl fmt::Debug for ConnectedIo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Link::Tcp(tcp) => f.debug_tuple("ConnectedIo").field(tcp).finish(),
            Link::Other(_, fd) => f
                .debug_struct("ConnectedIo")
                .field("boxed", &true)
                .field("fd", fd)
                .finish(),
        }
    }
}

impl Link {
    /// The connection's stream when no TLS runs over it.
    pub(crate) fn plain(self) -> MaybeTls {
        match self {
            Link::Tcp(tcp) => MaybeTls::Tcp(tcp),
            Link::Other(io, fd) => MaybeTls::Other(io, fd),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tcp_stays_tcp_and_a_unix_socket_keeps_its_descriptor() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let tcp = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        assert!(matches!(ConnectedIo::new(tcp).0, Link::Tcp(_)));
        let (a, _b) = UnixStream::pair().unwrap();
        let fd = a.as_raw_fd();
        assert!(matches!(ConnectedIo::new(a).0, Link::Other(_, Some(f)) if f == fd));
        let (c, _d) = tokio::io::duplex(64);
        assert!(matches!(ConnectedIo::new(c).0, Link::Other(_, None)));
    }

    #[test]
    fn destinations_print_as_authorities() {
        let d = Destination::new(Scheme::Https, "::1", 8443);
        assert_eq!(d.to_string(), "[::1]:8443");
        let d = Destination::proxy("proxy.test", 3128);
        assert_eq!(
            (d.to_string().as_str(), d.is_proxy()),
            ("proxy.test:3128", true)
        );
        assert_eq!(d.scheme(), Scheme::Http);
        // An https:// proxy: the transport runs TLS to it over the stream.
        let d = Destination::tls_proxy("proxy.test", 443);
        assert_eq!((d.scheme(), d.is_proxy()), (Scheme::Https, true));
    }
}
