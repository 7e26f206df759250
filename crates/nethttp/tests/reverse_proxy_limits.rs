//! The server's defences hold through the reverse proxy: requests our server refuses
//! (smuggling shapes, bad framing, bad Host, oversized heads) are answered by the proxy and
//! never reach the upstream, which counts what it receives; a malformed chunked body never
//! reaches it as a complete request; a silent or trickling upstream cannot hold the client
//! past the timeouts; a client that does not read a large response costs bounded memory
//! and is cut by the write timeout, releasing the upstream; and clients that abandon their
//! requests, whose cancellations reach an HTTP/2 upstream as resets on the connection the
//! proxy shares, neither break the other clients' requests in flight there nor, among
//! answered ones, cost the connection at all.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::script::{Peer, Script};
use common::wire::Conn;
use nethttp::http::StatusCode;
use nethttp::proxy::ReverseProxy;
use nethttp::test::TestServer;
use nethttp::{text_response, Body, HttpRequest, HttpResponse, Server};

/// An upstream that counts the requests it gets, and the bodies it read to the end.
struct Counted {
    server: TestServer,
    calls: Arc<AtomicUsize>,
    complete: Arc<AtomicUsize>,
}

async fn counted() -> Counted {
    let calls = Arc::new(AtomicUsize::new(0));
    let complete = Arc::new(AtomicUsize::new(0));
    let (c, d) = (calls.clone(), complete.clone());
    let server = TestServer::start(move |req: HttpRequest| {
        c.fetch_add(1, Ordering::SeqCst);
        let d = d.clone();
        async move {
            if req.into_body().to_bytes(1 << 20).await.is_ok() {
                d.fetch_add(1, Ordering::SeqCst);
            }
            text_response(StatusCode::OK, "upstream")
        }
    })
    .await;
    Counted {
        server,
        calls,
        complete,
    }
}

/// Polls `cond` every 5 ms for up to 10 s, failing the test if it never holds.
async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !cond() {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "waited 10 s for {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn proxy_to(upstream: &TestServer, server: Server) -> TestServer {
    TestServer::start_with(server, ReverseProxy::new(&upstream.url("/")).unwrap()).await
}

/// The status line of the proxy's answer to `raw`, after which the connection must close.
async fn answer(proxy: &TestServer, raw: &str) -> String {
    let mut c = Conn::connect(proxy.addr()).await;
    c.send(raw).await;
    let got = String::from_utf8_lossy(&c.read_to_eof().await).into_owned();
    got.lines().next().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn requests_the_server_refuses_never_reach_the_upstream() {
    let up = counted().await;
    let proxy = proxy_to(&up.server, Server::new().max_header_bytes(4096)).await;
    let cases: &[(&str, &str)] = &[
        (
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            "400",
        ),
        (
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
            "400",
        ),
        (
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
            "400",
        ),
        (
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
            "400",
        ),
        ("GET / HTTP/1.1\r\nHost: a\r\nX-Fold: a\r\n b\r\n\r\n", "400"),
        ("GET / HTTP/1.1\r\nHost : a\r\n\r\n", "400"),
        ("GET / HTTP/1.1\r\n\r\n", "400"),
        ("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "400"),
        ("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", "400"),
        ("GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", "400"),
        (
            "POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            "400",
        ),
        // The first chunk is already malformed: refused before the upstream is dialed.
        (
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
            "400",
        ),
        (
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3 ;\x01\r\nabc\r\n0\r\n\r\n",
            "400",
        ),
    ];
    for (raw, status) in cases {
        let line = answer(&proxy, raw).await;
        assert!(
            line.starts_with(&format!("HTTP/1.1 {status} ")),
            "{raw:?} got {line:?}"
        );
    }
    let big = format!(
        "GET / HTTP/1.1\r\nHost: a\r\nX-Big: {}\r\n\r\n",
        "x".repeat(8192)
    );
    assert!(answer(&proxy, &big).await.starts_with("HTTP/1.1 431 "));
    assert_eq!(
        up.calls.load(Ordering::SeqCst),
        0,
        "a request reached the upstream"
    );
}

/// A chunked body that turns malformed after its first chunk reaches the upstream only as an
/// incomplete message: the upstream's body read fails, and no complete request arrives.
#[tokio::test]
async fn a_body_malformed_midway_never_completes_upstream() {
    let up = counted().await;
    let proxy = proxy_to(&up.server, Server::new()).await;
    let mut c = Conn::connect(proxy.addr()).await;
    c.send("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")
        .await;
    // Let the first chunk go upstream, then break the framing.
    wait_for("the upstream to get the request", || {
        up.calls.load(Ordering::SeqCst) == 1
    })
    .await;
    c.send("zz\r\nabc\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n")
        .await;
    let got = String::from_utf8_lossy(&c.read_to_eof().await).into_owned();
    assert!(got.starts_with("HTTP/1.1 400 "), "{got}");
    assert!(!got.contains("upstream"), "{got}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        up.calls.load(Ordering::SeqCst),
        1,
        "the smuggled request got through"
    );
    assert_eq!(up.complete.load(Ordering::SeqCst), 0);
}

/// An upstream that sends a head and part of its body, then nothing: the transport's read
/// timeout ends the body, and the client's connection is cut instead of held.
#[tokio::test]
async fn a_trickling_upstream_cannot_hold_the_client_past_the_read_timeout() {
    let upstream = Script::start(|mut p: Peer| async move {
        let _ = p.read_request().await;
        p.write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten..")
            .await;
        p.hold(Duration::from_secs(30)).await;
    })
    .await;
    let transport = ReverseProxy::default_transport()
        .read_timeout(Duration::from_millis(400))
        .build()
        .unwrap();
    let proxy = ReverseProxy::builder()
        .upstream(&upstream.url(""))
        .transport(transport)
        .build()
        .unwrap();
    let proxy = TestServer::start(proxy).await;
    let t0 = Instant::now();
    let mut c = Conn::connect(proxy.addr()).await;
    c.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n").await;
    let got = String::from_utf8_lossy(&c.read_to_eof().await).into_owned();
    assert!(got.starts_with("HTTP/1.1 200 OK\r\n"), "{got}");
    assert!(got.ends_with("only ten.."), "{got}");
    assert!(t0.elapsed() < Duration::from_secs(4), "{:?}", t0.elapsed());
}

/// A client that asks for a large response and never reads it: the proxy pulls from the
/// upstream only as fast as the client takes (so the upstream produces a bounded amount), the
/// server's write timeout closes the client, and the upstream sees the proxy go away.
#[tokio::test]
async fn a_client_that_does_not_read_holds_bounded_memory_and_is_cut() {
    const CHUNK: usize = 64 * 1024;
    const TOTAL_CHUNKS: u64 = 4096; // 256 MiB on offer
    let produced = Arc::new(AtomicU64::new(0));
    let released = Arc::new(AtomicBool::new(false));
    let (p, r) = (produced.clone(), released.clone());
    let upstream = TestServer::start(move |_req: HttpRequest| {
        let (p, r) = (p.clone(), r.clone());
        async move {
            let (tx, body) = Body::channel(1);
            tokio::spawn(async move {
                let chunk = bytes::Bytes::from(vec![b'x'; CHUNK]);
                for _ in 0..TOTAL_CHUNKS {
                    if tx.send_data(chunk.clone()).await.is_err() {
                        r.store(true, Ordering::SeqCst);
                        return;
                    }
                    p.fetch_add(CHUNK as u64, Ordering::SeqCst);
                }
            });
            HttpResponse::new(body)
        }
    })
    .await;
    let server = Server::new().write_timeout(Duration::from_millis(500));
    let proxy = proxy_to(&upstream, server).await;
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    sock.connect(&proxy.addr().into()).unwrap();
    sock.set_nonblocking(true).unwrap();
    let stream = tokio::net::TcpStream::from_std(sock.into()).unwrap();
    let mut c = Conn::from_stream(stream);
    c.send("GET /big HTTP/1.1\r\nHost: a\r\n\r\n").await;
    // Never read; wait for the upstream to see the proxy let go.
    wait_for("the upstream connection to be released", || {
        released.load(Ordering::SeqCst)
    })
    .await;
    let sent = produced.load(Ordering::SeqCst);
    // Socket buffers on three connections plus a frame or two in flight: a few MiB at most
    // of the 256 MiB offered.
    assert!(sent < 16 << 20, "the upstream produced {sent} bytes");
    wait_for("the proxy to close the client", || {
        proxy.handle().live_connections() == 0
    })
    .await;
}

/// A proxy behind TLS says `https` in `X-Forwarded-Proto` over HTTP/1.1 too (ConnInfo's tls).
#[tokio::test]
async fn forwarded_proto_is_https_behind_tls() {
    let upstream = TestServer::start(|req: HttpRequest| async move {
        let proto = req.headers()["x-forwarded-proto"].clone();
        text_response(StatusCode::OK, proto.to_str().unwrap().to_owned())
    })
    .await;
    let proxy = TestServer::start_tls_with(
        Server::new().conn_info(true),
        ReverseProxy::new(&upstream.url("/")).unwrap(),
    )
    .await;
    for http2 in [false, true] {
        let client = proxy
            .client_builder()
            .transport(|t| t.http2(http2))
            .build()
            .unwrap();
        let res = client.get(proxy.url("/")).send().await.unwrap();
        assert_eq!(res.into_body().to_bytes(64).await.unwrap(), "https");
    }
}

/// An upstream whose `/slow` answers after `slow`, anything else at once; and a proxy in
/// front of it whose connection to it is HTTP/2 (h2c by prior knowledge).
async fn h2_proxied(slow: Duration) -> (TestServer, TestServer) {
    let up = TestServer::start(move |req: HttpRequest| async move {
        if req.uri().path() == "/slow" {
            tokio::time::sleep(slow).await;
        }
        text_response(StatusCode::OK, "answered")
    })
    .await;
    let transport = ReverseProxy::default_transport()
        .http2_prior_knowledge(true)
        .build()
        .unwrap();
    let proxy = ReverseProxy::builder()
        .upstream(&up.url("/"))
        .transport(transport)
        .build()
        .unwrap();
    (up, TestServer::start(proxy).await)
}

/// `n` clients that ask for `/slow` and leave before the answer; the proxy cancels each
/// upstream stream (RST_STREAM) once it sees the client gone.
async fn abandon(proxy: &TestServer, n: usize) {
    for _ in 0..n {
        let mut c = Conn::connect(proxy.addr()).await;
        c.send("GET /slow HTTP/1.1\r\nHost: a\r\n\r\n").await;
        tokio::time::sleep(Duration::from_millis(5)).await;
        drop(c);
    }
}

/// 300 abandoned requests are more than the upstream's rapid-reset limit (200 per 10 s) and
/// most of the streams on the shared connection: the upstream sends it away, but with a
/// GOAWAY that lets the streams in flight finish, so another client's request already there
/// is answered, and the next goes on a new connection. (With the GOAWAY that cut them, it
/// was a `502`.)
#[tokio::test]
async fn abandoned_requests_do_not_break_the_others_on_the_upstream_connection() {
    let (up, proxy) = h2_proxied(Duration::from_secs(2)).await;
    let in_flight = {
        let (client, url) = (proxy.client(), proxy.url("/slow"));
        tokio::spawn(async move { client.get(url).send().await.map(|r| r.status()) })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    abandon(&proxy, 300).await;
    let status = tokio::time::timeout(Duration::from_secs(10), in_flight)
        .await
        .expect("the request in flight ended in time")
        .unwrap()
        .unwrap();
    assert_eq!(status, StatusCode::OK, "the request in flight was answered");
    let after = proxy.client().get(proxy.url("/")).send().await.unwrap();
    assert_eq!(after.status(), StatusCode::OK);
    assert_eq!(
        up.handle().accepted_connections(),
        2,
        "the upstream sent the first connection away"
    );
}

/// Among answered requests, cancellations are what a busy proxy forwards all day: 250 of
/// them after 300 answers on one upstream connection cost it nothing.
#[tokio::test]
async fn cancellations_among_answered_requests_keep_the_upstream_connection() {
    let (up, proxy) = h2_proxied(Duration::from_secs(2)).await;
    let client = proxy.client();
    for _ in 0..300 {
        let res = client.get(proxy.url("/")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
    abandon(&proxy, 250).await;
    let res = client.get(proxy.url("/")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        up.handle().accepted_connections(),
        1,
        "one upstream connection throughout"
    );
}
