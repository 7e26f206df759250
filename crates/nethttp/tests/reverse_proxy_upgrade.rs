//! Upgrades through the reverse proxy: a WebSocket opened through `ReverseProxy` reaches the
//! upstream's handshake (`Sec-WebSocket-*` end to end, `Upgrade` said again per hop) and the
//! two connections are joined; an upstream that switches to another protocol is a `502`; a
//! plain request through the same proxy is unaffected.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use nethttp::http::{header, Response, StatusCode};
use nethttp::proxy::ReverseProxy;
use nethttp::test::TestServer;
use nethttp::websocket::{Message, WebSocketUpgrade};
use nethttp::{text_response, Body, HttpRequest, HttpResponse};

const LIMIT: Duration = Duration::from_secs(10);

/// The upstream: a WebSocket echo on `/ws`, a switch to the wrong protocol on `/wrong`,
/// plain text elsewhere.
async fn upstream(mut req: HttpRequest) -> HttpResponse {
    match req.uri().path() {
        "/ws" => match WebSocketUpgrade::from_request(&mut req) {
            Ok(ws) => ws.on_upgrade(|mut socket| async move {
                while let Some(Ok(msg)) = socket.next().await {
                    if msg.is_text() {
                        let text = format!("upstream: {}", msg.into_text().unwrap());
                        if socket.send(Message::text(text)).await.is_err() {
                            break;
                        }
                    }
                }
            }),
            Err(refusal) => refusal,
        },
        "/wrong" => {
            let on = nethttp::upgrade::on(&mut req);
            tokio::spawn(async move {
                let _ = on.await;
            });
            Response::builder()
                .status(StatusCode::SWITCHING_PROTOCOLS)
                .header(header::UPGRADE, "something-else")
                .body(Body::empty())
                .unwrap()
        }
        _ => text_response(StatusCode::OK, "plain"),
    }
}

async fn proxied() -> (TestServer, TestServer) {
    let up = TestServer::start(upstream).await;
    let proxy = ReverseProxy::new(&up.url("/")).unwrap();
    let front = TestServer::start(proxy).await;
    (up, front)
}

#[tokio::test]
async fn a_websocket_goes_through_the_proxy() {
    let (up, front) = proxied().await;
    let url = front.url("/ws").replace("http://", "ws://");
    let (mut socket, res) = nethttp::websocket::connect(&url).await.unwrap();
    assert_eq!(res.status(), StatusCode::SWITCHING_PROTOCOLS);
    for text in ["one", "two"] {
        socket.send(Message::text(text)).await.unwrap();
        let got = tokio::time::timeout(LIMIT, socket.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(got, Message::text(format!("upstream: {text}")));
    }
    // Both hops hand their connections over: the proxy's and the upstream's servers count one
    // upgraded connection each.
    assert_eq!(front.handle().upgraded_connections(), 1);
    assert_eq!(up.handle().upgraded_connections(), 1);
    // Plain requests still go through.
    let res = front.client().get(front.url("/")).send().await.unwrap();
    assert_eq!(res.into_body().to_bytes(64).await.unwrap(), "plain");
}

#[tokio::test]
async fn an_upstream_switching_to_another_protocol_is_a_502() {
    let (_up, front) = proxied().await;
    let res = front
        .client()
        .get(front.url("/wrong"))
        .header(header::CONNECTION, "upgrade")
        .header(header::UPGRADE, "echo")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_GATEWAY);
}
