//! Per-request trace hooks, like Go's `httptrace`: implement [`Trace`] and attach it to a
//! request ([`crate::client::RequestBuilder::trace`], or a [`TraceHook`] in the request's
//! extensions) to see connection reuse and the timing of each phase.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::pool::ConnectKey;
use crate::error::Error;
use crate::net::DialEvents;
use crate::proto::events::ExchangeEvents;

/// What a request got from the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GotConn {
    /// The connection carried an earlier request.
    pub reused: bool,
    /// It was taken from the idle list (rather than handed over by a finishing request or
    /// freshly dialed).
    pub was_idle: bool,
    /// How long it sat idle, when `was_idle`.
    pub idle_time: Duration,
    /// The connection's local address.
    pub local_addr: Option<SocketAddr>,
    /// The connection speaks HTTP/2 (and may carry other requests at the same time).
    pub http2: bool,
    /// On HTTP/2: requests in flight on the connection, this one included.
    pub streams_in_flight: usize,
}

/// How a new connection goes through its proxy to the target, in
/// [`Trace::proxy_tunnel_start`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Tunnel {
    /// The SOCKS5 handshake (RFC 1928), credentials included (RFC 1929).
    Socks5,
    /// An HTTP `CONNECT` to an `http://` or `https://` proxy (an https target).
    Connect,
}

/// Callbacks at each phase of a request. Every method does nothing by default; they run on the
/// request's task and should return quickly. Retries and redirects call them again.
pub trait Trace: Send + Sync + 'static {
    /// A connection for `key` is about to be asked for.
    fn get_conn(&self, _key: &ConnectKey) {}
    /// A connection was obtained.
    fn got_conn(&self, _info: &GotConn) {}
    /// Name resolution starts.
    fn dns_start(&self, _host: &str) {}
    /// Name resolution finished.
    fn dns_done(&self, _addrs: &[SocketAddr], _err: Option<&io::Error>) {}
    /// A TCP connect starts.
    fn connect_start(&self, _addr: SocketAddr) {}
    /// A TCP connect finished; `err` is `None` on success.
    fn connect_done(&self, _addr: SocketAddr, _err: Option<&io::Error>) {}
    /// A TLS handshake starts (https).
    fn tls_handshake_start(&self) {}
    /// A TLS handshake finished: the protocol ALPN chose (`h2`, `http/1.1`, or none), or
    /// the error.
    fn tls_handshake_done(&self, _alpn: Option<&[u8]>, _err: Option<&Error>) {}
    /// A TLS handshake with an `https://` proxy starts (before any tunnel through it; the
    /// target's own handshake, if any, is reported by `tls_handshake_*` after the tunnel).
    fn proxy_tls_handshake_start(&self, _proxy_host: &str) {}
    /// The handshake with the proxy finished, or failed.
    fn proxy_tls_handshake_done(&self, _err: Option<&Error>) {}
    /// The tunnel to `target` (`host:port`) through the proxy starts: a SOCKS5 handshake or
    /// an HTTP `CONNECT`. A plain http request through an HTTP proxy has no tunnel.
    fn proxy_tunnel_start(&self, _how: Tunnel, _target: &str) {}
    /// The proxy has connected the tunnel, or refused or failed it.
    fn proxy_tunnel_done(&self, _err: Option<&Error>) {}
    /// The request (head and body) was written, or writing failed.
    fn wrote_request(&self, _err: Option<&Error>) {}
    /// The first byte of the response arrived.
    fn got_first_response_byte(&self) {}
    /// An interim (1xx) response arrived before the final one (`100 Continue` included;
    /// a `101` to an upgrade is the final one), as Go's `Got1xxResponse`. A reverse proxy
    /// passes `103 Early Hints` on from here.
    fn got_1xx_response(&self, _status: http::StatusCode, _headers: &http::HeaderMap) {}
    /// A redirect with `status` is being followed to `next`; the phases above start again.
    fn redirect(&self, _status: http::StatusCode, _next: &http::Uri) {}
}

/// A [`Trace`] carried in a request's extensions.
#[derive(Clone)]
pub struct TraceHook(pub Arc<dyn Trace>);

impl std::fmt::Debug for TraceHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TraceHook")
    }
}

/// Lets the lower layers report to a [`Trace`] without knowing it.
pub(crate) struct Observe<'a>(pub &'a dyn Trace);

impl DialEvents for Observe<'_> {
    fn dns_start(&self, host: &str) {
        self.0.dns_start(host)
    }
    fn dns_done(&self, addrs: &[SocketAddr], err: Option<&io::Error>) {
        self.0.dns_done(addrs, err)
    }
    fn connect_start(&self, addr: SocketAddr) {
        self.0.connect_start(addr)
    }
    fn connect_done(&self, addr: SocketAddr, err: Option<&io::Error>) {
        self.0.connect_done(addr, err)
    }
}

impl ExchangeEvents for Observe<'_> {
    fn wrote_request(&self, err: Option<&Error>) {
        self.0.wrote_request(err)
    }
    fn got_first_response_byte(&self) {
        self.0.got_first_response_byte()
    }
    fn got_1xx_response(&self, status: http::StatusCode, headers: &http::HeaderMap) {
        self.0.got_1xx_response(status, headers)
    }
}
