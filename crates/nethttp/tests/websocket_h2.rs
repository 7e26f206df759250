//! WebSocket over HTTP/2 from our client (RFC 8441): `connect_with` on a client whose
//! connection to the host is HTTP/2 (h2c by prior knowledge, or TLS with ALPN `h2`) opens the
//! socket as an extended CONNECT stream answered `200`, several sockets and ordinary requests
//! share that one connection; an HTTP/2 server that did not enable extended CONNECT gets the
//! upgrade over HTTP/1.1 on a connection of its own, as browsers open it (nginx in front of a
//! WebSocket server), its HTTP/2 connection left serving the rest; and one that cannot speak
//! HTTP/1.1 either (hyper's HTTP/2-only server) fails the call with a clear `Kind::Upgrade`
//! error and leaves the connection usable.

mod common;
#[path = "common/hyper_h2.rs"]
mod hyper_h2;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use nethttp::http::{header, Request, StatusCode, Version};
use nethttp::test::TestServer;
use nethttp::websocket::{default_config, Message, WebSocket, WebSocketUpgrade};
use nethttp::{text_response, Body, Client, ConnInfo, ErrorKind, HttpRequest, HttpResponse};

const LIMIT: Duration = Duration::from_secs(10);

/// Echoes WebSocket messages on `/ws` (choosing `echo.v1` if offered; `/refuse` answers
/// 403), answers `hi` to other requests; records the client address of every request, so a
/// test can count the connections they came on.
fn app(seen: Arc<Mutex<Vec<SocketAddr>>>) -> impl nethttp::Handler {
    move |mut req: HttpRequest| {
        let seen = seen.clone();
        async move {
            let info = req.extensions().get::<ConnInfo>().expect("conn_info is on");
            seen.lock().unwrap().push(info.remote_addr);
            match req.uri().path() {
                "/ws" => echo(&mut req),
                "/refuse" => text_response(StatusCode::FORBIDDEN, "no sockets here\n"),
                _ => text_response(StatusCode::OK, "hi"),
            }
        }
    }
}

fn echo(req: &mut HttpRequest) -> HttpResponse {
    match WebSocketUpgrade::from_request(req) {
        Ok(ws) => ws
            .protocols(["echo.v1"])
            .on_upgrade(|mut socket| async move {
                while let Some(Ok(msg)) = socket.next().await {
                    if (msg.is_text() || msg.is_binary()) && socket.send(msg).await.is_err() {
                        break;
                    }
                }
            }),
        Err(refusal) => refusal,
    }
}

async fn open(
    client: &Client,
    url: &str,
) -> Result<(WebSocket, nethttp::http::Response<Body>), nethttp::Error> {
    let req = Request::get(url)
        .header(header::SEC_WEBSOCKET_PROTOCOL, "echo.v1")
        .body(Body::empty())
        .unwrap();
    tokio::time::timeout(
        LIMIT,
        nethttp::websocket::connect_with(client, req, default_config()),
    )
    .await
    .expect("the handshake ends in time")
}

fn with_info() -> nethttp::Server {
    nethttp::Server::new().conn_info(true)
}

async fn next(socket: &mut WebSocket) -> Message {
    tokio::time::timeout(LIMIT, socket.next())
        .await
        .expect("a message in time")
        .expect("the socket is open")
        .expect("a valid message")
}

async fn get(client: &Client, url: &str) -> (Version, String) {
    let res = tokio::time::timeout(LIMIT, client.get(url).send())
        .await
        .expect("an answer in time")
        .unwrap();
    let version = res.version();
    let body = res.into_body().to_bytes(1 << 16).await.unwrap();
    (version, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn over_h2c_by_prior_knowledge() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let server = TestServer::start_with(with_info(), app(seen.clone())).await;
    let client = server
        .client_builder()
        .transport(|t| t.http2_prior_knowledge(true))
        .build()
        .unwrap();
    let url = server.url("/ws").replace("http://", "ws://");
    let (mut socket, res) = open(&client, &url).await.unwrap();
    assert_eq!(res.version(), Version::HTTP_2);
    assert_eq!(res.status(), StatusCode::OK, "RFC 8441 §5: 200 accepts");
    assert!(res.headers().get(header::SEC_WEBSOCKET_ACCEPT).is_none());
    assert_eq!(res.headers()[header::SEC_WEBSOCKET_PROTOCOL], "echo.v1");
    socket.send(Message::text("over h2c")).await.unwrap();
    assert_eq!(next(&mut socket).await, Message::text("over h2c"));
    // A message larger than the stream's initial window (64 KiB) crosses on window updates.
    let big = vec![7u8; 300_000];
    socket.send(Message::binary(big.clone())).await.unwrap();
    assert_eq!(next(&mut socket).await, Message::binary(big));
    socket.send(Message::Ping("p".into())).await.unwrap();
    assert_eq!(next(&mut socket).await, Message::Pong("p".into()));
    socket.close(None).await.unwrap();
    let end = tokio::time::timeout(LIMIT, async {
        while let Some(Ok(_)) = socket.next().await {}
    })
    .await;
    assert!(
        end.is_ok(),
        "the server answered the close and the stream ended"
    );
}

#[tokio::test]
async fn over_tls_where_alpn_chose_h2() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let server = TestServer::start_tls_with(with_info(), app(seen.clone())).await;
    let client = server.client();
    let url = server.url("/ws").replace("https://", "wss://");
    let (mut socket, res) = open(&client, &url).await.unwrap();
    assert_eq!(res.version(), Version::HTTP_2);
    assert_eq!(res.status(), StatusCode::OK);
    socket.send(Message::text("over h2 and TLS")).await.unwrap();
    assert_eq!(next(&mut socket).await, Message::text("over h2 and TLS"));
    // The same client's ordinary request goes on the same connection.
    assert_eq!(
        get(&client, &server.url("/")).await,
        (Version::HTTP_2, "hi".into())
    );
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0], seen[1], "one connection carried both");
}

#[tokio::test]
async fn several_sockets_and_requests_share_one_connection_at_once() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let server = TestServer::start_with(with_info(), app(seen.clone())).await;
    let client = server
        .client_builder()
        .transport(|t| t.http2_prior_knowledge(true))
        .build()
        .unwrap();
    let url = server.url("/ws").replace("http://", "ws://");
    let mut sockets = Vec::new();
    for _ in 0..5 {
        sockets.push(open(&client, &url).await.unwrap().0);
    }
    // Every socket busy at once, ordinary requests in between.
    let talk = sockets
        .into_iter()
        .enumerate()
        .map(|(i, mut socket)| async move {
            for round in 0..20 {
                let msg = Message::text(format!("socket {i} round {round}"));
                socket.send(msg.clone()).await.unwrap();
                assert_eq!(next(&mut socket).await, msg);
            }
            socket
        });
    let requests = async {
        for _ in 0..10 {
            assert_eq!(
                get(&client, &server.url("/")).await,
                (Version::HTTP_2, "hi".into())
            );
        }
    };
    let (sockets, ()) = tokio::join!(futures_util::future::join_all(talk), requests);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 15, "5 handshakes and 10 requests");
    assert!(
        seen.iter().all(|a| *a == seen[0]),
        "all on one connection: {seen:?}"
    );
    assert_eq!(client.pool_stats().dials, 1);
    // Each socket holds a stream: closing them leaves the connection serving.
    drop(sockets);
    assert_eq!(
        get(&client, &server.url("/")).await,
        (Version::HTTP_2, "hi".into())
    );
}

#[tokio::test]
async fn a_refusal_over_h2_is_an_upgrade_error_naming_the_status() {
    let server = TestServer::start_with(with_info(), app(Default::default())).await;
    let client = server
        .client_builder()
        .transport(|t| t.http2_prior_knowledge(true))
        .build()
        .unwrap();
    let err = open(&client, &server.url("/refuse")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Upgrade);
    assert!(format!("{err:#}").contains("403"), "{err:#}");
    assert_eq!(
        get(&client, &server.url("/")).await,
        (Version::HTTP_2, "hi".into())
    );
}

#[tokio::test]
async fn an_h2_only_server_without_extended_connect_is_a_clear_error() {
    // hyper's HTTP/2 server does not send SETTINGS_ENABLE_CONNECT_PROTOCOL unless asked, and
    // this one speaks only HTTP/2: the HTTP/1.1 upgrade tried instead fails too.
    let peer = hyper_h2::HyperPeer::start(hyper_h2::PeerOptions::h2c()).await;
    let client = Client::builder()
        .transport(|t| t.http2_prior_knowledge(true))
        .build()
        .unwrap();
    let err = open(&client, &peer.url("/ws")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Upgrade, "{err:#}");
    let msg = format!("{err:#}");
    assert!(msg.contains("extended CONNECT"), "{msg}");
    assert!(msg.contains("SETTINGS_ENABLE_CONNECT_PROTOCOL"), "{msg}");
    assert!(msg.contains("over HTTP/1.1 tried instead failed"), "{msg}");
    // One connection for HTTP/2 and one for the HTTP/1.1 try; nothing was sent for it on
    // the first, which serves on.
    assert_eq!(peer.accepted(), 2);
    let res = tokio::time::timeout(LIMIT, client.get(peer.url("/")).send())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(res.version(), Version::HTTP_2);
    assert_eq!(peer.accepted(), 2);
}

/// nginx (HTTP/2 over TLS; it has no RFC 8441) in front of a WebSocket server: the client's
/// connection to nginx is HTTP/2, so the socket opens with an HTTP/1.1 upgrade on a
/// connection of its own, as browsers do, and ordinary requests stay on the HTTP/2 one.
#[tokio::test]
async fn behind_nginx_without_extended_connect_the_socket_opens_over_http11() {
    let Some(bin) = common::peers::peer(
        "nginx",
        "-v",
        &["/usr/sbin", "/usr/local/sbin", "/usr/local/nginx/sbin"],
    ) else {
        return;
    };
    let upstream = TestServer::start_with(with_info(), app(Default::default())).await;
    let up = upstream.addr();
    let cert = common::certs::self_signed();
    let dir = tempfile::tempdir().unwrap();
    let (listen_h2, http2_on) = common::peers::nginx_http2_syntax(&bin);
    let d = dir.path().display();
    let (certp, keyp) = (cert.cert_path(), cert.key_path());
    let (_nginx, port) = common::peers::nginx_on_free_port(&bin, dir.path(), |port| {
        format!(
            r#"
    log_format conns '$connection $server_protocol $uri $status';
    access_log {d}/access.log conns;
    server {{
        listen 127.0.0.1:{port} ssl{listen_h2};
        {http2_on}
        ssl_certificate {cert};
        ssl_certificate_key {key};
        location /ws {{
            proxy_pass http://{up};
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection "upgrade";
            proxy_set_header Sec-WebSocket-Protocol $http_sec_websocket_protocol;
        }}
        location / {{ return 200 "hi"; }}
    }}
"#,
            cert = certp.display(),
            key = keyp.display(),
        )
    })
    .await;
    let client = Client::builder()
        .transport(|t| t.tls(cert.client_tls()))
        .build()
        .unwrap();
    let base = format!("https://localhost:{port}");
    assert_eq!(
        get(&client, &format!("{base}/")).await,
        (Version::HTTP_2, "hi".into())
    );
    let (mut socket, res) = open(&client, &format!("wss://localhost:{port}/ws"))
        .await
        .expect("the socket opens over HTTP/1.1");
    assert_eq!(res.version(), Version::HTTP_11);
    assert_eq!(res.status(), StatusCode::SWITCHING_PROTOCOLS);
    assert_eq!(res.headers()[header::SEC_WEBSOCKET_PROTOCOL], "echo.v1");
    socket.send(Message::text("through nginx")).await.unwrap();
    assert_eq!(next(&mut socket).await, Message::text("through nginx"));
    assert_eq!(
        get(&client, &format!("{base}/")).await,
        (Version::HTTP_2, "hi".into())
    );
    socket.close(None).await.unwrap();
    // nginx logs the socket when it ends; the two requests on the HTTP/2 connection share
    // its number, the socket has a connection of its own.
    let log = dir.path().join("access.log");
    let read = || std::fs::read_to_string(&log).unwrap_or_default();
    hyper_h2::eventually(LIMIT, || read().lines().count() >= 3).await;
    let lines: Vec<Vec<String>> = read()
        .lines()
        .map(|l| l.split(' ').map(str::to_owned).collect())
        .collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    let h2: Vec<&Vec<String>> = lines.iter().filter(|l| l[1] == "HTTP/2.0").collect();
    let h1: Vec<&Vec<String>> = lines.iter().filter(|l| l[1] == "HTTP/1.1").collect();
    assert_eq!(h2.len(), 2, "{lines:?}");
    assert_eq!(h2[0][0], h2[1][0], "one HTTP/2 connection: {lines:?}");
    assert_eq!(h1.len(), 1, "{lines:?}");
    assert_eq!(
        h1[0][2..],
        ["/ws".to_owned(), "101".to_owned()],
        "{lines:?}"
    );
    assert_ne!(h1[0][0], h2[0][0], "{lines:?}");
}
