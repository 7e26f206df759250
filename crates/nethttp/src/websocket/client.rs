//! The client's side of the WebSocket handshake (RFC 6455 §4.1, RFC 8441 over HTTP/2): the
//! opening request sent through our [`Client`] (so its TLS, proxies, resolver, timeouts and
//! pool apply), the checks on the server's answer (a `101` whose `Sec-WebSocket-Accept`
//! matches the key we sent, or a `2xx` to the extended `CONNECT` on HTTP/2), and the socket.

use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode};
use tokio_tungstenite::tungstenite::handshake::client::generate_key;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

use super::{default_config, WebSocket, VERSION};
use crate::body::Body;
use crate::client::Client;
use crate::error::{Error, Kind, Result};
use crate::proto::h2::client::WEBSOCKET as OVER_H2;

/// Opens a WebSocket to `url` (`ws://` or `wss://`; `http://` and `https://` are taken as
/// the same) with a client of default settings speaking HTTP/1.1 (as browsers open one by
/// default; [`connect_with`] runs it over HTTP/2 too), and the default limits and keepalive.
/// Returns the socket and the server's `101` response (its headers say which subprotocol
/// was chosen).
///
/// Errors: the client's (connect, TLS, timeouts), and [`Kind::Upgrade`] when the server does
/// not accept the handshake (the message says its status) or answers it wrongly.
pub async fn connect(url: &str) -> Result<(WebSocket, Response<Body>)> {
    let client = Client::builder().transport(|t| t.http2(false)).build()?;
    let req = Request::get(http_url(url)?)
        .body(Body::empty())
        .map_err(|e| Error::with_cause(Kind::Usage, "invalid WebSocket URL", e))?;
    connect_with(&client, req, default_config()).await
}

/// Opens a WebSocket with `req` (its URL `ws://`, `wss://`, `http://` or `https://`; its
/// headers go along, `Sec-WebSocket-Protocol` and `Origin` say, and `Authorization`) through
/// `client`. The handshake fields are set here.
///
/// The connection is whichever `client` has for the host. On HTTP/1.1 (a new connection of
/// its own, upgraded with `101`), or on HTTP/2 (`wss://` where ALPN chose `h2`, or `ws://`
/// with `http2_prior_knowledge`): RFC 8441's extended `CONNECT`, answered `200`, as one
/// stream of a connection that goes on carrying other requests and WebSockets. That needs
/// the server to have enabled it (SETTINGS_ENABLE_CONNECT_PROTOCOL); with an HTTP/2 server
/// that did not (nginx, for one), the handshake goes over HTTP/1.1 on a connection of its
/// own (offering only `http/1.1` by ALPN), as browsers do, and the HTTP/2 connection serves
/// the client's other requests on. That connection counts against the host's connection
/// limit (`max_conns_per_host`: at 1, held by the HTTP/2 connection, the call fails at the
/// pool timeout). When the HTTP/1.1 try fails too, the [`Kind::Upgrade`] error says both.
///
/// The socket has the default keepalive (see [`WebSocket::set_keepalive`]).
pub async fn connect_with(
    client: &Client,
    req: Request<Body>,
    config: WebSocketConfig,
) -> Result<(WebSocket, Response<Body>)> {
    let (mut parts, body) = req.into_parts();
    parts.uri = http_url(&parts.uri.to_string())?
        .parse()
        .map_err(|e| Error::with_cause(Kind::Usage, "invalid WebSocket URL", e))?;
    let key = generate_key();
    let h = &mut parts.headers;
    h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(
        header::SEC_WEBSOCKET_VERSION,
        HeaderValue::from_static(VERSION),
    );
    h.insert(
        header::SEC_WEBSOCKET_KEY,
        HeaderValue::from_str(&key).expect("base64 is a valid header value"),
    );
    parts.extensions.insert(OVER_H2);
    let offered: Vec<String> = h
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_owned())
        .collect();
    let mut res = client.execute(Request::from_parts(parts, body)).await?;
    if res.version() == http::Version::HTTP_2 {
        // RFC 8441 §5: a 2xx accepts; there is no Sec-WebSocket-Accept.
        if !res.status().is_success() {
            let status = res.status();
            return Err(Error::with_cause(
                Kind::Upgrade,
                "the server did not accept the WebSocket handshake over HTTP/2 (no 2xx)",
                format!("the server answered {status}"),
            ));
        }
    } else if res.status() != StatusCode::SWITCHING_PROTOCOLS {
        let status = res.status();
        return Err(Error::with_cause(
            Kind::Upgrade,
            "the server did not accept the WebSocket handshake (no 101)",
            format!("the server answered {status}"),
        ));
    }
    let accept_ok = res.version() == http::Version::HTTP_2
        || res
            .headers()
            .get(header::SEC_WEBSOCKET_ACCEPT)
            .is_some_and(|v| v.as_bytes() == derive_accept_key(key.as_bytes()).as_bytes());
    if !accept_ok {
        return Err(Error::new(
            Kind::Upgrade,
            "the server's Sec-WebSocket-Accept does not match the key sent",
        ));
    }
    // RFC 6455 §4.1: a subprotocol we did not offer fails the connection.
    if let Some(chosen) = res.headers().get(header::SEC_WEBSOCKET_PROTOCOL) {
        let ok = chosen
            .to_str()
            .is_ok_and(|c| offered.iter().any(|o| o == c));
        if !ok {
            return Err(Error::new(
                Kind::Upgrade,
                "the server chose a WebSocket subprotocol that was not offered",
            ));
        }
    }
    let io = crate::upgrade::on(&mut res).await?;
    let socket = WebSocket::new(io, Role::Client, config).await;
    Ok((socket, res))
}

/// `ws://` and `wss://` as the `http://` and `https://` URLs the handshake is sent to.
fn http_url(url: &str) -> Result<String> {
    let lower = url
        .get(..6)
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    if lower.starts_with("ws://") {
        return Ok(format!("http://{}", &url[5..]));
    }
    if lower.starts_with("wss://") {
        return Ok(format!("https://{}", &url[6..]));
    }
    if lower.starts_with("http:/") || lower.starts_with("https:") {
        return Ok(url.to_owned());
    }
    Err(Error::new(
        Kind::Usage,
        "a WebSocket URL starts with ws://, wss://, http:// or https://",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn websocket_schemes_map_to_http_ones() {
        assert_eq!(http_url("ws://h:1/a?b").unwrap(), "http://h:1/a?b");
        assert_eq!(http_url("WSS://h/").unwrap(), "https://h/");
        assert_eq!(http_url("https://h/").unwrap(), "https://h/");
        assert!(http_url("ftp://h/").is_err());
    }
}
