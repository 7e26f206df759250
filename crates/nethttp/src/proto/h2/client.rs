//! The client side of HTTP/2: the handshake on a fresh connection, and one request sent as a
//! stream on a shared connection — head, body (inline when in memory, from a task when
//! streamed, so the response can arrive while the upload goes on), response head within the
//! timeouts — with failures sorted for the retry rules: a stream the server refused or
//! dropped with GOAWAY unprocessed (RFC 9113 §8.7) can be resent anywhere. A request marked
//! [`ExtendedConnect`] goes out as RFC 8441's extended `CONNECT` instead, and a `2xx` answer
//! hands its stream over as the response's upgrade (WebSocket over HTTP/2).

use std::future::{poll_fn, Future as _};
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use h2::client::{Connection, SendRequest};
use h2::Reason;
use http::header::{HeaderMap, HeaderName, HeaderValue, HOST};
use http::request::Parts;
use http::{Method, Request, Response, Uri, Version};
use http_body::Body as _;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;

use super::budget::SendBudget;
use super::preface::PrefaceCheck;
use super::recv::{content_length, RecvBody};
use super::send;
use crate::body::Body;
use crate::error::{Error, Kind};
use crate::proto::events::ExchangeEvents;
use crate::proto::timeout::lazy_timeout;
use crate::upgrade::{Pending, Upgraded};

/// Marks an HTTP/1.1 upgrade request (`GET` with `Connection: upgrade`, `Upgrade:
/// <protocol>`) with its HTTP/2 form, RFC 8441's extended `CONNECT` (`:protocol`), for when
/// it lands on an HTTP/2 connection: sent there as `CONNECT` with `:protocol` set to
/// `protocol`, without the `h1_only` fields (the WebSocket key, which RFC 8441 §5 leaves
/// out), and only once the server's SETTINGS enabled it. A `2xx` answer is the upgrade; on
/// HTTP/1.1 the mark is ignored.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ExtendedConnect {
    pub protocol: &'static str,
    pub h1_only: &'static [HeaderName],
}

/// The WebSocket opening request's HTTP/2 form (RFC 8441 §4-5): `:protocol: websocket`, and
/// no key (`Sec-WebSocket-Key` is for HTTP/1.1 only).
pub(crate) const WEBSOCKET: ExtendedConnect = ExtendedConnect {
    protocol: "websocket",
    h1_only: &[http::header::SEC_WEBSOCKET_KEY],
};

/// HTTP/2 settings of a client's connections.
#[derive(Debug, Clone)]
pub(crate) struct H2ClientConfig {
    pub initial_stream_window: u32,
    pub initial_conn_window: u32,
    pub max_frame_size: u32,
    pub max_header_list_size: u32,
    pub max_send_buffer: usize,
}

/// Most of one streamed upload queued inside `h2` (payload and per-frame bookkeeping): a
/// server that grants large windows and does not read cannot make an upload hold more.
const UPLOAD_SEND_BUFFER: usize = 1024 * 1024;

/// Time allowed for the server's SETTINGS after the preface.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A client connection as `h2` drives it: over I/O that checks the server's preface.
pub(crate) type ClientConnection<T> = Connection<PrefaceCheck<T>, Bytes>;

/// Opens HTTP/2 on a fresh connection. The returned `Connection` must be driven (polled) by
/// a task for any request to make progress.
pub(crate) async fn handshake<T>(
    io: T,
    cfg: &H2ClientConfig,
) -> Result<(SendRequest<Bytes>, ClientConnection<T>), Error>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut b = h2::client::Builder::new();
    b.initial_window_size(cfg.initial_stream_window)
        .initial_connection_window_size(cfg.initial_conn_window)
        .max_frame_size(cfg.max_frame_size)
        .max_header_list_size(cfg.max_header_list_size)
        .max_send_buffer_size(cfg.max_send_buffer)
        // Until the server's SETTINGS arrive its stream limit is unknown; assume the 100 RFC
        // 9113 §6.5.2 recommends as a floor, rather than no limit, so a burst of requests on
        // a new connection is not refused wholesale.
        .initial_max_send_streams(100)
        .enable_push(false);
    // RFC 9113 §3.4: the server's first frame must be SETTINGS; h2 does not check it.
    let io = PrefaceCheck::new(io);
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, b.handshake(io)).await {
        Ok(Ok(pair)) => Ok(pair),
        Ok(Err(e)) => Err(super::error("HTTP/2 handshake failed", e)),
        Err(_) => Err(Error::new(Kind::Connect, "HTTP/2 handshake timed out")),
    }
}

/// Per-request inputs of an HTTP/2 exchange.
pub(crate) struct H2Exchange<'a> {
    /// Longest wait for a free stream when the connection is at the server's limit.
    pub stream_wait_timeout: Duration,
    pub response_header_timeout: Duration,
    pub read_timeout: Duration,
    pub write_timeout: Duration,
    pub deadline: Option<Instant>,
    pub defaults: Option<&'a HeaderMap>,
    /// The `Accept-Encoding` value to send, if any (the transport decodes the answer).
    pub accept_encoding: Option<&'a HeaderValue>,
    pub events: Option<&'a dyn ExchangeEvents>,
}

/// A failed HTTP/2 exchange.
#[derive(Debug)]
pub(crate) struct H2SendError {
    pub error: Error,
    /// The server certainly did not process the request: the stream never opened, was
    /// refused (REFUSED_STREAM), or lay beyond a GOAWAY's last stream. Safe to resend,
    /// whatever the method.
    pub unprocessed: bool,
    /// The connection can take no more streams.
    pub conn_dead: bool,
}

impl H2SendError {
    /// The request failed before anything of it was queued for the socket (`conn_dead`: the
    /// connection can take no stream). If the connection is gone, nothing was processed and
    /// the request may go on another one — unless the server does not speak HTTP/2 at all
    /// (its first frame was no SETTINGS, RFC 9113 §3.4): another connection would end the
    /// same way, so that failure is the answer.
    fn not_sent(msg: &'static str, e: h2::Error, conn_dead: bool) -> Self {
        let not_h2 = e.get_io().is_some_and(super::preface::is_invalid_preface);
        let mut err = H2SendError::from_h2(msg, e);
        err.conn_dead |= conn_dead;
        err.unprocessed = (err.unprocessed || err.conn_dead) && !not_h2;
        err
    }

    fn from_h2(msg: &'static str, e: h2::Error) -> Self {
        let refused = e.reason() == Some(Reason::REFUSED_STREAM) && e.is_remote();
        let beyond_goaway = e.is_go_away() && e.is_remote();
        let conn_dead = e.is_go_away() || e.is_io();
        H2SendError {
            unprocessed: refused || beyond_goaway,
            conn_dead,
            error: super::error(msg, e),
        }
    }
}

/// Sends one request on `conn` and waits for the response head; the body streams. `guard`
/// lives as long as the response body, or the upgraded stream of an extended `CONNECT` (the
/// pool's stream accounting).
pub(crate) async fn send<G: Send + Sync + Unpin + 'static>(
    conn: &mut SendRequest<Bytes>,
    parts: &Parts,
    mut body: Body,
    x: &H2Exchange<'_>,
    guard: G,
) -> Result<Response<Body>, H2SendError> {
    // Waits while the connection is at the server's MAX_CONCURRENT_STREAMS (the timer only
    // when it is).
    let ready = poll_fn(|cx| conn.poll_ready(cx));
    match lazy_timeout(ready, || Instant::now() + x.stream_wait_timeout).await {
        Some(Ok(())) => {}
        Some(Err(e)) => {
            return Err(H2SendError::not_sent(
                "HTTP/2 connection is closed",
                e,
                true,
            ))
        }
        None => {
            return Err(H2SendError {
                error: Error::new(
                    Kind::PoolTimeout,
                    "timed out waiting for a free HTTP/2 stream (the server's limit was reached)",
                ),
                unprocessed: false,
                conn_dead: false,
            })
        }
    }
    let extended = parts.extensions.get::<ExtendedConnect>().copied();
    // RFC 9113 §8.5: a CONNECT stream is the tunnel, as an extended CONNECT's is (h2 leaves
    // out `:scheme` and `:path` for it).
    let tunnel = extended.is_some() || parts.method == Method::CONNECT;
    let mut head = request_head(
        parts,
        x.defaults,
        x.accept_encoding.filter(|_| extended.is_none()),
    )
    .map_err(|error| H2SendError {
        error,
        unprocessed: false,
        conn_dead: false,
    })?;
    if let Some(ext) = extended {
        // RFC 8441 §4: the method is CONNECT, `:protocol` names the protocol, `:scheme` and
        // `:path` stay as for any request. The stream is the tunnel: no body, no END_STREAM.
        *head.method_mut() = Method::CONNECT;
        head.extensions_mut()
            .insert(h2::ext::Protocol::from_static(ext.protocol));
        for name in ext.h1_only {
            head.headers_mut().remove(name);
        }
        body = Body::empty();
    }
    if tunnel {
        body = Body::empty();
    }
    let full = body.take_full();
    let eos = !tunnel
        && match &full {
            Some(b) => b.is_empty(),
            None => body.is_end_stream(),
        };
    let (response, mut stream) = conn.send_request(head, eos).map_err(|e| {
        // `send_request` fails before anything is queued for the socket.
        let err = H2SendError::not_sent("sending the request failed", e, false);
        if let Some(ev) = x.events {
            ev.wrote_request(Some(&err.error));
        }
        err
    })?;
    // A CONNECT (extended or not) keeps its send side for the tunnel.
    let mut tunnel_send = None;
    if tunnel {
        tunnel_send = Some(stream);
    } else if !eos {
        match full {
            // In memory: queued at once; h2 sends it as the server's window opens.
            Some(data) => {
                if let Err(e) = stream.send_data(data, true) {
                    return Err(H2SendError::from_h2("sending the request body failed", e));
                }
            }
            // Streamed: a task feeds it, so the response can arrive meanwhile.
            None => {
                let write_timeout = x.write_timeout;
                // A server that grants large windows and never reads holds at most this much
                // of the upload queued (the caller decides how many uploads run at once).
                let budget = SendBudget::new(UPLOAD_SEND_BUFFER);
                tokio::spawn(async move {
                    if let Err(e) = send::pipe(body, &mut stream, &budget, write_timeout).await {
                        tracing::debug!(error = ?e, "request body upload stopped");
                    }
                });
            }
        }
    }
    // The head and any in-memory body are queued on the connection (a streamed body goes on
    // in its task): as far as this request can tell, it is written.
    if let Some(ev) = x.events {
        ev.wrote_request(None);
    }
    let wait = x.deadline.map_or(x.response_header_timeout, |d| {
        x.response_header_timeout
            .min(d.saturating_duration_since(Instant::now()))
    });
    // Interim (1xx) responses are reported to a trace that listens; h2 delivers them before
    // the final head (RFC 9113 §8.1).
    let mut response = response;
    let response = poll_fn(|cx| {
        if let Some(ev) = x.events {
            while let Poll::Ready(Some(Ok(info))) = response.poll_informational(cx) {
                ev.got_1xx_response(info.status(), info.headers());
            }
        }
        Pin::new(&mut response).poll(cx)
    });
    let resp = match tokio::time::timeout(wait, response).await {
        Ok(Ok(resp)) => resp,
        Ok(Err(e)) => return Err(H2SendError::from_h2("reading the response failed", e)),
        Err(_) => {
            let total = x.deadline.is_some_and(|d| d <= Instant::now());
            return Err(H2SendError {
                error: if total {
                    Error::new(Kind::TotalTimeout, "request timed out")
                } else {
                    Error::new(
                        Kind::ResponseHeaderTimeout,
                        "timed out waiting for the response head",
                    )
                },
                unprocessed: false,
                conn_dead: false,
            });
        }
    };
    if let Some(ev) = x.events {
        ev.got_first_response_byte();
    }
    let (mut parts, recv) = resp.into_parts();
    if let Some(send) = tunnel_send.filter(|_| parts.status.is_success()) {
        // The stream is now the upgraded connection; `guard` keeps it counted on its
        // connection (which stays open for it) until the upgraded stream is dropped.
        let (pending, on_upgrade) = Pending::new();
        let (read, write) = tokio::io::split(super::tunnel::Tunnel::new(recv, send));
        let upgraded = Upgraded::new(
            Bytes::new(),
            Box::new(read),
            Box::new(write),
            Some(Box::new(guard)),
        );
        if pending.fulfil(upgraded).is_ok() {
            parts.extensions.insert(on_upgrade);
        }
        return Ok(Response::from_parts(parts, Body::empty()));
    }
    let length = content_length(&parts.headers);
    let body = if recv.is_end_stream() {
        drop(guard);
        Body::empty()
    } else {
        Body::from_incoming(
            RecvBody::new(recv, length, None, guard).with_timeouts(x.read_timeout, x.deadline),
        )
    };
    Ok(Response::from_parts(parts, body))
}

/// The request head as HTTP/2 carries it: an absolute URI (its authority becomes
/// `:authority`, RFC 9113 §8.3.1), no `Host` (folded into the authority), no connection
/// fields, and the client's default headers where the request has none.
fn request_head(
    parts: &Parts,
    defaults: Option<&HeaderMap>,
    accept_encoding: Option<&HeaderValue>,
) -> Result<Request<()>, Error> {
    let mut headers = parts.headers.clone();
    let host = headers.remove(HOST);
    send::strip_connection_headers(&mut headers);
    if let Some(defaults) = defaults {
        for (name, value) in defaults {
            if !headers.contains_key(name) {
                headers.insert(name.clone(), value.clone());
            }
        }
    }
    if let Some(codings) = accept_encoding {
        headers.insert(http::header::ACCEPT_ENCODING, codings.clone());
    }
    // A plain CONNECT names its target in `:authority` (RFC 9113 §8.5): the `Host` the
    // caller set, as the HTTP/1.1 client puts it in the request line.
    let plain_connect =
        parts.method == Method::CONNECT && parts.extensions.get::<ExtendedConnect>().is_none();
    let uri = match (parts.uri.authority(), host) {
        (_, Some(host)) if plain_connect => with_authority(&parts.uri, &host)?,
        (Some(_), _) => parts.uri.clone(),
        (None, Some(host)) => with_authority(&parts.uri, &host)?,
        (None, None) => {
            return Err(Error::new(
                Kind::Usage,
                "HTTP/2 request needs an absolute URL",
            ))
        }
    };
    let mut req = Request::new(());
    *req.method_mut() = parts.method.clone();
    *req.uri_mut() = uri;
    *req.version_mut() = Version::HTTP_2;
    *req.headers_mut() = headers;
    Ok(req)
}

fn with_authority(uri: &Uri, host: &HeaderValue) -> Result<Uri, Error> {
    let mut p = uri.clone().into_parts();
    p.authority = Some(
        host.to_str()
            .ok()
            .and_then(|h| h.parse().ok())
            .ok_or(Error::new(Kind::Usage, "invalid Host header"))?,
    );
    if p.scheme.is_none() {
        p.scheme = Some(http::uri::Scheme::HTTP);
    }
    Uri::from_parts(p).map_err(|_| Error::new(Kind::Usage, "invalid request URL"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    /// The error a request waiting for a stream gets once the connection has ended after the
    /// server wrote `server_bytes` and closed.
    async fn error_after(server_bytes: &[u8]) -> H2SendError {
        let (client, mut server) = tokio::io::duplex(4096);
        let cfg = H2ClientConfig {
            initial_stream_window: 65535,
            initial_conn_window: 65535,
            max_frame_size: 16384,
            max_header_list_size: 16384,
            max_send_buffer: 65536,
        };
        let (mut send, conn) = handshake(client, &cfg).await.expect("handshake");
        server.write_all(server_bytes).await.expect("write");
        drop(server);
        let _ = conn.await;
        let e = poll_fn(|cx| send.poll_ready(cx))
            .await
            .expect_err("the connection has ended");
        H2SendError::not_sent("HTTP/2 connection is closed", e, true)
    }

    #[tokio::test]
    async fn a_request_not_sent_is_resent_unless_the_server_does_not_speak_http2() {
        // The server's SETTINGS, then the connection closed: another connection may do.
        let gone = error_after(&[0, 0, 0, 0x4, 0, 0, 0, 0, 0]).await;
        assert!(gone.unprocessed && gone.conn_dead, "{:?}", gone.error);
        // An HTTP/1.1 answer (RFC 9113 §3.4): the server is no HTTP/2 server; final.
        let http1 = error_after(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
        assert!(!http1.unprocessed && http1.conn_dead, "{:?}", http1.error);
        assert_eq!(http1.error.kind(), Kind::Http2);
    }
}
