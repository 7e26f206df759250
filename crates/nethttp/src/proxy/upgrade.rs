//! Protocol upgrades through the proxy (WebSocket and any other `Upgrade`), as Go's
//! ReverseProxy passes them: the client's `Upgrade` goes upstream with `Connection: upgrade`
//! (they are hop-by-hop, so the proxy says them again for its own hop); a `101` back whose
//! `Upgrade` names the protocol asked for is answered to the client, and the two connections
//! are then joined, bytes copied both ways until either side ends. An upstream that switches
//! to another protocol is a `502`.
//!
//! From an HTTP/2 client the upgrade is an extended CONNECT (RFC 8441: `:protocol`
//! `websocket`), which HTTP/1.1 upstreams do not speak: it goes upstream as the HTTP/1.1
//! opening request (RFC 6455 §4.1: `GET`, `Upgrade: websocket`, a fresh
//! `Sec-WebSocket-Key`, the client's `Sec-WebSocket-Version`, subprotocols and extensions),
//! and the upstream's `101` goes back as the `200` that accepts the stream (RFC 8441 §5,
//! without `Sec-WebSocket-Accept`, which HTTP/2 does not use). The frames are the same on
//! both sides, so the joined byte streams need no translation.
//!
//! By default each WebSocket gets an HTTP/1.1 connection of its own to the upstream, as
//! nginx gives it: a socket's flow is paced by its application, and on a shared HTTP/2
//! connection a socket whose upstream stops reading holds the connection's window, which
//! with common server windows (1 MiB per stream, 2 MiB per connection: ours; Go's 1 MiB for
//! both) two such sockets fill, stalling every other client's upload on that connection.
//! With `websockets_over_http2` the opening request is marked with its HTTP/2 form too:
//! where the upstream connection is HTTP/2 and allows extended CONNECT, the WebSocket goes
//! as a stream of that connection, answered `200`, and the streams are joined. An HTTP/1.1
//! client then gets the `101` the upstream would have sent, its `Sec-WebSocket-Accept`
//! computed here from the client's key (with the `websocket` feature, which has the hash;
//! without it, an HTTP/1.1 client's WebSocket goes upstream over HTTP/1.1).

use http::header::{self, HeaderValue};
use http::{Method, Response, StatusCode, Version};

use super::upstreams::Picked;
use crate::body::Body;
use crate::error::{Error, Kind};
use crate::handler::HttpResponse;
use crate::upgrade::{self, OnUpgrade};

/// The protocol an HTTP/1.1 request asks to switch to (its `Upgrade`, when `Connection`
/// names it), and its side of the upgrade.
pub(crate) struct Asked {
    protocol: HeaderValue,
    client: OnUpgrade,
    /// Asked by an HTTP/2 extended CONNECT: answered with `200`, not `101`.
    extended_connect: bool,
    /// An HTTP/1.1 client's WebSocket key, when its upgrade may go upstream as an extended
    /// CONNECT (the `101` then carries the accept computed from it).
    ws_key: Option<HeaderValue>,
    /// A WebSocket may go upstream as a stream of an HTTP/2 connection.
    over_h2: bool,
}

impl Asked {
    /// Asked by an HTTP/2 extended CONNECT.
    pub(crate) fn by_extended_connect(&self) -> bool {
        self.extended_connect
    }
}

/// What `parts` asks to upgrade to, taking the client's side of the upgrade from it; a
/// WebSocket may ride an upstream HTTP/2 connection when `over_h2`.
pub(crate) fn asked(parts: &mut http::request::Parts, over_h2: bool) -> Option<Asked> {
    if parts.method == Method::CONNECT {
        // Only an extended CONNECT asks for a protocol; a plain one asks for a tunnel,
        // which is a forward proxy's business.
        if parts.version != Version::HTTP_2 {
            return None;
        }
        let protocol = parts.extensions.get::<h2::ext::Protocol>()?;
        let protocol = HeaderValue::from_str(protocol.as_str()).ok()?;
        let client = parts.extensions.remove::<OnUpgrade>()?;
        return Some(Asked {
            protocol,
            client,
            extended_connect: true,
            ws_key: None,
            over_h2,
        });
    }
    if !upgrade::asks_upgrade(&parts.headers) {
        return None;
    }
    let protocol = parts.headers.get(header::UPGRADE)?.clone();
    let client = parts.extensions.remove::<OnUpgrade>()?;
    let ws_key = (over_h2 && cfg!(feature = "websocket"))
        .then(|| websocket_key_of(&protocol, &parts.headers))
        .flatten();
    Some(Asked {
        protocol,
        client,
        extended_connect: false,
        ws_key,
        over_h2,
    })
}

/// The key of a well-formed WebSocket opening request (RFC 6455 §4.1: `Upgrade: websocket`,
/// version 13, one key of 16 bytes in base64), whose answer the proxy can make itself.
fn websocket_key_of(protocol: &HeaderValue, headers: &http::HeaderMap) -> Option<HeaderValue> {
    if !protocol.as_bytes().eq_ignore_ascii_case(b"websocket")
        || headers.get(header::SEC_WEBSOCKET_VERSION)?.as_bytes() != b"13"
    {
        return None;
    }
    let mut keys = headers.get_all(header::SEC_WEBSOCKET_KEY).iter();
    let key = keys.next()?;
    (keys.next().is_none() && key.len() == 24).then(|| key.clone())
}

/// Says the upgrade again on the outbound request, after the hop-by-hop fields went; an
/// extended CONNECT becomes the HTTP/1.1 opening request.
pub(crate) fn ask_upstream(asked: &Asked, out: &mut http::request::Parts) {
    let headers = &mut out.headers;
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, asked.protocol.clone());
    if asked.extended_connect {
        out.method = Method::GET;
        if asked.protocol.as_bytes().eq_ignore_ascii_case(b"websocket") {
            headers.insert(header::SEC_WEBSOCKET_KEY, websocket_key());
            if asked.over_h2 {
                out.extensions.insert(crate::proto::h2::client::WEBSOCKET);
            }
        }
    } else if asked.ws_key.is_some() {
        out.extensions.insert(crate::proto::h2::client::WEBSOCKET);
    }
}

/// Whether `upstream` accepted a WebSocket as an extended CONNECT stream of its HTTP/2
/// connection (RFC 8441 §5: a `2xx`): asked by an HTTP/2 client's upgrade, or by an HTTP/1.1
/// client's WebSocket whose key the proxy can answer.
pub(crate) fn accepted_as_stream(asked: &Asked, upstream: &Response<Body>) -> bool {
    asked.over_h2
        && (asked.extended_connect || asked.ws_key.is_some())
        && upstream.version() == Version::HTTP_2
        && upstream.status().is_success()
}

/// The `Sec-WebSocket-Accept` for `key` (RFC 6455 §4.2.2: base64 of the SHA-1 of the key
/// and the protocol's GUID); `None` without the `websocket` feature (which then takes no
/// key, so this is not asked).
fn accept_for(key: &HeaderValue) -> Option<HeaderValue> {
    #[cfg(feature = "websocket")]
    {
        let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
        HeaderValue::from_str(&accept).ok()
    }
    #[cfg(not(feature = "websocket"))]
    {
        let _ = key;
        None
    }
}

/// A `Sec-WebSocket-Key`: 16 random bytes in base64 (RFC 6455 §4.1). It only has to differ
/// between handshakes (it keeps caches from answering them), not be secret.
fn websocket_key() -> HeaderValue {
    let nonce: [u8; 16] = std::array::from_fn(|_| fastrand::u8(..));
    let mut out = Vec::with_capacity(24);
    crate::base64::encode(&nonce, &mut out);
    HeaderValue::from_bytes(&out).expect("base64 is a valid header value")
}

/// The upstream's `101` (or, for an extended CONNECT it took as a stream, its `2xx`):
/// checked, its connection joined to the client's, and the answer for the client. `Err`
/// when the upstream switched to something else.
///
/// `held`: the upstream's place in its group, kept until the joined connections end, so
/// least connections counts a WebSocket for its whole life (as nginx's `least_conn`).
pub(crate) fn join(
    asked: Asked,
    mut upstream: Response<Body>,
    held: Option<Picked>,
) -> Result<HttpResponse, Error> {
    if !accepted_as_stream(&asked, &upstream) {
        let switched_to = upstream.headers().get(header::UPGRADE);
        let same = switched_to
            .is_some_and(|p| p.as_bytes().eq_ignore_ascii_case(asked.protocol.as_bytes()));
        if !same {
            return Err(Error::new(
                Kind::Upgrade,
                "the upstream switched to a protocol the client did not ask for",
            ));
        }
    }
    let upstream_side = upgrade::on(&mut upstream);
    let client_side = asked.client;
    tokio::spawn(async move {
        let _held = held;
        let (mut up, mut down) = match (upstream_side.await, client_side.await) {
            (Ok(up), Ok(down)) => (up, down),
            (Err(e), _) | (_, Err(e)) => {
                tracing::debug!(error = %e, "proxied upgrade not completed");
                return;
            }
        };
        // An upgraded connection idle for 5 minutes is closed (a WebSocket application that
        // needs longer sends pings).
        super::splice::splice(&mut down, &mut up, std::time::Duration::from_secs(300)).await;
    });
    // The upstream's fields go back (its `Sec-WebSocket-Accept`, say), hop-by-hop ones out
    // and the upgrade said again for the client's hop.
    let (mut parts, _) = upstream.into_parts();
    super::hop::remove(&mut parts.headers);
    parts.extensions.clear();
    let status = if asked.extended_connect {
        // The key was ours, and HTTP/2 has no use for its answer.
        parts.headers.remove(header::SEC_WEBSOCKET_ACCEPT);
        StatusCode::OK
    } else {
        let over_h2 = parts.version == Version::HTTP_2;
        if let Some(accept) = asked
            .ws_key
            .as_ref()
            .filter(|_| over_h2)
            .and_then(accept_for)
        {
            // The upstream took it as an HTTP/2 stream, which has no accept: the `101` the
            // client waits for carries the one its key calls for (RFC 6455 §4.2.2).
            parts.headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
        }
        parts.headers.insert(header::UPGRADE, asked.protocol);
        StatusCode::SWITCHING_PROTOCOLS
    };
    let mut resp = Response::from_parts(parts, Body::empty());
    *resp.status_mut() = status;
    Ok(resp)
}
