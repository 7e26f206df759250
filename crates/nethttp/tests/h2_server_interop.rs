//! Interoperability of our HTTP/2 server (h2c by prior knowledge and h2 over TLS by ALPN)
//! with real clients nobody here wrote: curl, nghttp, h2load and hyper's HTTP/2 client —
//! protocol selection on one port, SETTINGS, load, multiplexing on one connection, streamed
//! bodies, trailers both ways, the stream limit, 413 and handler panics.
//!
//! The external programs are found on `PATH`; a missing one fails the test under `CI=true`
//! and skips it with a note otherwise (see `common::peers`).

mod common;
#[path = "common/h2peers.rs"]
mod h2peers;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::certs::self_signed;
use common::peers::peer;
use h2peers::*;
use http_body_util::BodyExt;
use nethttp::http::{self, header, HeaderMap, HeaderValue, Response, StatusCode};
use nethttp::{text_response, Body, ConnInfo, HttpRequest, HttpResponse, Server};
use tokio::sync::watch;

// ---------------------------------------------------------------------------------------------
// The application.

/// What most tests serve:
/// - `GET /hello` → `hello h2` with the request's HTTP version in `x-version`;
/// - `POST /echo` → the request body streamed back as it arrives (trailers too);
/// - `GET /trailers` → `part1part2` from a channel, then trailers `x-checksum`, `x-parts`;
/// - `POST /collect` → the request body read whole: `{len}:{bytes}|{x-req-trailer}`, or
///   `413` if reading it hit the body limit;
/// - `GET /panic` → the handler panics.
async fn app(req: HttpRequest) -> HttpResponse {
    let version = HeaderValue::from_str(&format!("{:?}", req.version())).unwrap();
    let mut resp = match (req.method().as_str(), req.uri().path()) {
        ("GET", "/hello") => text_response(StatusCode::OK, "hello h2"),
        ("POST", "/echo") => Response::new(req.into_body()),
        ("GET", "/trailers") => {
            let (tx, body) = Body::channel(2);
            tokio::spawn(async move {
                tx.send_data("part1").await?;
                tx.send_data("part2").await?;
                let mut t = HeaderMap::new();
                t.insert("x-checksum", HeaderValue::from_static("c0ffee"));
                t.insert("x-parts", HeaderValue::from_static("2"));
                tx.send_trailers(t).await
            });
            Response::new(body)
        }
        ("POST", "/collect") => match req.into_body().collect().await {
            Ok(c) => {
                let trailer = c
                    .trailers()
                    .and_then(|t| t.get("x-req-trailer"))
                    .map(|v| v.to_str().unwrap().to_owned())
                    .unwrap_or_else(|| "-".into());
                let bytes = c.to_bytes();
                let text = format!("{}:{}|{trailer}", bytes.len(), lossy(&bytes));
                Response::new(Body::from(text))
            }
            Err(e) if e.is_body_too_large() => {
                text_response(StatusCode::PAYLOAD_TOO_LARGE, "handler: too large\n")
            }
            Err(e) => text_response(StatusCode::BAD_REQUEST, format!("read failed: {e}\n")),
        },
        ("GET", "/panic") => panic!("handler panics on purpose"),
        _ => text_response(StatusCode::NOT_FOUND, "not found\n"),
    };
    resp.headers_mut().insert("x-version", version);
    resp
}

fn plain_url(addr: SocketAddr, path: &str) -> String {
    format!("http://{addr}{path}")
}

// ---------------------------------------------------------------------------------------------
// curl.

/// One plain port serves HTTP/1.1 (curl's default) and h2c by prior knowledge.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_plain_port_serves_http1_and_h2c_prior_knowledge() {
    let Some(bin) = peer("curl", "--version", &[]) else {
        return;
    };
    let handle = start(&Server::new(), app);
    let url = plain_url(handle.local_addr(), "/hello");

    let mut cmd = curl(&bin);
    cmd.args(["--http2-prior-knowledge", &url]);
    let out = run(cmd, "curl --http2-prior-knowledge").await;
    let err = lossy(&out.stderr);
    assert!(
        err.contains("< HTTP/2 200"),
        "no HTTP/2 200\n{}",
        show(&out)
    );
    assert!(err.contains("< x-version: HTTP/2.0"), "{}", show(&out));
    assert!(err.contains("< content-length: 8"), "{}", show(&out));
    assert_eq!(lossy(&out.stdout), "hello h2");

    let mut cmd = curl(&bin);
    cmd.arg(&url);
    let out = run(cmd, "curl (HTTP/1.1)").await;
    let err = lossy(&out.stderr);
    assert!(err.contains("< HTTP/1.1 200 OK"), "{}", show(&out));
    assert!(err.contains("< x-version: HTTP/1.1"), "{}", show(&out));
    assert_eq!(lossy(&out.stdout), "hello h2");

    // h2c with a body: the upload arrives whole and is echoed.
    let body: String = (0..5000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let mut cmd = curl(&bin);
    cmd.args([
        "--http2-prior-knowledge",
        "--data-binary",
        &body,
        &plain_url(handle.local_addr(), "/echo"),
    ]);
    let out = run(cmd, "curl h2c POST").await;
    assert!(
        lossy(&out.stderr).contains("< HTTP/2 200"),
        "{}",
        show(&out)
    );
    assert_eq!(lossy(&out.stdout), body);
    assert_eq!(handle.accepted_connections(), 3);
}

/// `OPTIONS *` over h2c (`:path` `*`, RFC 9113 §8.3.1) gets the server's own empty 200, as
/// on HTTP/1.1; the handler (which would say "hello h2") never sees it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_options_asterisk_over_h2c() {
    let Some(bin) = peer("curl", "--version", &[]) else {
        return;
    };
    let handle = start(&Server::new(), app);
    let mut cmd = curl(&bin);
    cmd.args([
        "--http2-prior-knowledge",
        "-X",
        "OPTIONS",
        "--request-target",
        "*",
        &plain_url(handle.local_addr(), "/"),
    ]);
    let out = run(cmd, "curl OPTIONS *").await;
    let err = lossy(&out.stderr);
    assert!(err.contains("> OPTIONS * HTTP/2"), "{}", show(&out));
    assert!(err.contains("< HTTP/2 200"), "{}", show(&out));
    assert!(err.contains("< content-length: 0"), "{}", show(&out));
    assert_eq!(lossy(&out.stdout), "");
}

/// Over TLS one port speaks HTTP/2 to a client offering `h2` and HTTP/1.1 to one that does
/// not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_tls_negotiates_h2_or_http1_by_alpn() {
    let Some(bin) = peer("curl", "--version", &[]) else {
        return;
    };
    let cert = self_signed();
    let handle = start(&Server::new().tls(cert.server_tls()), app);
    let port = handle.local_addr().port();

    let mut cmd = curl(&bin);
    cmd.arg("--http2")
        .args(curl_tls_args(&cert.cert_path(), port, "/hello"));
    let out = run(cmd, "curl --http2 over TLS").await;
    let err = lossy(&out.stderr);
    assert!(err.contains("ALPN: server accepted h2"), "{}", show(&out));
    assert!(err.contains("< HTTP/2 200"), "{}", show(&out));
    assert!(err.contains("< x-version: HTTP/2.0"), "{}", show(&out));
    assert_eq!(lossy(&out.stdout), "hello h2");

    let mut cmd = curl(&bin);
    cmd.arg("--http1.1")
        .args(curl_tls_args(&cert.cert_path(), port, "/hello"));
    let out = run(cmd, "curl --http1.1 over TLS").await;
    let err = lossy(&out.stderr);
    assert!(
        err.contains("ALPN: server accepted http/1.1"),
        "{}",
        show(&out)
    );
    assert!(err.contains("< HTTP/1.1 200 OK"), "{}", show(&out));
    assert!(err.contains("< x-version: HTTP/1.1"), "{}", show(&out));
    assert_eq!(lossy(&out.stdout), "hello h2");
}

/// With HTTP/2 off, ALPN offers no `h2`: curl --http2 falls back to HTTP/1.1 over TLS, and
/// on a plain port the HTTP/2 preface is not answered as HTTP/2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_with_http2_off_falls_back_to_http1() {
    let Some(bin) = peer("curl", "--version", &[]) else {
        return;
    };
    let cert = self_signed();
    let handle = start(&Server::new().http2(false).tls(cert.server_tls()), app);
    let port = handle.local_addr().port();
    let mut cmd = curl(&bin);
    cmd.arg("--http2")
        .args(curl_tls_args(&cert.cert_path(), port, "/hello"));
    let out = run(cmd, "curl --http2 to an HTTP/1.1-only TLS server").await;
    let err = lossy(&out.stderr);
    assert!(!err.contains("ALPN: server accepted h2"), "{}", show(&out));
    assert!(err.contains("< HTTP/1.1 200 OK"), "{}", show(&out));
    assert!(err.contains("< x-version: HTTP/1.1"), "{}", show(&out));
    assert_eq!(lossy(&out.stdout), "hello h2");

    let handle = start(&Server::new().http2(false), app);
    let mut cmd = curl(&bin);
    cmd.args([
        "--http2-prior-knowledge",
        &plain_url(handle.local_addr(), "/hello"),
    ]);
    let out = run_any(
        cmd,
        "curl --http2-prior-knowledge to an HTTP/1.1-only server",
    )
    .await;
    assert!(!out.status.success(), "h2c was served\n{}", show(&out));
    assert!(!lossy(&out.stderr).contains("< HTTP/2"), "{}", show(&out));
}

// ---------------------------------------------------------------------------------------------
// nghttp and h2load.

/// The value of SETTINGS_MAX_CONCURRENT_STREAMS the server sent, from `nghttp -v` output
/// (which shows nghttp's own SETTINGS first, then the server's).
fn max_streams_setting(verbose: &str) -> Option<u32> {
    let received = &verbose[verbose.find("recv SETTINGS frame")?..];
    let settings = &received[..received.find("\n[")?];
    let tag = "[SETTINGS_MAX_CONCURRENT_STREAMS(0x03):";
    let at = settings.find(tag)? + tag.len();
    settings[at..].split(']').next()?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nghttp_sees_max_concurrent_streams_and_gets_the_body() {
    let Some(bin) = peer("nghttp", "--version", &[]) else {
        return;
    };
    // Default, h2c.
    let handle = start(&Server::new(), app);
    let url = plain_url(handle.local_addr(), "/hello");
    let mut cmd = tokio::process::Command::new(&bin);
    cmd.args(["-nv", "-t", "10", &url]);
    let out = run(cmd, "nghttp -nv (h2c)").await;
    let v = lossy(&out.stdout);
    assert_eq!(max_streams_setting(&v), Some(250), "{}", show(&out));
    assert!(v.contains(":status: 200"), "{}", show(&out));
    assert!(
        v.contains("recv DATA frame <length=8, flags=0x01"),
        "{}",
        show(&out)
    );
    let mut cmd = tokio::process::Command::new(&bin);
    cmd.args(["-t", "10", &url]);
    let out = run(cmd, "nghttp (h2c)").await;
    assert_eq!(lossy(&out.stdout), "hello h2");

    // Configured, over TLS (nghttp negotiates h2 by ALPN; it does not verify certificates).
    let cert = self_signed();
    let server = Server::new()
        .tls(cert.server_tls())
        .http2_max_concurrent_streams(7);
    let handle = start(&server, app);
    let url = format!("https://127.0.0.1:{}/hello", handle.local_addr().port());
    let mut cmd = tokio::process::Command::new(&bin);
    cmd.args(["-nv", "-t", "10", &url]);
    let out = run(cmd, "nghttp -nv (TLS)").await;
    let v = lossy(&out.stdout);
    assert!(v.contains("The negotiated protocol: h2"), "{}", show(&out));
    assert_eq!(max_streams_setting(&v), Some(7), "{}", show(&out));
    assert!(v.contains(":status: 200"), "{}", show(&out));
    let mut cmd = tokio::process::Command::new(&bin);
    cmd.args(["-t", "10", &url]);
    let out = run(cmd, "nghttp (TLS)").await;
    assert_eq!(lossy(&out.stdout), "hello h2");
}

/// Runs h2load against `url` and checks every request succeeded with a 2xx.
async fn h2load_all_succeed(bin: &std::path::Path, url: &str, protocol: &str) {
    let mut cmd = tokio::process::Command::new(bin);
    cmd.args([
        "-n", "2000", "-c", "4", "-m", "16", "-T", "10", "-N", "10", url,
    ]);
    let out = run(cmd, "h2load").await;
    let text = lossy(&out.stdout);
    assert!(
        text.contains("2000 succeeded, 0 failed, 0 errored, 0 timeout"),
        "{}",
        show(&out)
    );
    assert!(text.contains("status codes: 2000 2xx"), "{}", show(&out));
    assert!(
        text.contains(&format!("Application protocol: {protocol}")),
        "{}",
        show(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2load_over_h2c_and_tls_all_requests_succeed() {
    let Some(bin) = peer("h2load", "--version", &[]) else {
        return;
    };
    let handle = start(&Server::new(), app);
    h2load_all_succeed(&bin, &plain_url(handle.local_addr(), "/hello"), "h2c").await;
    assert_eq!(handle.accepted_connections(), 4);

    let cert = self_signed();
    let handle = start(&Server::new().tls(cert.server_tls()), app);
    let url = format!("https://127.0.0.1:{}/hello", handle.local_addr().port());
    h2load_all_succeed(&bin, &url, "h2").await;
    assert_eq!(handle.accepted_connections(), 4);
}

// ---------------------------------------------------------------------------------------------
// hyper's HTTP/2 client.

/// 100 requests at once on one connection: all answered, all on the one TCP connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hyper_100_concurrent_streams_share_one_connection() {
    let log = StateLog::default();
    let peers: Arc<Mutex<HashSet<SocketAddr>>> = Arc::default();
    let seen = peers.clone();
    let server = Server::new().conn_info(true).conn_state_hook(log.hook());
    let handle = start(&server, move |req: HttpRequest| {
        let seen = seen.clone();
        async move {
            let info = req.extensions().get::<ConnInfo>().copied();
            seen.lock()
                .unwrap()
                .insert(info.expect("ConnInfo").remote_addr);
            app(req).await
        }
    });
    let (sender, _conn) = hyper_h2c(handle.local_addr()).await;
    let mut tasks = Vec::new();
    for i in 0..100usize {
        let sender = sender.clone();
        let addr = handle.local_addr();
        tasks.push(tokio::spawn(async move {
            let body = format!("request {i} ").repeat(i + 1);
            let req = http::Request::post(format!("http://{addr}/echo"))
                .body(Body::from(body.clone()))
                .unwrap();
            let got = send(&sender, req).await;
            assert_eq!(got.head.status, StatusCode::OK, "request {i}");
            assert_eq!(got.head.version, http::Version::HTTP_2);
            assert_eq!(got.body, body.as_bytes(), "request {i}");
        }));
    }
    for t in tasks {
        within("request task", t).await.expect("request task");
    }
    assert_eq!(handle.accepted_connections(), 1);
    assert_eq!(log.new_count(), 1, "{:?}", log.all());
    assert_eq!(peers.lock().unwrap().len(), 1);
}

/// A request body sent as separate frames, each waiting for its echo before the next is
/// sent: the server streams both ways instead of buffering the body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hyper_streamed_request_body_is_echoed_as_it_arrives() {
    let handle = start(&Server::new(), app);
    let (mut sender, _conn) = hyper_h2c(handle.local_addr()).await;
    let (tx, body) = Body::channel(1);
    let req = http::Request::post(plain_url(handle.local_addr(), "/echo"))
        .body(body)
        .unwrap();
    within("ready", sender.ready()).await.unwrap();
    let resp = within("echo response head", sender.send_request(req))
        .await
        .expect("response");
    assert_eq!(resp.status(), StatusCode::OK);
    let mut resp_body = resp.into_body();
    for i in 0..5 {
        let chunk = format!("chunk number {i}\n");
        within("send a chunk", tx.send_data(chunk.clone()))
            .await
            .unwrap();
        let mut got = Vec::new();
        while got.len() < chunk.len() {
            let frame = within("echoed chunk", resp_body.frame())
                .await
                .expect("body ended early")
                .expect("body failed");
            got.extend_from_slice(&frame.into_data().expect("data frame"));
        }
        assert_eq!(lossy(&got), chunk, "round {i}");
    }
    let mut t = HeaderMap::new();
    t.insert("x-req-trailer", HeaderValue::from_static("echoed"));
    within("send trailers", tx.send_trailers(t)).await.unwrap();
    drop(tx);
    let rest = within("end of echo", resp_body.collect())
        .await
        .expect("body");
    let trailers = rest.trailers().cloned();
    assert_eq!(rest.to_bytes(), "");
    // The echoed request trailers arrive as response trailers.
    assert_eq!(trailers.expect("trailers")["x-req-trailer"], "echoed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hyper_receives_response_trailers() {
    let handle = start(&Server::new(), app);
    let (sender, _conn) = hyper_h2c(handle.local_addr()).await;
    let got = send(&sender, get(handle.local_addr(), "/trailers")).await;
    assert_eq!(got.head.status, StatusCode::OK);
    assert!(!got.head.headers.contains_key(header::CONTENT_LENGTH));
    assert_eq!(got.body, "part1part2");
    let t = got.trailers.expect("response trailers");
    assert_eq!(t["x-checksum"], "c0ffee");
    assert_eq!(t["x-parts"], "2");
    assert_eq!(t.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hyper_request_trailers_reach_the_handler() {
    let handle = start(&Server::new(), app);
    let (sender, _conn) = hyper_h2c(handle.local_addr()).await;
    let (tx, body) = Body::channel(4);
    tokio::spawn(async move {
        tx.send_data("abc").await?;
        tx.send_data("defg").await?;
        let mut t = HeaderMap::new();
        t.insert("x-req-trailer", HeaderValue::from_static("tv-1"));
        tx.send_trailers(t).await
    });
    let req = http::Request::post(plain_url(handle.local_addr(), "/collect"))
        .body(body)
        .unwrap();
    let got = send(&sender, req).await;
    assert_eq!(got.head.status, StatusCode::OK);
    assert_eq!(got.body, "7:abcdefg|tv-1");
}

// ---------------------------------------------------------------------------------------------
// Limits and failures.

/// With SETTINGS_MAX_CONCURRENT_STREAMS 2, hyper never has more than 2 handlers running at
/// once on the connection, and the queued requests all complete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_concurrent_streams_caps_handlers_in_flight() {
    let in_flight = Arc::new(AtomicUsize::new(0));
    let max_seen = Arc::new(AtomicUsize::new(0));
    let started = Arc::new(AtomicUsize::new(0));
    let (release, released) = watch::channel(false);
    let (f, m, s) = (in_flight.clone(), max_seen.clone(), started.clone());
    let server = Server::new().http2_max_concurrent_streams(2);
    let handle = start(&server, move |req: HttpRequest| {
        let (f, m, s, mut released) = (f.clone(), m.clone(), s.clone(), released.clone());
        async move {
            if req.uri().path() != "/block" {
                return app(req).await;
            }
            let now = f.fetch_add(1, Ordering::SeqCst) + 1;
            m.fetch_max(now, Ordering::SeqCst);
            let n = s.fetch_add(1, Ordering::SeqCst);
            let _ = tokio::time::timeout(Duration::from_secs(10), released.wait_for(|r| *r)).await;
            f.fetch_sub(1, Ordering::SeqCst);
            text_response(StatusCode::OK, format!("done {n}"))
        }
    });
    let (sender, _conn) = hyper_h2c(handle.local_addr()).await;
    // A first exchange, so the client has the server's SETTINGS before it opens streams.
    assert_eq!(
        send(&sender, get(handle.local_addr(), "/hello")).await.body,
        "hello h2"
    );
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let (sender, addr) = (sender.clone(), handle.local_addr());
        tasks.push(tokio::spawn(async move {
            send(&sender, get(addr, "/block")).await
        }));
    }
    wait_until("two handlers running", || {
        in_flight.load(Ordering::SeqCst) == 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        started.load(Ordering::SeqCst),
        2,
        "a third stream was let in"
    );
    release.send(true).unwrap();
    let mut bodies = Vec::new();
    for t in tasks {
        let got = within("blocked request", t).await.expect("request task");
        assert_eq!(got.head.status, StatusCode::OK);
        bodies.push(lossy(&got.body));
    }
    bodies.sort();
    let want: Vec<String> = (0..6).map(|n| format!("done {n}")).collect();
    assert_eq!(bodies, want);
    assert_eq!(max_seen.load(Ordering::SeqCst), 2);
    assert_eq!(handle.accepted_connections(), 1);
}

/// A Content-Length over `max_body_bytes` is refused with 413 before the handler runs; a
/// body without a length that grows past it fails the handler's read, and the server answers
/// 413 in place of the handler's response (as on HTTP/1.1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_body_over_the_limit_gets_413() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let server = Server::new().max_body_bytes(Some(16));
    let handle = start(&server, move |req: HttpRequest| {
        c.fetch_add(1, Ordering::SeqCst);
        app(req)
    });
    let (sender, _conn) = hyper_h2c(handle.local_addr()).await;
    let url = plain_url(handle.local_addr(), "/collect");

    let req = http::Request::post(&url)
        .header(header::CONTENT_LENGTH, "100")
        .body(Body::from(vec![b'x'; 100]))
        .unwrap();
    let got = send(&sender, req).await;
    assert_eq!(got.head.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(got.body, "request body too large\n");
    assert_eq!(calls.load(Ordering::SeqCst), 0, "the handler ran");

    // Exactly at the limit is fine.
    let req = http::Request::post(&url)
        .header(header::CONTENT_LENGTH, "16")
        .body(Body::from(vec![b'y'; 16]))
        .unwrap();
    let got = send(&sender, req).await;
    assert_eq!(got.head.status, StatusCode::OK);
    assert_eq!(got.body, format!("16:{}|-", "y".repeat(16)));

    // No length: the read fails once more than 16 bytes arrived.
    let (tx, body) = Body::channel(4);
    tokio::spawn(async move {
        for _ in 0..3 {
            tx.send_data(vec![b'z'; 10]).await?;
        }
        Ok::<_, nethttp::Error>(())
    });
    let req = http::Request::post(&url).body(body).unwrap();
    let got = send(&sender, req).await;
    assert_eq!(got.head.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(got.body, "request body too large\n");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "the handler ran for the two bodies it was given"
    );
    assert_eq!(handle.accepted_connections(), 1);
}

/// A panicking handler costs its stream a 500, not the connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handler_panic_answers_500_and_the_connection_lives_on() {
    let handle = start(&Server::new(), app);
    let (sender, conn) = hyper_h2c(handle.local_addr()).await;
    let got = send(&sender, get(handle.local_addr(), "/panic")).await;
    assert_eq!(got.head.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(got.body, "internal server error\n");
    for _ in 0..3 {
        let got = send(&sender, get(handle.local_addr(), "/hello")).await;
        assert_eq!(got.head.status, StatusCode::OK);
        assert_eq!(got.body, "hello h2");
    }
    assert!(!conn.is_finished(), "the connection closed");
    assert_eq!(handle.accepted_connections(), 1);
    assert_eq!(handle.live_connections(), 1);
}
