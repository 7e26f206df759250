//! Interoperability of our HTTP/1.1 client with servers nobody here wrote — hyper's server
//! (in-process), Python's `http.server`, a small Python server that closes idle connections
//! without warning (`tests/peers/idle_closer.py`), and nginx — covering connection reuse and
//! its limits, every response framing (Content-Length, chunked with trailers, close-delimited,
//! HEAD/204/304), streamed uploads, redirects, the server's `Keep-Alive: timeout` hint, bodies
//! dropped early, and what may be resent when a server closes a connection under a request.
//!
//! python3 and nginx are found on `PATH` (nginx also in /usr/sbin). When one is missing the
//! test fails if `CI=true` (CI installs them, see `.ci/run`) and is skipped with a note
//! otherwise. Every server listens on loopback; every loop and wait is bounded.

mod common;

use common::peers::peer;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::Frame;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use nethttp::client::redirect::Policy;
use nethttp::client::RequestBuilder;
use nethttp::http::{self, header, HeaderMap, Method, Request, Response, StatusCode, Version};
use nethttp::{Body, Client};
use tokio::io::AsyncBufReadExt;
use tokio::sync::mpsc;

/// Bound on any single exchange or wait, so a bug fails a test instead of hanging it.
const TIMEOUT: Duration = Duration::from_secs(15);

// ---------------------------------------------------------------------------------------------
// Used by every section.

/// Awaits `f`, failing the test if it takes longer than [`TIMEOUT`].
async fn within<F: Future>(what: &str, f: F) -> F::Output {
    match tokio::time::timeout(TIMEOUT, f).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: no answer within {TIMEOUT:?}"),
    }
}

/// A client whose requests each end within 10 s, whatever the server does.
fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("build client")
}

/// Sends a request and reads the whole response body, failing the test on any error.
async fn fetch(req: RequestBuilder, what: &str) -> (http::response::Parts, Bytes) {
    within(what, async {
        let res = req.send().await.unwrap_or_else(|e| panic!("{what}: {e}"));
        let (parts, body) = res.into_parts();
        let body = body
            .to_bytes(64 << 20)
            .await
            .unwrap_or_else(|e| panic!("{what}: reading the body: {e}"));
        (parts, body)
    })
    .await
}

/// `len` bytes that are not a repeating short pattern, so a misplaced or lost chunk shows.
fn payload(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// FNV-1a, continued from `h` (start with [`FNV_START`]): the checksum sent as a trailer.
fn fnv1a(h: u64, data: &[u8]) -> u64 {
    data.iter()
        .fold(h, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}
const FNV_START: u64 = 0xcbf2_9ce4_8422_2325;

/// Asserts two byte strings are equal without printing megabytes when they are not.
fn assert_same_bytes(got: &[u8], want: &[u8], what: &str) {
    if got != want {
        let first_diff = got.iter().zip(want).position(|(a, b)| a != b);
        panic!(
            "{what}: got {} bytes, want {}; first difference at {:?}",
            got.len(),
            want.len(),
            first_diff
        );
    }
}

/// Waits (bounded) until `cond` holds, polling every few milliseconds; false on time out.
async fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    cond()
}

/// A scratch directory for files handed to a peer, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "nethttp-client-interop-{}-{}",
            std::process::id(),
            N.fetch_add(1, SeqCst)
        ));
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        Scratch(dir)
    }

    fn file(&self, name: &str, contents: &[u8]) -> PathBuf {
        let p = self.0.join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("create scratch subdir");
        }
        std::fs::write(&p, contents).expect("write scratch file");
        p
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// ---------------------------------------------------------------------------------------------
// External peers.

/// A server process, killed when dropped.
struct Proc {
    /// Held only to be killed (`kill_on_drop`) when the test ends.
    _child: tokio::process::Child,
    port: u16,
}

impl Proc {
    /// Spawns `cmd` and reads its stdout until a line containing `marker` followed by the
    /// port it listens on.
    async fn spawn(mut cmd: tokio::process::Command, marker: &str) -> Proc {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        let mut child = cmd.spawn().expect("spawn peer server");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let port = within(&format!("waiting for `{marker}`"), async {
            loop {
                let line = lines
                    .next_line()
                    .await
                    .expect("read peer stdout")
                    .unwrap_or_else(|| panic!("peer exited before printing `{marker}`"));
                if let Some(rest) = line.split_once(marker).map(|(_, r)| r) {
                    let digits: String = rest
                        .trim_start()
                        .chars()
                        .take_while(char::is_ascii_digit)
                        .collect();
                    return digits.parse::<u16>().expect("port after marker");
                }
            }
        })
        .await;
        // Keep draining stdout so the peer never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Proc {
            _child: child,
            port,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

// ---------------------------------------------------------------------------------------------
// hyper's server, in-process.

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type HyperBody = UnsyncBoxBody<Bytes, BoxError>;

/// How long `GET /slow` takes.
const SLOW: Duration = Duration::from_millis(200);
/// Chunks and bytes per chunk of `GET /trailers`.
const TRAILER_CHUNKS: usize = 40;
const TRAILER_CHUNK_LEN: usize = 1500;

/// What the hyper server counts about its own connections and requests.
#[derive(Default)]
struct Gauges {
    accepted: AtomicUsize,
    live: AtomicUsize,
    max_live: AtomicUsize,
    busy: AtomicUsize,
    max_busy: AtomicUsize,
}

#[derive(Clone, Copy)]
enum Gauge {
    /// Open connections.
    Live,
    /// Requests inside `GET /slow`.
    Busy,
}

impl Gauges {
    fn pair(&self, which: Gauge) -> (&AtomicUsize, &AtomicUsize) {
        match which {
            Gauge::Live => (&self.live, &self.max_live),
            Gauge::Busy => (&self.busy, &self.max_busy),
        }
    }

    /// Counts one more, keeping the maximum, until the guard drops.
    fn hold(self: &Arc<Self>, which: Gauge) -> Held {
        let (now, max) = self.pair(which);
        max.fetch_max(now.fetch_add(1, SeqCst) + 1, SeqCst);
        Held(self.clone(), which)
    }
}

struct Held(Arc<Gauges>, Gauge);

impl Drop for Held {
    fn drop(&mut self) {
        self.0.pair(self.1).0.fetch_sub(1, SeqCst);
    }
}

/// A response body fed frame by frame from a channel (data, then maybe trailers).
struct ChannelBody(mpsc::Receiver<Frame<Bytes>>);

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.0.poll_recv(cx).map(|f| f.map(Ok))
    }
}

/// hyper's HTTP/1 server on an ephemeral loopback port, counting connections itself.
struct HyperPeer {
    addr: SocketAddr,
    gauges: Arc<Gauges>,
    accept: tokio::task::JoinHandle<()>,
}

impl Drop for HyperPeer {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl HyperPeer {
    async fn start() -> HyperPeer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().unwrap();
        let gauges = Arc::new(Gauges::default());
        let g = gauges.clone();
        let accept = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                g.accepted.fetch_add(1, SeqCst);
                let live = g.hold(Gauge::Live);
                let g = g.clone();
                tokio::spawn(async move {
                    let _live = live;
                    let svc = service_fn(move |req| hyper_app(req, g.clone()));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        HyperPeer {
            addr,
            gauges,
            accept,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn accepted(&self) -> usize {
        self.gauges.accepted.load(SeqCst)
    }
}

fn full(status: StatusCode, body: impl Into<Bytes>) -> Response<HyperBody> {
    let mut res = Response::new(
        Full::new(body.into())
            .map_err(|e| match e {})
            .boxed_unsync(),
    );
    *res.status_mut() = status;
    res
}

/// The hyper server's routes:
/// - `GET|HEAD /hello` → `hello`;
/// - `GET /slow` → `slow` after [`SLOW`], counted in the busy gauge;
/// - `GET /trailers` → [`TRAILER_CHUNKS`] chunks and an `x-checksum` trailer (FNV-1a of the
///   body; hyper sends trailers only to a request with `TE: trailers`);
/// - `POST /echo` → the whole request body once read, and its `Transfer-Encoding` in
///   `x-request-te`;
/// - `POST /echo-stream` → the request body streamed back as it arrives (hyper's own echo
///   example: the response starts before the request body ends);
/// - `GET /no-content` → 204; `GET /not-modified` → 304 (hyper sends no `Content-Length` on
///   a 304 whatever the handler sets; idle_closer.py does).
async fn hyper_app(
    req: Request<Incoming>,
    g: Arc<Gauges>,
) -> Result<Response<HyperBody>, Infallible> {
    let path = req.uri().path().to_owned();
    let res = match (req.method().clone(), path.as_str()) {
        (_, "/hello") => full(StatusCode::OK, "hello"),
        (Method::GET, "/slow") => {
            let _busy = g.hold(Gauge::Busy);
            tokio::time::sleep(SLOW).await;
            full(StatusCode::OK, "slow")
        }
        (Method::GET, "/trailers") => {
            let (tx, rx) = mpsc::channel(4);
            tokio::spawn(async move {
                let mut sum = FNV_START;
                for i in 0..TRAILER_CHUNKS {
                    let piece = payload(TRAILER_CHUNK_LEN, i as u64);
                    sum = fnv1a(sum, &piece);
                    if tx.send(Frame::data(Bytes::from(piece))).await.is_err() {
                        return;
                    }
                }
                let mut trailers = HeaderMap::new();
                trailers.insert("x-checksum", sum.to_string().parse().unwrap());
                let _ = tx.send(Frame::trailers(trailers)).await;
            });
            let mut res = Response::new(ChannelBody(rx).boxed_unsync());
            res.headers_mut()
                .insert(header::TRAILER, "x-checksum".parse().unwrap());
            res
        }
        (Method::POST, "/echo") => {
            let te = req.headers().get(header::TRANSFER_ENCODING).cloned();
            match req.into_body().collect().await {
                Ok(body) => {
                    let mut res = full(StatusCode::OK, body.to_bytes());
                    if let Some(te) = te {
                        res.headers_mut().insert("x-request-te", te);
                    }
                    res
                }
                Err(e) => full(StatusCode::BAD_REQUEST, e.to_string()),
            }
        }
        (Method::POST, "/echo-stream") => {
            Response::new(req.into_body().map_err(BoxError::from).boxed_unsync())
        }
        (Method::GET, "/no-content") => {
            let mut res = Response::new(Empty::new().map_err(|e| match e {}).boxed_unsync());
            *res.status_mut() = StatusCode::NO_CONTENT;
            res
        }
        (Method::GET, "/not-modified") => {
            let mut res = Response::new(Empty::new().map_err(|e| match e {}).boxed_unsync());
            *res.status_mut() = StatusCode::NOT_MODIFIED;
            res.headers_mut()
                .insert(header::ETAG, "\"v1\"".parse().unwrap());
            res
        }
        _ => full(StatusCode::NOT_FOUND, "not found"),
    };
    Ok(res)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hyper_sequential_gets_share_one_connection() {
    let peer = HyperPeer::start().await;
    let c = client();
    for i in 0..100 {
        let (parts, body) = fetch(c.get(peer.url("/hello")), &format!("GET {i}")).await;
        assert_eq!(parts.status, StatusCode::OK, "request {i}");
        assert_eq!(&body[..], b"hello", "request {i}");
    }
    let stats = c.pool_stats();
    assert_eq!(peer.accepted(), 1, "server-side accepts; {stats:?}");
    assert_eq!(stats.dials, 1, "{stats:?}");
    assert_eq!(stats.reuses, 99, "{stats:?}");
    assert_eq!(stats.idle(), 1, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hyper_concurrent_requests_open_at_most_one_connection_each() {
    const N: usize = 32;
    const ROUNDS: usize = 10;
    let peer = HyperPeer::start().await;
    let c = client();
    for round in 0..ROUNDS {
        let tasks: Vec<_> = (0..N)
            .map(|i| {
                let req = c.get(peer.url("/hello"));
                tokio::spawn(async move {
                    let (parts, body) = fetch(req, &format!("round {round} request {i}")).await;
                    assert_eq!(parts.status, StatusCode::OK);
                    assert_eq!(&body[..], b"hello");
                })
            })
            .collect();
        for t in tasks {
            within("request task", t)
                .await
                .expect("request task panicked");
        }
    }
    let stats = c.pool_stats();
    let accepted = peer.accepted();
    assert!(
        (1..=N).contains(&accepted),
        "{accepted} connections for {N} concurrent requests; {stats:?}"
    );
    assert_eq!(stats.dials as usize, accepted, "{stats:?}");
    assert_eq!(
        (stats.dials + stats.reuses) as usize,
        N * ROUNDS,
        "every request took exactly one connection: {stats:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hyper_chunked_response_with_trailers() {
    let peer = HyperPeer::start().await;
    let c = client();
    let res = within(
        "GET /trailers",
        c.get(peer.url("/trailers")).header("te", "trailers").send(),
    )
    .await
    .expect("GET /trailers");
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[header::TRANSFER_ENCODING], "chunked");
    assert_eq!(res.headers()[header::TRAILER], "x-checksum");
    assert!(!res.headers().contains_key(header::CONTENT_LENGTH));
    let collected = within("reading /trailers", res.into_body().collect())
        .await
        .expect("chunked body with trailers");
    let trailers = collected.trailers().cloned().expect("trailers arrived");
    let body = collected.to_bytes();
    let want: Vec<u8> = (0..TRAILER_CHUNKS)
        .flat_map(|i| payload(TRAILER_CHUNK_LEN, i as u64))
        .collect();
    assert_same_bytes(&body, &want, "chunked body");
    assert_eq!(
        trailers["x-checksum"],
        fnv1a(FNV_START, &want).to_string().as_str(),
        "trailer"
    );
    // The chunked body ended cleanly at its last chunk: the connection carries on.
    let (_, body) = fetch(c.get(peer.url("/hello")), "GET /hello after trailers").await;
    assert_eq!(&body[..], b"hello");
    assert_eq!(peer.accepted(), 1);
    assert_eq!(c.pool_stats().dials, 1);
}

/// Sends `pieces` through a [`Body::channel`], `gap` apart, from a task of its own.
fn streamed_body(pieces: Vec<Vec<u8>>, gap: Duration) -> Body {
    let (tx, body) = Body::channel(2);
    tokio::spawn(async move {
        for p in pieces {
            if !gap.is_zero() {
                tokio::time::sleep(gap).await;
            }
            if tx.send_data(p).await.is_err() {
                return;
            }
        }
    });
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hyper_streamed_post_echoed() {
    let peer = HyperPeer::start().await;
    let c = client();
    let pieces: Vec<Vec<u8>> = (0..64).map(|i| payload(1000 + i * 97, i as u64)).collect();
    let sent: Vec<u8> = pieces.concat();
    let req = c
        .post(peer.url("/echo"))
        .body(streamed_body(pieces, Duration::ZERO));
    let (parts, body) = fetch(req, "streamed POST /echo").await;
    assert_eq!(parts.status, StatusCode::OK);
    assert_eq!(
        parts.headers["x-request-te"], "chunked",
        "a body of unknown length goes chunked"
    );
    assert_same_bytes(&body, &sent, "echo of a streamed body");
    // The upload and its answer both ended cleanly: the connection is reused.
    let (_, body) = fetch(c.get(peer.url("/hello")), "GET /hello after upload").await;
    assert_eq!(&body[..], b"hello");
    assert_eq!(peer.accepted(), 1);
    assert_eq!(c.pool_stats().dials, 1);
}

/// hyper's echo example answers at once and streams the request body back while it is still
/// arriving. A client must keep sending its body after the response head arrives (Go's and
/// hyper's clients do): the response cannot end before the request does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hyper_full_duplex_echo_while_uploading() {
    let peer = HyperPeer::start().await;
    let c = Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    let pieces: Vec<Vec<u8>> = (0..20).map(|i| payload(2000, 100 + i)).collect();
    let sent: Vec<u8> = pieces.concat();
    let res = c
        .post(peer.url("/echo-stream"))
        .body(streamed_body(pieces, Duration::from_millis(20)))
        .send()
        .await
        .expect("POST /echo-stream: response head");
    assert_eq!(res.status(), StatusCode::OK);
    let mut body = res.into_body();
    let mut echoed = Vec::new();
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(f) => echoed.extend_from_slice(&f.into_data().unwrap_or_default()),
            Err(e) => panic!(
                "POST /echo-stream: {e} after {} of {} bytes echoed: the client stopped \
                 sending its body once the response head arrived",
                echoed.len(),
                sent.len()
            ),
        }
    }
    assert_same_bytes(&echoed, &sent, "full-duplex echo");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hyper_max_conns_per_host_holds_at_the_server() {
    const LIMIT: usize = 4;
    const N: usize = 16;
    let peer = HyperPeer::start().await;
    let c = Client::builder()
        .timeout(Duration::from_secs(10))
        .transport(|t| t.max_conns_per_host(LIMIT))
        .build()
        .unwrap();
    let tasks: Vec<_> = (0..N)
        .map(|i| {
            let req = c.get(peer.url("/slow"));
            tokio::spawn(async move {
                let (parts, body) = fetch(req, &format!("GET /slow {i}")).await;
                assert_eq!(parts.status, StatusCode::OK, "request {i}");
                assert_eq!(&body[..], b"slow", "request {i}");
            })
        })
        .collect();
    // Meanwhile the pool never holds more than the limit, and the rest wait in line.
    let (mut max_active, mut max_waiting) = (0, 0);
    let t0 = Instant::now();
    while !tasks.iter().all(|t| t.is_finished()) && t0.elapsed() < TIMEOUT {
        let s = c.pool_stats();
        max_active = max_active.max(s.active());
        max_waiting = max_waiting.max(s.waiting());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for t in tasks {
        within("GET /slow task", t).await.expect("request panicked");
    }
    let g = &peer.gauges;
    let stats = c.pool_stats();
    assert!(
        g.max_live.load(SeqCst) <= LIMIT,
        "server saw {} connections at once; {stats:?}",
        g.max_live.load(SeqCst)
    );
    assert!(peer.accepted() <= LIMIT, "{} accepted", peer.accepted());
    let busy = g.max_busy.load(SeqCst);
    assert!(
        (2..=LIMIT).contains(&busy),
        "{busy} requests in flight at once at the server, want 2..={LIMIT}"
    );
    assert!(stats.dials as usize <= LIMIT, "{stats:?}");
    assert!(max_active <= LIMIT, "pool_stats showed {max_active} active");
    assert!(max_waiting > 0, "pool_stats never showed a waiting request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hyper_head_204_304_have_no_body() {
    let peer = HyperPeer::start().await;
    let c = client();
    // All on one connection: a client that waited for, or read, a body after any of these
    // heads would hang (until the timeout) or misread the next response.
    let (parts, body) = fetch(c.head(peer.url("/hello")), "HEAD /hello").await;
    assert_eq!(parts.status, StatusCode::OK);
    assert_eq!(parts.headers[header::CONTENT_LENGTH], "5");
    assert!(body.is_empty());

    let (parts, body) = fetch(c.get(peer.url("/no-content")), "GET /no-content").await;
    assert_eq!(parts.status, StatusCode::NO_CONTENT);
    assert!(body.is_empty());

    let (parts, body) = fetch(c.get(peer.url("/not-modified")), "GET /not-modified").await;
    assert_eq!(parts.status, StatusCode::NOT_MODIFIED);
    assert_eq!(parts.headers[header::ETAG], "\"v1\"");
    assert!(body.is_empty());

    let (parts, body) = fetch(c.get(peer.url("/hello")), "GET /hello").await;
    assert_eq!(parts.status, StatusCode::OK);
    assert_eq!(&body[..], b"hello");
    let stats = c.pool_stats();
    assert_eq!(peer.accepted(), 1, "{stats:?}");
    assert_eq!((stats.dials, stats.reuses), (1, 3), "{stats:?}");
}

// ---------------------------------------------------------------------------------------------
// Python: `python3 -m http.server`, and tests/peers/idle_closer.py.

/// `python3 -m http.server` on an ephemeral port, serving `dir`.
async fn python_http_server(py: &Path, dir: &Path) -> Proc {
    let mut cmd = tokio::process::Command::new(py);
    cmd.args(["-u", "-m", "http.server", "--bind", "127.0.0.1", "0"])
        .arg("--directory")
        .arg(dir);
    Proc::spawn(cmd, " port ").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_http_server_http10_one_connection_per_request() {
    let Some(py) = peer("python3", "--version", &[]) else {
        return;
    };
    let dir = Scratch::new();
    let data = payload(50_000, 7);
    dir.file("www/data.bin", &data);
    let server = python_http_server(&py, &dir.path("www")).await;
    let c = client();
    for i in 0..3 {
        let (parts, body) = fetch(c.get(server.url("/data.bin")), "GET /data.bin").await;
        assert_eq!(parts.status, StatusCode::OK, "request {i}");
        // http.server answers HTTP/1.0 without keep-alive: the connection ends each time.
        assert_eq!(parts.version, Version::HTTP_10, "request {i}");
        assert_eq!(parts.headers[header::CONTENT_LENGTH], "50000");
        assert_same_bytes(&body, &data, &format!("GET /data.bin {i}"));
    }
    let (parts, _) = fetch(c.get(server.url("/missing.txt")), "GET /missing.txt").await;
    assert_eq!(parts.status, StatusCode::NOT_FOUND);
    let stats = c.pool_stats();
    assert_eq!(stats.dials, 4, "one connection per request: {stats:?}");
    assert_eq!(stats.reuses, 0, "a closed connection was reused: {stats:?}");
    assert_eq!(stats.idle(), 0, "{stats:?}");
}

/// tests/peers/idle_closer.py with the given idle limit, and its log file.
async fn idle_closer(py: &Path, idle: Duration, dir: &Scratch) -> (Proc, PathBuf) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/idle_closer.py");
    let log = dir.path("idle_closer.log");
    let mut cmd = tokio::process::Command::new(py);
    cmd.arg("-u")
        .arg(script)
        .arg(idle.as_millis().to_string())
        .arg(&log);
    (Proc::spawn(cmd, "listening").await, log)
}

/// What idle_closer.py logged: connections accepted, and how often each request (by path for
/// GET, by body for POST) arrived.
struct CloserLog {
    conns: usize,
    seen: HashMap<String, usize>,
}

fn read_closer_log(path: &Path) -> CloserLog {
    let text = std::fs::read_to_string(path).expect("read idle_closer log");
    let mut log = CloserLog {
        conns: 0,
        seen: HashMap::new(),
    };
    for line in text.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        match f.as_slice() {
            ["conn", _] => log.conns += 1,
            ["req", _, "GET" | "HEAD", path, _] => {
                *log.seen.entry(path.to_string()).or_default() += 1
            }
            ["req", _, "POST", _, id] => *log.seen.entry(id.to_string()).or_default() += 1,
            _ => panic!("unexpected log line {line:?}"),
        }
    }
    log
}

/// Idle gaps between requests, around the server's idle limit: some well inside it (reuse),
/// some well past it (the server has closed), and some right at it (the server may close as
/// the request goes out).
fn gap(i: usize, idle: Duration) -> Duration {
    let pct = [0, 60, 95, 100, 105, 115, 250][i % 7];
    idle * pct / 100
}

const CLOSER_IDLE: Duration = Duration::from_millis(40);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_unannounced_idle_close_costs_no_get() {
    const N: usize = 50;
    let Some(py) = peer("python3", "--version", &[]) else {
        return;
    };
    let dir = Scratch::new();
    let (server, log) = idle_closer(&py, CLOSER_IDLE, &dir).await;
    let c = client();
    let mut failed = Vec::new();
    for i in 0..N {
        tokio::time::sleep(gap(i, CLOSER_IDLE)).await;
        let sent = within("GET", async {
            let res = c.get(server.url(&format!("/get/{i}"))).send().await?;
            res.into_body().to_bytes(1 << 10).await
        })
        .await;
        match sent {
            Ok(body) => assert_eq!(body, format!("ok /get/{i}"), "request {i}"),
            Err(e) => failed.push(format!("GET {i}: {e}")),
        }
    }
    let stats = c.pool_stats();
    assert!(failed.is_empty(), "GETs failed: {failed:#?}\n{stats:?}");
    let log = read_closer_log(&log);
    for i in 0..N {
        assert!(
            log.seen.contains_key(&format!("/get/{i}")),
            "GET {i} never reached the server"
        );
    }
    assert!(
        log.conns > 1,
        "the server closed no idle connection; the test proves nothing"
    );
    assert_eq!(
        stats.dials as usize, log.conns,
        "client dials vs server accepts; {stats:?}"
    );
    eprintln!(
        "{N} GETs: {} connections, {stats:?}, repeats at the server: {}",
        log.conns,
        log.seen.values().filter(|&&n| n > 1).count()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_unannounced_idle_close_never_sends_a_post_twice() {
    const N: usize = 20;
    let Some(py) = peer("python3", "--version", &[]) else {
        return;
    };
    let dir = Scratch::new();
    let (server, log) = idle_closer(&py, CLOSER_IDLE, &dir).await;
    let c = client();
    let mut answered = BTreeSet::new();
    let mut failed = BTreeMap::new();
    for i in 0..N {
        tokio::time::sleep(gap(i, CLOSER_IDLE)).await;
        let id = format!("post-{i}");
        let sent = within("POST", async {
            let res = c.post(server.url("/post")).body(id.clone()).send().await?;
            res.into_body().to_bytes(1 << 10).await
        })
        .await;
        match sent {
            Ok(body) => {
                assert_eq!(body, format!("ok {id}"), "POST {i}");
                answered.insert(id);
            }
            Err(e) => {
                failed.insert(id, e.to_string());
            }
        }
    }
    let stats = c.pool_stats();
    let log = read_closer_log(&log);
    for i in 0..N {
        let id = format!("post-{i}");
        let times = log.seen.get(&id).copied().unwrap_or(0);
        assert!(
            times <= 1,
            "POST {i} reached the server {times} times: sent again"
        );
        if answered.contains(&id) {
            assert_eq!(times, 1, "POST {i} answered but never seen by the server");
        }
    }
    assert_eq!(answered.len() + failed.len(), N);
    assert!(
        log.conns > 1,
        "the server closed no idle connection; the test proves nothing"
    );
    assert_eq!(
        stats.dials as usize, log.conns,
        "client dials vs server accepts; {stats:?}"
    );
    eprintln!(
        "{N} POSTs: {} answered, failed (reported, not resent): {failed:?}; {} connections, {stats:?}",
        answered.len(),
        log.conns
    );
}

/// The server reads a request that came on a reused connection and closes without a byte of
/// answer, so the request may have been acted on. A GET is resent on a new connection; a
/// POST is reported as an error and never resent, unless it carries an `Idempotency-Key`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_closed_under_a_request_resends_only_what_is_safe() {
    let Some(py) = peer("python3", "--version", &[]) else {
        return;
    };
    let dir = Scratch::new();
    let (server, log) = idle_closer(&py, Duration::from_secs(10), &dir).await;
    let c = client();

    fetch(c.get(server.url("/get/warm-1")), "GET warm-1").await;
    let (_, body) = fetch(c.get(server.url("/get/drop-once-get")), "GET drop-once").await;
    assert_eq!(&body[..], b"ok /get/drop-once-get");

    let err = within(
        "POST drop-once",
        c.post(server.url("/post")).body("drop-once-post").send(),
    )
    .await
    .expect_err("a POST the server dropped must fail, not be resent");
    assert!(err.is_incomplete_message(), "{err:?}");

    fetch(c.get(server.url("/get/warm-2")), "GET warm-2").await;
    let (_, body) = fetch(
        c.post(server.url("/post"))
            .header("idempotency-key", "k1")
            .body("drop-once-keyed"),
        "POST with Idempotency-Key",
    )
    .await;
    assert_eq!(&body[..], b"ok drop-once-keyed");

    let stats = c.pool_stats();
    let log = read_closer_log(&log);
    let seen = |k: &str| log.seen.get(k).copied().unwrap_or(0);
    assert_eq!(seen("/get/drop-once-get"), 2, "GET resent once");
    assert_eq!(seen("drop-once-post"), 1, "POST not resent");
    assert_eq!(seen("drop-once-keyed"), 2, "keyed POST resent once");
    assert_eq!(stats.dials, 4, "{stats:?}");
    assert_eq!(stats.dials as usize, log.conns, "{stats:?}");
    eprintln!("the dropped POST failed with: {err}");
}

/// Heads that declare a length but never carry a body: a 304 with `Content-Length: 5`, and
/// HEAD. Had the client waited for those bytes, the next response on the connection would be
/// misread or the request would hang.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_304_and_head_with_content_length_have_no_body() {
    let Some(py) = peer("python3", "--version", &[]) else {
        return;
    };
    let dir = Scratch::new();
    let (server, log) = idle_closer(&py, Duration::from_secs(10), &dir).await;
    let c = client();
    let (parts, body) = fetch(c.get(server.url("/not-modified")), "GET /not-modified").await;
    assert_eq!(parts.status, StatusCode::NOT_MODIFIED);
    assert_eq!(parts.headers[header::CONTENT_LENGTH], "5");
    assert!(body.is_empty());
    let (parts, body) = fetch(c.head(server.url("/get/1")), "HEAD /get/1").await;
    assert_eq!(parts.status, StatusCode::OK);
    assert_eq!(parts.headers[header::CONTENT_LENGTH], "9");
    assert!(body.is_empty());
    let (_, body) = fetch(c.get(server.url("/get/2")), "GET /get/2").await;
    assert_eq!(&body[..], b"ok /get/2");
    let stats = c.pool_stats();
    assert_eq!((stats.dials, stats.reuses), (1, 2), "{stats:?}");
    assert_eq!(read_closer_log(&log).conns, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_close_delimited_body() {
    let Some(py) = peer("python3", "--version", &[]) else {
        return;
    };
    let dir = Scratch::new();
    let (server, log) = idle_closer(&py, Duration::from_secs(10), &dir).await;
    let c = client();
    let (parts, body) = fetch(c.get(server.url("/eof/70000")), "GET /eof/70000").await;
    assert_eq!(parts.status, StatusCode::OK);
    assert_eq!(parts.version, Version::HTTP_11);
    assert!(!parts.headers.contains_key(header::CONTENT_LENGTH));
    assert!(!parts.headers.contains_key(header::TRANSFER_ENCODING));
    let want: Vec<u8> = (0..70000u32).map(|i| (i * 31 % 251) as u8).collect();
    assert_same_bytes(&body, &want, "close-delimited body");
    // The body ended with the connection: the next request needs a new one.
    let (_, body) = fetch(c.get(server.url("/get/1")), "GET /get/1").await;
    assert_eq!(&body[..], b"ok /get/1");
    let stats = c.pool_stats();
    assert_eq!((stats.dials, stats.reuses), (2, 0), "{stats:?}");
    assert_eq!(read_closer_log(&log).conns, 2);
}

// ---------------------------------------------------------------------------------------------
// nginx.

/// nginx's keepalive_timeout, announced as `Keep-Alive: timeout=2`.
const NGINX_KEEPALIVE: Duration = Duration::from_secs(2);
const SMALL_FILE: usize = 100 * 1024;
const BIG_FILE: usize = 1024 * 1024;

/// One nginx process (`master_process off`: no workers to outlive it) serving a scratch
/// directory, with an access log of connection numbers.
struct Nginx {
    proc: Proc,
    dir: Scratch,
}

/// One access log line: nginx's connection serial number, the request's number on that
/// connection, and the request.
#[derive(Debug)]
struct Logged {
    conn: u64,
    nth: u64,
    uri: String,
    status: u16,
}

/// What `/sub/page.txt` holds before nginx's sub_filter rewrites it.
fn sub_page() -> String {
    (0..3000).map(|i| format!("line {i}: NAME\n")).collect()
}

impl Nginx {
    async fn start(bin: &Path) -> Nginx {
        let dir = Scratch::new();
        dir.file("www/files/small.bin", &payload(SMALL_FILE, 11));
        dir.file("www/files/big.bin", &payload(BIG_FILE, 12));
        dir.file("www/sub/page.txt", sub_page().as_bytes());
        dir.file("www/gz/page.txt", sub_page().as_bytes());
        let d = dir.0.display();
        let ka = NGINX_KEEPALIVE.as_secs();
        let (child, port) = common::peers::nginx_on_free_port(bin, &dir.0, |port| {
            format!(
                r#"
    log_format conns '$connection $connection_requests $request_method $uri $status';
    access_log {d}/access.log conns;
    default_type application/octet-stream;
    keepalive_timeout {ka} {ka};
    keepalive_requests 1000;
    server {{
        listen 127.0.0.1:{port};
        root {d}/www;
        location = /hello {{ return 200 "hello"; }}
        location = /old {{ return 301 /target; }}
        location = /old-relative {{ absolute_redirect off; return 302 /target; }}
        location = /target {{ return 200 "target"; }}
        location /files/ {{ }}
        location /gz/ {{ gzip on; gzip_types *; gzip_min_length 0; }}
        location /sub/ {{
            sub_filter NAME nginx;
            sub_filter_once off;
            sub_filter_types *;
        }}
    }}
"#
            )
        })
        .await;
        Nginx {
            proc: Proc {
                _child: child,
                port,
            },
            dir,
        }
    }

    fn url(&self, path: &str) -> String {
        self.proc.url(path)
    }

    /// The access log, once it has at least `n` lines (nginx writes a line as a request
    /// ends, which may be just after the client has the whole response).
    async fn log(&self, n: usize) -> Vec<Logged> {
        let path = self.dir.path("access.log");
        let read = || -> Vec<Logged> {
            std::fs::read_to_string(&path)
                .unwrap_or_default()
                .lines()
                .map(|l| {
                    let f: Vec<&str> = l.split(' ').collect();
                    assert_eq!(f.len(), 5, "access log line {l:?}");
                    Logged {
                        conn: f[0].parse().unwrap(),
                        nth: f[1].parse().unwrap(),
                        uri: f[3].to_owned(),
                        status: f[4].parse().unwrap(),
                    }
                })
                .collect()
        };
        eventually(Duration::from_secs(5), || read().len() >= n).await;
        let lines = read();
        assert_eq!(lines.len(), n, "access log: {lines:#?}");
        lines
    }
}

fn nginx() -> Option<PathBuf> {
    peer(
        "nginx",
        "-v",
        &["/usr/sbin", "/usr/local/sbin", "/usr/local/nginx/sbin"],
    )
}

/// Distinct connection numbers in log order.
fn conns(log: &[Logged]) -> Vec<u64> {
    let mut v: Vec<u64> = Vec::new();
    for l in log {
        if !v.contains(&l.conn) {
            v.push(l.conn);
        }
    }
    v
}

/// nginx gzips the page on the fly (chunked, no length); the client, which asked for gzip,
/// hands out the text, and the connection serves the next request once the body is read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_gzip_is_inflated_on_a_kept_connection() {
    let Some(bin) = nginx() else { return };
    let nginx = Nginx::start(&bin).await;
    let c = client();
    for i in 0..3 {
        let (parts, body) = fetch(c.get(nginx.url("/gz/page.txt")), &format!("GET gz {i}")).await;
        assert_eq!(parts.status, StatusCode::OK);
        assert!(
            parts
                .extensions
                .get::<nethttp::client::Decompressed>()
                .is_some(),
            "{parts:?}"
        );
        assert!(parts.headers.get("content-encoding").is_none(), "{parts:?}");
        assert_eq!(body, sub_page().as_bytes(), "request {i}");
    }
    // The same page asked for without gzip is the same text, byte for byte.
    let (parts, plain) = fetch(
        c.get(nginx.url("/gz/page.txt"))
            .header("accept-encoding", "identity"),
        "GET identity",
    )
    .await;
    assert!(parts
        .extensions
        .get::<nethttp::client::Decompressed>()
        .is_none());
    assert_eq!(plain, sub_page().as_bytes());
    let log = nginx.log(4).await;
    assert_eq!(conns(&log).len(), 1, "{log:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_sequential_gets_share_one_connection() {
    const N: usize = 20;
    let Some(bin) = nginx() else { return };
    let nginx = Nginx::start(&bin).await;
    let c = client();
    for i in 0..N {
        let (parts, body) = fetch(c.get(nginx.url("/hello")), &format!("GET {i}")).await;
        assert_eq!(parts.status, StatusCode::OK, "request {i}");
        assert_eq!(&body[..], b"hello", "request {i}");
    }
    let log = nginx.log(N).await;
    assert_eq!(
        conns(&log).len(),
        1,
        "nginx saw several connections: {log:#?}"
    );
    let nth: Vec<u64> = log.iter().map(|l| l.nth).collect();
    assert_eq!(nth, (1..=N as u64).collect::<Vec<_>>());
    let stats = c.pool_stats();
    assert_eq!((stats.dials, stats.reuses), (1, N as u64 - 1), "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_redirects_followed_on_the_same_connection() {
    let Some(bin) = nginx() else { return };
    let nginx = Nginx::start(&bin).await;
    let c = client();
    // nginx makes `return 301 /target` absolute (http://127.0.0.1:PORT/target).
    let (parts, body) = fetch(c.get(nginx.url("/old")), "GET /old").await;
    assert_eq!(parts.status, StatusCode::OK);
    assert_eq!(&body[..], b"target");
    // With absolute_redirect off the Location is `/target`, resolved against the request.
    let (parts, body) = fetch(c.get(nginx.url("/old-relative")), "GET /old-relative").await;
    assert_eq!(parts.status, StatusCode::OK);
    assert_eq!(&body[..], b"target");
    let log = nginx.log(4).await;
    let seen: Vec<(&str, u16)> = log.iter().map(|l| (&*l.uri, l.status)).collect();
    assert_eq!(
        seen,
        [
            ("/old", 301),
            ("/target", 200),
            ("/old-relative", 302),
            ("/target", 200)
        ]
    );
    assert_eq!(conns(&log).len(), 1, "{log:#?}");
    assert_eq!(c.pool_stats().dials, 1);

    // Not following: the redirect itself comes back.
    let c = Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(Policy::none())
        .build()
        .unwrap();
    let (parts, _) = fetch(c.get(nginx.url("/old")), "GET /old, not followed").await;
    assert_eq!(parts.status, StatusCode::MOVED_PERMANENTLY);
    assert_eq!(
        parts.headers[header::LOCATION],
        nginx.url("/target").as_str()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_keep_alive_hint_retires_connections_before_nginx_closes_them() {
    let Some(bin) = nginx() else { return };
    let nginx = Nginx::start(&bin).await;
    let c = client();
    let (parts, _) = fetch(c.get(nginx.url("/hello")), "GET 1").await;
    assert_eq!(parts.headers["keep-alive"], "timeout=2");

    // Well inside the hint: reused.
    tokio::time::sleep(Duration::from_millis(300)).await;
    fetch(c.get(nginx.url("/hello")), "GET 2").await;
    assert_eq!(c.pool_stats().dials, 1, "{:?}", c.pool_stats());

    // Past (timeout - 1 s), short of the timeout: nginx still holds the connection open,
    // but the client has retired it, so no request can race nginx's close.
    tokio::time::sleep(NGINX_KEEPALIVE * 3 / 4).await;
    fetch(c.get(nginx.url("/hello")), "GET 3").await;
    let stats = c.pool_stats();
    assert_eq!((stats.dials, stats.reuses), (2, 1), "{stats:?}");
    assert!(stats.closes + stats.stale >= 1, "{stats:?}");

    let log = nginx.log(3).await;
    assert_eq!(log[0].conn, log[1].conn, "{log:#?}");
    assert_ne!(log[1].conn, log[2].conn, "{log:#?}");
    assert_eq!(log[2].nth, 1, "{log:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_one_mib_static_file_byte_for_byte() {
    let Some(bin) = nginx() else { return };
    let nginx = Nginx::start(&bin).await;
    let c = client();
    let (parts, body) = fetch(c.get(nginx.url("/files/big.bin")), "GET big.bin").await;
    assert_eq!(parts.status, StatusCode::OK);
    assert_eq!(
        parts.headers[header::CONTENT_LENGTH],
        BIG_FILE.to_string().as_str()
    );
    assert_same_bytes(&body, &payload(BIG_FILE, 12), "1 MiB file");
    fetch(c.get(nginx.url("/hello")), "GET /hello").await;
    assert_eq!(c.pool_stats().dials, 1);
    assert_eq!(conns(&nginx.log(2).await).len(), 1);
}

/// Reads the first frame of a response body, then drops the rest.
async fn read_first_frame_then_drop(c: &Client, url: &str, len: usize) {
    let res = within(url, c.get(url).send()).await.expect("GET");
    assert_eq!(res.status(), StatusCode::OK);
    let mut body = res.into_body();
    let first = within("first frame", body.frame())
        .await
        .expect("a first frame")
        .expect("first frame");
    let got = first.into_data().map_or(0, |d| d.len());
    assert!(
        got > 0 && got < len,
        "first frame {got} of {len} bytes: not an early drop"
    );
    drop(body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_dropped_body_drained_when_small_closed_when_large() {
    let Some(bin) = nginx() else { return };
    let nginx = Nginx::start(&bin).await;
    let c = client();
    fetch(c.get(nginx.url("/hello")), "GET /hello").await;

    // 100 KiB, under the 256 KiB drain limit: drained in the background, then pooled.
    read_first_frame_then_drop(&c, &nginx.url("/files/small.bin"), SMALL_FILE).await;
    let pooled = eventually(Duration::from_secs(3), || {
        let s = c.pool_stats();
        s.idle() == 1 && s.active() == 0
    })
    .await;
    assert!(pooled, "drained connection not back: {:?}", c.pool_stats());
    fetch(
        c.get(nginx.url("/hello")),
        "GET /hello after a drained body",
    )
    .await;
    let stats = c.pool_stats();
    assert_eq!((stats.dials, stats.closes), (1, 0), "{stats:?}");

    // 1 MiB, over the limit: closed at once, the next request dials.
    read_first_frame_then_drop(&c, &nginx.url("/files/big.bin"), BIG_FILE).await;
    let stats = c.pool_stats();
    assert_eq!((stats.idle(), stats.active()), (0, 0), "{stats:?}");
    fetch(
        c.get(nginx.url("/hello")),
        "GET /hello after a dropped big body",
    )
    .await;
    let stats = c.pool_stats();
    assert_eq!((stats.dials, stats.closes), (2, 1), "{stats:?}");

    // nginx logs the cut-off 1 MiB response when it notices the close, which may come after
    // the next request's line: compare by request, not by line order.
    let log = nginx.log(5).await;
    let c0 = log[0].conn;
    let elsewhere: Vec<&str> = log
        .iter()
        .filter(|l| l.conn != c0)
        .map(|l| &*l.uri)
        .collect();
    assert_eq!(
        elsewhere,
        ["/hello"],
        "only the last request on a new connection: {log:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_chunked_response_from_sub_filter() {
    let Some(bin) = nginx() else { return };
    let nginx = Nginx::start(&bin).await;
    let c = client();
    let (parts, body) = fetch(c.get(nginx.url("/sub/page.txt")), "GET /sub/page.txt").await;
    assert_eq!(parts.status, StatusCode::OK);
    assert_eq!(parts.headers[header::TRANSFER_ENCODING], "chunked");
    assert!(!parts.headers.contains_key(header::CONTENT_LENGTH));
    assert_same_bytes(
        &body,
        sub_page().replace("NAME", "nginx").as_bytes(),
        "sub_filter output",
    );
    fetch(c.get(nginx.url("/hello")), "GET /hello").await;
    assert_eq!(c.pool_stats().dials, 1);
    assert_eq!(conns(&nginx.log(2).await).len(), 1);
}
