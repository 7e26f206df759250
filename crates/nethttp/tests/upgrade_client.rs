//! The client's side of protocol upgrades against raw servers: a `101` to a request that
//! asked for it hands over the connection (with the bytes the server sent after its head),
//! which leaves the pool for good; a `101` nobody asked for is an error; `CONNECT` writes its
//! target in authority form and a `2xx` answer gives the tunnel.

use std::time::Duration;

use nethttp::http::{header, Method, StatusCode};
use nethttp::{Client, ErrorKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const LIMIT: Duration = Duration::from_secs(5);

/// Reads one request head from `s`.
async fn read_head(s: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut byte = [0u8; 1];
    while !got.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(LIMIT, s.read(&mut byte))
            .await
            .expect("request head in time")
            .unwrap();
        assert!(n > 0, "client closed: {:?}", String::from_utf8_lossy(&got));
        got.push(byte[0]);
    }
    String::from_utf8(got).unwrap()
}

/// A server that answers one request with `answer` and then echoes every byte; returns the
/// request head it read.
async fn echo_server(
    answer: &'static str,
) -> (std::net::SocketAddr, tokio::task::JoinHandle<String>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let head = read_head(&mut s).await;
        s.write_all(answer.as_bytes()).await.unwrap();
        let mut buf = [0u8; 1024];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if s.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            }
        }
        head
    });
    (addr, task)
}

fn client() -> Client {
    Client::builder()
        .transport(|t| t.no_proxy())
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_101_hands_over_the_connection_with_the_bytes_after_the_head() {
    let (addr, server) = echo_server(
        "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: echo\r\n\r\nearly|",
    )
    .await;
    let c = client();
    let mut res = c
        .get(format!("http://{addr}/chat"))
        .header(header::CONNECTION, "upgrade")
        .header(header::UPGRADE, "echo")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SWITCHING_PROTOCOLS);
    assert_eq!(res.headers()[header::UPGRADE], "echo");
    let mut io = tokio::time::timeout(LIMIT, nethttp::upgrade::on(&mut res))
        .await
        .unwrap()
        .expect("the connection is handed over");
    assert_eq!(io.read_ahead(), b"early|");
    io.write_all(b"ping").await.unwrap();
    let mut got = vec![0u8; 10];
    let mut n = 0;
    while n < 10 {
        n += tokio::time::timeout(LIMIT, io.read(&mut got[n..]))
            .await
            .unwrap()
            .unwrap();
    }
    assert_eq!(&got, b"early|ping");
    // The upgraded connection is no longer the pool's.
    let stats = c.pool_stats();
    assert_eq!((stats.idle(), stats.active()), (0, 0), "{stats:?}");
    drop(io);
    let head = server.await.unwrap();
    assert!(head.starts_with("GET /chat HTTP/1.1\r\n"), "{head}");
    assert!(head.contains("connection: upgrade\r\n"), "{head}");
    assert!(head.contains("upgrade: echo\r\n"), "{head}");
}

#[tokio::test]
async fn a_101_nobody_asked_for_is_an_error() {
    let (addr, _server) =
        echo_server("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\n\r\n").await;
    let e = client()
        .get(format!("http://{addr}/"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Parse, "{e}");
}

#[tokio::test]
async fn a_refused_upgrade_is_an_ordinary_response_and_on_fails() {
    let (addr, _server) =
        echo_server("HTTP/1.1 400 Bad Request\r\nContent-Length: 2\r\nConnection: close\r\n\r\nno")
            .await;
    let mut res = client()
        .get(format!("http://{addr}/"))
        .header(header::CONNECTION, "upgrade")
        .header(header::UPGRADE, "echo")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let e = nethttp::upgrade::on(&mut res).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Upgrade);
    assert_eq!(res.into_body().to_bytes(16).await.unwrap(), "no");
}

#[tokio::test]
async fn connect_sends_its_target_in_authority_form_and_a_2xx_gives_the_tunnel() {
    let (addr, server) = echo_server("HTTP/1.1 200 Connection Established\r\n\r\n").await;
    let c = client();
    let mut res = c
        .request(Method::CONNECT, format!("http://{addr}"))
        .header(header::HOST, "target.example:443")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let mut io = nethttp::upgrade::on(&mut res).await.expect("a tunnel");
    io.write_all(b"through").await.unwrap();
    let mut got = [0u8; 7];
    tokio::time::timeout(LIMIT, io.read_exact(&mut got))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&got, b"through");
    drop(io);
    let head = server.await.unwrap();
    assert!(
        head.starts_with("CONNECT target.example:443 HTTP/1.1\r\n"),
        "{head}"
    );
    assert!(
        !head.to_ascii_lowercase().contains("content-length"),
        "{head}"
    );
}
