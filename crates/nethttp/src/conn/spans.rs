//! `tracing` spans for the server: one per connection (`http.connection`: the client's
//! address, the protocol, TLS) and one per request under it (`http.request`: method, target,
//! protocol version, the mux's route pattern, the response status), named and filled after
//! OpenTelemetry's HTTP semantic conventions so an OpenTelemetry layer exports them as they
//! are. DEBUG level, as tower-http's `TraceLayer`: with no subscriber interested, a span costs
//! one check of a cached interest, and the connection keeps no span at all.

use std::net::SocketAddr;

use http::{Method, StatusCode, Uri, Version};
use tracing::field::Empty;
use tracing::Span;

/// The connection's span, or `None` when no subscriber wants it.
pub(crate) fn connection(remote: SocketAddr) -> Option<Span> {
    if !tracing::enabled!(target: "nethttp::connection", tracing::Level::DEBUG) {
        return None;
    }
    let span = tracing::debug_span!(
        target: "nethttp::connection",
        "http.connection",
        "client.address" = %remote.ip(),
        "client.port" = remote.port(),
        "network.protocol.name" = "http",
        "network.protocol.version" = Empty,
        tls = Empty,
    );
    (!span.is_disabled()).then_some(span)
}

/// Records on the connection's span the protocol it turned out to speak.
pub(crate) fn protocol(conn: Option<&Span>, http2: bool, tls: bool) {
    if let Some(span) = conn {
        span.record("network.protocol.version", if http2 { "2" } else { "1.1" });
        span.record("tls", tls);
    }
}

/// A request's span, a child of its connection's; `None` unless a subscriber wants it.
/// (Asked first with `enabled!`: with tracing's `log` feature on, which many programs have
/// through some dependency, the span macro would otherwise build a disabled span that still
/// carries its metadata and checks the `log` crate on every enter, exit and record. And an
/// `Option` rather than `Span::none()`: an untraced request then builds, enters and drops
/// nothing.)
#[inline]
pub(crate) fn request(
    conn: Option<&Span>,
    method: &Method,
    uri: &Uri,
    version: Version,
) -> Option<Span> {
    if !tracing::enabled!(target: "nethttp::request", tracing::Level::DEBUG) {
        return None;
    }
    Some(traced_request(conn, method, uri, version))
}

#[cold]
#[inline(never)]
fn traced_request(conn: Option<&Span>, method: &Method, uri: &Uri, version: Version) -> Span {
    let parent = conn.and_then(Span::id);
    tracing::debug_span!(
        target: "nethttp::request",
        parent: parent,
        "http.request",
        "http.request.method" = %method,
        "url.path" = uri.path(),
        "url.query" = uri.query(),
        "network.protocol.version" = ?version,
        "http.route" = Empty,
        "http.response.status_code" = Empty,
    )
}

/// Records the response status on the request's span, if it has one.
#[inline]
pub(crate) fn status(span: Option<&Span>, status: StatusCode) {
    if let Some(span) = span {
        span.record("http.response.status_code", status.as_u16());
    }
}

/// Records the mux's matched pattern on the current request's span, if one is traced.
#[inline]
pub(crate) fn route(pattern: &str) {
    if tracing::level_enabled!(tracing::Level::DEBUG) {
        let span = Span::current();
        if !span.is_disabled() {
            span.record("http.route", pattern);
        }
    }
}
