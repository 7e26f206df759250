//! The server's side of protocol upgrades: a handler that answers `101` to an `Upgrade`
//! request (or `2xx` to `CONNECT`) gets the connection through `upgrade::on`, with the bytes
//! the client sent after its head; exact bytes on the wire; a refused upgrade leaves an
//! ordinary keep-alive exchange; the state hook and the shutdown report count upgraded
//! connections apart; our client and our server upgrade end to end, over TLS too.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::wire::{normalize, Conn};
use nethttp::http::{header, Method, Response, StatusCode};
use nethttp::test::TestServer;
use nethttp::{text_response, Body, ConnState, HttpRequest, HttpResponse, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const LIMIT: Duration = Duration::from_secs(5);

/// Copies every byte back until the peer closes.
async fn echo(mut io: nethttp::upgrade::Upgraded) {
    let mut buf = [0u8; 4096];
    while let Ok(n) = io.read(&mut buf).await {
        if n == 0 || io.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
}

/// Switches to an echo protocol on `Upgrade: echo` (or a tunnel on `CONNECT`); anything
/// else gets `plain`.
async fn switcher(mut req: HttpRequest) -> HttpResponse {
    let on_upgrade = nethttp::upgrade::on(&mut req);
    if req.method() == Method::CONNECT {
        tokio::spawn(async move {
            if let Ok(io) = on_upgrade.await {
                echo(io).await;
            }
        });
        return Response::new(Body::empty());
    }
    if req
        .headers()
        .get(header::UPGRADE)
        .is_some_and(|v| v == "echo")
    {
        tokio::spawn(async move {
            if let Ok(io) = on_upgrade.await {
                echo(io).await;
            }
        });
        return Response::builder()
            .status(StatusCode::SWITCHING_PROTOCOLS)
            .header(header::UPGRADE, "echo")
            .header(header::DATE, "Sun, 06 Dec 2026 00:00:00 GMT")
            .body(Body::empty())
            .unwrap();
    }
    text_response(StatusCode::OK, "plain")
}

fn start(server: Server) -> nethttp::ServerHandle {
    common::wire::start(server, switcher)
}

#[tokio::test]
async fn a_101_hands_the_connection_over_with_the_bytes_after_the_head() {
    let handle = start(Server::new());
    let mut c = Conn::connect(handle.local_addr()).await;
    // The first bytes of the new protocol come in the same write as the head.
    c.send("GET /chat HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\nearly")
        .await;
    let head = c.raw_response(true).await;
    assert_eq!(
        String::from_utf8(head).unwrap(),
        "HTTP/1.1 101 Switching Protocols\r\nupgrade: echo\r\n\
         date: Sun, 06 Dec 2026 00:00:00 GMT\r\nconnection: upgrade\r\n\r\n"
    );
    assert_eq!(c.read_bytes(5).await, b"early");
    c.send("more").await;
    assert_eq!(c.read_bytes(4).await, b"more");
}

#[tokio::test]
async fn connect_answered_2xx_is_a_tunnel_without_framing_headers() {
    let handle = start(Server::new());
    let mut c = Conn::connect(handle.local_addr()).await;
    c.send("CONNECT example.test:443 HTTP/1.1\r\nHost: example.test:443\r\n\r\n")
        .await;
    let head = normalize(&c.raw_response(true).await);
    assert_eq!(head, "HTTP/1.1 200 OK\r\ndate: <DATE>\r\n\r\n");
    c.send("tunnelled").await;
    assert_eq!(c.read_bytes(9).await, b"tunnelled");
}

#[tokio::test]
async fn a_refused_upgrade_is_an_ordinary_exchange_and_the_connection_stays() {
    let refused = Arc::new(Mutex::new(None));
    let seen = refused.clone();
    let handle = common::wire::start(Server::new(), move |mut req: HttpRequest| {
        let seen = seen.clone();
        async move {
            let on_upgrade = nethttp::upgrade::on(&mut req);
            tokio::spawn(async move {
                *seen.lock().unwrap() = Some(on_upgrade.await.map(|_| ()).map_err(|e| e.kind()));
            });
            text_response(StatusCode::OK, "no thanks")
        }
    });
    let mut c = Conn::connect(handle.local_addr()).await;
    c.send("GET / HTTP/1.1\r\nHost: t\r\nConnection: upgrade\r\nUpgrade: echo\r\n\r\n")
        .await;
    assert_eq!(c.response().await, common::wire::ok_text("no thanks"));
    c.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n").await;
    assert_eq!(c.response().await, common::wire::ok_text("no thanks"));
    let start = Instant::now();
    loop {
        if let Some(r) = *refused.lock().unwrap() {
            assert_eq!(r, Err(nethttp::ErrorKind::Upgrade));
            break;
        }
        assert!(start.elapsed() < LIMIT, "OnUpgrade never resolved");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_101_to_a_request_that_asked_for_no_upgrade_is_still_a_500() {
    let handle = start(Server::new());
    let mut c = Conn::connect(handle.local_addr()).await;
    // `Upgrade` without `Connection: upgrade` is not an upgrade request (RFC 9110 §7.8).
    c.send("GET / HTTP/1.1\r\nHost: t\r\nUpgrade: echo\r\n\r\n")
        .await;
    let got = c.response().await;
    assert!(
        got.starts_with("HTTP/1.1 500 Internal Server Error\r\n"),
        "{got}"
    );
}

#[tokio::test]
async fn an_upgrade_with_an_unread_body_is_refused_and_closed() {
    let handle = start(Server::new());
    let mut c = Conn::connect(handle.local_addr()).await;
    c.send(
        "POST / HTTP/1.1\r\nHost: t\r\nConnection: upgrade\r\nUpgrade: echo\r\n\
         Content-Length: 5\r\n\r\nhello",
    )
    .await;
    // The handler never read the body: its bytes and the new protocol's would mix.
    c.expect_eof().await;
}

#[tokio::test]
async fn upgraded_connections_are_counted_apart_and_shutdown_does_not_wait_for_them() {
    let states = Arc::new(Mutex::new(Vec::new()));
    let seen = states.clone();
    let server = Server::new().conn_state_hook(move |_, s| seen.lock().unwrap().push(s));
    let handle = start(server);
    let mut c = Conn::connect(handle.local_addr()).await;
    c.send("GET / HTTP/1.1\r\nHost: t\r\nConnection: upgrade\r\nUpgrade: echo\r\n\r\nx")
        .await;
    c.raw_response(true).await;
    assert_eq!(c.read_bytes(1).await, b"x");
    assert_eq!(handle.upgraded_connections(), 1);
    assert_eq!(handle.live_connections(), 0);
    assert_eq!(
        *states.lock().unwrap(),
        [ConnState::New, ConnState::Active, ConnState::Upgraded]
    );
    let report = tokio::time::timeout(LIMIT, handle.shutdown(Duration::from_secs(30)))
        .await
        .expect("shutdown waited for an upgraded connection");
    assert_eq!((report.forced, report.upgraded), (0, 1));
    // Still served by its owner after the shutdown.
    c.send("after").await;
    assert_eq!(c.read_bytes(5).await, b"after");
    drop(c);
    let start = Instant::now();
    while handle.upgraded_connections() > 0 {
        assert!(
            start.elapsed() < LIMIT,
            "upgraded connection never counted closed"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(!states.lock().unwrap().contains(&ConnState::Closed));
}

/// Our client asks our server for the echo protocol and talks it.
async fn client_upgrades(server: &TestServer, client: &nethttp::Client) {
    let mut res = client
        .get(server.url("/chat"))
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
    for msg in ["one", "two", "three"] {
        io.write_all(msg.as_bytes()).await.unwrap();
        let mut got = vec![0u8; msg.len()];
        tokio::time::timeout(LIMIT, io.read_exact(&mut got))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got, msg.as_bytes());
    }
}

#[tokio::test]
async fn our_client_and_server_upgrade_end_to_end_plain_and_over_tls() {
    let plain = TestServer::start(switcher).await;
    client_upgrades(&plain, &plain.client()).await;
    assert_eq!(plain.handle().upgraded_connections(), 1);
    let tls = TestServer::start_tls(switcher).await;
    // An upgrade is an HTTP/1.1 affair: the client offers only http/1.1 by ALPN.
    let h1 = tls
        .client_builder()
        .transport(|t| t.http2(false))
        .build()
        .unwrap();
    client_upgrades(&tls, &h1).await;
}
