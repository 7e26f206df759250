//! The client over TLS and HTTP/2 against our own server: ALPN picks h2 and concurrent
//! requests share one connection; h2c by prior knowledge; HTTP/1.1 over TLS; certificate
//! errors are their own kind; responses held unread do not stop the connection's others; an
//! early answer that resets an unfinished upload (RFC 9113 §8.1) is the response.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use nethttp::{ClientTls, HttpRequest, Server, Transport};

async fn echo_version(req: HttpRequest) -> nethttp::HttpResponse {
    let v = format!("{:?}", req.version());
    let body = req.into_body().to_bytes(1 << 20).await.unwrap_or_default();
    nethttp::text_response(http::StatusCode::OK, format!("{v} {}", body.len()))
}

fn get(url: &str) -> http::Request<nethttp::Body> {
    http::Request::get(url)
        .body(nethttp::Body::empty())
        .unwrap()
}

fn counting_server(server: Server) -> (nethttp::ServerHandle, Arc<AtomicUsize>) {
    let conns = Arc::new(AtomicUsize::new(0));
    let c = conns.clone();
    let server = server.conn_state_hook(move |_, s| {
        if s == nethttp::ConnState::New {
            c.fetch_add(1, Ordering::SeqCst);
        }
    });
    let listener = server.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    (server.serve(listener, echo_version), conns)
}

#[tokio::test]
async fn https_negotiates_h2_and_shares_one_connection() {
    let cert = common::certs::self_signed();
    let (handle, conns) = counting_server(Server::new().tls(cert.server_tls()));
    let t = Transport::builder().tls(cert.client_tls()).build().unwrap();
    let url = format!("https://localhost:{}/", handle.local_addr().port());
    let mut tasks = Vec::new();
    for i in 0..50 {
        let t = t.clone();
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let req = http::Request::post(&url)
                .body(nethttp::Body::from(vec![b'x'; i]))
                .unwrap();
            let res = t.round_trip(req).await.unwrap();
            assert_eq!(res.version(), http::Version::HTTP_2);
            res.into_body().to_bytes(1024).await.unwrap()
        }));
    }
    for (i, task) in tasks.into_iter().enumerate() {
        let body = tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(body, format!("HTTP/2.0 {i}").as_bytes());
    }
    assert_eq!(
        conns.load(Ordering::SeqCst),
        1,
        "one TCP connection for 50 requests"
    );
    let stats = t.pool_stats();
    assert_eq!(stats.dials, 1);
    assert_eq!(stats.hosts.len(), 1);
    assert_eq!(stats.hosts[0].http2_streams, vec![0]);
}

#[tokio::test]
async fn h2c_prior_knowledge() {
    let (handle, conns) = counting_server(Server::new());
    let t = Transport::builder()
        .http2_prior_knowledge(true)
        .build()
        .unwrap();
    let url = format!("http://127.0.0.1:{}/", handle.local_addr().port());
    for _ in 0..3 {
        let res = t.round_trip(get(&url)).await.unwrap();
        assert_eq!(res.version(), http::Version::HTTP_2);
        assert_eq!(res.into_body().to_bytes(1024).await.unwrap(), "HTTP/2.0 0");
    }
    assert_eq!(conns.load(Ordering::SeqCst), 1);
}

/// Responses the caller holds without reading pin their own streams' windows, never the
/// connection's: with the default windows (2 MiB per stream, 1 GiB per connection) a third
/// request's 3 MiB answer comes through on the same connection beside three endless ones
/// nobody reads. (With a connection window of 4 MiB, two of them stopped it.)
#[tokio::test]
async fn unread_responses_do_not_stall_the_connections_other_requests() {
    const BIG: usize = 3 << 20;
    let server = Server::new();
    let listener = server.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let handle = server.serve(listener, |req: HttpRequest| async move {
        if req.uri().path() == "/endless" {
            let (tx, body) = nethttp::Body::channel(1);
            tokio::spawn(async move {
                let chunk = bytes::Bytes::from(vec![b'e'; 64 * 1024]);
                while tx.send_data(chunk.clone()).await.is_ok() {}
            });
            return nethttp::HttpResponse::new(body);
        }
        nethttp::HttpResponse::new(nethttp::Body::from(vec![b'b'; BIG]))
    });
    let t = Transport::builder()
        .http2_prior_knowledge(true)
        .build()
        .unwrap();
    let base = format!("http://127.0.0.1:{}", handle.local_addr().port());
    let mut held = Vec::new();
    for _ in 0..3 {
        let res = t.round_trip(get(&format!("{base}/endless"))).await.unwrap();
        assert_eq!(res.version(), http::Version::HTTP_2);
        held.push(res);
    }
    // Let the endless answers fill their streams' windows.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = tokio::time::timeout(Duration::from_secs(10), async {
        let res = t.round_trip(get(&format!("{base}/big"))).await.unwrap();
        res.into_body().to_bytes(2 * BIG).await.unwrap()
    })
    .await
    .expect("the 3 MiB answer came through beside the unread ones");
    assert_eq!(got.len(), BIG);
    let stats = t.pool_stats();
    assert_eq!(stats.dials, 1, "one connection carried all four");
    drop(held);
}

#[tokio::test]
async fn https_http1_when_h2_is_off() {
    let cert = common::certs::self_signed();
    let (handle, conns) = counting_server(Server::new().tls(cert.server_tls()));
    let t = Transport::builder()
        .tls(cert.client_tls())
        .http2(false)
        .build()
        .unwrap();
    let url = format!("https://localhost:{}/", handle.local_addr().port());
    for _ in 0..3 {
        let res = t.round_trip(get(&url)).await.unwrap();
        assert_eq!(res.version(), http::Version::HTTP_11);
        assert_eq!(res.into_body().to_bytes(1024).await.unwrap(), "HTTP/1.1 0");
    }
    assert_eq!(
        conns.load(Ordering::SeqCst),
        1,
        "keep-alive over TLS reuses the connection"
    );
}

#[tokio::test]
async fn untrusted_certificate_is_a_certificate_error() {
    let cert = common::certs::self_signed();
    let (handle, _) = counting_server(Server::new().tls(cert.server_tls()));
    let t = Transport::builder().tls(ClientTls::new()).build().unwrap();
    let url = format!("https://localhost:{}/", handle.local_addr().port());
    let err = t.round_trip(get(&url)).await.unwrap_err();
    assert!(err.is_certificate(), "{err:?}");
    assert!(err.to_string().contains("certificate"), "{err}");
}

#[tokio::test]
async fn stream_cap_per_connection_spreads_requests_over_connections() {
    let (release_tx, release_rx) = tokio::sync::watch::channel(false);
    let server = Server::new();
    let conns = Arc::new(AtomicUsize::new(0));
    let c = conns.clone();
    let server = server.conn_state_hook(move |_, s| {
        if s == nethttp::ConnState::New {
            c.fetch_add(1, Ordering::SeqCst);
        }
    });
    let listener = server.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let handle = server.serve(listener, move |_req: HttpRequest| {
        let mut rx = release_rx.clone();
        async move {
            let _ = rx.wait_for(|go| *go).await;
            nethttp::text_response(http::StatusCode::OK, "done")
        }
    });
    let t = Transport::builder()
        .http2_prior_knowledge(true)
        .http2_max_streams_per_connection(4)
        .build()
        .unwrap();
    let url = format!("http://127.0.0.1:{}/", handle.local_addr().port());
    let tasks: Vec<_> = (0..12)
        .map(|_| {
            let (t, url) = (t.clone(), url.clone());
            tokio::spawn(async move {
                let req = get(&url);
                let res = t.round_trip(req).await.unwrap();
                res.into_body().to_bytes(64).await.unwrap()
            })
        })
        .collect();
    // All twelve are in flight, four per connection.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let streams: usize = t
            .pool_stats()
            .hosts
            .iter()
            .flat_map(|h| h.http2_streams.iter())
            .sum();
        if streams == 12 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{:?}", t.pool_stats());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut per_conn = t.pool_stats().hosts[0].http2_streams.clone();
    per_conn.sort();
    assert_eq!(per_conn, vec![4, 4, 4]);
    release_tx.send(true).unwrap();
    for task in tasks {
        let body = tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(body, "done");
    }
    assert_eq!(conns.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn trace_reports_h2_phases() {
    #[derive(Default)]
    struct Seen(std::sync::Mutex<Vec<String>>);
    impl nethttp::client::Trace for Seen {
        fn got_conn(&self, info: &nethttp::client::GotConn) {
            self.0.lock().unwrap().push(format!(
                "got_conn http2={} streams={} local={}",
                info.http2,
                info.streams_in_flight,
                info.local_addr.is_some()
            ));
        }
        fn tls_handshake_done(&self, alpn: Option<&[u8]>, err: Option<&nethttp::Error>) {
            self.0.lock().unwrap().push(format!(
                "tls alpn={:?} ok={}",
                alpn.map(|a| String::from_utf8_lossy(a).into_owned()),
                err.is_none()
            ));
        }
        fn wrote_request(&self, err: Option<&nethttp::Error>) {
            self.0
                .lock()
                .unwrap()
                .push(format!("wrote ok={}", err.is_none()));
        }
        fn got_first_response_byte(&self) {
            self.0.lock().unwrap().push("first byte".into());
        }
    }
    let cert = common::certs::self_signed();
    let (handle, _) = counting_server(Server::new().tls(cert.server_tls()));
    let client = nethttp::Client::builder()
        .transport(|t| t.tls(cert.client_tls()))
        .build()
        .unwrap();
    let url = format!("https://localhost:{}/", handle.local_addr().port());
    let seen = Arc::new(Seen::default());
    let res = client.get(&url).trace(seen.clone()).send().await.unwrap();
    assert_eq!(res.version(), http::Version::HTTP_2);
    let got = seen.0.lock().unwrap().clone();
    assert_eq!(
        got,
        vec![
            "tls alpn=Some(\"h2\") ok=true",
            "got_conn http2=true streams=1 local=true",
            "wrote ok=true",
            "first byte",
        ]
    );
}

/// A raw HTTP/2 server that completes the handshake and then goes silent: no PING answers,
/// no responses (a peer that vanished without closing). Prints its port.
const PY_SILENT_SERVER: &str = r#"
import socket, sys, time
ls = socket.socket(); ls.bind(("127.0.0.1", 0)); ls.listen(8)
print(ls.getsockname()[1], flush=True)
c, _ = ls.accept()
c.sendall(b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
buf = b""
while len(buf) < 24:
    d = c.recv(65536)
    if not d:
        sys.exit(0)
    buf += d
c.sendall(b"\x00\x00\x00\x04\x01\x00\x00\x00\x00")
time.sleep(20)
"#;

#[tokio::test]
async fn keepalive_ping_finds_a_vanished_server() {
    use tokio::io::AsyncBufReadExt;
    let Some(py) = common::peers::python_with(&["socket"]) else {
        return;
    };
    let mut child = tokio::process::Command::new(py)
        .args(["-c", PY_SILENT_SERVER])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let port = lines.next_line().await.unwrap().unwrap();
    let t = Transport::builder()
        .http2_prior_knowledge(true)
        .http2_keepalive(Some(Duration::from_millis(200)), Duration::from_millis(300))
        .response_header_timeout(Duration::from_secs(15))
        .build()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/");
    let start = std::time::Instant::now();
    let err = tokio::time::timeout(Duration::from_secs(10), t.round_trip(get(&url)))
        .await
        .expect("the unanswered PING ends the request long before its 15 s timeout")
        .unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    assert!(!err.is_timeout(), "{err:?}");
    // The dead connection left the pool before its request failed.
    assert_eq!(t.pool_stats().hosts, vec![], "{:?}", t.pool_stats());
}

#[tokio::test]
async fn keepalive_ping_answered_keeps_a_slow_request() {
    let server = Server::new();
    let listener = server.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let handle = server.serve(listener, |_req: HttpRequest| async {
        tokio::time::sleep(Duration::from_millis(1200)).await;
        nethttp::text_response(http::StatusCode::OK, "slow")
    });
    let t = Transport::builder()
        .http2_prior_knowledge(true)
        .http2_keepalive(Some(Duration::from_millis(200)), Duration::from_millis(300))
        .build()
        .unwrap();
    let url = format!("http://127.0.0.1:{}/", handle.local_addr().port());
    let res = tokio::time::timeout(Duration::from_secs(10), t.round_trip(get(&url)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(res.into_body().to_bytes(64).await.unwrap(), "slow");
    assert_eq!(t.pool_stats().dials, 1);
}

/// A dropped transport takes its shared HTTP/2 connections with it: the server sees them
/// closed at once, not after the client's idle timeout (90 s by default).
#[tokio::test]
async fn a_dropped_transport_closes_its_h2_connections() {
    let closed = Arc::new(AtomicUsize::new(0));
    let c = closed.clone();
    let server = Server::new().conn_state_hook(move |_, s| {
        if s == nethttp::ConnState::Closed {
            c.fetch_add(1, Ordering::SeqCst);
        }
    });
    let listener = server.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let handle = server.serve(listener, echo_version);
    let t = Transport::builder()
        .http2_prior_knowledge(true)
        .build()
        .unwrap();
    let url = format!("http://127.0.0.1:{}/", handle.local_addr().port());
    let res = t.round_trip(get(&url)).await.unwrap();
    assert_eq!(res.into_body().to_bytes(1024).await.unwrap(), "HTTP/2.0 0");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        closed.load(Ordering::SeqCst),
        0,
        "kept while the transport lives"
    );
    drop(t);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while closed.load(Ordering::SeqCst) == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the server still holds the connection 5 s after the transport was dropped"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A server may answer before the upload ends and then reset the stream with NO_ERROR (RFC
/// 9113 §8.1: the client "MUST NOT discard responses" for it). The answer is the response,
/// the upload stops (the body's sender fails), and the connection serves the next request.
#[tokio::test]
async fn an_early_answer_to_an_unfinished_upload_is_the_response() {
    let server = Server::new();
    let listener = server.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let handle = server.serve(listener, |req: HttpRequest| async move {
        if req.uri().path() == "/early" {
            // Answers without reading a byte of the body.
            return nethttp::text_response(http::StatusCode::PAYLOAD_TOO_LARGE, "no thanks\n");
        }
        echo_version(req).await
    });
    let t = Transport::builder()
        .http2_prior_knowledge(true)
        .build()
        .unwrap();
    let base = format!("http://{}", handle.local_addr());

    // A body of known length, far past the stream window, and an endless streamed one.
    let (tx, streamed) = nethttp::Body::channel(4);
    let feeder = tokio::spawn(async move {
        let mut sent = 0usize;
        while sent < 256 << 20 {
            if tx.send_data(vec![b'x'; 64 << 10]).await.is_err() {
                return Some(sent);
            }
            sent += 64 << 10;
        }
        None
    });
    for body in [nethttp::Body::from(vec![b'x'; 16 << 20]), streamed] {
        let req = http::Request::post(format!("{base}/early"))
            .body(body)
            .unwrap();
        let res = tokio::time::timeout(Duration::from_secs(10), t.round_trip(req))
            .await
            .expect("answered in time")
            .expect("the early answer is the response");
        assert_eq!(res.status(), http::StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(res.into_body().to_bytes(1024).await.unwrap(), "no thanks\n");
    }
    let sent = tokio::time::timeout(Duration::from_secs(10), feeder)
        .await
        .expect("the upload stopped")
        .unwrap()
        .expect("the sender failed once the stream ended");
    assert!(sent < 64 << 20, "{sent} bytes went into a finished stream");

    let req = http::Request::post(format!("{base}/"))
        .body(nethttp::Body::from("after"))
        .unwrap();
    let res = t.round_trip(req).await.unwrap();
    assert_eq!(res.into_body().to_bytes(1024).await.unwrap(), "HTTP/2.0 5");
    assert_eq!(t.pool_stats().dials, 1, "one connection for all three");
}
