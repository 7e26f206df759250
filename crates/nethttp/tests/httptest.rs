//! `nethttp::test` as its users meet it: a `TestServer` answering our client over HTTP/1.1,
//! over HTTPS with HTTP/2, and curl trusting its certificate; `close` waiting for a request in
//! flight, dropping it closing it; `call` running a handler without a socket; `duplex`
//! connections in memory, read as exact HTTP/1.1 bytes and by hyper's HTTP/2 client.

mod common;

use std::time::{Duration, Instant};

use common::peers::peer;
use nethttp::http::{Request, StatusCode, Version};
use nethttp::test::{call, call_text, duplex, duplex_with, TestServer};
use nethttp::{text_response, Body, HttpRequest, HttpResponse};

async fn app(req: HttpRequest) -> HttpResponse {
    match req.uri().path() {
        "/slow" => {
            tokio::time::sleep(Duration::from_millis(300)).await;
            text_response(StatusCode::OK, "finally")
        }
        path => text_response(StatusCode::OK, format!("{:?} {path}", req.version())),
    }
}

#[tokio::test]
async fn a_plain_server_answers_its_client() {
    let server = TestServer::start(app).await;
    let url = server.url("/hello");
    assert_eq!(url, format!("http://{}/hello", server.addr()));
    assert_eq!(server.url("x"), format!("http://{}/x", server.addr()));
    let res = server.client().get(&url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.into_body().to_bytes(1024).await.unwrap(),
        "HTTP/1.1 /hello"
    );
    let report = server.close().await;
    assert_eq!(report.forced, 0);
}

#[tokio::test]
async fn an_https_server_speaks_http2_to_its_client() {
    let server = TestServer::start_tls(app).await;
    let url = server.url("/secure");
    assert!(url.starts_with("https://localhost:"), "{url}");
    let res = server.client().get(&url).send().await.unwrap();
    assert_eq!(res.version(), Version::HTTP_2);
    assert_eq!(
        res.into_body().to_bytes(1024).await.unwrap(),
        "HTTP/2.0 /secure"
    );
    // Another client that does not trust the certificate is refused.
    let stranger = nethttp::Client::builder()
        .transport(|t| t.no_proxy())
        .build()
        .unwrap();
    let err = stranger.get(&url).send().await.unwrap_err();
    assert!(err.is_certificate(), "{err}");
    server.close().await;
}

#[tokio::test]
async fn curl_trusts_the_test_certificate() {
    let Some(curl) = peer("curl", "--version", &[]) else {
        return;
    };
    let server = TestServer::start_tls(app).await;
    let dir = std::env::temp_dir().join(format!("nethttp-httptest-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cert = dir.join("cert.pem");
    std::fs::write(&cert, server.certificate().unwrap().cert_pem()).unwrap();
    let out = tokio::process::Command::new(curl)
        .args(["-s", "--http2", "--cacert"])
        .arg(&cert)
        .arg(server.url("/curl"))
        .output()
        .await
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "HTTP/2.0 /curl");
    server.close().await;
}

/// `close` is Go's `Close`: the request in flight gets its whole answer first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_waits_for_a_request_in_flight() {
    let server = TestServer::start(app).await;
    let client = server.client();
    let url = server.url("/slow");
    let request = tokio::spawn(async move {
        let res = client.get(&url).send().await?;
        res.into_body().to_bytes(1024).await
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let report = server.close().await;
    assert!(started.elapsed() >= Duration::from_millis(150));
    assert_eq!(report.forced, 0);
    assert_eq!(request.await.unwrap().unwrap(), "finally");
}

#[tokio::test]
async fn dropping_the_server_closes_it() {
    let server = TestServer::start(app).await;
    let addr = server.addr();
    drop(server);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            break;
        }
        assert!(Instant::now() < deadline, "still accepting after drop");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn call_runs_a_handler_without_a_socket() {
    let req = Request::get("/direct").body(Body::empty()).unwrap();
    let res = call(&app, req).await;
    assert_eq!(res.status(), StatusCode::OK);
    let req = Request::get("/text").body(Body::empty()).unwrap();
    let (status, headers, text) = call_text(&app, req).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "text/plain; charset=utf-8");
    assert_eq!(text, "HTTP/1.1 /text");
}

#[tokio::test]
async fn duplex_carries_exact_http1_bytes_without_a_port() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut pipe = duplex(app);
    pipe.write_all(
        b"GET /a HTTP/1.1\r\nHost: t\r\n\r\nGET /b HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    let mut wire = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), pipe.read_to_end(&mut wire))
        .await
        .expect("no end of stream")
        .unwrap();
    let wire = String::from_utf8(wire).unwrap();
    let second = wire[1..].find("HTTP/1.1 200").unwrap() + 1;
    assert_eq!(
        common::wire::normalize(&wire.as_bytes()[..second]),
        common::wire::ok_text("HTTP/1.1 /a")
    );
    assert_eq!(
        common::wire::normalize(&wire.as_bytes()[second..]),
        common::wire::ok_text_close("HTTP/1.1 /b")
    );
}

#[tokio::test]
async fn duplex_speaks_http2_to_hyper_by_prior_knowledge() {
    use http_body_util::BodyExt;
    let pipe = duplex(app);
    let (mut send, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(pipe),
    )
    .await
    .expect("h2 handshake over the pipe");
    tokio::spawn(conn);
    for path in ["/one", "/two"] {
        let req = Request::get(format!("http://t{path}"))
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .unwrap();
        let res = send.send_request(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.version(), Version::HTTP_2);
        let body = res.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, format!("HTTP/2.0 {path}"));
    }
}

#[tokio::test]
async fn duplex_with_holds_the_servers_limits_and_timeouts() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = nethttp::Server::new()
        .max_header_bytes(1024)
        .read_header_timeout(Duration::from_millis(300));
    // A head over the limit: 431, closed.
    let mut pipe = duplex_with(&server, app);
    let big = format!(
        "GET / HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n",
        "a".repeat(2000)
    );
    pipe.write_all(big.as_bytes()).await.unwrap();
    let mut wire = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), pipe.read_to_end(&mut wire))
        .await
        .expect("not closed")
        .unwrap();
    assert_eq!(
        common::wire::normalize(&wire),
        common::wire::error_response(
            "431 Request Header Fields Too Large",
            "request header fields too large"
        )
    );
    // Half a head, then silence: 408 at the header deadline.
    let mut pipe = duplex_with(&server, app);
    pipe.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
    let start = Instant::now();
    let mut wire = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), pipe.read_to_end(&mut wire))
        .await
        .expect("not closed")
        .unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(
        common::wire::normalize(&wire),
        common::wire::error_response("408 Request Timeout", "request header read timeout")
    );
}
