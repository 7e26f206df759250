//! Handlers learn that the client left, on HTTP/1.1 as on HTTP/2: when the client closes or
//! resets the connection while its handler runs, the handler's future is dropped (whatever
//! it awaits is cancelled) and the connection closes, so graceful shutdown does not wait its
//! grace period for requests nobody will read. The same while a streamed answer waits between
//! pieces (events, a long poll): its stream is dropped when the client goes. Pipelined
//! requests and request bodies are not disturbed by the watch. Raw loopback TCP, plus curl for
//! a client aborting as users do.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use std::time::{Duration, Instant};
use tokio::sync::Notify;

use common::peers::peer;
use nethttp::http::StatusCode;
use nethttp::response_writer::ResponseWriter;
use nethttp::test::TestServer;
use nethttp::{text_response, HttpRequest};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Bound on any wait in these tests.
const LIMIT: Duration = Duration::from_secs(10);

/// Counts handlers that were dropped before they finished.
#[derive(Clone, Default)]
struct Drops(Arc<AtomicUsize>);

/// Held by a handler while it runs; counts a drop unless disarmed.
struct Armed(Drops, bool);

impl Drop for Armed {
    fn drop(&mut self) {
        if self.1 {
            self.0 .0.fetch_add(1, Ordering::SeqCst);
        }
    }
}

impl Drops {
    fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }

    async fn wait_for(&self, n: usize) {
        let start = Instant::now();
        while self.count() < n {
            assert!(
                start.elapsed() < LIMIT,
                "handler not dropped within {LIMIT:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// `GET /sleep/{ms}`: sleeps, then answers `slept {ms}`. Counts itself in `drops` if its
/// future is dropped before it finishes.
fn sleeper(drops: Drops) -> impl nethttp::Handler {
    move |req: HttpRequest| {
        let drops = drops.clone();
        async move {
            let ms: u64 = req
                .uri()
                .path()
                .trim_start_matches("/sleep/")
                .parse()
                .unwrap_or(0);
            let mut armed = Armed(drops, true);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            armed.1 = false;
            text_response(StatusCode::OK, format!("slept {ms}"))
        }
    }
}

/// Waits (bounded) until the server counts no open connection.
async fn no_connections_left(handle: &TestServer) {
    let start = Instant::now();
    while handle.handle().live_connections() > 0 {
        assert!(start.elapsed() < LIMIT, "connection still counted");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn start(handler: impl nethttp::Handler) -> TestServer {
    TestServer::start(handler).await
}

async fn request(server: &TestServer, bytes: &[u8]) -> TcpStream {
    let mut s = TcpStream::connect(server.addr()).await.unwrap();
    s.write_all(bytes).await.unwrap();
    s
}

/// A client that closes its socket while the handler sleeps: the handler is dropped at once,
/// and the server forgets the connection.
#[tokio::test]
async fn closing_the_connection_drops_the_running_handler() {
    let drops = Drops::default();
    let handle = start(sleeper(drops.clone())).await;
    let s = request(&handle, b"GET /sleep/60000 HTTP/1.1\r\nHost: t\r\n\r\n").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(drops.count(), 0, "the handler is running");
    let closed = Instant::now();
    drop(s);
    drops.wait_for(1).await;
    assert!(closed.elapsed() < Duration::from_secs(2));
    no_connections_left(&handle).await;
}

/// The same when the client resets the connection (SO_LINGER 0).
#[tokio::test]
async fn a_reset_drops_the_running_handler() {
    let drops = Drops::default();
    let handle = start(sleeper(drops.clone())).await;
    let s = request(&handle, b"GET /sleep/60000 HTTP/1.1\r\nHost: t\r\n\r\n").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    // SO_LINGER 0: closing sends RST instead of FIN (zero linger never blocks the thread).
    socket2::SockRef::from(&s)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(s);
    drops.wait_for(1).await;
}

/// `GET /`: a stream that sends `first\n`, then waits for `resume` before `second\n` and
/// its end. Counts itself in `drops` if it is dropped before it ends.
fn pausing_stream(drops: Drops, resume: Arc<Notify>) -> impl nethttp::Handler {
    move |_req: HttpRequest| {
        let drops = drops.clone();
        let resume = resume.clone();
        async move {
            ResponseWriter::stream(move |mut w| async move {
                let mut armed = Armed(drops, true);
                w.write("first\n").await?;
                w.flush().await?;
                resume.notified().await;
                w.write("second\n").await?;
                armed.1 = false;
                w.finish().await
            })
        }
    }
}

/// Reads from `s` until `want` has arrived.
async fn read_until(s: &mut TcpStream, want: &str) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains(want) {
        let n = tokio::time::timeout(LIMIT, s.read(&mut buf))
            .await
            .expect("bytes in time")
            .unwrap();
        assert!(
            n > 0,
            "closed before {want:?}: {}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// A streamed answer waiting a minute between pieces (server-sent events, a long poll): when
/// its client closes the connection, the stream is dropped at once, not kept until its next
/// piece fails to be written.
#[tokio::test]
async fn a_stream_waiting_between_pieces_is_dropped_when_its_client_leaves() {
    let drops = Drops::default();
    // Never resumed: it would wait for ever.
    let handle = start(pausing_stream(drops.clone(), Arc::new(Notify::new()))).await;
    let mut s = request(&handle, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").await;
    read_until(&mut s, "first\n").await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(drops.count(), 0, "the stream is waiting");
    let closed = Instant::now();
    drop(s);
    drops.wait_for(1).await;
    assert!(closed.elapsed() < Duration::from_secs(2));
    no_connections_left(&handle).await;
}

/// A request pipelined behind a stream that pauses: its bytes stop the watch, the stream
/// ends whole when resumed, and the second request is answered after it.
#[tokio::test]
async fn a_request_pipelined_behind_a_pausing_stream_is_answered_after_it() {
    let drops = Drops::default();
    let resume = Arc::new(Notify::new());
    let handle = start(pausing_stream(drops.clone(), resume.clone())).await;
    let mut s = request(&handle, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").await;
    read_until(&mut s, "first\n").await;
    s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    // The second request's bytes reach the server while the first stream waits.
    tokio::time::sleep(Duration::from_millis(100)).await;
    resume.notify_one();
    let second = tokio::spawn({
        let resume = resume.clone();
        async move {
            // The second stream waits too, once it has begun.
            tokio::time::sleep(Duration::from_millis(100)).await;
            resume.notify_one();
        }
    });
    let mut rest = Vec::new();
    tokio::time::timeout(LIMIT, s.read_to_end(&mut rest))
        .await
        .expect("answers in time")
        .unwrap();
    second.await.unwrap();
    let text = String::from_utf8_lossy(&rest);
    // The first stream's end, then the whole second answer.
    assert!(
        text.starts_with("7\r\nsecond\n\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n"),
        "{text}"
    );
    assert!(
        text.ends_with("6\r\nfirst\n\r\n7\r\nsecond\n\r\n0\r\n\r\n"),
        "{text}"
    );
    assert_eq!(drops.count(), 0);
}

/// A client that sends two requests and then closes its sending side (`nc -N`, `socat`): the
/// first stream, with the second request already read behind it, is not taken for a client
/// that left and ends whole; the second, with nothing left behind it, is (as Go cancels a
/// request's context at the client's end of stream), and is dropped where it waits.
#[tokio::test]
async fn a_half_close_after_pipelined_requests_keeps_the_stream_with_a_request_behind_it() {
    let drops = Drops::default();
    let resume = Arc::new(Notify::new());
    let handle = start(pausing_stream(drops.clone(), resume.clone())).await;
    let mut s = request(
        &handle,
        b"GET / HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    )
    .await;
    s.shutdown().await.unwrap();
    read_until(&mut s, "first\n").await;
    // The end of stream is in while the first stream waits.
    tokio::time::sleep(Duration::from_millis(100)).await;
    resume.notify_one();
    let mut rest = Vec::new();
    tokio::time::timeout(LIMIT, s.read_to_end(&mut rest))
        .await
        .expect("answers in time")
        .unwrap();
    let text = String::from_utf8_lossy(&rest);
    assert!(
        text.starts_with("7\r\nsecond\n\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n"),
        "the first stream ends whole: {text}"
    );
    assert!(
        text.ends_with("6\r\nfirst\n\r\n"),
        "the second is cut: {text}"
    );
    drops.wait_for(1).await;
}

/// Two pipelined requests, the first slow: the second's bytes arrive while the first handler
/// runs, and both are answered in order (the watch stops at the second's bytes).
#[tokio::test]
async fn pipelined_requests_behind_a_slow_one_are_answered() {
    let drops = Drops::default();
    let handle = start(sleeper(drops.clone())).await;
    let mut s = request(&handle, b"GET /sleep/300 HTTP/1.1\r\nHost: t\r\n\r\n").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    s.write_all(b"GET /sleep/1 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    tokio::time::timeout(LIMIT, s.read_to_end(&mut got))
        .await
        .expect("answers in time")
        .unwrap();
    let text = String::from_utf8_lossy(&got);
    let first = text.find("slept 300").expect("first answer");
    let second = text.find("slept 1").expect("second answer");
    assert!(first < second, "{text}");
    assert_eq!(drops.count(), 0);
}

/// A request with a body the handler has read, then a slow answer: not dropped while the
/// client waits.
#[tokio::test]
async fn a_waiting_client_with_a_body_keeps_its_handler() {
    let handle = start(|req: HttpRequest| async move {
        let body = req.into_body().to_bytes(1024).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        text_response(StatusCode::OK, format!("got {}", body.len()))
    })
    .await;
    let mut s = request(
        &handle,
        b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
    )
    .await;
    let mut got = Vec::new();
    tokio::time::timeout(LIMIT, s.read_to_end(&mut got))
        .await
        .expect("answer in time")
        .unwrap();
    assert!(got.ends_with(b"got 5"), "{}", String::from_utf8_lossy(&got));
}

/// The issue's own case: curl gives up after a second on a 60 s request, then the server
/// shuts down with a 30 s grace period. It finishes at once, with nothing forced: the
/// handler was dropped when curl left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_does_not_wait_for_handlers_whose_client_left() {
    let Some(curl) = peer("curl", "--version", &[]) else {
        return;
    };
    let drops = Drops::default();
    let handle = start(sleeper(drops.clone())).await;
    let out = tokio::process::Command::new(curl)
        .args(["-s", "-m", "1"])
        .arg(handle.url("/sleep/60000"))
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(28), "curl timed out");
    drops.wait_for(1).await;
    let start = Instant::now();
    let report = handle.handle().shutdown(Duration::from_secs(30)).await;
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "shutdown took {:?}",
        start.elapsed()
    );
    assert_eq!(report.forced, 0);
}

/// A client that says nothing more while its handler finishes normally is answered.
#[tokio::test]
async fn a_waiting_client_gets_its_answer() {
    let drops = Drops::default();
    let handle = start(sleeper(drops.clone())).await;
    let mut s = request(
        &handle,
        b"GET /sleep/200 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    )
    .await;
    let mut got = Vec::new();
    tokio::time::timeout(LIMIT, s.read_to_end(&mut got))
        .await
        .unwrap()
        .unwrap();
    assert!(got.ends_with(b"slept 200"));
    assert_eq!(drops.count(), 0);
}

/// Over TLS (HTTP/1.1 by ALPN): curl giving up drops the handler too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_a_client_giving_up_drops_the_handler() {
    let Some(curl) = peer("curl", "--version", &[]) else {
        return;
    };
    let drops = Drops::default();
    let server = TestServer::start_tls(sleeper(drops.clone())).await;
    let out = tokio::process::Command::new(curl)
        .args(["-s", "-k", "--http1.1", "-m", "1"])
        .arg(server.url("/sleep/60000"))
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(28), "curl timed out");
    drops.wait_for(1).await;
}
