//! The life of an HTTP/2 server connection as real clients see it (nghttp, Python's `h2`,
//! hyper): GOAWAY on graceful shutdown while a stream finishes, refused connections
//! afterwards, GOAWAY after the idle timeout, and the connection states the hook reports.
//!
//! The external programs are found on `PATH`; a missing one fails the test under `CI=true`
//! and skips it with a note otherwise (see `common::peers`).

mod common;
#[path = "common/h2peers.rs"]
mod h2peers;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::peers::peer;
use h2peers::*;
use nethttp::http::StatusCode;
use nethttp::{text_response, ConnState, HttpRequest, Server, ServerHandle};
use tokio::sync::watch;

/// A server whose `GET /slow` handler blocks until the test releases it (at most 10 s), and
/// whose other paths answer `hello h2` at once.
struct Slow {
    handle: ServerHandle,
    /// `/slow` handlers that have started.
    started: Arc<AtomicUsize>,
    release: watch::Sender<bool>,
}

fn start_slow(server: &Server) -> Slow {
    let started = Arc::new(AtomicUsize::new(0));
    let (release, released) = watch::channel(false);
    let s = started.clone();
    let handle = start(server, move |req: HttpRequest| {
        let (s, mut released) = (s.clone(), released.clone());
        async move {
            if req.uri().path() != "/slow" {
                return text_response(StatusCode::OK, "hello h2");
            }
            s.fetch_add(1, Ordering::SeqCst);
            let _ = tokio::time::timeout(Duration::from_secs(10), released.wait_for(|r| *r)).await;
            text_response(StatusCode::OK, "slow done")
        }
    });
    Slow {
        handle,
        started,
        release,
    }
}

/// Starts a graceful shutdown in the background.
fn shutdown_in_background(
    handle: &ServerHandle,
    grace: Duration,
) -> tokio::task::JoinHandle<nethttp::ShutdownReport> {
    let handle = handle.clone();
    tokio::spawn(async move { handle.shutdown(grace).await })
}

/// Asserts new TCP connections to `addr` are refused once shutdown has begun. The accept loop
/// closes its listener as it sees the shutdown, which may be a moment after a connection
/// task did: until then the kernel still completes connections into the backlog (they are
/// reset when the listener closes, never served), so this allows the loop 2 s to get there.
async fn assert_refused(addr: SocketAddr) {
    let start = Instant::now();
    loop {
        match within(
            "connect after shutdown",
            tokio::net::TcpStream::connect(addr),
        )
        .await
        {
            Err(e) => {
                assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused, "{e}");
                return;
            }
            Ok(_) => assert!(
                start.elapsed() < Duration::from_secs(2),
                "new connections still accepted 2 s after shutdown began"
            ),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Graceful shutdown.

/// nghttp has a stream in flight when shutdown begins: it receives GOAWAY (NO_ERROR) before
/// the response, the response still arrives whole with 200, and new connections are
/// refused meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_sends_goaway_and_the_in_flight_stream_completes_nghttp() {
    let Some(bin) = peer("nghttp", "--version", &[]) else {
        return;
    };
    let slow = start_slow(&Server::new());
    let addr = slow.handle.local_addr();
    let mut cmd = tokio::process::Command::new(&bin);
    cmd.args(["-v", "-t", "10", &format!("http://{addr}/slow")]);
    let client = tokio::spawn(run(cmd, "nghttp -v /slow"));
    let started = slow.started.clone();
    wait_until("the handler starts", || started.load(Ordering::SeqCst) == 1).await;

    let shutdown = shutdown_in_background(&slow.handle, Duration::from_secs(5));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_refused(addr).await;
    assert!(
        !shutdown.is_finished(),
        "shutdown did not wait for the stream"
    );
    slow.release.send(true).unwrap();

    let out = within("nghttp", client).await.expect("nghttp task");
    let report = within("shutdown", shutdown).await.expect("shutdown task");
    assert_eq!(report.forced, 0);
    let v = lossy(&out.stdout);
    let goaway = v
        .find("recv GOAWAY frame")
        .unwrap_or_else(|| panic!("no GOAWAY\n{v}"));
    let status = v
        .find(":status: 200")
        .unwrap_or_else(|| panic!("no 200\n{v}"));
    assert!(goaway < status, "GOAWAY came after the response\n{v}");
    let goaway_frame = &v[goaway..];
    let goaway_frame = &goaway_frame[..goaway_frame.find("\n[").unwrap_or(goaway_frame.len())];
    assert!(
        goaway_frame.contains("error_code=NO_ERROR(0x00)"),
        "{goaway_frame}"
    );
    assert!(v.contains("recv DATA frame <length=9, flags=0x01"), "{v}");
    assert!(v.contains("slow done"), "{v}");
    assert_eq!(slow.handle.live_connections(), 0);
}

/// The same with hyper, plus what GOAWAY means to the client: the in-flight request gets its
/// 200, a new request on the connection is not served, an idle second connection is closed
/// at once, and the busy one closes after its stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_in_flight_stream_then_closes_hyper() {
    let slow = start_slow(&Server::new());
    let addr = slow.handle.local_addr();
    let (busy, busy_conn) = hyper_h2c(addr).await;
    let (idle, idle_conn) = hyper_h2c(addr).await;
    assert_eq!(send(&idle, get(addr, "/hello")).await.body, "hello h2");
    let in_flight = tokio::spawn({
        let busy = busy.clone();
        async move { send(&busy, get(addr, "/slow")).await }
    });
    let started = slow.started.clone();
    wait_until("the handler starts", || started.load(Ordering::SeqCst) == 1).await;

    let shutdown = shutdown_in_background(&slow.handle, Duration::from_secs(5));
    within("the idle connection closes", idle_conn)
        .await
        .expect("idle connection task")
        .expect("the idle connection ended cleanly");
    assert_refused(addr).await;
    assert!(
        !in_flight.is_finished(),
        "the in-flight request ended early"
    );
    assert!(
        !shutdown.is_finished(),
        "shutdown did not wait for the stream"
    );
    // After GOAWAY the busy connection takes no new stream.
    let mut late = busy.clone();
    let late_result = within("a request after GOAWAY", async move {
        late.ready().await?;
        late.send_request(get(addr, "/hello")).await
    })
    .await;
    assert!(late_result.is_err(), "a new stream was served after GOAWAY");

    slow.release.send(true).unwrap();
    let got = within("the in-flight request", in_flight)
        .await
        .expect("request task");
    assert_eq!(got.head.status, StatusCode::OK);
    assert_eq!(got.body, "slow done");
    let report = within("shutdown", shutdown).await.expect("shutdown task");
    assert_eq!(report.forced, 0);
    drop(busy);
    within("the busy connection closes", busy_conn)
        .await
        .expect("busy connection task")
        .expect("the busy connection ended cleanly");
    assert_eq!(slow.handle.live_connections(), 0);
}

// ---------------------------------------------------------------------------------------------
// Idle timeout.

/// The `goaway ...` lines of a [`PY_H2_CLIENT`] run.
fn goaways(events: &[(f64, String)]) -> Vec<(f64, &str)> {
    events
        .iter()
        .filter(|(_, e)| e.starts_with("goaway "))
        .map(|(t, e)| (*t, e.as_str()))
        .collect()
}

/// Python's `h2` opens a connection and no stream: after the idle timeout (not before) the
/// server says GOAWAY (NO_ERROR; the last one names stream 0) and closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_h2_connection_without_streams_gets_goaway_after_idle_timeout() {
    let Some(py) = python_h2() else {
        return;
    };
    let handle = start(
        &Server::new().idle_timeout(Duration::from_millis(400)),
        |_req: HttpRequest| async { text_response(StatusCode::OK, "hello h2") },
    );
    let port = handle.local_addr().port().to_string();
    let mut cmd = tokio::process::Command::new(&py);
    cmd.args(["-c", PY_H2_CLIENT, &port, "ack", "10"]);
    let out = run(cmd, "python h2 idle client").await;
    let events = py_events(&out);
    let names: Vec<&str> = events.iter().map(|(_, e)| e.as_str()).collect();
    assert_eq!(names.first(), Some(&"sent 0"), "{}", show(&out));
    assert_eq!(names.last(), Some(&"eof"), "{}", show(&out));
    let g = goaways(&events);
    assert!(!g.is_empty(), "no GOAWAY\n{}", show(&out));
    assert!(g.iter().all(|(_, e)| e.starts_with("goaway 0 ")), "{g:?}");
    assert_eq!(g.last().unwrap().1, "goaway 0 0", "{g:?}");
    assert!(
        (0.35..3.0).contains(&g[0].0),
        "GOAWAY at {} s for a 0.4 s idle timeout",
        g[0].0
    );
    let eof_at = events.last().unwrap().0;
    assert!(eof_at - g[0].0 < 2.0, "closed {eof_at} s in");
    wait_until("the server forgets the connection", || {
        handle.live_connections() == 0
    })
    .await;
}

/// After a stream completes the idle timer starts again: the response, then GOAWAY naming
/// stream 1 as the last one processed, after the idle timeout. A stream running longer than
/// the idle timeout does not make the connection idle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_timeout_counts_from_the_last_stream() {
    let Some(py) = python_h2() else {
        return;
    };
    let log = StateLog::default();
    let slow = start_slow(
        &Server::new()
            .idle_timeout(Duration::from_millis(400))
            .conn_state_hook(log.hook()),
    );
    let (release, started) = (slow.release.clone(), slow.started.clone());
    tokio::spawn(async move {
        wait_until("the handler starts", || started.load(Ordering::SeqCst) == 1).await;
        tokio::time::sleep(Duration::from_millis(600)).await;
        let _ = release.send(true);
    });
    let port = slow.handle.local_addr().port().to_string();
    let mut cmd = tokio::process::Command::new(&py);
    cmd.args(["-c", PY_H2_CLIENT, &port, "ack", "10", "/slow"]);
    let out = run(cmd, "python h2 client").await;
    let events = py_events(&out);
    let names: Vec<&str> = events.iter().map(|(_, e)| e.as_str()).collect();
    assert_eq!(
        names[..4],
        ["sent 1", "response 1 200", "data 1 b'slow done'", "end 1"],
        "{}",
        show(&out)
    );
    assert_eq!(names.last(), Some(&"eof"), "{}", show(&out));
    let g = goaways(&events);
    assert!(!g.is_empty(), "no GOAWAY\n{}", show(&out));
    assert!(g.iter().all(|(_, e)| e.starts_with("goaway 0 ")), "{g:?}");
    assert_eq!(g.last().unwrap().1, "goaway 0 1", "{g:?}");
    let (end_at, goaway_at) = (events[3].0, g[0].0);
    assert!(
        (0.35..3.0).contains(&(goaway_at - end_at)),
        "GOAWAY {} s after the stream ended, for a 0.4 s idle timeout",
        goaway_at - end_at
    );
    wait_until("Closed is reported", || {
        log.all().last().map(|(_, s)| *s) == Some(ConnState::Closed)
    })
    .await;
    let states: Vec<ConnState> = log.all().into_iter().map(|(_, s)| s).collect();
    use ConnState::*;
    assert_eq!(states, [New, Active, Idle, Closed]);
}

/// hyper's client, idle past the idle timeout, sees its connection end cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_timeout_ends_a_hyper_connection() {
    let handle = start(
        &Server::new().idle_timeout(Duration::from_millis(300)),
        |_req: HttpRequest| async { text_response(StatusCode::OK, "hello h2") },
    );
    let addr = handle.local_addr();
    let (sender, conn) = hyper_h2c(addr).await;
    assert_eq!(send(&sender, get(addr, "/")).await.body, "hello h2");
    let idle_since = Instant::now();
    within("the idle connection closes", conn)
        .await
        .expect("connection task")
        .expect("the connection ended cleanly");
    let waited = idle_since.elapsed();
    assert!(
        (Duration::from_millis(250)..Duration::from_secs(3)).contains(&waited),
        "closed after {waited:?} for a 300 ms idle timeout"
    );
    assert!(sender.is_closed());
    wait_until("the server forgets the connection", || {
        handle.live_connections() == 0
    })
    .await;
}

/// A client that stops answering (gone without closing, or one that ignores frames after
/// GOAWAY as Python's `h2` does) is still disconnected once idle: the idle timeout is what
/// reaps such connections.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_timeout_disconnects_a_client_that_stopped_answering() {
    let Some(py) = python_h2() else {
        return;
    };
    let handle = start(
        &Server::new().idle_timeout(Duration::from_millis(400)),
        |_req: HttpRequest| async { text_response(StatusCode::OK, "hello h2") },
    );
    let port = handle.local_addr().port().to_string();
    let mut cmd = tokio::process::Command::new(&py);
    cmd.args(["-c", PY_H2_CLIENT, &port, "mute", "5"]);
    let out = run_any(cmd, "python h2 mute client").await;
    let events = py_events(&out);
    let names: Vec<&str> = events.iter().map(|(_, e)| e.as_str()).collect();
    assert_eq!(names.first(), Some(&"sent 0"), "{}", show(&out));
    assert!(
        names.contains(&"goaway 0 2147483647") || names.contains(&"goaway 0 0"),
        "no GOAWAY\n{}",
        show(&out)
    );
    assert_eq!(
        names.last(),
        Some(&"eof"),
        "the server kept the connection open for 5 s\n{}",
        show(&out)
    );
    assert!(out.status.success(), "{}", show(&out));
}

// ---------------------------------------------------------------------------------------------
// Connection states.

/// One hyper h2c connection, two requests one after the other, then the client closes:
/// New → Active → Idle → Active → Idle → Closed, all for the client's address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conn_state_hook_reports_the_h2_connection_life_cycle() {
    use ConnState::*;
    let log = StateLog::default();
    let handle = start(
        &Server::new().conn_state_hook(log.hook()),
        |_req: HttpRequest| async { text_response(StatusCode::OK, "hello h2") },
    );
    let addr = handle.local_addr();
    let (sender, conn) = hyper_h2c(addr).await;
    wait_until("New is reported", || log.all().len() == 1).await;
    let client = log.all()[0].0;
    assert_eq!(client.ip(), addr.ip());
    assert_eq!(log.of(client), [New], "no stream yet");
    for round in 1..=2 {
        let got = send(&sender, get(addr, "/hello")).await;
        assert_eq!(got.body, "hello h2");
        wait_until("Idle is reported", || {
            log.of(client).iter().filter(|s| **s == Idle).count() == round
        })
        .await;
    }
    assert_eq!(log.of(client), [New, Active, Idle, Active, Idle]);
    drop(sender);
    within("client connection closes", conn)
        .await
        .expect("connection task")
        .expect("connection ended cleanly");
    wait_until("Closed is reported", || log.of(client).len() == 6).await;
    assert_eq!(log.of(client), [New, Active, Idle, Active, Idle, Closed]);
    assert_eq!(log.all().len(), 6, "states for another connection");
    wait_until("the server forgets the connection", || {
        handle.live_connections() == 0
    })
    .await;
}

/// The same life cycle over TLS (ALPN h2), driven by curl with two URLs on one connection.
/// curl closes as soon as it has its responses, so the last Idle may be skipped; everything
/// else is fixed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conn_state_hook_over_tls_with_curl() {
    use ConnState::*;
    let Some(bin) = peer("curl", "--version", &[]) else {
        return;
    };
    let cert = common::certs::self_signed();
    let log = StateLog::default();
    let handle = start(
        &Server::new()
            .tls(cert.server_tls())
            .conn_state_hook(log.hook()),
        |_req: HttpRequest| async { text_response(StatusCode::OK, "hello h2") },
    );
    let port = handle.local_addr().port();
    let mut cmd = curl(&bin);
    cmd.arg("--http2")
        .args(curl_tls_args(&cert.cert_path(), port, "/hello"));
    let out = run(cmd, "curl --http2 over TLS").await;
    assert!(
        lossy(&out.stderr).contains("< HTTP/2 200"),
        "{}",
        show(&out)
    );
    assert_eq!(lossy(&out.stdout), "hello h2");
    wait_until("Closed is reported", || {
        log.all().last().map(|(_, s)| *s) == Some(Closed)
    })
    .await;
    let states: Vec<ConnState> = log.all().into_iter().map(|(_, s)| s).collect();
    assert!(
        states == [New, Active, Idle, Closed] || states == [New, Active, Closed],
        "{states:?}"
    );
    assert_eq!(handle.accepted_connections(), 1);
}

/// Handlers see what the hook saw: exactly one connection for every stream of one client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_connection_reported_for_many_streams() {
    let log = StateLog::default();
    let handle = start(
        &Server::new().conn_state_hook(log.hook()),
        |_req: HttpRequest| async { text_response(StatusCode::OK, "hello h2") },
    );
    let addr = handle.local_addr();
    let (sender, _conn) = hyper_h2c(addr).await;
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let sender = sender.clone();
        tasks.push(tokio::spawn(async move {
            send(&sender, get(addr, "/")).await.body
        }));
    }
    for t in tasks {
        assert_eq!(within("request", t).await.unwrap(), "hello h2");
    }
    assert_eq!(log.new_count(), 1, "{:?}", log.all());
    assert!(log.all().iter().all(|(_, s)| *s != ConnState::Closed));
}

/// A raw HTTP/2 client: preface and SETTINGS, ACKs the server's SETTINGS, then only reads
/// for 3 s, answering PINGs or not (argv: port, `answer` | `silent`). Prints
/// `eof SECONDS pings N` when the server closes, else `open SECONDS pings N`.
const PY_PING_CLIENT: &str = r#"
import socket, sys, time
port = int(sys.argv[1]); answer = sys.argv[2] == "answer"
s = socket.create_connection(("127.0.0.1", port), timeout=5)
s.settimeout(0.25)
s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
t0 = time.monotonic(); buf = b""; pings = 0
while time.monotonic() - t0 < 3:
    try:
        d = s.recv(65536)
    except socket.timeout:
        continue
    except ConnectionResetError:
        d = b""
    if not d:
        print("eof %.2f pings %d" % (time.monotonic() - t0, pings)); sys.exit(0)
    buf += d
    while len(buf) >= 9:
        n = int.from_bytes(buf[:3], "big")
        if len(buf) < 9 + n:
            break
        f, buf = buf[:9 + n], buf[9 + n:]
        if f[3] == 4 and not f[4] & 1:
            s.sendall(b"\x00\x00\x00\x04\x01\x00\x00\x00\x00")
        if f[3] == 6 and not f[4] & 1:
            pings += 1
            if answer:
                s.sendall(b"\x00\x00\x08\x06\x01\x00\x00\x00\x00" + f[9:17])
print("open %.2f pings %d" % (time.monotonic() - t0, pings))
"#;

async fn ping_client(answer: bool) -> (String, f64, u32) {
    let py = python_h2().expect("python3");
    let handle = start(
        &Server::new()
            .http2_keepalive(Some(Duration::from_millis(200)), Duration::from_millis(300)),
        |_req: HttpRequest| async { text_response(StatusCode::OK, "hello h2") },
    );
    let port = handle.local_addr().port().to_string();
    let mode = if answer { "answer" } else { "silent" };
    let mut cmd = tokio::process::Command::new(&py);
    cmd.args(["-c", PY_PING_CLIENT, &port, mode]);
    let out = run_any(cmd, "python ping client").await;
    let line = lossy(&out.stdout);
    let parts: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(parts.len(), 4, "{}", show(&out));
    (
        parts[0].to_owned(),
        parts[1].parse().unwrap(),
        parts[3].parse().unwrap(),
    )
}

/// Keepalive PINGs: a client that stops answering them is disconnected within interval +
/// timeout, long before the idle timeout (60 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keepalive_ping_unanswered_closes_the_connection() {
    if python_h2().is_none() {
        return;
    }
    let (end, secs, pings) = ping_client(false).await;
    assert_eq!(end, "eof", "the server kept a silent client for {secs} s");
    assert!(pings >= 1, "no PING was sent");
    assert!(
        secs < 1.5,
        "closed after {secs} s (200 ms interval + 300 ms timeout)"
    );
}

/// A client that answers every PING keeps its connection: PINGs keep coming.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keepalive_ping_answered_keeps_the_connection() {
    if python_h2().is_none() {
        return;
    }
    let (end, secs, pings) = ping_client(true).await;
    assert_eq!(
        end, "open",
        "closed after {secs} s though every PING was answered"
    );
    assert!(pings >= 5, "only {pings} PINGs in 3 s at a 200 ms interval");
}

/// A server allowing 5 client resets per 10 s whose handler counts its calls and answers
/// after 30 s (so every stream is reset while it runs); and the count.
fn start_resettable() -> (ServerHandle, Arc<AtomicUsize>) {
    let started = Arc::new(AtomicUsize::new(0));
    let s = started.clone();
    let handle = start(
        &Server::new().http2_max_resets(5, Duration::from_secs(10)),
        move |_req: HttpRequest| {
            s.fetch_add(1, Ordering::SeqCst);
            async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                text_response(StatusCode::OK, "late")
            }
        },
    );
    (handle, started)
}

/// Rapid reset (CVE-2023-44487): a client that keeps opening streams and resetting them while
/// their handlers run gets a GOAWAY once it passes `http2_max_resets`, and hyper, which heeds
/// it, opens no more: the connection ends without error. The handlers of the reset streams
/// are abandoned, not left running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_resetting_running_streams_is_sent_away() {
    let (handle, started) = start_resettable();
    let (sender, conn) = hyper_h2c(handle.local_addr()).await;
    for i in 0..20 {
        let mut sender = sender.clone();
        if sender.ready().await.is_err() {
            break;
        }
        let Ok(pending) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            sender.send_request(get(handle.local_addr(), "/slow"))
        })) else {
            break;
        };
        // Wait until the handler runs, then drop the response future: hyper resets the
        // stream (RST_STREAM CANCEL).
        let want = i + 1;
        let reached = tokio::time::timeout(Duration::from_secs(2), async {
            while started.load(Ordering::SeqCst) < want && !conn.is_finished() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
        drop(pending);
        if reached.is_err() || conn.is_finished() {
            break;
        }
    }
    let ended = within("the server closes the connection", conn).await;
    let ran = started.load(Ordering::SeqCst);
    assert!(
        (6..20).contains(&ran),
        "the server let {ran} reset streams run before its GOAWAY"
    );
    assert!(
        matches!(ended, Ok(Ok(()))),
        "expected the connection to end cleanly after the GOAWAY, got {ended:?}"
    );
    wait_until("the connection is gone", || handle.live_connections() == 0).await;
}

/// The same client written to ignore the GOAWAY (raw frames, never acknowledging the
/// server's PING): past twice `http2_max_resets` it gets GOAWAY `ENHANCE_YOUR_CALM` and is
/// disconnected (RFC 9113 §10.5).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_goes_on_resetting_after_goaway_is_disconnected() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (handle, started) = start_resettable();
    let sock = tokio::net::TcpStream::connect(handle.local_addr())
        .await
        .unwrap();
    let (mut rd, mut wr) = sock.into_split();
    // The server's frames: every GOAWAY's error code, until it closes.
    let goaways = tokio::spawn(async move {
        let mut codes = Vec::new();
        let mut head = [0u8; 9];
        while rd.read_exact(&mut head).await.is_ok() {
            let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
            let mut payload = vec![0u8; len];
            if rd.read_exact(&mut payload).await.is_err() {
                break;
            }
            if head[3] == 0x7 && len >= 8 {
                codes.push(u32::from_be_bytes(payload[4..8].try_into().unwrap()));
            }
        }
        codes
    });
    let frame = |kind: u8, flags: u8, stream: u32, payload: &[u8]| {
        let mut f = (payload.len() as u32).to_be_bytes()[1..].to_vec();
        f.extend_from_slice(&[kind, flags]);
        f.extend_from_slice(&stream.to_be_bytes());
        f.extend_from_slice(payload);
        f
    };
    wr.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .unwrap();
    wr.write_all(&frame(0x4, 0, 0, &[])).await.unwrap();
    // GET http://localhost/ in HPACK: :method GET, :scheme http, :path / from the static
    // table, :authority as a literal.
    let mut block = vec![0x82, 0x86, 0x84, 0x41, 9];
    block.extend_from_slice(b"localhost");
    let mut sent = 0;
    for i in 0..40u32 {
        let stream = 2 * i + 1;
        let headers = frame(0x1, 0x5, stream, &block);
        if wr.write_all(&headers).await.is_err() {
            break;
        }
        let want = i as usize + 1;
        let t0 = Instant::now();
        while started.load(Ordering::SeqCst) < want && t0.elapsed() < Duration::from_secs(2) {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        if started.load(Ordering::SeqCst) < want {
            break; // the server takes no more streams
        }
        let cancel = frame(0x3, 0, stream, &8u32.to_be_bytes());
        if wr.write_all(&cancel).await.is_err() {
            break;
        }
        sent += 1;
    }
    let codes = within("the server closes the connection", goaways)
        .await
        .unwrap();
    // NO_ERROR first (the graceful GOAWAY), then ENHANCE_YOUR_CALM (0xb).
    assert_eq!(codes.first(), Some(&0), "{codes:?} after {sent} resets");
    assert_eq!(codes.last(), Some(&0xb), "{codes:?} after {sent} resets");
    let ran = started.load(Ordering::SeqCst);
    assert!((11..=13).contains(&ran), "{ran} handlers ran");
    wait_until("the connection is gone", || handle.live_connections() == 0).await;
}

/// A request body that stops arriving fails the handler's read at the server's read
/// timeout: a trickling HTTP/2 upload cannot hold a stream and its handler forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_request_body_times_out() {
    let handle = start(
        &Server::new().read_timeout(Duration::from_millis(300)),
        |req: HttpRequest| async move {
            let started = Instant::now();
            match req.into_body().to_bytes(1 << 20).await {
                Ok(b) => text_response(StatusCode::OK, format!("got {}", b.len())),
                Err(e) => text_response(
                    StatusCode::REQUEST_TIMEOUT,
                    format!(
                        "{} {} {}",
                        e.kind(),
                        e.is_timeout(),
                        started.elapsed().as_millis() < 2000
                    ),
                ),
            }
        },
    );
    let (sender, _conn) = hyper_h2c(handle.local_addr()).await;
    let (tx, body) = nethttp::Body::channel(1);
    tx.send_data(b"first part".to_vec()).await.unwrap();
    let req = http::Request::post(format!("http://{}/up", handle.local_addr()))
        .body(body)
        .unwrap();
    let got = send(&sender, req).await;
    drop(tx);
    assert_eq!(got.head.status, StatusCode::REQUEST_TIMEOUT);
    assert_eq!(got.body, "timeout true true");
}

/// The minimum body data rate applies on HTTP/2 as on HTTP/1.1: after the grace period, a
/// body that stops arriving fails the read long before the whole-request read timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_body_below_the_minimum_rate_times_out() {
    let handle = start(
        &Server::new()
            .read_timeout(Duration::from_secs(60))
            .min_body_rate(Some(nethttp::MinDataRate {
                bytes_per_sec: 1000,
                grace: Duration::from_millis(200),
            })),
        |req: HttpRequest| async move {
            let started = Instant::now();
            match req.into_body().to_bytes(1 << 20).await {
                Ok(b) => text_response(StatusCode::OK, format!("got {}", b.len())),
                Err(e) => text_response(
                    StatusCode::REQUEST_TIMEOUT,
                    format!(
                        "{} {}",
                        e.is_timeout(),
                        started.elapsed() < Duration::from_secs(3)
                    ),
                ),
            }
        },
    );
    let (sender, _conn) = hyper_h2c(handle.local_addr()).await;
    let (tx, body) = nethttp::Body::channel(1);
    tx.send_data(b"0123456789".to_vec()).await.unwrap();
    let req = http::Request::post(format!("http://{}/up", handle.local_addr()))
        .body(body)
        .unwrap();
    let got = send(&sender, req).await;
    drop(tx);
    assert_eq!(got.head.status, StatusCode::REQUEST_TIMEOUT);
    assert_eq!(got.body, "true true");
}
