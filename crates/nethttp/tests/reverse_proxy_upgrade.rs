//! Upgrades through the reverse proxy: a WebSocket opened through `ReverseProxy` reaches the
//! upstream's handshake (`Sec-WebSocket-*` end to end, `Upgrade` said again per hop) and the
//! two connections are joined; an upstream that switches to another protocol is a `502`; a
//! plain request through the same proxy is unaffected. An upstream whose connections are
//! HTTP/2 (TLS with ALPN `h2`) gets the upgrade on an HTTP/1.1 connection of its own, its
//! plain requests staying on HTTP/2. From an HTTP/2 client (hyper's, RFC
//! 8441 extended CONNECT) the WebSocket reaches an HTTP/1.1 upstream as its opening request.
//! By default every WebSocket gets an HTTP/1.1 upstream connection of its own; with
//! `websockets_over_http2` one to an HTTP/2 upstream that allows extended CONNECT is a stream
//! of the one upstream connection (an HTTP/1.1 client's too, its `101` carrying the accept
//! for its own key). An upstream that does not switch is a `502`, never an accepted stream.

mod common;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use nethttp::http::{header, Response, StatusCode};
use nethttp::proxy::ReverseProxy;
use nethttp::test::TestServer;
use nethttp::websocket::{Message, WebSocketUpgrade};
use nethttp::{text_response, Body, HttpRequest, HttpResponse};

const LIMIT: Duration = Duration::from_secs(10);

/// The upstream: a WebSocket echo on `/ws`, a byte echo after switching to `echo` on `/echo`,
/// a switch to the wrong protocol on `/wrong`, plain text elsewhere.
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
        "/echo" => {
            let on = nethttp::upgrade::on(&mut req);
            tokio::spawn(async move {
                if let Ok(mut io) = on.await {
                    use tokio::io::{AsyncReadExt, AsyncWriteExt};
                    let mut buf = [0u8; 64];
                    while let Ok(n) = io.read(&mut buf).await {
                        if n == 0 || io.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                }
            });
            Response::builder()
                .status(StatusCode::SWITCHING_PROTOCOLS)
                .header(header::UPGRADE, "echo")
                .body(Body::empty())
                .unwrap()
        }
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

/// Sends `text` on `socket` and expects the upstream's echo of it.
async fn echoes<S, E>(socket: &mut S, text: impl std::fmt::Display)
where
    S: futures_util::Sink<Message, Error = E>
        + futures_util::Stream<Item = Result<Message, E>>
        + Unpin,
    E: std::fmt::Debug,
{
    socket.send(Message::text(text.to_string())).await.unwrap();
    let got = tokio::time::timeout(LIMIT, socket.next())
        .await
        .expect("the echo in time")
        .expect("the socket is open")
        .unwrap();
    assert_eq!(got, Message::text(format!("upstream: {text}")));
}

/// A plain request through `front` is answered by the upstream.
async fn plain_goes_through(front: &TestServer) {
    let plain = front.client().get(front.url("/")).send().await.unwrap();
    assert_eq!(plain.into_body().to_bytes(64).await.unwrap(), "plain");
}

/// The upstream's versions and methods, in the order its requests came.
type Seen = std::sync::Arc<std::sync::Mutex<Vec<(nethttp::http::Version, nethttp::http::Method)>>>;

/// A proxy in front of `up` whose requests go through `transport`, letting WebSockets ride
/// upstream HTTP/2 connections when `over_h2`.
async fn front_of(
    up: &TestServer,
    transport: nethttp::client::Transport,
    over_h2: bool,
) -> TestServer {
    let proxy = ReverseProxy::builder()
        .upstream(&up.url("/"))
        .transport(transport)
        .websockets_over_http2(over_h2)
        .build()
        .unwrap();
    TestServer::start(proxy).await
}

/// A proxy whose connections to the upstream are HTTP/2 (h2c by prior knowledge; our server
/// allows extended CONNECT), WebSockets riding them when `over_h2`, and what the upstream
/// saw.
async fn proxied_over_h2c(over_h2: bool) -> (TestServer, TestServer, Seen) {
    let seen = Seen::default();
    let s = seen.clone();
    let up = TestServer::start(move |req: HttpRequest| {
        s.lock()
            .unwrap()
            .push((req.version(), req.method().clone()));
        upstream(req)
    })
    .await;
    let transport = ReverseProxy::default_transport()
        .http2_prior_knowledge(true)
        .build()
        .unwrap();
    let front = front_of(&up, transport, over_h2).await;
    (up, front, seen)
}

/// The WebSocket an extended CONNECT answered `200` opened, as tungstenite's client.
async fn h2_socket(
    res: http::Response<hyper::body::Incoming>,
) -> tokio_tungstenite::WebSocketStream<hyper_util::rt::TokioIo<hyper::upgrade::Upgraded>> {
    let io = hyper_util::rt::TokioIo::new(hyper::upgrade::on(res).await.unwrap());
    tokio_tungstenite::WebSocketStream::from_raw_socket(
        io,
        tokio_tungstenite::tungstenite::protocol::Role::Client,
        None,
    )
    .await
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
        echoes(&mut socket, text).await;
    }
    // Both hops hand their connections over: the proxy's and the upstream's servers count one
    // upgraded connection each.
    assert_eq!(front.handle().upgraded_connections(), 1);
    assert_eq!(up.handle().upgraded_connections(), 1);
    // Plain requests still go through.
    let res = front.client().get(front.url("/")).send().await.unwrap();
    assert_eq!(res.into_body().to_bytes(64).await.unwrap(), "plain");
}

/// The proxy's connections to this upstream are HTTP/2 (TLS, ALPN `h2`). An HTTP/1.1
/// upgrade to another protocol cannot be said there (RFC 9113 §8.2.2): it goes on an
/// HTTP/1.1 connection of its own. A WebSocket has an HTTP/2 form, which this upstream
/// allows: by default it gets an HTTP/1.1 connection of its own too; with
/// `websockets_over_http2` it goes as a stream of the HTTP/2 connection, beside the plain
/// requests.
async fn upgrades_reach_an_upstream_over_tls_h2(over_h2: bool) {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let s = seen.clone();
    let up = TestServer::start_tls(move |req: HttpRequest| {
        s.lock()
            .unwrap()
            .push((req.version(), req.uri().path().to_owned()));
        upstream(req)
    })
    .await;
    let transport = up.client_builder().build().unwrap().transport().clone();
    let front = front_of(&up, transport, over_h2).await;
    plain_goes_through(&front).await;
    // Another protocol: HTTP/1.1 to the upstream.
    let mut res = front
        .client()
        .get(front.url("/echo"))
        .header(header::CONNECTION, "upgrade")
        .header(header::UPGRADE, "echo")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SWITCHING_PROTOCOLS);
    let mut io = tokio::time::timeout(LIMIT, nethttp::upgrade::on(&mut res))
        .await
        .unwrap()
        .unwrap();
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        io.write_all(b"ping").await.unwrap();
        let mut got = [0u8; 4];
        tokio::time::timeout(LIMIT, io.read_exact(&mut got))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&got, b"ping");
    }
    let url = front.url("/ws").replace("http://", "ws://");
    let (mut socket, res) = nethttp::websocket::connect(&url).await.unwrap();
    assert_eq!(res.status(), StatusCode::SWITCHING_PROTOCOLS);
    echoes(&mut socket, "through").await;
    plain_goes_through(&front).await;
    use nethttp::http::Version;
    let ws = if over_h2 {
        Version::HTTP_2
    } else {
        Version::HTTP_11
    };
    let seen: Vec<(Version, String)> = seen.lock().unwrap().clone();
    let want: Vec<(Version, String)> = [
        (Version::HTTP_2, "/"),
        (Version::HTTP_11, "/echo"),
        (ws, "/ws"),
        (Version::HTTP_2, "/"),
    ]
    .into_iter()
    .map(|(v, p)| (v, p.to_owned()))
    .collect();
    assert_eq!(seen, want);
    let own = if over_h2 { 1 } else { 2 };
    assert_eq!(up.handle().upgraded_connections(), own, "HTTP/1.1 upgrades");
    assert_eq!(up.handle().accepted_connections(), 1 + own as u64);
}

#[tokio::test]
async fn upgrades_reach_an_upstream_whose_connections_are_http2() {
    upgrades_reach_an_upstream_over_tls_h2(false).await;
}

#[tokio::test]
async fn with_websockets_over_http2_a_websocket_rides_the_upstreams_tls_connection() {
    upgrades_reach_an_upstream_over_tls_h2(true).await;
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

/// Opens an RFC 8441 WebSocket to `path` on `front` with hyper's HTTP/2 client (h2c):
/// the response, and the stream when it was accepted.
async fn h2_extended_connect(
    front: &TestServer,
    path: &str,
) -> (
    http::Response<hyper::body::Incoming>,
    hyper::client::conn::http2::SendRequest<http_body_util::Empty<bytes::Bytes>>,
) {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let tcp = tokio::net::TcpStream::connect(front.addr()).await.unwrap();
    let (mut send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .unwrap();
    tokio::spawn(conn);
    let mut req = http::Request::builder()
        .method(http::Method::CONNECT)
        .uri(front.url(path))
        .header(header::SEC_WEBSOCKET_VERSION, "13")
        .header(header::SEC_WEBSOCKET_PROTOCOL, "chat")
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    req.extensions_mut()
        .insert(hyper::ext::Protocol::from_static("websocket"));
    let res = tokio::time::timeout(LIMIT, send.send_request(req))
        .await
        .unwrap()
        .unwrap();
    (res, send)
}

#[tokio::test]
async fn a_websocket_from_an_http2_client_reaches_an_http11_upstream() {
    let (up, front) = proxied().await;
    let (res, mut send) = h2_extended_connect(&front, "/ws").await;
    // RFC 8441 §5: accepted with 200, and no Sec-WebSocket-Accept (the proxy's key was its own).
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().get(header::SEC_WEBSOCKET_ACCEPT).is_none());
    assert!(res.headers().get(header::UPGRADE).is_none());
    let mut socket = h2_socket(res).await;
    for i in 0..3 {
        echoes(&mut socket, format!("m{i}")).await;
    }
    // The HTTP/2 connection carries ordinary requests beside the WebSocket.
    let plain = http::Request::get(front.url("/plain"))
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let res = send.send_request(plain).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    socket.close(None).await.unwrap();
    drop(up);
}

#[tokio::test]
async fn an_http2_upgrade_the_upstream_does_not_switch_is_refused_not_tunnelled() {
    let (_up, front) = proxied().await;
    // `/plain` answers 200 without switching: a 2xx here would accept a tunnel to nowhere.
    let (res, _send) = h2_extended_connect(&front, "/plain").await;
    assert_eq!(res.status(), StatusCode::BAD_GATEWAY);
    // `/wrong` switches to another protocol.
    let (res, _send) = h2_extended_connect(&front, "/wrong").await;
    assert_eq!(res.status(), StatusCode::BAD_GATEWAY);
}

/// With `websockets_over_http2`, from an HTTP/2 client to an HTTP/2 upstream (h2c by prior
/// knowledge; our server allows extended CONNECT): each WebSocket is a stream of the one
/// upstream connection, which also carries the plain requests.
#[tokio::test]
async fn websockets_from_an_http2_client_ride_the_upstreams_http2_connection() {
    let (up, front, seen) = proxied_over_h2c(true).await;
    let mut sockets = Vec::new();
    for _ in 0..2 {
        let (res, send) = h2_extended_connect(&front, "/ws").await;
        assert_eq!(res.status(), StatusCode::OK);
        sockets.push((h2_socket(res).await, send));
    }
    for (i, (socket, _)) in sockets.iter_mut().enumerate() {
        echoes(socket, format!("s{i}")).await;
    }
    plain_goes_through(&front).await;
    use nethttp::http::{Method, Version};
    assert_eq!(
        *seen.lock().unwrap(),
        [
            (Version::HTTP_2, Method::CONNECT),
            (Version::HTTP_2, Method::CONNECT),
            (Version::HTTP_2, Method::GET)
        ]
    );
    assert_eq!(
        up.handle().accepted_connections(),
        1,
        "one upstream connection"
    );
}

/// With `websockets_over_http2`, an HTTP/1.1 client's WebSocket rides the upstream's HTTP/2
/// connection too: the proxy answers the `101` with the accept for the client's key (our
/// client checks it), and the upstream sees one connection carrying the socket and the plain
/// request.
#[tokio::test]
async fn an_http11_clients_websocket_rides_the_upstreams_http2_connection_too() {
    let (up, front, seen) = proxied_over_h2c(true).await;
    plain_goes_through(&front).await;
    let url = front.url("/ws").replace("http://", "ws://");
    let (mut socket, res) = nethttp::websocket::connect(&url).await.unwrap();
    assert_eq!(res.status(), StatusCode::SWITCHING_PROTOCOLS);
    assert_eq!(res.headers()[header::UPGRADE], "websocket");
    echoes(&mut socket, "h1 to h2").await;
    // Python's `websockets` checks the proxy's accept with its own code.
    let mut streams = 2;
    if let Some(py) = common::peers::python_with(&["websockets"]) {
        let script = r#"
import asyncio, sys
from websockets.asyncio.client import connect
async def main():
    async with connect(sys.argv[1]) as ws:
        await ws.send("from python")
        print(await ws.recv())
asyncio.run(main())
"#;
        let mut cmd = tokio::process::Command::new(py);
        cmd.args(["-c", script, &url]);
        let out = common::curl::run(cmd, "python websockets through the proxy").await;
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "upstream: from python\n"
        );
        streams += 1;
    }
    use nethttp::http::{Method, Version};
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), streams, "{seen:?}");
    assert_eq!(seen[0], (Version::HTTP_2, Method::GET));
    assert!(
        seen[1..]
            .iter()
            .all(|r| *r == (Version::HTTP_2, Method::CONNECT)),
        "{seen:?}"
    );
    assert_eq!(
        up.handle().accepted_connections(),
        1,
        "one upstream connection"
    );
}

/// By default every WebSocket gets an HTTP/1.1 connection of its own, an HTTP/2 client's
/// (its extended CONNECT said as the RFC 6455 opening request) and an HTTP/1.1 client's
/// alike, while the plain requests share the upstream's HTTP/2 connection.
#[tokio::test]
async fn by_default_websockets_get_http11_upstream_connections_of_their_own() {
    let (up, front, seen) = proxied_over_h2c(false).await;
    plain_goes_through(&front).await;
    let (res, _send) = h2_extended_connect(&front, "/ws").await;
    assert_eq!(res.status(), StatusCode::OK);
    let mut from_h2 = h2_socket(res).await;
    echoes(&mut from_h2, "from h2").await;
    let url = front.url("/ws").replace("http://", "ws://");
    let (mut from_h1, res) = nethttp::websocket::connect(&url).await.unwrap();
    assert_eq!(res.status(), StatusCode::SWITCHING_PROTOCOLS);
    echoes(&mut from_h1, "from h1").await;
    plain_goes_through(&front).await;
    use nethttp::http::{Method, Version};
    assert_eq!(
        *seen.lock().unwrap(),
        [
            (Version::HTTP_2, Method::GET),
            (Version::HTTP_11, Method::GET),
            (Version::HTTP_11, Method::GET),
            (Version::HTTP_2, Method::GET)
        ]
    );
    assert_eq!(up.handle().upgraded_connections(), 2);
    assert_eq!(up.handle().accepted_connections(), 3);
}
