//! Tunnels over HTTP/2 against hyper's client: a plain `CONNECT` (RFC 9113 §8.5) and an
//! extended `CONNECT` with `:protocol` (RFC 8441, how WebSocket runs over HTTP/2) accepted with
//! a 2xx become a byte stream on their stream, while other streams of the connection go on;
//! a refused one is an ordinary response. Our client opens a plain `CONNECT` tunnel over h2c
//! beside ordinary requests on the same connection.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use nethttp::http::{Method, Request, Response, StatusCode};
use nethttp::test::TestServer;
use nethttp::{text_response, Body, HttpRequest, HttpResponse};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const LIMIT: Duration = Duration::from_secs(5);

/// Accepts CONNECT to `allowed.test:443` and extended CONNECT for the `echo` protocol, and
/// echoes what the tunnel carries; refuses other CONNECTs with 403; answers `hi` otherwise.
async fn app(mut req: HttpRequest) -> HttpResponse {
    if req.method() != Method::CONNECT {
        return text_response(StatusCode::OK, "hi");
    }
    let protocol = nethttp::upgrade::protocol(&req).map(str::to_owned);
    let accept = match protocol.as_deref() {
        Some("echo") => true,
        Some(_) => false,
        None => req
            .uri()
            .authority()
            .is_some_and(|a| a == "allowed.test:443"),
    };
    if !accept {
        return text_response(StatusCode::FORBIDDEN, "not this one");
    }
    let on_upgrade = nethttp::upgrade::on(&mut req);
    tokio::spawn(async move {
        let Ok(mut io) = on_upgrade.await else { return };
        let mut buf = [0u8; 4096];
        while let Ok(n) = io.read(&mut buf).await {
            if n == 0 || io.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = io.shutdown().await;
    });
    Response::new(Body::empty())
}

type Sender = hyper::client::conn::http2::SendRequest<Empty<Bytes>>;

async fn h2c(server: &TestServer) -> Sender {
    let tcp = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    let (send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .unwrap();
    tokio::spawn(conn);
    send
}

/// Writes `msg` into the tunnel and reads it back.
async fn round_trip(io: &mut TokioIo<hyper::upgrade::Upgraded>, msg: &[u8]) {
    io.write_all(msg).await.unwrap();
    let mut got = vec![0u8; msg.len()];
    tokio::time::timeout(LIMIT, io.read_exact(&mut got))
        .await
        .expect("echo in time")
        .unwrap();
    assert_eq!(got, msg);
}

#[tokio::test]
async fn a_plain_connect_is_a_tunnel_beside_other_streams() {
    let server = TestServer::start(app).await;
    let mut send = h2c(&server).await;
    let req = Request::builder()
        .method(Method::CONNECT)
        .uri("allowed.test:443")
        .body(Empty::new())
        .unwrap();
    let res = send.send_request(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().get("content-length").is_none());
    let mut io = TokioIo::new(hyper::upgrade::on(res).await.expect("the tunnel"));
    round_trip(&mut io, b"first").await;
    // Another stream on the same connection while the tunnel is open.
    let res = send
        .send_request(Request::get("http://t/").body(Empty::new()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.into_body().collect().await.unwrap().to_bytes(), "hi");
    round_trip(&mut io, &vec![7u8; 200_000]).await;
    // Ending our side ends the server's echo, which ends its side.
    io.shutdown().await.unwrap();
    let mut rest = Vec::new();
    tokio::time::timeout(LIMIT, io.read_to_end(&mut rest))
        .await
        .expect("the server ended its side")
        .unwrap();
    assert!(rest.is_empty());
}

#[tokio::test]
async fn an_extended_connect_runs_its_protocol_on_the_stream() {
    let server = TestServer::start(app).await;
    let mut send = h2c(&server).await;
    let mut req = Request::builder()
        .method(Method::CONNECT)
        .uri("http://t/chat")
        .body(Empty::new())
        .unwrap();
    req.extensions_mut()
        .insert(hyper::ext::Protocol::from_static("echo"));
    let res = send.send_request(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let mut io = TokioIo::new(hyper::upgrade::on(res).await.expect("the stream"));
    round_trip(&mut io, b"over h2").await;
}

#[tokio::test]
async fn a_refused_connect_is_an_ordinary_response() {
    let server = TestServer::start(app).await;
    let mut send = h2c(&server).await;
    let req = Request::builder()
        .method(Method::CONNECT)
        .uri("elsewhere.test:443")
        .body(Empty::new())
        .unwrap();
    let res = send.send_request(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        res.into_body().collect().await.unwrap().to_bytes(),
        "not this one"
    );
}

#[tokio::test]
async fn our_client_opens_a_plain_connect_tunnel_over_http2() {
    let server = TestServer::start(app).await;
    let client = nethttp::Client::builder()
        .transport(|t| t.http2_prior_knowledge(true))
        .build()
        .unwrap();
    let mut res = client
        .request(Method::CONNECT, server.url("/"))
        .header(http::header::HOST, "allowed.test:443")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.version(), http::Version::HTTP_2);
    let mut io = nethttp::upgrade::on(&mut res).await.expect("a tunnel");
    for msg in [&b"first"[..], b"second"] {
        io.write_all(msg).await.unwrap();
        let mut got = vec![0u8; msg.len()];
        tokio::time::timeout(LIMIT, io.read_exact(&mut got))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got, msg);
    }
    // The same connection serves ordinary requests beside the tunnel.
    let res = client.get(server.url("/")).send().await.unwrap();
    assert_eq!(res.into_body().to_bytes(16).await.unwrap(), "hi");
    // A target the server refuses is an ordinary answer, no tunnel.
    let mut res = client
        .request(Method::CONNECT, server.url("/"))
        .header(http::header::HOST, "other.test:443")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(nethttp::upgrade::on(&mut res).await.is_err());
    drop(io);
}
