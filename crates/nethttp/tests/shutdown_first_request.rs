//! A graceful shutdown and the connections that have not begun their first request: each
//! gets `Server::first_request_grace` (a client connects and sends at once, so such a
//! connection is most likely a request on its way). Raw TCP, TLS (tokio-rustls) and
//! in-memory peers: a request that arrives within the grace is answered, with
//! `Connection: close`, on every opening path (plain HTTP/1.1, the h2c sniff, TLS, the PROXY
//! header, `serve_connection`); a connection still silent when the grace ends is closed, so
//! silent and trickling peers hold a shutdown for a bounded time; a keep-alive connection
//! between requests is still closed at once.

mod common;

use std::time::{Duration, Instant};

use common::wire::{normalize, ok_text_close, start, Conn, IO_TIMEOUT};
use nethttp::http::StatusCode;
use nethttp::{text_response, HttpRequest, ProxyProtocol, Server, ServerHandle, ShutdownReport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";

/// The grace the tests give, unless a test is about another.
const GRACE: Duration = Duration::from_millis(1500);

/// How long after a shutdown began a late request is sent: long enough that every
/// connection task has seen the shutdown (the connection is closed at once without the
/// grace: see `without_the_grace_the_same_late_request_finds_the_connection_closed`).
const LATE: Duration = Duration::from_millis(200);

fn serve(server: Server) -> ServerHandle {
    start(server, |_req: HttpRequest| async {
        text_response(StatusCode::OK, "hello")
    })
}

/// Waits until the server has accepted `n` connections in all.
async fn accepted(handle: &ServerHandle, n: u64) {
    let end = Instant::now() + IO_TIMEOUT;
    while handle.accepted_connections() < n {
        assert!(
            Instant::now() < end,
            "the server did not accept {n} connections"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Starts a graceful shutdown (with a 5 s deadline) in the background; returns it and when
/// it began.
fn shut_down(handle: &ServerHandle) -> (JoinHandle<ShutdownReport>, Instant) {
    let handle = handle.clone();
    let began = Instant::now();
    (
        tokio::spawn(async move { handle.shutdown(Duration::from_secs(5)).await }),
        began,
    )
}

async fn finished(shutdown: JoinHandle<ShutdownReport>) -> ShutdownReport {
    tokio::time::timeout(IO_TIMEOUT + Duration::from_secs(2), shutdown)
        .await
        .expect("shutdown did not finish")
        .expect("shutdown task")
}

/// Connects, lets a shutdown begin, then sends `opening` and a request: the exact
/// `Connection: close` response comes back, then EOF, and the shutdown forces nothing.
async fn late_request_is_answered(server: Server, opening: &[u8]) {
    let handle = serve(server.first_request_grace(GRACE));
    let mut c = Conn::connect(handle.local_addr()).await;
    accepted(&handle, 1).await;
    let (shutdown, _) = shut_down(&handle);
    tokio::time::sleep(LATE).await;
    c.send([opening, GET].concat()).await;
    assert_eq!(c.response().await, ok_text_close("hello"));
    c.expect_eof().await;
    assert_eq!(finished(shutdown).await.forced, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_first_request_is_answered_http1_only() {
    late_request_is_answered(Server::new().http2(false), b"").await;
}

/// With HTTP/2 on, the port first waits for bytes that tell h2c from HTTP/1.1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_first_request_is_answered_while_the_port_tells_h2c_from_http1() {
    late_request_is_answered(Server::new(), b"").await;
}

/// Behind a balancer, the PROXY header comes first: it is part of the request on its way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_proxy_header_and_request_are_answered() {
    late_request_is_answered(
        Server::new().proxy_protocol(ProxyProtocol::required()),
        b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 80\r\n",
    )
    .await;
}

/// The check that the tests above can fail: with no grace, the connection the late request
/// is sent on was already closed by the shutdown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_grace_the_same_late_request_finds_the_connection_closed() {
    for server in [Server::new().http2(false), Server::new()] {
        let handle = serve(server.first_request_grace(Duration::ZERO));
        let mut c = Conn::connect(handle.local_addr()).await;
        accepted(&handle, 1).await;
        let (shutdown, began) = shut_down(&handle);
        tokio::time::sleep(LATE).await;
        let _ = c.try_send(GET).await;
        c.expect_closed().await;
        assert_eq!(finished(shutdown).await.forced, 0);
        assert!(began.elapsed() < Duration::from_secs(1));
    }
}

/// A TLS handshake begun after the shutdown began is a request on its way too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_tls_handshake_and_request_are_answered() {
    let cert = common::certs::self_signed();
    let handle = serve(
        Server::new()
            .tls(cert.server_tls())
            .first_request_grace(GRACE),
    );
    let tcp = tokio::net::TcpStream::connect(handle.local_addr())
        .await
        .unwrap();
    accepted(&handle, 1).await;
    let (shutdown, _) = shut_down(&handle);
    tokio::time::sleep(LATE).await;
    let connector = common::certs::tls_connector(&cert.cert_pem, &[b"http/1.1"]);
    let name = "localhost".try_into().unwrap();
    let mut tls = tokio::time::timeout(IO_TIMEOUT, connector.connect(name, tcp))
        .await
        .expect("handshake timed out")
        .expect("TLS handshake");
    tls.write_all(GET).await.unwrap();
    let mut got = Vec::new();
    // The server closes after its response (rustls may report the peer's close as an error
    // once the response is in: what was read counts).
    let _ = tokio::time::timeout(IO_TIMEOUT, tls.read_to_end(&mut got))
        .await
        .expect("no close within the timeout");
    assert_eq!(normalize(&got), ok_text_close("hello"));
    assert_eq!(finished(shutdown).await.forced, 0);
}

/// A connection still silent when the grace ends is closed then: the shutdown takes the
/// grace, no longer, and forces nothing.
async fn silent_connection_is_closed_after_the_grace(server: Server) {
    let grace = Duration::from_millis(400);
    let handle = serve(server.first_request_grace(grace));
    let mut c = Conn::connect(handle.local_addr()).await;
    accepted(&handle, 1).await;
    let (shutdown, began) = shut_down(&handle);
    c.expect_closed().await;
    let report = finished(shutdown).await;
    let took = began.elapsed();
    assert_eq!(report.forced, 0);
    assert!(took >= grace, "closed after {took:?}, before the grace");
    assert!(
        took < grace + Duration::from_secs(1),
        "shutdown took {took:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_new_connection_is_closed_after_the_grace_http1_only() {
    silent_connection_is_closed_after_the_grace(Server::new().http2(false)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_new_connection_is_closed_after_the_grace_with_h2c() {
    silent_connection_is_closed_after_the_grace(Server::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_tls_connection_is_closed_after_the_grace() {
    let cert = common::certs::self_signed();
    silent_connection_is_closed_after_the_grace(Server::new().tls(cert.server_tls())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_silent_after_its_proxy_header_is_closed_after_the_grace() {
    let grace = Duration::from_millis(400);
    let handle = serve(
        Server::new()
            .proxy_protocol(ProxyProtocol::required())
            .first_request_grace(grace),
    );
    let mut c = Conn::connect(handle.local_addr()).await;
    c.send(b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 80\r\n")
        .await;
    accepted(&handle, 1).await;
    let (shutdown, began) = shut_down(&handle);
    c.expect_closed().await;
    assert_eq!(finished(shutdown).await.forced, 0);
    let took = began.elapsed();
    assert!(took >= grace, "closed after {took:?}, before the grace");
}

/// Many silent connections hold a shutdown for the grace once, not each in turn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_silent_connections_holds_the_shutdown_for_one_grace() {
    let grace = Duration::from_millis(400);
    let handle = serve(Server::new().first_request_grace(grace));
    let mut conns = Vec::new();
    for _ in 0..200 {
        conns.push(Conn::connect(handle.local_addr()).await);
    }
    accepted(&handle, 200).await;
    let (shutdown, began) = shut_down(&handle);
    assert_eq!(finished(shutdown).await.forced, 0);
    let took = began.elapsed();
    assert!(took >= grace, "shutdown took {took:?}, less than the grace");
    assert!(
        took < grace + Duration::from_secs(2),
        "shutdown took {took:?}"
    );
    for c in &mut conns {
        c.expect_closed().await;
    }
}

/// A peer that trickles its first head starts within the grace, so it is a request in
/// progress: the read-header timeout ends it (408), as it would without a shutdown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickling_first_request_is_ended_by_the_read_header_timeout() {
    let handle = serve(
        Server::new()
            .http2(false)
            .first_request_grace(GRACE)
            .read_header_timeout(Duration::from_millis(800)),
    );
    let mut c = Conn::connect(handle.local_addr()).await;
    accepted(&handle, 1).await;
    let (shutdown, began) = shut_down(&handle);
    let (got, _, sent) = c
        .trickle_until_eof(b"GET / HTTP/1.1\r\nHost: x\r\n", Duration::from_millis(50))
        .await;
    let head = String::from_utf8_lossy(&got);
    assert!(
        head.starts_with("HTTP/1.1 408 Request Timeout\r\n"),
        "got {head:?} after {sent} bytes"
    );
    assert_eq!(finished(shutdown).await.forced, 0);
    assert!(began.elapsed() < Duration::from_millis(800) + Duration::from_secs(1));
}

/// The grace is for connections that have not begun their first request: one between
/// requests is closed at once, while a new one beside it still gets its request answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keep_alive_connection_between_requests_is_closed_at_once() {
    let handle = serve(Server::new().first_request_grace(GRACE));
    let mut used = Conn::connect(handle.local_addr()).await;
    used.send(GET).await;
    let first = used.response().await;
    assert!(first.starts_with("HTTP/1.1 200 OK\r\n"), "{first}");
    let mut fresh = Conn::connect(handle.local_addr()).await;
    accepted(&handle, 2).await;
    let (shutdown, began) = shut_down(&handle);
    used.expect_eof().await;
    assert!(
        began.elapsed() < GRACE / 2,
        "the idle connection was closed only after {:?}",
        began.elapsed()
    );
    fresh.send(GET).await;
    assert_eq!(fresh.response().await, ok_text_close("hello"));
    fresh.expect_eof().await;
    assert_eq!(finished(shutdown).await.forced, 0);
}

/// `serve_connection`: a graceful shutdown asked before the client said anything still
/// answers the request that follows within the grace; a silent one ends after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_connection_gives_a_new_connection_the_grace_too() {
    let handler =
        std::sync::Arc::new(|_req: HttpRequest| async { text_response(StatusCode::OK, "hello") });
    let server = Server::new().first_request_grace(GRACE);

    let (mut client, io) = tokio::io::duplex(4096);
    let conn = server.serve_connection(io, handler.clone());
    conn.graceful_shutdown();
    let serving = tokio::spawn(conn);
    tokio::time::sleep(LATE).await;
    client.write_all(GET).await.unwrap();
    let mut got = Vec::new();
    tokio::time::timeout(IO_TIMEOUT, client.read_to_end(&mut got))
        .await
        .expect("no close within the timeout")
        .unwrap();
    assert_eq!(normalize(&got), ok_text_close("hello"));
    tokio::time::timeout(IO_TIMEOUT, serving)
        .await
        .expect("the connection did not end")
        .unwrap();

    let grace = Duration::from_millis(400);
    let (_silent, io) = tokio::io::duplex(4096);
    let conn = Server::new()
        .first_request_grace(grace)
        .serve_connection(io, handler);
    let began = Instant::now();
    conn.graceful_shutdown();
    tokio::time::timeout(IO_TIMEOUT, conn)
        .await
        .expect("the silent connection did not end");
    let took = began.elapsed();
    assert!(took >= grace, "ended after {took:?}, before the grace");
}
