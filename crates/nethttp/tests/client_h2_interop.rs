//! Our client's HTTP/2 against servers nobody here wrote: hyper's HTTP/2 server over h2c (one
//! connection shared by concurrent requests, MAX_CONCURRENT_STREAMS spilling onto new
//! connections or queueing under `max_conns_per_host`, GOAWAY on graceful shutdown, streamed
//! uploads, flow control on a 5 MiB download, trailers), a raw Python `h2` server refusing
//! streams (RST_STREAM(REFUSED_STREAM), GOAWAY below our stream: resent even for POST, RFC
//! 9113 §8.7; a cold burst before the server's SETTINGS arrive). nginx and TLS: client_tls.rs.
//!
//! python3 (with the `h2` module) is found on `PATH`. When it is missing the test fails if `CI=true` and is skipped with a note otherwise.
//! Every server listens on loopback; every wait is bounded.

mod common;
#[path = "common/hyper_h2.rs"]
mod hyper_h2;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper_h2::{
    assert_same_bytes, big_body, eventually, payload, trailers_body, within, HyperPeer,
    PeerOptions, SLOW,
};
use nethttp::http::{self, Request, StatusCode, Version};
use nethttp::{Body, Transport};
use tokio::io::AsyncBufReadExt;

/// A transport speaking h2c by prior knowledge, with `f` applied.
fn h2c(
    f: impl FnOnce(nethttp::client::TransportBuilder) -> nethttp::client::TransportBuilder,
) -> Transport {
    f(Transport::builder()
        .http2_prior_knowledge(true)
        .response_header_timeout(Duration::from_secs(10))
        .read_timeout(Duration::from_secs(10))
        .pool_timeout(Duration::from_secs(10)))
    .build()
    .expect("build transport")
}

fn get(url: &str) -> Request<Body> {
    Request::get(url).body(Body::empty()).unwrap()
}

/// One round trip and its whole body, failing the test on any error.
async fn fetch(t: &Transport, req: Request<Body>, what: &str) -> (http::response::Parts, Bytes) {
    within(what, async {
        let res = t
            .round_trip(req)
            .await
            .unwrap_or_else(|e| panic!("{what}: {e:?}"));
        let (parts, body) = res.into_parts();
        let body = body
            .to_bytes(64 << 20)
            .await
            .unwrap_or_else(|e| panic!("{what}: reading the body: {e:?}"));
        (parts, body)
    })
    .await
}

/// Runs `n` concurrent `GET path` requests; returns each one's status, version and body.
async fn concurrent_gets(t: &Transport, url: &str, n: usize) -> Vec<(StatusCode, Version, Bytes)> {
    let mut tasks = Vec::new();
    for i in 0..n {
        let t = t.clone();
        let url = url.to_owned();
        tasks.push(tokio::spawn(async move {
            let (parts, body) = fetch(&t, get(&url), &format!("GET {url} #{i}")).await;
            (parts.status, parts.version, body)
        }));
    }
    let mut out = Vec::new();
    for task in tasks {
        out.push(within("a concurrent GET", task).await.expect("task"));
    }
    out
}

/// Snapshots of `(http2_streams, http2_waiting)` over all hosts, in time order.
type Samples = Arc<Mutex<Vec<(Vec<usize>, Vec<usize>)>>>;

/// Samples `pool_stats()`'s HTTP/2 counts every few ms until the task is aborted.
fn sample_streams(t: &Transport) -> (Samples, tokio::task::JoinHandle<()>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let t = t.clone();
    let task = tokio::spawn(async move {
        loop {
            let stats = t.pool_stats();
            let streams = stats.hosts.iter().flat_map(|h| h.http2_streams.clone());
            let waiting = stats.hosts.iter().flat_map(|h| h.http2_waiting.clone());
            s.lock()
                .unwrap()
                .push((streams.collect(), waiting.collect()));
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    (seen, task)
}

// ---------------------------------------------------------------------------------------------
// hyper's HTTP/2 server over h2c.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hyper_h2c_100_concurrent_gets_share_one_connection() {
    let peer = HyperPeer::start(PeerOptions::h2c()).await;
    let t = h2c(|b| b);
    let results = concurrent_gets(&t, &peer.url("/hello"), 100).await;
    for (status, version, body) in &results {
        assert_eq!(*status, StatusCode::OK);
        assert_eq!(*version, Version::HTTP_2);
        assert_eq!(&body[..], b"hello");
    }
    assert_eq!(peer.accepted(), 1, "100 requests, one TCP connection");
    let stats = t.pool_stats();
    assert_eq!(stats.dials, 1, "{stats:?}");
    assert_eq!(stats.hosts.len(), 1, "{stats:?}");
    assert_eq!(stats.hosts[0].http2_streams, vec![0], "{stats:?}");
}

/// hyper allows 5 streams per connection; 20 slow requests at once, after a first request
/// taught the client the server's SETTINGS: with no per-host limit the client opens more
/// connections instead of queueing, and the server never sees more than 5 at once on one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hyper_h2c_max_concurrent_streams_spills_onto_new_connections() {
    let peer = HyperPeer::start(PeerOptions {
        max_concurrent_streams: Some(5),
        ..PeerOptions::h2c()
    })
    .await;
    let t = h2c(|b| b);
    let (_, body) = fetch(&t, get(&peer.url("/hello")), "warm-up GET").await;
    assert_eq!(&body[..], b"hello");
    let (seen, sampler) = sample_streams(&t);
    let t0 = Instant::now();
    let results = concurrent_gets(&t, &peer.url("/slow"), 20).await;
    let took = t0.elapsed();
    sampler.abort();
    for (status, version, body) in &results {
        assert_eq!(*status, StatusCode::OK);
        assert_eq!(*version, Version::HTTP_2);
        assert_eq!(&body[..], b"slow");
    }
    let accepted = peer.accepted();
    let seen = seen.lock().unwrap().clone();
    let stats = t.pool_stats();
    eprintln!(
        "accepted {accepted}, took {took:?}, max per conn at server {}, stats {stats:?}, \
         samples with most streams: {:?}",
        peer.gauges.max_slow_per_conn.load(SeqCst),
        seen.iter().max_by_key(|(s, _)| s.iter().sum::<usize>())
    );
    assert!(
        accepted > 1,
        "20 requests at 5 streams per connection used {accepted} connection(s)"
    );
    assert_eq!(stats.dials as usize, accepted, "{stats:?}");
    assert!(peer.gauges.max_slow_per_conn.load(SeqCst) <= 5);
    assert!(
        seen.iter().any(|(s, _)| s.len() > 1),
        "pool stats never showed more than one HTTP/2 connection: {seen:?}"
    );
}

/// The same burst with nothing learned first: the 20 requests are sent before the server's
/// SETTINGS (MAX_CONCURRENT_STREAMS = 5) arrive. Whatever the client does, all must succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hyper_h2c_cold_burst_beyond_max_concurrent_streams_all_succeed() {
    let peer = HyperPeer::start(PeerOptions {
        max_concurrent_streams: Some(5),
        ..PeerOptions::h2c()
    })
    .await;
    let t = h2c(|b| b);
    let results = concurrent_gets(&t, &peer.url("/slow"), 20).await;
    for (status, _, body) in &results {
        assert_eq!(*status, StatusCode::OK);
        assert_eq!(&body[..], b"slow");
    }
    eprintln!(
        "cold burst: accepted {}, requests served {}, stats {:?}",
        peer.accepted(),
        peer.gauges.requests.load(SeqCst),
        t.pool_stats()
    );
    assert!(peer.gauges.max_slow_per_conn.load(SeqCst) <= 5);
}

/// Under `max_conns_per_host(1)` the 20 requests share the one connection, 5 streams at a
/// time at the server; the rest wait for a stream, and all succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hyper_h2c_max_conns_per_host_1_queues_for_streams() {
    let peer = HyperPeer::start(PeerOptions {
        max_concurrent_streams: Some(5),
        ..PeerOptions::h2c()
    })
    .await;
    let t = h2c(|b| b.max_conns_per_host(1));
    let (_, body) = fetch(&t, get(&peer.url("/hello")), "warm-up GET").await;
    assert_eq!(&body[..], b"hello");
    let (seen, sampler) = sample_streams(&t);
    let t0 = Instant::now();
    let results = concurrent_gets(&t, &peer.url("/slow"), 20).await;
    let took = t0.elapsed();
    sampler.abort();
    for (status, version, body) in &results {
        assert_eq!(*status, StatusCode::OK);
        assert_eq!(*version, Version::HTTP_2);
        assert_eq!(&body[..], b"slow");
    }
    assert_eq!(peer.accepted(), 1, "max_conns_per_host(1)");
    assert_eq!(peer.gauges.max_slow_per_conn.load(SeqCst), 5);
    // 20 requests, 5 at a time, each SLOW: at least 4 rounds.
    assert!(
        took >= SLOW * 4 - Duration::from_millis(50),
        "took {took:?}"
    );
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.iter().all(|(s, w)| s.len() <= 1 && w.len() == s.len()),
        "{seen:?}"
    );
    let most_open = seen.iter().flat_map(|(s, _)| s).copied().max().unwrap_or(0);
    let most_waiting = seen.iter().flat_map(|(_, w)| w).copied().max().unwrap_or(0);
    eprintln!("max_conns_per_host(1): most open streams {most_open}, most waiting {most_waiting}");
    // Open streams never exceed the server's 5; the other 15 requests were seen waiting for
    // one (the first samples come while all 20 are queued behind the first 5).
    assert_eq!(most_open, 5, "samples: {seen:?}");
    assert_eq!(most_waiting, 15, "samples: {seen:?}");
    assert!(
        seen.iter()
            .all(|(s, w)| s.iter().zip(w).all(|(s, w)| s + w <= 20)),
        "{seen:?}"
    );
    let stats = t.pool_stats();
    assert_eq!(stats.dials, 1);
    assert_eq!(stats.hosts[0].http2_streams, vec![0]);
    assert_eq!(stats.hosts[0].http2_waiting, vec![0]);
}

/// hyper shuts its idle connection down gracefully (GOAWAY, then close): the pool drops the
/// connection, and the next request dials a new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hyper_h2c_goaway_while_idle_next_request_dials_anew() {
    let peer = HyperPeer::start(PeerOptions::h2c()).await;
    let t = h2c(|b| b);
    let (_, body) = fetch(&t, get(&peer.url("/hello")), "first GET").await;
    assert_eq!(&body[..], b"hello");
    assert_eq!(t.pool_stats().hosts[0].http2_streams, vec![0]);
    peer.goaway_all();
    assert!(
        eventually(Duration::from_secs(5), || peer.live() == 0).await,
        "hyper did not close its connection after graceful shutdown"
    );
    assert!(
        eventually(Duration::from_secs(5), || {
            t.pool_stats()
                .hosts
                .iter()
                .all(|h| h.http2_streams.is_empty())
        })
        .await,
        "the pool still holds the connection after GOAWAY: {:?}",
        t.pool_stats()
    );
    let (parts, body) = fetch(&t, get(&peer.url("/hello")), "GET after GOAWAY").await;
    assert_eq!(parts.version, Version::HTTP_2);
    assert_eq!(&body[..], b"hello");
    assert_eq!(peer.accepted(), 2);
    let stats = t.pool_stats();
    assert_eq!(stats.dials, 2, "{stats:?}");
    assert_eq!(stats.hosts.len(), 1, "{stats:?}");
    assert_eq!(stats.hosts[0].http2_streams, vec![0], "{stats:?}");
}

/// The same, but the next requests (a GET and a POST) are sent the moment the server has
/// closed, before the client may have read the GOAWAY: neither is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hyper_h2c_requests_right_after_goaway_are_not_lost() {
    for round in 0..5 {
        let peer = HyperPeer::start(PeerOptions::h2c()).await;
        let t = h2c(|b| b);
        fetch(&t, get(&peer.url("/hello")), "first GET").await;
        peer.goaway_all();
        assert!(eventually(Duration::from_secs(5), || peer.live() == 0).await);
        let (_, body) = fetch(&t, get(&peer.url("/hello")), &format!("GET, round {round}")).await;
        assert_eq!(&body[..], b"hello");
        peer.goaway_all();
        assert!(eventually(Duration::from_secs(5), || peer.live() == 0).await);
        let post = Request::post(peer.url("/echo"))
            .body(Body::from("once"))
            .unwrap();
        let (_, body) = fetch(&t, post, &format!("POST, round {round}")).await;
        assert_eq!(&body[..], b"once");
        assert_eq!(peer.accepted(), 3);
    }
}

/// A request body from a channel, sent piece by piece with pauses, comes back intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hyper_h2c_streamed_upload_echoed() {
    let peer = HyperPeer::start(PeerOptions::h2c()).await;
    let t = h2c(|b| b);
    const PIECES: usize = 64;
    const PIECE: usize = 16 * 1024;
    let want: Vec<u8> = (0..PIECES).flat_map(|i| payload(PIECE, i as u64)).collect();
    let (tx, body) = Body::channel(4);
    let feeder = tokio::spawn(async move {
        for i in 0..PIECES {
            tx.send_data(payload(PIECE, i as u64))
                .await
                .expect("send piece");
            if i % 16 == 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    });
    let req = Request::post(peer.url("/echo")).body(body).unwrap();
    let (parts, got) = fetch(&t, req, "streamed POST /echo").await;
    within("feeder", feeder).await.unwrap();
    assert_eq!(parts.status, StatusCode::OK);
    assert_eq!(parts.version, Version::HTTP_2);
    assert_same_bytes(&got, &want, "echoed upload");
}

/// 5 MiB is more than the client's stream (2 MiB) and connection (4 MiB) windows, and far
/// more than 64 KiB ones: the download only finishes if WINDOW_UPDATEs flow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hyper_h2c_5mib_download_intact_under_flow_control() {
    let peer = HyperPeer::start(PeerOptions::h2c()).await;
    for (stream, conn) in [(2 << 20, 4 << 20), (65_535, 65_535)] {
        let t = h2c(|b| b.http2_initial_window_sizes(stream, conn));
        let (parts, body) = fetch(&t, get(&peer.url("/big")), "GET /big").await;
        assert_eq!(parts.version, Version::HTTP_2);
        assert_same_bytes(
            &body,
            &big_body(),
            &format!("/big, windows {stream}/{conn}"),
        );
        // The connection's window was refilled: a second download on it works too.
        let (_, again) = fetch(&t, get(&peer.url("/big")), "GET /big again").await;
        assert_same_bytes(&again, &big_body(), "/big, second time");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hyper_h2c_response_trailers_received() {
    let peer = HyperPeer::start(PeerOptions::h2c()).await;
    let t = h2c(|b| b);
    let res = within("GET /trailers", t.round_trip(get(&peer.url("/trailers"))))
        .await
        .expect("GET /trailers");
    assert_eq!(res.version(), Version::HTTP_2);
    let collected = within("reading /trailers", res.into_body().collect())
        .await
        .expect("body");
    let trailers = collected.trailers().cloned().expect("trailers arrived");
    let body = collected.to_bytes();
    let (want, sum) = trailers_body();
    assert_same_bytes(&body, &want, "/trailers data");
    assert_eq!(
        trailers
            .get("x-checksum")
            .map(|v| v.to_str().unwrap().to_owned()),
        Some(sum.to_string())
    );
}

// ---------------------------------------------------------------------------------------------
// tests/peers/h2_refuser.py: a raw Python `h2` server turning streams away.

/// python3 with the `h2` module, by the peers' CI rule.
fn python_h2() -> Option<PathBuf> {
    common::peers::python_with(&["h2.connection"])
}

/// A peer process, killed when dropped, and its log.
struct Refuser {
    _child: tokio::process::Child,
    port: u16,
    log: PathBuf,
}

impl Drop for Refuser {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.log);
    }
}

impl Refuser {
    async fn start(py: &Path, mode: &str) -> Refuser {
        static N: AtomicU64 = AtomicU64::new(0);
        let log = std::env::temp_dir().join(format!(
            "nethttp-h2-refuser-{}-{}.log",
            std::process::id(),
            N.fetch_add(1, SeqCst)
        ));
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/h2_refuser.py");
        let mut child = tokio::process::Command::new(py)
            .arg(script)
            .arg(mode)
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn h2_refuser.py");
        let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let port = within("h2_refuser.py start", async {
            let line = lines
                .next_line()
                .await
                .expect("read stdout")
                .expect("h2_refuser.py exited before listening");
            line.strip_prefix("listening ")
                .and_then(|p| p.trim().parse::<u16>().ok())
                .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        })
        .await;
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Refuser {
            _child: child,
            port,
            log,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The `req ...` lines: (conn, stream, method, path, body, action).
    fn requests(&self) -> Vec<(u32, u32, String, String, String, String)> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.strip_prefix("req "))
            .map(|l| {
                let f: Vec<&str> = l.split(' ').collect();
                assert_eq!(f.len(), 6, "log line {l:?}");
                (
                    f[0].parse().unwrap(),
                    f[1].parse().unwrap(),
                    f[2].to_owned(),
                    f[3].to_owned(),
                    f[4].to_owned(),
                    f[5].to_owned(),
                )
            })
            .collect()
    }

    fn conns(&self) -> usize {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with("conn "))
            .count()
    }
}

/// REFUSED_STREAM means the server did not process the request (RFC 9113 §8.7): a POST is
/// resent transparently and succeeds; the server saw it twice, refusing the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_h2_refused_stream_post_is_resent() {
    let Some(py) = python_h2() else { return };
    let server = Refuser::start(&py, "refuse-first").await;
    let t = h2c(|b| b);
    let req = Request::post(server.url("/submit"))
        .body(Body::from("order-1"))
        .unwrap();
    let (parts, body) = fetch(&t, req, "POST refused once").await;
    assert_eq!(parts.status, StatusCode::OK);
    assert_eq!(parts.version, Version::HTTP_2);
    assert_eq!(&body[..], b"ok order-1");
    let reqs = server.requests();
    let seen: Vec<(&str, &str, &str, &str)> =
        reqs.iter().map(|r| (&*r.2, &*r.3, &*r.4, &*r.5)).collect();
    assert_eq!(
        seen,
        vec![
            ("POST", "/submit", "order-1", "refused"),
            ("POST", "/submit", "order-1", "ok"),
        ],
        "{reqs:?}"
    );
    assert!(
        reqs[1].1 > reqs[0].1 || reqs[1].0 != reqs[0].0,
        "a new stream: {reqs:?}"
    );
}

/// A server that refuses every stream: the resending stops (after 6 resends on the refusing
/// connection), and the request fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_h2_refused_every_time_fails_after_bounded_resends() {
    let Some(py) = python_h2() else { return };
    let server = Refuser::start(&py, "refuse-all").await;
    let t = h2c(|b| b);
    let req = Request::post(server.url("/submit"))
        .body(Body::from("order-2"))
        .unwrap();
    let err = within("POST always refused", t.round_trip(req))
        .await
        .expect_err("a server refusing every stream yields an error");
    let n = server.requests().len();
    eprintln!("refused {n} times: {err}");
    assert_eq!(n, 7, "sent once and resent 6 times");
    assert!(
        format!("{err:?}").to_lowercase().contains("refused"),
        "the error names the refusal: {err:?}"
    );
}

/// GOAWAY whose last stream id is below our request's stream: the request was not processed,
/// so the POST is resent on a new connection and succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_h2_goaway_below_our_stream_resends_on_new_connection() {
    let Some(py) = python_h2() else { return };
    let server = Refuser::start(&py, "goaway-second").await;
    let t = h2c(|b| b);
    let (_, body) = fetch(&t, get(&server.url("/first")), "GET /first").await;
    assert_eq!(&body[..], b"ok ");
    let req = Request::post(server.url("/second"))
        .body(Body::from("pay-2"))
        .unwrap();
    let (parts, body) = fetch(&t, req, "POST beyond GOAWAY").await;
    assert_eq!(parts.status, StatusCode::OK);
    assert_eq!(&body[..], b"ok pay-2");
    let reqs = server.requests();
    let seen: Vec<(u32, u32, &str, &str)> = reqs.iter().map(|r| (r.0, r.1, &*r.3, &*r.5)).collect();
    assert_eq!(
        seen,
        vec![
            (1, 1, "/first", "ok"),
            (1, 3, "/second", "goaway"),
            (2, 1, "/second", "ok"),
        ],
        "{reqs:?}"
    );
    assert_eq!(server.conns(), 2);
    let stats = t.pool_stats();
    assert_eq!(stats.dials, 2, "{stats:?}");
    assert!(
        eventually(Duration::from_secs(2), || t.pool_stats().hosts[0]
            .http2_streams
            == vec![0])
        .await,
        "only the new connection is left: {:?}",
        t.pool_stats()
    );
}

/// A cold burst of `n` GETs against a server whose SETTINGS (MAX_CONCURRENT_STREAMS = 5)
/// arrive late, as over any real round trip: the client may open streams before it knows the
/// limit (RFC 9113 §5.1.2), the server refuses those beyond 5 (REFUSED_STREAM: not processed),
/// and every request must still succeed, resent once the limit is known.
async fn late_settings_burst(n: usize) {
    let Some(py) = python_h2() else { return };
    let server = Refuser::start(&py, "late-settings-5").await;
    let t = h2c(|b| b);
    let results = within("the burst", join_gets(&t, &server.url("/burst"), n)).await;
    let reqs = server.requests();
    let refused = reqs.iter().filter(|r| r.5 == "refused").count();
    let failed: Vec<&String> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    eprintln!(
        "late SETTINGS, {n} GETs: {} connections, {} requests seen, {refused} refused, {} \
         failed; {:?}",
        server.conns(),
        reqs.len(),
        failed.len(),
        t.pool_stats()
    );
    assert!(
        failed.is_empty(),
        "{} of {n} GETs failed although the server refused them unprocessed (REFUSED_STREAM \
         {refused} times over {} connections): first {:?}",
        failed.len(),
        server.conns(),
        failed.first()
    );
    for body in results.iter().flatten() {
        assert_eq!(&body[..], b"ok ");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_h2_cold_burst_of_20_before_late_settings_all_succeed() {
    late_settings_burst(20).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_h2_cold_burst_of_50_before_late_settings_all_succeed() {
    late_settings_burst(50).await;
}

/// `n` concurrent GETs; each one's body or error text.
async fn join_gets(t: &Transport, url: &str, n: usize) -> Vec<Result<Bytes, String>> {
    let mut tasks = Vec::new();
    for _ in 0..n {
        let t = t.clone();
        let url = url.to_owned();
        tasks.push(tokio::spawn(async move {
            let res = t
                .round_trip(get(&url))
                .await
                .map_err(|e| format!("{e:?}"))?;
            res.into_body()
                .to_bytes(1 << 20)
                .await
                .map_err(|e| format!("{e:?}"))
        }));
    }
    let mut out = Vec::new();
    for task in tasks {
        out.push(task.await.expect("task"));
    }
    out
}
