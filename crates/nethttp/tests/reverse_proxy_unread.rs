//! Peers that stop reading, on either side of the reverse proxy: what they can make it hold
//! is bounded and the rest of its traffic goes on. An HTTP/2 client that opens answers and
//! never reads them pins one upstream stream window each (the proxy's 256 KiB), never the
//! upstream connection's window, so another client's 3 MiB answer still crosses the same
//! upstream connection. WebSockets through the proxy get upstream HTTP/1.1 connections of
//! their own by default, so an upstream that stops reading them holds the clients' floods
//! in those connections' socket buffers while another client's 3 MiB upload still crosses
//! the shared HTTP/2 one; a socket whose client never reads holds the upstream's flood in
//! the socket buffers too. With `websockets_over_http2` the sockets ride the shared
//! connection and each holds at most one stream window and the socket buffers. Every bound
//! asserted is the kernel's own socket buffer maxima (read from `/proc`) plus what the
//! proxy's design allows: a flood that the proxy buffered without bound would pass it
//! within a second at loopback speeds.

mod common;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::SinkExt;
use nethttp::proxy::{ReverseProxy, UPSTREAM_STREAM_WINDOW};
use nethttp::test::TestServer;
use nethttp::websocket::{Message, WebSocketUpgrade};
use nethttp::{Body, HttpRequest, HttpResponse};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const MIB: u64 = 1 << 20;
/// What the upstream's flooding answers and WebSockets send at a time.
const CHUNK: usize = 64 * 1024;
/// The plain answer that must still cross the upstream connection: more than the rest of a
/// connection window the unread streams could have pinned before (4 MiB less two 2 MiB
/// streams).
const PLAIN: usize = 3 << 20;

/// What the upstream saw and did.
#[derive(Default)]
struct Counts {
    /// Bytes of `/big` answers and WebSocket messages the upstream handed on.
    sent: AtomicU64,
    /// Flooding tasks that ended (their peer went away, or an error).
    ended: AtomicUsize,
    /// WebSockets the upstream holds without reading.
    holding: AtomicUsize,
}

/// The upstream: `/big` streams an endless answer, `/flood` is a WebSocket that sends and
/// never reads, `/hold` one that neither reads nor sends, `/up` reads the upload and answers
/// its length, anything else is a 3 MiB answer.
fn upstream(counts: Arc<Counts>) -> impl nethttp::Handler {
    move |mut req: HttpRequest| {
        let counts = counts.clone();
        async move {
            match req.uri().path() {
                "/big" => {
                    let (tx, body) = Body::channel(1);
                    tokio::spawn(async move {
                        let chunk = Bytes::from(vec![b'x'; CHUNK]);
                        while tx.send_data(chunk.clone()).await.is_ok() {
                            counts.sent.fetch_add(CHUNK as u64, Ordering::SeqCst);
                        }
                        counts.ended.fetch_add(1, Ordering::SeqCst);
                    });
                    HttpResponse::new(body)
                }
                "/flood" => match WebSocketUpgrade::from_request(&mut req) {
                    Ok(ws) => ws.on_upgrade(move |mut socket| async move {
                        let chunk = vec![b'x'; CHUNK];
                        while socket.send(Message::binary(chunk.clone())).await.is_ok() {
                            counts.sent.fetch_add(CHUNK as u64, Ordering::SeqCst);
                        }
                        counts.ended.fetch_add(1, Ordering::SeqCst);
                    }),
                    Err(refusal) => refusal,
                },
                "/hold" => match WebSocketUpgrade::from_request(&mut req) {
                    Ok(ws) => ws.on_upgrade(move |socket| async move {
                        counts.holding.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_secs(60)).await;
                        drop(socket);
                    }),
                    Err(refusal) => refusal,
                },
                "/up" => match req.into_body().to_bytes(2 * PLAIN).await {
                    Ok(b) => HttpResponse::new(Body::from(b.len().to_string())),
                    Err(e) => HttpResponse::new(Body::from(format!("upload failed: {e}"))),
                },
                _ => HttpResponse::new(Body::from(vec![b'p'; PLAIN])),
            }
        }
    }
}

/// How the proxy reaches the upstream.
#[derive(Clone, Copy, PartialEq)]
enum Upstream {
    /// HTTP/1.1 connections.
    Http11,
    /// HTTP/2 (h2c by prior knowledge), WebSockets on HTTP/1.1 connections of their own.
    Http2,
    /// HTTP/2, WebSockets as streams of it (`websockets_over_http2`).
    Http2Sockets,
}

/// An upstream that counts, and a proxy in front of it reaching it as `how`, with the
/// proxy's default transport otherwise.
async fn proxied(how: Upstream) -> (TestServer, TestServer, Arc<Counts>) {
    let counts = Arc::new(Counts::default());
    let up = TestServer::start(upstream(counts.clone())).await;
    let transport = ReverseProxy::default_transport()
        .http2_prior_knowledge(how != Upstream::Http11)
        .build()
        .unwrap();
    let proxy = ReverseProxy::builder()
        .upstream(&up.url("/"))
        .transport(transport)
        .websockets_over_http2(how == Upstream::Http2Sockets)
        .build()
        .unwrap();
    (up, TestServer::start(proxy).await, counts)
}

/// The kernel's largest TCP send and receive buffers (`tcp_wmem`, `tcp_rmem`), which any
/// bound on bytes in flight between sockets has to include.
fn kernel_buffers() -> (u64, u64) {
    let max = |name: &str| -> u64 {
        let text = std::fs::read_to_string(format!("/proc/sys/net/ipv4/{name}")).unwrap();
        text.split_whitespace().nth(2).unwrap().parse().unwrap()
    };
    (max("tcp_wmem"), max("tcp_rmem"))
}

/// Waits until `count` has not moved for a second, failing if it passes `bound` first or
/// has not settled within 20 s; the settled value.
async fn settles(what: &str, count: impl Fn() -> u64, bound: u64) -> u64 {
    let t0 = Instant::now();
    let (mut last, mut since) = (count(), Instant::now());
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = count();
        assert!(
            now <= bound,
            "{what}: {now} bytes, past the bound of {bound}"
        );
        if now != last {
            (last, since) = (now, Instant::now());
        } else if since.elapsed() >= Duration::from_secs(1) {
            return now;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "{what}: still moving after 20 s ({now} bytes)"
        );
    }
}

/// Waits (at most 10 s) for `cond`.
async fn until(what: &str, cond: impl Fn() -> bool) {
    let t0 = Instant::now();
    while !cond() {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "waited 10 s for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Another client's 3 MiB answer comes through the proxy in time.
async fn plain_goes_through(proxy: &TestServer) {
    let got = tokio::time::timeout(Duration::from_secs(10), async {
        let res = proxy.client().get(proxy.url("/")).send().await.unwrap();
        res.into_body().to_bytes(2 * PLAIN).await.unwrap()
    })
    .await
    .expect("another client's answer crossed the upstream connection within 10 s");
    assert_eq!(got.len(), PLAIN);
}

/// Another client's 3 MiB upload reaches the upstream whole, in time.
async fn upload_goes_through(proxy: &TestServer) {
    let got = tokio::time::timeout(Duration::from_secs(10), async {
        let res = proxy
            .client()
            .post(proxy.url("/up"))
            .body(vec![b'u'; PLAIN])
            .send()
            .await
            .unwrap();
        res.into_body().to_bytes(256).await.unwrap()
    })
    .await
    .expect("another client's upload crossed the upstream connection within 10 s");
    assert_eq!(got, PLAIN.to_string());
}

/// A TCP connection to `addr` whose receive and send buffers are as small as the kernel
/// allows, so what a test counts is the proxy's holding, not this end's.
fn small_socket(addr: std::net::SocketAddr) -> TcpStream {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    sock.set_send_buffer_size(4096).unwrap();
    sock.connect(&addr.into()).unwrap();
    sock.set_nonblocking(true).unwrap();
    TcpStream::from_std(sock.into()).unwrap()
}

/// Opens a WebSocket to `path` through the proxy over HTTP/1.1 (RFC 6455 §4.1), reading
/// exactly the `101` head and nothing after it.
async fn websocket(proxy: &TestServer, path: &str) -> TcpStream {
    let mut s = small_socket(proxy.addr());
    let head = format!(
        "GET {path} HTTP/1.1\r\nHost: proxy\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    while !got.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut byte))
            .await
            .expect("the 101 in time")
            .unwrap();
        assert_eq!(n, 1, "closed before the end of the head: {got:?}");
        got.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&got);
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    assert!(
        head.contains("sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"),
        "{head}"
    );
    s
}

#[tokio::test]
async fn unread_answers_pin_their_own_streams_not_the_shared_upstream_connection() {
    const STREAMS: u64 = 8;
    let (up, proxy, counts) = proxied(Upstream::Http2).await;
    // An HTTP/2 client that opens eight endless answers and never reads them: its
    // stream windows stay at 65,535 bytes.
    let tcp = TcpStream::connect(proxy.addr()).await.unwrap();
    let (mut h2, conn) = h2::client::Builder::new()
        .initial_window_size(65_535)
        .handshake::<_, Bytes>(tcp)
        .await
        .unwrap();
    let driver = tokio::spawn(conn);
    let mut answers = Vec::new();
    for _ in 0..STREAMS {
        h2 = h2.ready().await.unwrap();
        let req = http::Request::get(format!("http://{}/big", proxy.addr()))
            .body(())
            .unwrap();
        answers.push(h2.send_request(req, true).unwrap().0);
    }
    // Per stream: the upstream stream's window held in the proxy, the client's 65,535
    // bytes, and a chunk or three on their way; and the upstream's 1 MiB send budget.
    let per_stream = u64::from(UPSTREAM_STREAM_WINDOW) + 65_535 + 3 * CHUNK as u64;
    let bound = STREAMS * per_stream + MIB + MIB / 4;
    let held = settles(
        "the upstream's answers to a client that does not read",
        || counts.sent.load(Ordering::SeqCst),
        bound,
    )
    .await;
    assert!(held > STREAMS * 65_535, "{held}: the answers never started");
    assert_eq!(
        counts.ended.load(Ordering::SeqCst),
        0,
        "an answer ended early"
    );
    // The upstream connection still carries another client's large answer.
    plain_goes_through(&proxy).await;
    assert_eq!(up.handle().live_connections(), 1, "one upstream connection");
    // The client goes: the proxy's streams end, and the upstream's with them.
    drop(answers);
    driver.abort();
    until("the upstream's answers to end", || {
        counts.ended.load(Ordering::SeqCst) == STREAMS as usize
    })
    .await;
}

/// `n` WebSocket clients of `/flood` that never read, through a proxy reaching the upstream
/// as `how`: what the upstream manages to send settles within `bound`, held rather than
/// ended; another client's answer still comes through; and the floods end once the clients
/// go. The upstream, for more checks.
async fn unread_floods(how: Upstream, n: usize, bound: u64) -> TestServer {
    let (up, proxy, counts) = proxied(how).await;
    let mut sockets = Vec::new();
    for _ in 0..n {
        sockets.push(websocket(&proxy, "/flood").await);
    }
    let held = settles(
        "the upstream's floods to clients that never read",
        || counts.sent.load(Ordering::SeqCst),
        bound,
    )
    .await;
    assert!(held > 0, "the floods never started");
    assert_eq!(counts.ended.load(Ordering::SeqCst), 0, "held, not ended");
    plain_goes_through(&proxy).await;
    drop(sockets);
    until("the floods to end once the clients went", || {
        counts.ended.load(Ordering::SeqCst) == n
    })
    .await;
    up
}

#[tokio::test]
async fn websocket_clients_that_never_read_hold_an_http2_upstreams_flood() {
    let (wmem, _) = kernel_buffers();
    // Per socket: the proxy's socket to the client, one stream window, and the copy
    // between them; and the upstream's 1 MiB send budget with a message or two on its way.
    let bound = 3 * (wmem + u64::from(UPSTREAM_STREAM_WINDOW)) + 2 * MIB;
    let up = unread_floods(Upstream::Http2Sockets, 3, bound).await;
    // The stalled sockets pinned their own streams' windows only, on the one connection.
    assert_eq!(up.handle().accepted_connections(), 1);
}

#[tokio::test]
async fn a_websocket_client_that_never_reads_holds_an_http11_upstreams_flood() {
    let (wmem, rmem) = kernel_buffers();
    // Two sockets' send buffers and one's receive buffer between the upstream and the
    // client, and the proxy's copy between them.
    unread_floods(Upstream::Http11, 1, 2 * wmem + rmem + 2 * MIB).await;
}

/// A WebSocket to `/hold` through the proxy, once the upstream holds it.
async fn held(proxy: &TestServer, counts: &Counts) -> TcpStream {
    let before = counts.holding.load(Ordering::SeqCst);
    let socket = websocket(proxy, "/hold").await;
    until("the upstream to hold the socket", || {
        counts.holding.load(Ordering::SeqCst) > before
    })
    .await;
    socket
}

/// Writes to `s` until a write has not gone through for a second; what went through.
/// A write that fails (the proxy closed the socket) fails the test: held is not closed.
async fn flood(s: &mut TcpStream, bound: u64) -> u64 {
    let chunk = vec![b'y'; CHUNK];
    let (t0, mut sent) = (Instant::now(), 0u64);
    loop {
        match tokio::time::timeout(Duration::from_secs(1), s.write(&chunk)).await {
            Err(_) => return sent,
            Ok(Ok(n)) => sent += n as u64,
            Ok(Err(e)) => panic!("the proxy closed a flooding client after {sent} bytes: {e}"),
        }
        assert!(
            sent <= bound,
            "{sent} bytes taken from the client, past {bound}"
        );
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "still taking bytes after 20 s ({sent})"
        );
    }
}

/// `n` WebSockets of `/hold` (an upstream that never reads) through a proxy reaching it as
/// `how`, each flooded by its client until the proxy takes no more, within `bound` each;
/// then another client's answer still comes through. The upstream, for more checks.
async fn held_floods(how: Upstream, n: usize, bound: u64) -> (TestServer, TestServer) {
    let (up, proxy, counts) = proxied(how).await;
    let mut sockets = Vec::new();
    for _ in 0..n {
        sockets.push(held(&proxy, &counts).await);
    }
    for socket in &mut sockets {
        assert!(flood(socket, bound).await > 0, "nothing was taken");
    }
    plain_goes_through(&proxy).await;
    (up, proxy)
}

#[tokio::test]
async fn a_websocket_upstream_that_never_reads_holds_the_clients_flood_over_http2() {
    let (_, rmem) = kernel_buffers();
    // The proxy's receive buffer from the client, the copy, the proxy's 1 MiB send budget
    // towards the upstream and the upstream's 1 MiB stream window.
    let (up, _proxy) = held_floods(Upstream::Http2Sockets, 1, rmem + 3 * MIB).await;
    assert_eq!(
        up.handle().accepted_connections(),
        1,
        "the socket rode the one connection"
    );
}

#[tokio::test]
async fn a_websocket_upstream_that_never_reads_holds_the_clients_flood_over_http11() {
    let (wmem, rmem) = kernel_buffers();
    // Two sockets' receive buffers and one's send buffer between the client and the
    // upstream, and the proxy's copy between them.
    held_floods(Upstream::Http11, 1, 2 * rmem + wmem + 2 * MIB).await;
}

/// The default: WebSockets go upstream on HTTP/1.1 connections of their own, so three whose
/// upstream stops reading while their clients flood hold nothing of the shared HTTP/2
/// connection, and another client's 3 MiB upload crosses it whole. (Riding the shared
/// connection instead, three such sockets fill our server's 2 MiB connection window and
/// that upload stalls: what `websockets_over_http2` documents.)
#[tokio::test]
async fn websockets_whose_upstream_stops_reading_do_not_stall_other_uploads() {
    let (wmem, rmem) = kernel_buffers();
    let (up, proxy) = held_floods(Upstream::Http2, 3, 2 * rmem + wmem + 2 * MIB).await;
    upload_goes_through(&proxy).await;
    assert_eq!(
        up.handle().upgraded_connections(),
        3,
        "each on its own connection"
    );
}
