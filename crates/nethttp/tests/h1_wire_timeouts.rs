//! Raw-TCP tests of the server's timeouts, with short configured values: read-header (408 for
//! a started head, a silent close for a silent connection, slowloris), idle keep-alive,
//! request read and minimum body data rate (the handler's read fails as a timeout), and write
//! (a client that stops reading is disconnected).

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::wire::{
    error_response, normalize, ok_text, ok_text_close, start, Conn, StateLog, DATE,
};
use nethttp::http::{Response, StatusCode};
use nethttp::{text_response, Body, HttpRequest, HttpResponse, MinDataRate, Server};

/// Generous bound for "promptly after the timeout" on a loaded 2-core machine.
const SLACK: Duration = Duration::from_secs(2);
/// How much earlier than its timeout an event may be seen: the test's clock starts a little
/// after the server's.
const EARLY: Duration = Duration::from_millis(50);

async fn path_only(req: HttpRequest) -> HttpResponse {
    text_response(StatusCode::OK, req.uri().path().to_string())
}

/// Reads the whole body; answers `ok: N bytes` or `error timeout=<is_timeout>: <message>`.
async fn body_reader(req: HttpRequest) -> HttpResponse {
    match req.into_body().to_bytes(1 << 20).await {
        Ok(b) => text_response(StatusCode::OK, format!("ok: {} bytes", b.len())),
        Err(e) => text_response(
            StatusCode::OK,
            format!("error timeout={}: {e}", e.is_timeout()),
        ),
    }
}

#[tokio::test]
async fn half_a_head_gets_408_after_the_read_header_timeout() {
    let timeout = Duration::from_millis(250);
    let handle = start(Server::new().read_header_timeout(timeout), path_only);
    let mut c = Conn::connect(handle.local_addr()).await;
    let t0 = Instant::now();
    c.send("GET / HTTP/1.1\r\nHost: x\r\n").await;
    assert_eq!(
        c.response().await,
        error_response("408 Request Timeout", "request header read timeout")
    );
    let took = t0.elapsed();
    c.expect_eof().await;
    assert!(took >= timeout - EARLY, "408 came early, after {took:?}");
    assert!(took < timeout + SLACK, "408 came late, after {took:?}");
}

#[tokio::test]
async fn silent_connection_is_closed_without_a_response() {
    let timeout = Duration::from_millis(250);
    let handle = start(Server::new().read_header_timeout(timeout), path_only);
    let t0 = Instant::now();
    let mut c = Conn::connect(handle.local_addr()).await;
    c.expect_eof().await; // no bytes at all, then EOF
    let took = t0.elapsed();
    assert!(took >= timeout - EARLY, "closed early, after {took:?}");
    assert!(took < timeout + SLACK, "closed late, after {took:?}");
}

#[tokio::test]
async fn idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let idle = Duration::from_millis(300);
    let handle = start(Server::new().idle_timeout(idle), path_only);
    // A sub-second idle timeout rounds to `timeout=0`, which is not advertised.
    let expected = |p: &str| ok_text(p).replace("keep-alive: timeout=60\r\n", "");
    let mut c = Conn::connect(handle.local_addr()).await;
    c.send("GET /1 HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(c.response().await, expected("/1"));
    // A request within the idle timeout is served on the same connection...
    tokio::time::sleep(idle / 3).await;
    c.send("GET /2 HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(c.response().await, expected("/2"));
    // ...and an idle one is closed without a word once it passes.
    let t0 = Instant::now();
    c.expect_eof().await;
    let took = t0.elapsed();
    assert!(took >= idle - EARLY, "closed early, after {took:?}");
    assert!(took < idle + SLACK, "closed late, after {took:?}");
}

#[tokio::test]
async fn slowloris_is_cut_off_by_the_read_header_timeout() {
    let timeout = Duration::from_millis(300);
    let handle = start(Server::new().read_header_timeout(timeout), path_only);
    let mut c = Conn::connect(handle.local_addr()).await;
    c.stream.set_nodelay(true).unwrap();
    // Every byte arrives well within any per-read timeout; the head as a whole never ends.
    let head = format!("GET / HTTP/1.1\r\nHost: x\r\nX-Slow: {}", "a".repeat(1000));
    let (got, took, sent) = c
        .trickle_until_eof(head.as_bytes(), Duration::from_millis(50))
        .await;
    assert_eq!(
        normalize(&got),
        error_response("408 Request Timeout", "request header read timeout")
    );
    assert!(sent < head.len(), "the head was never complete");
    assert!(took >= timeout - EARLY, "cut off early, after {took:?}");
    assert!(took < timeout + SLACK, "cut off late, after {took:?}");
}

#[tokio::test]
async fn body_below_the_minimum_data_rate_fails_the_read_as_a_timeout() {
    let rate = MinDataRate {
        bytes_per_sec: 1000,
        grace: Duration::from_millis(200),
    };
    let handle = start(Server::new().min_body_rate(Some(rate)), body_reader);
    let mut c = Conn::connect(handle.local_addr()).await;
    c.stream.set_nodelay(true).unwrap();
    // A fast body is fine.
    c.send(format!(
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{}",
        "f".repeat(1000)
    ))
    .await;
    assert_eq!(c.response().await, ok_text("ok: 1000 bytes"));

    // 10 bytes/s against a minimum of 1000.
    c.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
        .await;
    let (got, took, sent) = c
        .trickle_until_eof(&[b's'; 1000], Duration::from_millis(100))
        .await;
    assert_eq!(
        normalize(&got),
        ok_text_close("error timeout=true: request body arrived below the minimum data rate"),
        "the handler saw a timeout, and the connection closes after its response"
    );
    assert!(sent < 1000);
    assert!(took >= rate.grace - EARLY, "failed early, after {took:?}");
    assert!(took < rate.grace + SLACK, "failed late, after {took:?}");
}

#[tokio::test]
async fn body_past_the_read_timeout_fails_the_read_as_a_timeout() {
    let timeout = Duration::from_millis(300);
    let handle = start(
        Server::new().read_timeout(timeout).min_body_rate(None),
        body_reader,
    );
    let mut c = Conn::connect(handle.local_addr()).await;
    c.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
        .await;
    let t0 = Instant::now();
    let got = c.read_to_eof().await;
    let took = t0.elapsed();
    assert_eq!(
        normalize(&got),
        ok_text_close("error timeout=true: request read timeout")
    );
    assert!(took >= timeout - EARLY, "failed early, after {took:?}");
    assert!(took < timeout + SLACK, "failed late, after {took:?}");
}

#[tokio::test]
async fn client_that_stops_reading_is_disconnected_after_the_write_timeout() {
    let write_timeout = Duration::from_millis(300);
    let log = StateLog::default();
    let producer_stopped = Arc::new(AtomicBool::new(false));
    let stopped = producer_stopped.clone();
    let handle = start(
        Server::new()
            .write_timeout(write_timeout)
            .conn_state_hook(log.hook()),
        move |_req: HttpRequest| {
            let stopped = stopped.clone();
            async move {
                let (tx, body) = Body::channel(2);
                tokio::spawn(async move {
                    let chunk = bytes::Bytes::from(vec![b'x'; 64 * 1024]);
                    // Produce forever; stops only when the server drops the body.
                    while tx.send_data(chunk.clone()).await.is_ok() {}
                    stopped.store(true, Ordering::SeqCst);
                });
                Response::new(body)
            }
        },
    );
    // A small receive window so the server's writes block soon.
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    let stream = tokio::time::timeout(common::wire::IO_TIMEOUT, sock.connect(handle.local_addr()))
        .await
        .expect("connect timed out")
        .expect("connect");
    let mut c = Conn::from_stream(stream);
    let peer = c.local_addr();
    c.send("GET /forever HTTP/1.1\r\nHost: x\r\n\r\n").await;
    // Never read. The server's task must end (Closed) soon after a write stalls.
    let closed_after = log.wait_closed(peer, write_timeout + SLACK + SLACK).await;
    let closed_after = closed_after.unwrap_or_else(|| {
        panic!(
            "connection not closed; states so far {:?}",
            log.states(peer)
        )
    });
    assert!(
        closed_after >= write_timeout - EARLY,
        "closed after {closed_after:?}"
    );
    assert_eq!(log.states(peer).last(), Some(&nethttp::ConnState::Closed));
    // The body (and with it the producer) was dropped.
    let t0 = Instant::now();
    while !producer_stopped.load(Ordering::SeqCst) && t0.elapsed() < SLACK {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        producer_stopped.load(Ordering::SeqCst),
        "the response body was never dropped"
    );
    // What did arrive starts with a chunked head.
    let head = c.read_bytes(200).await;
    assert!(
        normalize(&head).starts_with(&format!(
            "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n{DATE}keep-alive: timeout=60\r\n\r\n10000\r\nxxx"
        )),
        "{:?}",
        String::from_utf8_lossy(&head)
    );
}
