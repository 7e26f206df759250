//! Protocol upgrades through the proxy (WebSocket and any other `Upgrade`), as Go's
//! ReverseProxy passes them: the client's `Upgrade` goes upstream with `Connection: upgrade`
//! (they are hop-by-hop, so the proxy says them again for its own hop); a `101` back whose
//! `Upgrade` names the protocol asked for is answered to the client, and the two connections
//! are then joined, bytes copied both ways until either side ends. An upstream that switches
//! to another protocol is a `502`.

use http::header::{self, HeaderMap, HeaderValue};
use http::{Response, StatusCode};

use crate::body::Body;
use crate::error::{Error, Kind};
use crate::handler::HttpResponse;
use crate::upgrade::{self, OnUpgrade};

/// The protocol an HTTP/1.1 request asks to switch to (its `Upgrade`, when `Connection`
/// names it), and its side of the upgrade.
pub(crate) struct Asked {
    protocol: HeaderValue,
    client: OnUpgrade,
}

/// What `parts` asks to upgrade to, taking the client's side of the upgrade from it.
pub(crate) fn asked(parts: &mut http::request::Parts) -> Option<Asked> {
    if parts.method == http::Method::CONNECT {
        return None;
    }
    let named = parts
        .headers
        .get_all(header::CONNECTION)
        .iter()
        .any(|v| upgrade::has_token(v.as_bytes(), b"upgrade"));
    let protocol = parts.headers.get(header::UPGRADE)?.clone();
    if !named {
        return None;
    }
    let client = parts.extensions.remove::<OnUpgrade>()?;
    Some(Asked { protocol, client })
}

/// Says the upgrade again on the outbound request, after the hop-by-hop fields went.
pub(crate) fn ask_upstream(asked: &Asked, headers: &mut HeaderMap) {
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, asked.protocol.clone());
}

/// The upstream's `101`: checked, its connection joined to the client's, and the `101` for
/// the client. `Err` when the upstream switched to something else.
pub(crate) fn join(asked: Asked, mut upstream: Response<Body>) -> Result<HttpResponse, Error> {
    let switched_to = upstream.headers().get(header::UPGRADE).cloned();
    let same = switched_to
        .as_ref()
        .is_some_and(|p| p.as_bytes().eq_ignore_ascii_case(asked.protocol.as_bytes()));
    if !same {
        return Err(Error::new(
            Kind::Upgrade,
            "the upstream switched to a protocol the client did not ask for",
        ));
    }
    let upstream_side = upgrade::on(&mut upstream);
    let client_side = asked.client;
    tokio::spawn(async move {
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
    parts.headers.insert(header::UPGRADE, asked.protocol);
    parts.extensions.clear();
    let mut resp = Response::from_parts(parts, Body::empty());
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    Ok(resp)
}
