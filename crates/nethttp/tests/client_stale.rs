//! Connections the server closes right after each response without saying so (no
//! `Connection: close`, no `Keep-Alive` hint): every pooled connection is dead by the time it
//! is reused, and the client learns it only from the socket. GETs must all succeed (resent
//! once, on a new connection, without the retry budget), no POST may reach the server twice,
//! and few POSTs may fail: before writing a request that could not be sent again the client
//! asks the kernel for the server's FIN, and once a POST has been lost to such a close, the
//! host is remembered and later ones take new connections.
//!
//! The load tests' server runs on its own threads with blocking sockets, as a server in
//! another process would: its close races the client's next request. The exact-sequence
//! tests use scripted servers (`common::script`). Every socket wait is bounded.

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::script::{body_of, bounded, client_with, ok, Peer, Script};
use nethttp::{Client, ErrorKind};

/// Bound on each socket read of the server and each request of the client.
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// What the closing server saw.
#[derive(Default)]
struct Seen {
    /// Requests read, whatever the method.
    requests: AtomicUsize,
    /// How many times each POST body arrived.
    posts: Mutex<HashMap<Vec<u8>, usize>>,
    stop: AtomicBool,
}

/// A loopback server that reads one request per connection, answers `200 OK` with a
/// `Content-Length` body and no `Connection: close`, waits `gap`, and closes the connection.
/// With a gap of zero the FIN follows the response at once; with a gap, a client that reuses
/// the connection at once writes its next request before the FIN exists.
struct ClosingServer {
    addr: SocketAddr,
    seen: Arc<Seen>,
}

impl ClosingServer {
    fn start(gap: Duration) -> ClosingServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let seen = Arc::new(Seen::default());
        let s = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if s.stop.load(SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let s = s.clone();
                std::thread::spawn(move || answer_then_close(stream, &s, gap));
            }
        });
        ClosingServer { addr, seen }
    }

    fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    fn posts(&self) -> HashMap<Vec<u8>, usize> {
        self.seen.posts.lock().unwrap().clone()
    }
}

impl Drop for ClosingServer {
    fn drop(&mut self) {
        self.seen.stop.store(true, SeqCst);
        // Wakes the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Reads one request (head and `Content-Length` body), answers it, waits `gap` and drops the
/// socket.
fn answer_then_close(mut stream: TcpStream, seen: &Seen, gap: Duration) {
    stream.set_nodelay(true).ok();
    stream.set_read_timeout(Some(IO_TIMEOUT)).ok();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i + 4;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let len: usize = head
        .split("\r\n")
        .find_map(|l| l.strip_prefix("content-length:"))
        .map_or(0, |v| v.trim().parse().expect("content-length"));
    while buf.len() < head_end + len {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    seen.requests.fetch_add(1, SeqCst);
    if head.starts_with("post ") {
        let body = buf[head_end..head_end + len].to_vec();
        *seen.posts.lock().unwrap().entry(body).or_default() += 1;
    }
    let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    if !gap.is_zero() {
        std::thread::sleep(gap);
    }
    // Dropped here: the FIN follows the response, unannounced.
}

/// A client configured as `nethttp bench -c 2` configures its own.
fn bench_like_client() -> Client {
    Client::builder()
        .transport(|t| t.max_conns_per_host(2).max_idle_per_host(2))
        .build()
        .unwrap()
}

const WORKERS: usize = 2;

/// Runs `per_worker` requests on each of [`WORKERS`] concurrent workers, each waiting for its
/// answer before the next; returns the errors by kind.
async fn load(client: &Client, url: &str, post: bool, per_worker: usize) -> Vec<ErrorKind> {
    let mut tasks = Vec::new();
    for w in 0..WORKERS {
        let (client, url) = (client.clone(), url.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut errors = Vec::new();
            for i in 0..per_worker {
                let req = if post {
                    client.post(&url).body(format!("post {w}-{i}"))
                } else {
                    client.get(&url)
                };
                let sent = async {
                    let res = req.send().await?;
                    res.into_body().to_bytes(1024).await
                };
                match tokio::time::timeout(IO_TIMEOUT, sent).await {
                    Ok(Ok(body)) => assert_eq!(&body[..], b"ok"),
                    Ok(Err(e)) => errors.push(e.kind()),
                    Err(_) => panic!("a request took longer than {IO_TIMEOUT:?}"),
                }
            }
            errors
        }));
    }
    let mut errors = Vec::new();
    for t in tasks {
        errors.extend(t.await.expect("worker"));
    }
    errors
}

/// 400 GETs, then 400 POSTs on a new client (as two `nethttp bench -c 2 -n 400` runs).
///
/// Every GET succeeds: one caught by the close is resent on a new connection, outside the
/// retry budget. A POST cannot be resent once written; each worker may lose at most the one
/// it had in flight when the first such loss taught the client that this host closes
/// connections after responses: from then on a POST gets a new connection. (Where the FIN
/// is already in the kernel, the check before reuse finds it and no POST is lost at all.)
/// Every failed POST is one the server never read: none reached it twice.
async fn gets_then_posts(label: &str, gap: Duration) {
    const PER_WORKER: usize = 200;
    let server = ClosingServer::start(gap);
    let start = Instant::now();
    let client = bench_like_client();
    let get_errors = load(&client, &server.url(), false, PER_WORKER).await;
    let gets = server.seen.requests.load(SeqCst);
    let client = bench_like_client();
    let post_errors = load(&client, &server.url(), true, PER_WORKER).await;
    let posts = server.posts();
    let twice: Vec<_> = posts.iter().filter(|(_, n)| **n > 1).collect();
    eprintln!(
        "{label}, server closing {gap:?} after each response: {} of {} GETs failed (the \
         server read {gets}); {} of {} POSTs failed ({} io, {} incomplete_message), {} \
         reached the server, {} twice; {:?} in all",
        get_errors.len(),
        WORKERS * PER_WORKER,
        post_errors.len(),
        WORKERS * PER_WORKER,
        post_errors.iter().filter(|k| **k == ErrorKind::Io).count(),
        post_errors
            .iter()
            .filter(|k| **k == ErrorKind::IncompleteMessage)
            .count(),
        posts.len(),
        twice.len(),
        start.elapsed(),
    );
    assert!(
        get_errors.is_empty(),
        "{label}: {} GET errors",
        get_errors.len()
    );
    assert!(twice.is_empty(), "{label}: POSTs received twice: {twice:?}");
    assert_eq!(
        posts.len() + post_errors.len(),
        WORKERS * PER_WORKER,
        "{label}: a failed POST had reached the server"
    );
    assert!(
        post_errors.len() <= WORKERS,
        "{label}: {} POSTs failed, more than one per worker",
        post_errors.len()
    );
}

#[tokio::test]
async fn closed_after_each_response_at_once() {
    gets_then_posts("current_thread", Duration::ZERO).await;
}

#[tokio::test]
async fn closed_after_each_response_a_moment_later() {
    gets_then_posts("current_thread", Duration::from_micros(300)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_after_each_response_a_moment_later_multi_thread() {
    gets_then_posts("multi_thread", Duration::from_micros(300)).await;
}

// ---------------------------------------------------------------------------------------
// The rules one at a time, on scripted servers
// ---------------------------------------------------------------------------------------

/// The reactor has not run since the response (the runtime's thread was busy), so only the
/// kernel knows the server closed the connection 20 ms after answering: a POST, which could
/// not be sent again, is not written on it.
#[tokio::test]
async fn a_fin_only_the_kernel_has_seen_keeps_a_post_off_the_connection() {
    let server = ClosingServer::start(Duration::from_millis(20));
    let client = Client::new();
    let res = bounded("GET", client.get(server.url()).send())
        .await
        .unwrap();
    assert_eq!(body_of(res).await.unwrap(), "ok");
    // Blocks the runtime's only thread: no reactor turn until the POST is on its way.
    std::thread::sleep(Duration::from_millis(200));
    let res = bounded("POST", client.post(server.url()).body("once").send()).await;
    assert_eq!(body_of(res.unwrap()).await.unwrap(), "ok");
    assert_eq!(server.posts().get(&b"once"[..]), Some(&1));
    let st = client.pool_stats();
    assert_eq!((st.stale, st.dials), (1, 2), "{st:?}");
}

/// Connections 0 and 1 answer one request each, then read the next and close without a
/// word (the server closed them as the request went out); later connections answer
/// everything with `ok("again")`.
async fn two_conns_close_under_their_second_request() -> Script {
    Script::start(|mut p: Peer| async move {
        if p.index < 2 {
            if p.read_request().await.is_some() {
                p.write(ok("first")).await;
            }
            p.read_request().await;
            return;
        }
        while p.read_request().await.is_some() {
            if !p.write(ok("again")).await {
                return;
            }
        }
    })
    .await
}

/// The (method, target, connection) of each request the server read.
fn seen(s: &Script) -> Vec<(String, String, usize)> {
    s.requests()
        .iter()
        .map(|r| (r.method().to_owned(), r.target().to_owned(), r.conn))
        .collect()
}

async fn fetch(req: nethttp::client::RequestBuilder) -> String {
    let res = bounded("request", req.send()).await.unwrap();
    let body = body_of(res).await.unwrap();
    String::from_utf8(body.to_vec()).unwrap()
}

/// A GET caught by the close of a reused connection is resent once, on a new connection
/// (not on the other idle one, which is as suspect), and without any retry budget. The host
/// is then remembered as closing connections: a POST gets a new connection rather than an
/// idle one, until a reused connection is answered.
#[tokio::test]
async fn a_request_caught_by_a_close_is_resent_on_a_new_connection_outside_the_budget() {
    let s = two_conns_close_under_their_second_request().await;
    let c = client_with(|t| t.retry_budget(0.0, 0, Duration::from_secs(60)));
    let (a, b) = tokio::join!(fetch(c.get(s.url("/a"))), fetch(c.get(s.url("/b"))));
    assert_eq!((a.as_str(), b.as_str()), ("first", "first"));
    assert_eq!(s.accepted(), 2);
    assert_eq!(fetch(c.get(s.url("/c"))).await, "again");
    let got = seen(&s);
    let on = |target: &str| -> Vec<usize> {
        got.iter()
            .filter(|(_, t, _)| t == target)
            .map(|(_, _, conn)| *conn)
            .collect()
    };
    let first_try = on("/c")[0];
    assert!(first_try < 2, "{got:?}");
    assert_eq!(on("/c"), [first_try, 2], "resent once, on a new connection");

    // Connection 2 is idle and fine, the other old one idle and dead: a POST takes neither.
    assert_eq!(fetch(c.post(s.url("/p")).body("p")).await, "again");
    // A GET reuses the newest connection, is answered, and the host is trusted again.
    assert_eq!(fetch(c.get(s.url("/d"))).await, "again");
    assert_eq!(fetch(c.post(s.url("/q")).body("q")).await, "again");
    let got = seen(&s);
    let tail: Vec<_> = got[got.len() - 3..].to_vec();
    let t = |m: &str, p: &str, c: usize| (m.to_owned(), p.to_owned(), c);
    assert_eq!(
        tail,
        [t("POST", "/p", 3), t("GET", "/d", 3), t("POST", "/q", 3)],
        "{got:?}"
    );
}

/// The free resend is one, and final when the new connection fails too: a host that fails
/// every request sees each at most twice.
#[tokio::test]
async fn a_resend_that_fails_on_its_new_connection_is_final() {
    let s = Script::start(|mut p: Peer| async move {
        if p.index == 0 && p.read_request().await.is_some() {
            p.write(ok("first")).await;
        }
        p.read_request().await;
    })
    .await;
    let c = Client::new();
    assert_eq!(fetch(c.get(s.url("/1"))).await, "first");
    let e = bounded("GET", c.get(s.url("/2")).send()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::IncompleteMessage, "{e}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let conns: Vec<usize> = seen(&s)
        .into_iter()
        .filter(|(_, t, _)| t == "/2")
        .map(|(_, _, c)| c)
        .collect();
    assert_eq!(conns, [0, 1]);
}

/// A POST lost to a close teaches the client that the host closes connections after
/// responses: later POSTs pass over connections idle for less than a moment (they take new
/// ones), use one that has stayed open for a while, and once that one is answered the host is
/// trusted again.
#[tokio::test]
async fn a_lost_post_makes_later_ones_wary_until_a_reused_connection_is_answered() {
    let s = Script::start(|mut p: Peer| async move {
        if p.index == 0 {
            if p.read_request().await.is_some() {
                p.write(ok("first")).await;
            }
            p.read_request().await;
            return;
        }
        while p.read_request().await.is_some() {
            if !p.write(ok("again")).await {
                return;
            }
        }
    })
    .await;
    let c = Client::new();
    assert_eq!(fetch(c.get(s.url("/1"))).await, "first");
    let e = bounded("POST", c.post(s.url("/2")).body("2").send())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::IncompleteMessage, "{e}");
    for n in 3..=4 {
        assert_eq!(
            fetch(c.post(s.url(&format!("/{n}"))).body("x")).await,
            "again"
        );
    }
    tokio::time::sleep(Duration::from_millis(150)).await;
    for n in 5..=6 {
        assert_eq!(
            fetch(c.post(s.url(&format!("/{n}"))).body("x")).await,
            "again"
        );
    }
    let t = |m: &str, p: &str, c: usize| (m.to_owned(), p.to_owned(), c);
    assert_eq!(
        seen(&s),
        [
            t("GET", "/1", 0),
            t("POST", "/2", 0),
            t("POST", "/3", 1),
            t("POST", "/4", 2),
            t("POST", "/5", 1),
            t("POST", "/6", 1),
        ]
    );
}
