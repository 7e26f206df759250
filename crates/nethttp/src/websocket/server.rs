//! The server's side of the WebSocket handshake: checking the client's opening request
//! (RFC 6455 §4.2.1 on HTTP/1.1, RFC 8441 §4-5 on HTTP/2), the answer that accepts it (`101`
//! with `Sec-WebSocket-Accept`, or `200` on HTTP/2) and the refusals (`400`, or `426` with the
//! version we speak), subprotocol selection, and the task that gets the socket.

use std::future::Future;
use std::time::Duration;

use http::header::{self, HeaderValue};
use http::{Method, Response, StatusCode, Version};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

use super::{default_config, WebSocket, DEFAULT_IDLE_TIMEOUT, DEFAULT_PING_INTERVAL, VERSION};
use crate::body::Body;
use crate::handler::{text_response, HttpRequest, HttpResponse};
use crate::upgrade::{self, OnUpgrade};

/// A request's WebSocket handshake, checked and ready to accept: choose a subprotocol if
/// the client offered some, look at `Origin` if only some sites may connect, then
/// [`on_upgrade`](WebSocketUpgrade::on_upgrade) returns the response that accepts it and
/// runs your task with the socket once that response is written.
#[derive(Debug)]
pub struct WebSocketUpgrade {
    on_upgrade: OnUpgrade,
    /// `Sec-WebSocket-Accept` for an HTTP/1.1 handshake; `None` on HTTP/2.
    accept: Option<HeaderValue>,
    offered: Vec<String>,
    extensions: Vec<String>,
    origin: Option<HeaderValue>,
    chosen: Option<HeaderValue>,
    config: WebSocketConfig,
    keepalive: (Option<Duration>, Option<Duration>),
}

impl WebSocketUpgrade {
    /// Checks that `req` opens a WebSocket: on HTTP/1.1 a `GET` with `Upgrade: websocket`
    /// named in `Connection`, `Sec-WebSocket-Version: 13` and a `Sec-WebSocket-Key` of 16
    /// bytes in base64; on HTTP/2 an extended `CONNECT` with `:protocol` `websocket` and
    /// version 13. `Err` is the response to send instead: `400` naming what is wrong, or `426
    /// Upgrade Required` with `Sec-WebSocket-Version: 13` for another version (RFC 6455
    /// §4.4).
    #[allow(clippy::result_large_err)]
    pub fn from_request(req: &mut HttpRequest) -> Result<WebSocketUpgrade, HttpResponse> {
        let h2 = req.version() == Version::HTTP_2;
        let accept = if h2 {
            if req.method() != Method::CONNECT || upgrade::protocol(req) != Some("websocket") {
                return Err(refuse(
                    "not a WebSocket request: extended CONNECT for websocket expected",
                ));
            }
            None
        } else {
            if req.method() != Method::GET || req.version() < Version::HTTP_11 {
                return Err(refuse(
                    "not a WebSocket request: GET over HTTP/1.1 expected",
                ));
            }
            let upgrade_ok = req
                .headers()
                .get_all(header::UPGRADE)
                .iter()
                .any(|v| crate::token::has_token(v.as_bytes(), b"websocket"));
            let connection_ok = crate::upgrade::connection_names_upgrade(req.headers());
            if !upgrade_ok || !connection_ok {
                return Err(refuse(
                    "not a WebSocket request: Upgrade: websocket and Connection: upgrade expected",
                ));
            }
            let Some(key) = req.headers().get(header::SEC_WEBSOCKET_KEY) else {
                return Err(refuse("missing Sec-WebSocket-Key"));
            };
            if !is_valid_key(key.as_bytes()) {
                return Err(refuse("invalid Sec-WebSocket-Key"));
            }
            let accept = derive_accept_key(key.as_bytes());
            Some(HeaderValue::from_str(&accept).expect("base64 is a valid header value"))
        };
        if req
            .headers()
            .get(header::SEC_WEBSOCKET_VERSION)
            .map(|v| v.as_bytes())
            != Some(VERSION.as_bytes())
        {
            let mut resp = text_response(
                StatusCode::UPGRADE_REQUIRED,
                "unsupported WebSocket version; this server speaks 13\n",
            );
            resp.headers_mut().insert(
                header::SEC_WEBSOCKET_VERSION,
                HeaderValue::from_static(VERSION),
            );
            return Err(resp);
        }
        let list = |name: header::HeaderName| -> Vec<String> {
            req.headers()
                .get_all(name)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .map(|t| t.trim().to_owned())
                .filter(|t| !t.is_empty())
                .collect()
        };
        let offered = list(header::SEC_WEBSOCKET_PROTOCOL);
        let extensions = list(header::SEC_WEBSOCKET_EXTENSIONS);
        let origin = req.headers().get(header::ORIGIN).cloned();
        Ok(WebSocketUpgrade {
            on_upgrade: upgrade::on(req),
            accept,
            offered,
            extensions,
            origin,
            chosen: None,
            config: default_config(),
            keepalive: (Some(DEFAULT_PING_INTERVAL), Some(DEFAULT_IDLE_TIMEOUT)),
        })
    }

    /// The subprotocols the client offered (`Sec-WebSocket-Protocol`), in its order of
    /// preference.
    pub fn offered_protocols(&self) -> impl Iterator<Item = &str> {
        self.offered.iter().map(String::as_str)
    }

    /// The extensions the client offered (`Sec-WebSocket-Extensions`, such as
    /// `permessage-deflate; client_max_window_bits`). None is accepted: the answer names no
    /// extension, which RFC 6455 §9.1 allows whatever was offered.
    pub fn offered_extensions(&self) -> impl Iterator<Item = &str> {
        self.extensions.iter().map(String::as_str)
    }

    /// The `Origin` the browser sent, if any: check it against the sites allowed to connect
    /// (browsers let any page open a WebSocket to any server; cookies go with it).
    pub fn origin(&self) -> Option<&HeaderValue> {
        self.origin.as_ref()
    }

    /// Selects the first of `supported` the client offered, as the connection's subprotocol.
    /// None offered in common: no subprotocol is named, and the client decides whether to go
    /// on (RFC 6455 §4.2.2).
    pub fn protocols<I, S>(mut self, supported: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let supported: Vec<S> = supported.into_iter().collect();
        self.chosen = self
            .offered
            .iter()
            .find(|o| supported.iter().any(|s| s.as_ref() == o.as_str()))
            .and_then(|p| HeaderValue::from_str(p).ok());
        self
    }

    /// The subprotocol chosen by [`protocols`](WebSocketUpgrade::protocols), if any.
    pub fn selected_protocol(&self) -> Option<&str> {
        self.chosen.as_ref().and_then(|v| v.to_str().ok())
    }

    /// Limits for the socket (message and frame sizes, write buffering). Default:
    /// [`default_config`](super::default_config).
    pub fn config(mut self, config: WebSocketConfig) -> Self {
        self.config = config;
        self
    }

    /// The socket's keepalive (see [`WebSocket::set_keepalive`]): a Ping after
    /// `ping_interval` without a frame from the client, the connection failed after
    /// `idle_timeout` without one. Default: 30 s and 60 s; `None` turns either off (the
    /// task's own timeouts then).
    pub fn keepalive(
        mut self,
        ping_interval: Option<Duration>,
        idle_timeout: Option<Duration>,
    ) -> Self {
        self.keepalive = (ping_interval, idle_timeout);
        self
    }

    /// The response that accepts the handshake; once the server has written it, `task` runs
    /// (spawned) with the socket. If the connection ends first, `task` never runs.
    pub fn on_upgrade<F, Fut>(self, task: F) -> HttpResponse
    where
        F: FnOnce(WebSocket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let mut resp = Response::new(Body::empty());
        match &self.accept {
            Some(accept) => {
                *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
                let h = resp.headers_mut();
                h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
                h.insert(header::SEC_WEBSOCKET_ACCEPT, accept.clone());
            }
            // RFC 8441 §5: a 200 accepts, with no Sec-WebSocket-Accept.
            None => *resp.status_mut() = StatusCode::OK,
        }
        if let Some(p) = &self.chosen {
            resp.headers_mut()
                .insert(header::SEC_WEBSOCKET_PROTOCOL, p.clone());
        }
        let config = self.config;
        let (ping_interval, idle_timeout) = self.keepalive;
        let on_upgrade = self.on_upgrade;
        tokio::spawn(async move {
            match on_upgrade.await {
                Ok(io) => {
                    let mut socket = WebSocket::new(io, Role::Server, config).await;
                    socket.set_keepalive(ping_interval, idle_timeout);
                    task(socket).await;
                }
                Err(e) => tracing::debug!(error = %e, "WebSocket handshake not completed"),
            }
        });
        resp
    }
}

/// A `400` naming what is wrong with the handshake.
fn refuse(reason: &'static str) -> HttpResponse {
    text_response(StatusCode::BAD_REQUEST, format!("{reason}\n"))
}

/// RFC 6455 §4.1: the key is 16 random bytes in base64: 24 characters, the last two `==`.
fn is_valid_key(key: &[u8]) -> bool {
    key.len() == 24
        && key.ends_with(b"==")
        && key[..22]
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/')
        && matches!(key[21], b'A' | b'Q' | b'g' | b'w')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_16_bytes_of_base64() {
        assert!(is_valid_key(b"dGhlIHNhbXBsZSBub25jZQ=="));
        assert!(!is_valid_key(b"dGhlIHNhbXBsZSBub25jZQ="));
        assert!(
            !is_valid_key(b"dGhlIHNhbXBsZSBub25jZR=="),
            "stray bits in the last char"
        );
        assert!(!is_valid_key(b"dGhlIHNhbXBsZSBub25j!Q=="));
        assert!(!is_valid_key(b""));
    }

    #[test]
    fn the_accept_key_is_rfc_6455s_example() {
        // RFC 6455 §1.3.
        assert_eq!(
            derive_accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    fn opening(version: &str) -> HttpRequest {
        http::Request::get("/ws")
            .header(header::CONNECTION, "keep-alive, Upgrade")
            .header(header::UPGRADE, "websocket")
            .header(header::SEC_WEBSOCKET_KEY, "dGhlIHNhbXBsZSBub25jZQ==")
            .header(header::SEC_WEBSOCKET_VERSION, version)
            .header(header::SEC_WEBSOCKET_PROTOCOL, "v2.chat, v1.chat")
            .body(Body::empty())
            .unwrap()
    }

    #[tokio::test]
    async fn a_valid_opening_is_accepted_with_the_key_and_a_chosen_protocol() {
        let mut req = opening("13");
        let ws = WebSocketUpgrade::from_request(&mut req).unwrap();
        assert_eq!(
            ws.offered_protocols().collect::<Vec<_>>(),
            ["v2.chat", "v1.chat"]
        );
        let ws = ws.protocols(["v1.chat", "v3.chat"]);
        assert_eq!(ws.selected_protocol(), Some("v1.chat"));
        let resp = ws.on_upgrade(|_| async {});
        assert_eq!(resp.status(), StatusCode::SWITCHING_PROTOCOLS);
        assert_eq!(
            resp.headers()[header::SEC_WEBSOCKET_ACCEPT],
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        assert_eq!(resp.headers()[header::SEC_WEBSOCKET_PROTOCOL], "v1.chat");
        assert_eq!(resp.headers()[header::UPGRADE], "websocket");
    }

    #[tokio::test]
    async fn other_versions_get_426_naming_ours_and_bad_openings_400() {
        let resp = WebSocketUpgrade::from_request(&mut opening("8")).unwrap_err();
        assert_eq!(resp.status(), StatusCode::UPGRADE_REQUIRED);
        assert_eq!(resp.headers()[header::SEC_WEBSOCKET_VERSION], "13");
        let mut no_key = opening("13");
        no_key.headers_mut().remove(header::SEC_WEBSOCKET_KEY);
        let resp = WebSocketUpgrade::from_request(&mut no_key).unwrap_err();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        let mut post = opening("13");
        *post.method_mut() = Method::POST;
        assert_eq!(
            WebSocketUpgrade::from_request(&mut post)
                .unwrap_err()
                .status(),
            StatusCode::BAD_REQUEST
        );
    }
}
