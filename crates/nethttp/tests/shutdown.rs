//! Graceful shutdown and immediate close under load, over raw loopback TCP: every request
//! sent before `shutdown` began gets its whole response, the listener refuses newcomers while
//! the server drains, handlers past the grace period are cut (and counted as `forced`), and
//! `close` ends every connection at once.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nethttp::http::StatusCode;
use nethttp::{text_response, HttpRequest, Server, ServerHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Bound on any single wait for the server, so a bug fails a test instead of hanging it.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

fn start<H: nethttp::Handler>(handler: H) -> ServerHandle {
    let server = Server::new();
    let listener = server
        .bind("127.0.0.1:0".parse().unwrap())
        .expect("bind 127.0.0.1:0");
    server.serve(listener, handler)
}

/// The body answered for request `id`: a few KiB derived from the id, so a truncated or
/// mixed-up response shows.
fn body_for(id: &str) -> String {
    let mut s = String::with_capacity(4200);
    while s.len() < 4096 {
        s.push_str(id);
        s.push(';');
    }
    s
}

/// `GET /sleep/{ms}?id={id}`: sleeps, then answers [`body_for`]`(id)`.
async fn sleeper(req: HttpRequest) -> nethttp::HttpResponse {
    let ms: u64 = req
        .uri()
        .path()
        .strip_prefix("/sleep/")
        .and_then(|ms| ms.parse().ok())
        .unwrap_or(0);
    let id = req
        .uri()
        .query()
        .and_then(|q| q.strip_prefix("id="))
        .unwrap_or("")
        .to_owned();
    tokio::time::sleep(Duration::from_millis(ms)).await;
    text_response(StatusCode::OK, body_for(&id))
}

fn request(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").into_bytes()
}

/// A response read off the wire.
#[derive(Debug)]
struct Resp {
    status: u16,
    close: bool,
    body: Vec<u8>,
}

/// Reads one Content-Length-framed response. Errors on EOF or reset before it is whole, and
/// on taking longer than [`IO_TIMEOUT`].
async fn read_response(stream: &mut TcpStream) -> std::io::Result<Resp> {
    let deadline = tokio::time::Instant::now() + IO_TIMEOUT;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = read_some(stream, &mut chunk, deadline).await?;
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let status = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no content-length in {head:?}")))?;
    let close = head.lines().any(|l| l.trim() == "connection: close");
    while buf.len() < head_end + length {
        let n = read_some(stream, &mut chunk, deadline).await?;
        buf.extend_from_slice(&chunk[..n]);
    }
    if buf.len() > head_end + length {
        return Err(std::io::Error::other("bytes after the response"));
    }
    Ok(Resp {
        status,
        close,
        body: buf.split_off(head_end),
    })
}

async fn read_some(
    stream: &mut TcpStream,
    chunk: &mut [u8],
    deadline: tokio::time::Instant,
) -> std::io::Result<usize> {
    let n = tokio::time::timeout_at(deadline, stream.read(chunk))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "response timeout"))??;
    if n == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "EOF in response",
        ));
    }
    Ok(n)
}

/// Reads until the server closes the connection; returns what arrived before the close
/// (EOF and reset both count as closed). Fails the test if it stays open past `within`.
async fn wait_closed(stream: &mut TcpStream, within: Duration) -> Vec<u8> {
    let deadline = tokio::time::Instant::now() + within;
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Err(_) => panic!(
                "connection still open after {within:?} (received {} bytes)",
                got.len()
            ),
            Ok(Ok(0)) | Ok(Err(_)) => return got,
            Ok(Ok(n)) => got.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Whether a new connection to `addr` is refused (bounded by a connect timeout).
async fn refused(addr: SocketAddr) -> bool {
    match tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(addr)).await {
        Ok(Err(e)) => e.kind() == std::io::ErrorKind::ConnectionRefused,
        Ok(Ok(_)) | Err(_) => false,
    }
}

async fn connect(addr: SocketAddr) -> TcpStream {
    tokio::time::timeout(IO_TIMEOUT, TcpStream::connect(addr))
        .await
        .expect("connect timed out")
        .expect("connect failed")
}

/// Waits (bounded) until `cond` holds.
async fn wait_until(what: &str, within: Duration, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + within;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// One request a load client made, and how it went.
#[derive(Debug)]
struct Outcome {
    id: String,
    /// The request was fully written before shutdown began.
    sent_before: bool,
    /// The response was still outstanding when shutdown began.
    open_at_shutdown: bool,
    result: Result<(), String>,
}

/// How long request `k` of client `c` makes the handler sleep.
type Delay = fn(usize, usize) -> usize;

/// A keep-alive client: sends requests back to back on one connection until the server
/// closes it (or `rounds` requests), checking every response whole.
async fn load_client(
    mut stream: TcpStream,
    c: usize,
    rounds: usize,
    delay: Delay,
    began: Arc<AtomicBool>,
) -> Vec<Outcome> {
    let mut outcomes = Vec::new();
    for k in 0..rounds {
        let id = format!("c{c}r{k}");
        let written = stream
            .write_all(&request(&format!("/sleep/{}?id={id}", delay(c, k))))
            .await;
        let sent_before = !began.load(Ordering::SeqCst);
        if let Err(e) = written {
            let result = Err(format!("write: {e}"));
            outcomes.push(Outcome {
                id,
                sent_before,
                open_at_shutdown: true,
                result,
            });
            break;
        }
        let result = read_response(&mut stream).await;
        let open_at_shutdown = began.load(Ordering::SeqCst);
        let (result, close) = match result {
            Ok(r) if r.status == 200 && r.body == body_for(&id).as_bytes() => (Ok(()), r.close),
            Ok(r) => (
                Err(format!(
                    "status {} with a wrong {}-byte body",
                    r.status,
                    r.body.len()
                )),
                true,
            ),
            Err(e) => (Err(format!("read: {e}")), true),
        };
        outcomes.push(Outcome {
            id,
            sent_before,
            open_at_shutdown,
            result,
        });
        if close {
            break;
        }
    }
    outcomes
}

/// What a load run saw.
struct LoadRun {
    outcomes: Vec<Outcome>,
    report: nethttp::ShutdownReport,
    /// From the start of the shutdown to its return.
    took: Duration,
    /// Connections still open when the listener was first seen refusing newcomers.
    live_when_refused: usize,
}

impl LoadRun {
    /// Requests written before shutdown began that did not get their whole response.
    fn failed_sent_before(&self) -> Vec<String> {
        self.outcomes
            .iter()
            .filter(|o| o.sent_before && o.result.is_err())
            .map(|o| format!("{}: {:?}", o.id, o.result))
            .collect()
    }
}

/// Connects `clients` keep-alive clients (all accepted before the load starts, so none sits
/// in the listen backlog when the listener closes), lets them send requests back to back,
/// and after `shutdown_after` shuts the server down gracefully with a 5 s grace, watching for
/// the listener to refuse newcomers meanwhile.
async fn load_then_shutdown(clients: usize, delay: Delay, shutdown_after: Duration) -> LoadRun {
    let handle = start(sleeper);
    let addr = handle.local_addr();
    let mut streams = Vec::new();
    for _ in 0..clients {
        streams.push(connect(addr).await);
    }
    wait_until("all clients accepted", IO_TIMEOUT, || {
        handle.accepted_connections() == clients as u64
    })
    .await;

    let began = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = streams
        .into_iter()
        .enumerate()
        .map(|(c, s)| tokio::spawn(load_client(s, c, 1000, delay, began.clone())))
        .collect();

    tokio::time::sleep(shutdown_after).await;
    began.store(true, Ordering::SeqCst);
    let t0 = Instant::now();
    let shutdown = tokio::spawn({
        let handle = handle.clone();
        async move { handle.shutdown(Duration::from_secs(5)).await }
    });

    // While the in-flight requests drain, newcomers are already refused.
    let deadline = Instant::now() + Duration::from_secs(2);
    let live_when_refused = loop {
        if refused(addr).await {
            break handle.live_connections();
        }
        assert!(
            Instant::now() < deadline,
            "new connections still accepted 2 s into the shutdown"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };

    let report = tokio::time::timeout(Duration::from_secs(8), shutdown)
        .await
        .expect("shutdown did not return")
        .expect("shutdown task panicked");
    let took = t0.elapsed();
    assert_eq!(
        handle.live_connections(),
        0,
        "connections left after shutdown returned"
    );
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.extend(
            tokio::time::timeout(IO_TIMEOUT, t)
                .await
                .expect("client hung")
                .expect("client panicked"),
        );
    }
    for _ in 0..5 {
        assert!(
            refused(addr).await,
            "a connection opened after shutdown was not refused"
        );
    }
    LoadRun {
        outcomes,
        report,
        took,
        live_when_refused,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn graceful_shutdown_finishes_every_request_sent_before_it() {
    const CLIENTS: usize = 50;
    // Handlers sleep 100 ms in the first round, then 250-300 ms: the shutdown, at 250 ms,
    // comes mid-way through the second round with every client's request in the handler,
    // far from any client's turn between requests (a request landing on a connection the
    // server still thinks idle is the test below).
    let run = load_then_shutdown(
        CLIENTS,
        |c, k| {
            if k == 0 {
                100
            } else {
                250 + (c * 37 + k * 53) % 51
            }
        },
        Duration::from_millis(250),
    )
    .await;
    assert_eq!(
        run.report.forced, 0,
        "no connection should need forcing within a 5 s grace"
    );
    assert!(
        run.took < Duration::from_secs(5),
        "shutdown took {:?}; requests sleep at most 300 ms",
        run.took
    );
    assert!(
        run.live_when_refused > 0,
        "the listener should close before in-flight requests finish"
    );
    let failed = run.failed_sent_before();
    assert!(
        failed.is_empty(),
        "{} requests sent before shutdown failed: {failed:#?}",
        failed.len()
    );
    let in_flight = run
        .outcomes
        .iter()
        .filter(|o| o.sent_before && o.open_at_shutdown)
        .count();
    assert!(
        in_flight >= CLIENTS / 2,
        "only {in_flight} requests were in flight at shutdown; the test did not load the server"
    );
    let completed_before = run.outcomes.iter().filter(|o| !o.open_at_shutdown).count();
    assert!(
        completed_before >= CLIENTS,
        "the first round should complete before the shutdown"
    );
}

/// The same guarantee with handlers that answer at once, so most connections are between
/// requests — idle as far as the server has noticed — when the shutdown begins.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn graceful_shutdown_answers_requests_already_received_on_idle_connections() {
    const CLIENTS: usize = 50;
    let run = load_then_shutdown(CLIENTS, |_, _| 0, Duration::from_millis(200)).await;
    assert_eq!(run.report.forced, 0);
    // The scenario happened: clients were trading requests fast before the shutdown.
    let sent_before = run.outcomes.iter().filter(|o| o.sent_before).count();
    assert!(
        sent_before >= 2 * CLIENTS,
        "only {sent_before} requests before the shutdown"
    );
    let failed = run.failed_sent_before();
    assert!(
        failed.is_empty(),
        "{} requests sent before shutdown failed: {failed:#?}",
        failed.len()
    );
}

/// Counts handler futures dropped before they finished.
struct DropCount(Arc<AtomicUsize>);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handlers_past_the_grace_period_are_cut() {
    const CLIENTS: usize = 10;
    let started = Arc::new(AtomicUsize::new(0));
    let dropped = Arc::new(AtomicUsize::new(0));
    let handle = start({
        let (started, dropped) = (started.clone(), dropped.clone());
        move |_req: HttpRequest| {
            let (started, dropped) = (started.clone(), dropped.clone());
            async move {
                started.fetch_add(1, Ordering::SeqCst);
                let _guard = DropCount(dropped);
                tokio::time::sleep(Duration::from_secs(30)).await;
                text_response(StatusCode::OK, "too late")
            }
        }
    });
    let addr = handle.local_addr();
    let mut streams = Vec::new();
    for _ in 0..CLIENTS {
        let mut s = connect(addr).await;
        s.write_all(&request("/slow")).await.unwrap();
        streams.push(s);
    }
    wait_until("every handler started", IO_TIMEOUT, || {
        started.load(Ordering::SeqCst) == CLIENTS
    })
    .await;

    let grace = Duration::from_millis(300);
    let t0 = Instant::now();
    let report = tokio::time::timeout(Duration::from_secs(5), handle.shutdown(grace))
        .await
        .expect("shutdown did not return");
    let took = t0.elapsed();
    assert_eq!(
        report.forced, CLIENTS,
        "every busy connection should be forced"
    );
    assert!(
        took >= grace,
        "shutdown returned after {took:?}, before the grace period ended"
    );
    assert!(
        took < grace + Duration::from_secs(1),
        "shutdown took {took:?} for a {grace:?} grace"
    );
    assert_eq!(handle.live_connections(), 0);

    for (i, s) in streams.iter_mut().enumerate() {
        let got = wait_closed(s, Duration::from_secs(1)).await;
        assert!(
            got.is_empty(),
            "client {i} got a response from a cut handler: {:?}",
            String::from_utf8_lossy(&got)
        );
    }
    wait_until("cut handlers dropped", Duration::from_secs(1), || {
        dropped.load(Ordering::SeqCst) == CLIENTS
    })
    .await;
    assert!(
        refused(addr).await,
        "a connection opened after shutdown was not refused"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_idle_keep_alive_connections_at_once() {
    const CLIENTS: usize = 10;
    let handle = start(sleeper);
    let addr = handle.local_addr();
    let mut streams = Vec::new();
    for c in 0..CLIENTS {
        let mut s = connect(addr).await;
        let id = format!("idle{c}");
        s.write_all(&request(&format!("/sleep/0?id={id}")))
            .await
            .unwrap();
        let r = read_response(&mut s).await.expect("response");
        assert_eq!((r.status, r.close), (200, false));
        assert_eq!(r.body, body_for(&id).as_bytes());
        streams.push(s);
    }
    let t0 = Instant::now();
    let report = tokio::time::timeout(
        Duration::from_secs(5),
        handle.shutdown(Duration::from_secs(5)),
    )
    .await
    .expect("shutdown did not return");
    let took = t0.elapsed();
    assert_eq!(report.forced, 0);
    assert!(
        took < Duration::from_secs(1),
        "closing idle connections took {took:?}"
    );
    for (i, s) in streams.iter_mut().enumerate() {
        let got = wait_closed(s, Duration::from_secs(1)).await;
        assert!(
            got.is_empty(),
            "idle client {i} received {:?}",
            String::from_utf8_lossy(&got)
        );
    }
    assert!(refused(addr).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_ends_every_connection_at_once() {
    const BUSY: usize = 5;
    const IDLE: usize = 5;
    let started = Arc::new(AtomicUsize::new(0));
    let handle = start({
        let started = started.clone();
        move |req: HttpRequest| {
            let started = started.clone();
            async move {
                if req.uri().path() == "/slow" {
                    started.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_secs(30)).await;
                }
                text_response(StatusCode::OK, "fast")
            }
        }
    });
    let addr = handle.local_addr();
    let mut idle = Vec::new();
    for _ in 0..IDLE {
        let mut s = connect(addr).await;
        s.write_all(&request("/fast")).await.unwrap();
        let r = read_response(&mut s).await.expect("response");
        assert_eq!((r.status, r.close, &r.body[..]), (200, false, &b"fast"[..]));
        idle.push(s);
    }
    let mut busy = Vec::new();
    for _ in 0..BUSY {
        let mut s = connect(addr).await;
        s.write_all(&request("/slow")).await.unwrap();
        busy.push(s);
    }
    wait_until("slow handlers started", IO_TIMEOUT, || {
        started.load(Ordering::SeqCst) == BUSY
    })
    .await;
    assert_eq!(handle.live_connections(), BUSY + IDLE);

    let t0 = Instant::now();
    tokio::time::timeout(Duration::from_secs(5), handle.close())
        .await
        .expect("close did not return");
    let took = t0.elapsed();
    assert!(took < Duration::from_secs(1), "close took {took:?}");
    assert_eq!(handle.live_connections(), 0);
    for (i, s) in busy.iter_mut().chain(idle.iter_mut()).enumerate() {
        let got = wait_closed(s, Duration::from_secs(1)).await;
        assert!(
            got.is_empty(),
            "client {i} received {:?} after close",
            String::from_utf8_lossy(&got)
        );
    }
    assert!(
        refused(addr).await,
        "a connection opened after close was not refused"
    );
}
