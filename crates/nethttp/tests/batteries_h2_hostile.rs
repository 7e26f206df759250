//! Hostile HTTP/2 peers against the handler batteries, played in raw frames by
//! `tests/peers/h2_hostile_bodies.py` (Python's hyperframe and hpack): a peer that asks
//! FileServer for a 64 MiB file on eight streams and never reads (with the RFC's windows, and
//! with 2 GiB windows granted up front), one that trickles a JSON or form body a byte per
//! 100 ms, liars whose `content-length` is not what their DATA frames carry, and a flood of
//! streams each posting past its route's limit. Each ends with an exact outcome (a status
//! and body, a RST_STREAM code, the connection closed by a named timeout), and what the
//! server holds meanwhile is measured with a counting allocator: the peer is another
//! process, so every byte counted is the server's (the tests run one at a time so the counts
//! are theirs).
//!
//! python3 with `hyperframe` and `hpack` is found on `PATH`; missing, the tests fail under
//! `CI=true` and skip otherwise (see `common::peers`).

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicIsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use nethttp::fs::FileServer;
use nethttp::http::StatusCode;
use nethttp::request::RequestExt;
use nethttp::wrap::{max_bytes, strip_prefix};
use nethttp::{
    json, text_response, Error, HttpRequest, MinDataRate, ServeMux, Server, ServerHandle,
};

struct Counting;

/// Bytes allocated and not yet freed, process-wide, and the most there were since
/// [`reset_peak`].
static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);

fn grew(by: isize) {
    let now = LIVE.fetch_add(by, Relaxed) + by;
    PEAK.fetch_max(now, Relaxed);
}

// SAFETY: defers to the system allocator; only counts the bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grew(layout.size() as isize);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        grew(new_size as isize - layout.size() as isize);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Starts a measurement: the bytes live now, from which the peak is counted.
fn reset_peak() -> isize {
    let now = LIVE.load(Relaxed);
    PEAK.store(now, Relaxed);
    now
}

/// One test at a time: the allocation counts are process-wide.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Bound on any one run of the peer (its own budget is 12 s).
const LIMIT: Duration = Duration::from_secs(20);

/// The server's write and idle timeouts where a test waits for them.
const WRITE_TIMEOUT: Duration = Duration::from_millis(300);
const IDLE_TIMEOUT: Duration = Duration::from_millis(300);

/// The 64 MiB file (sparse) and its count of streams.
const HUGE: u64 = 64 << 20;
const STREAMS: usize = 8;

/// FileServer's read per chunk (fs/file_body.rs `CHUNK`: one buffer, whose slices are the
/// DATA pieces handed to `h2`), and the server's defaults for the connection's send budget
/// and its receive window (server/mod.rs).
const FILE_CHUNK: isize = 64 << 10;
const CONN_SEND_BUFFER: isize = 1 << 20;
const CONN_RECV_WINDOW: isize = 2 << 20;

/// What one connection costs besides its streams' data: `h2`'s codec buffers and HPACK
/// tables, the connection and stream tasks, the socket's registration.
const CONN_OVERHEAD: isize = 256 << 10;

/// How long the server lets a connection that sent GOAWAY linger with no stream open
/// (proto/h2/server.rs `GOAWAY_GRACE`).
const GOAWAY_GRACE: Duration = Duration::from_secs(1);

// ---------------------------------------------------------------------------------------------
// The application.

#[derive(serde::Deserialize, serde::Serialize)]
struct Point {
    x: i32,
    y: i32,
}

#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct Order {
    item: String,
    qty: u32,
    note: Option<String>,
}

/// `/json` (at most `limit` bytes of JSON, mirrored), `/form` (a form of at most `limit`
/// bytes), `/capped` (`max_bytes(_, limit)` around a handler that reads it all), and
/// FileServer under `/files/`.
fn app(root: &Path, limit: usize) -> ServeMux {
    let mirror = move |mut req: HttpRequest| async move {
        let p: Point = req.json(limit).await?;
        Ok::<_, Error>(json(StatusCode::CREATED, &Point { x: p.y, y: p.x }))
    };
    let form = move |mut req: HttpRequest| async move {
        let o: Order = req.form(limit).await?;
        Ok::<_, Error>(text_response(
            StatusCode::OK,
            format!("{} x{}", o.item, o.qty),
        ))
    };
    let capped = |req: HttpRequest| async move {
        let got = req.into_body().to_bytes(usize::MAX).await;
        text_response(StatusCode::OK, format!("{:?}", got.map(|b| b.len())))
    };
    ServeMux::new()
        .route("POST /json", mirror)
        .route("POST /form", form)
        .route("POST /capped", max_bytes(capped, limit as u64))
        .route(
            "/files/",
            strip_prefix("/files", FileServer::new(root).unwrap()),
        )
}

/// A root with `small.txt` and `huge.bin`: 64 MiB, sparse (nothing on disk).
fn tree() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    std::fs::write(root.join("small.txt"), "small\n").unwrap();
    let f = std::fs::File::create(root.join("huge.bin")).unwrap();
    f.set_len(HUGE).unwrap();
    (dir, root)
}

fn start(server: Server, root: &Path, limit: usize) -> ServerHandle {
    let listener = server
        .bind("127.0.0.1:0".parse().unwrap())
        .expect("bind 127.0.0.1:0");
    server.serve(listener, app(root, limit))
}

// ---------------------------------------------------------------------------------------------
// The peer.

fn python() -> Option<PathBuf> {
    common::peers::python_with(&["hyperframe", "hpack"])
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/h2_hostile_bodies.py")
}

/// What the peer printed: (seconds since it connected, event) per line.
struct Run {
    events: Vec<(f64, String)>,
    text: String,
}

impl Run {
    fn parse(out: std::process::Output) -> Run {
        let text = format!(
            "{}\n--- stderr\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success(),
            "the peer failed ({}):\n{text}",
            out.status
        );
        let events = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| {
                let (t, rest) = l.split_once(' ')?;
                Some((t.parse().ok()?, rest.to_owned()))
            })
            .collect();
        Run { events, text }
    }

    /// The first event starting with `prefix`, and when.
    fn find(&self, prefix: &str) -> Option<(f64, &str)> {
        self.events
            .iter()
            .find(|(_, e)| e.starts_with(prefix))
            .map(|(t, e)| (*t, e.as_str()))
    }

    fn has(&self, event: &str) -> bool {
        self.events.iter().any(|(_, e)| e == event)
    }

    /// The events of stream `sid` other than its DATA (response, end, rst), in order.
    fn of_stream(&self, sid: u32) -> Vec<String> {
        self.events
            .iter()
            .map(|(_, e)| e.as_str())
            .filter(|e| {
                let mut w = e.split(' ');
                matches!(w.next(), Some("response" | "end" | "rst"))
                    && w.next() == Some(&sid.to_string())
            })
            .map(str::to_owned)
            .collect()
    }

    /// The body stream `sid` received (the `data` lines' reprs joined, as Python wrote them).
    fn body_of(&self, sid: u32) -> String {
        let prefix = format!("data {sid} ");
        self.events
            .iter()
            .filter_map(|(_, e)| e.strip_prefix(&prefix))
            .map(python_bytes)
            .collect()
    }

    /// `summary sent=N`: the request body bytes the peer sent.
    fn sent(&self) -> usize {
        let (_, e) = self.find("summary sent=").expect("a summary");
        e["summary sent=".len()..].parse().unwrap()
    }
}

/// A Python `bytes` repr of printable ASCII with `\n` escapes (`b'...'`) as text.
fn python_bytes(repr: &str) -> String {
    let inner = repr
        .strip_prefix("b'")
        .and_then(|r| r.strip_suffix('\''))
        .or_else(|| repr.strip_prefix("b\"").and_then(|r| r.strip_suffix('"')))
        .unwrap_or_else(|| panic!("not a bytes repr: {repr}"));
    inner.replace("\\n", "\n").replace("\\'", "'")
}

fn peer_command(py: &Path, port: u16, args: &[&str]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(py);
    cmd.arg("-u")
        .arg(script())
        .arg(port.to_string())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// Runs the peer to its end (bounded by [`LIMIT`]).
async fn run_peer(py: &Path, port: u16, args: &[&str]) -> Run {
    let out = tokio::time::timeout(LIMIT, peer_command(py, port, args).output())
        .await
        .unwrap_or_else(|_| panic!("the peer {args:?} ran over {LIMIT:?}"))
        .expect("run python3");
    Run::parse(out)
}

// ---------------------------------------------------------------------------------------------
// (a) A 64 MiB file to a peer that never reads.

/// What one never-reading run measured.
struct Unread {
    run: Run,
    /// When the server dropped the connection, from the peer's start.
    closed_after: Duration,
    /// Most bytes the process held beyond what it held before the peer connected.
    peak: isize,
}

/// Serves the tree with short write and idle timeouts, runs the `noread` peer with `window`
/// (holding its socket unread for `hold`), and measures when the server drops the connection
/// and the most memory it held until then. `None` when python3 is missing (outside CI).
async fn never_reads(window: &str, hold: Duration) -> Option<Unread> {
    let py = python()?;
    let (_dir, root) = tree();
    let server = Server::new()
        .write_timeout(WRITE_TIMEOUT)
        .idle_timeout(IDLE_TIMEOUT);
    let h = start(server, &root, 1024);
    let base = reset_peak();
    let hold_arg = format!("{}", hold.as_secs_f64());
    let streams = STREAMS.to_string();
    let args = [
        "noread",
        streams.as_str(),
        hold_arg.as_str(),
        window,
        "/files/huge.bin",
    ];
    let child = peer_command(&py, h.local_addr().port(), &args)
        .spawn()
        .expect("spawn python3");
    let t0 = Instant::now();
    // Connected, then cut by the server: polled until the connection is gone.
    while h.accepted_connections() == 0 {
        assert!(t0.elapsed() < LIMIT, "the peer never connected");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    while h.live_connections() > 0 {
        assert!(
            t0.elapsed() < LIMIT,
            "a peer that never reads was never cut"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let closed_after = t0.elapsed();
    let peak = PEAK.load(Relaxed) - base;
    let out = tokio::time::timeout(LIMIT, child.wait_with_output())
        .await
        .expect("the peer ends")
        .expect("wait for python3");
    let run = Run::parse(out);
    h.shutdown(Duration::from_secs(1)).await;
    Some(Unread {
        run,
        closed_after,
        peak,
    })
}

/// With the RFC's initial windows (65,535 bytes per stream and for the connection) and no
/// WINDOW_UPDATE ever, the server sends exactly one connection window of the file in all,
/// holds at most one file chunk per stream while it waits for credit, resets each stream with
/// CANCEL at the write timeout, and closes the then idle connection: GOAWAY at the idle
/// timeout, the socket closed when the GOAWAY's grace ends unanswered. Those three timers
/// run one after the other, so the connection ends no sooner than their sum.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_64_mib_file_to_a_peer_that_never_sends_window_update() {
    let _serial = SERIAL.lock().await;
    let hold = Duration::from_millis(3000);
    let Some(u) = never_reads("default", hold).await else {
        return;
    };
    let run = &u.run;
    eprintln!(
        "never sends WINDOW_UPDATE: {} bytes held at most, cut after {:?}",
        u.peak, u.closed_after
    );
    // Cut by the server while the peer still held its socket unread.
    let earliest = WRITE_TIMEOUT + IDLE_TIMEOUT + GOAWAY_GRACE;
    assert!(
        u.closed_after >= earliest && u.closed_after < hold,
        "closed after {:?}\n{}",
        u.closed_after,
        run.text
    );
    for i in 0..STREAMS as u32 {
        let sid = 2 * i + 1;
        let line = run
            .find(&format!("stream {sid} "))
            .unwrap_or_else(|| panic!("stream {sid}:\n{}", run.text))
            .1;
        assert!(
            line.starts_with(&format!("stream {sid} status=200 data=")) && line.ends_with(" rst=8"),
            "stream {sid} not answered 200 then reset with CANCEL: {line}\n{}",
            run.text
        );
    }
    // Everything sent fits the one window the peer granted; the rest waited for credit.
    assert_eq!(
        run.find("total-data ").unwrap().1,
        "total-data 65535",
        "{}",
        run.text
    );
    assert!(run.find("goaway 0 ").is_some(), "{}", run.text);
    assert!(run.has("eof") || run.has("reset"), "{}", run.text);
    assert!(!run.has("still open"), "{}", run.text);
    // Each stream holds the one chunk read from the file that waits for credit (what went
    // out were slices of it) and its task and `h2` state (16 KiB is generous); then the
    // connection's own. 896 KiB for eight streams; about 590 KB measured.
    let bound = STREAMS as isize * (FILE_CHUNK + (16 << 10)) + CONN_OVERHEAD;
    assert!(
        u.peak < bound,
        "{} bytes held for {STREAMS} stalled streams, bound {bound}",
        u.peak
    );
}

/// With 2 GiB windows granted up front and the socket never read, flow control holds
/// nothing back: the connection's send budget (1 MiB) and the kernel's socket buffers do.
/// The streams wait for the budget, and the write timeout closes the connection whose
/// writes are stuck.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_64_mib_file_to_a_peer_that_grants_2_gib_and_never_reads_its_socket() {
    let _serial = SERIAL.lock().await;
    let hold = Duration::from_millis(2000);
    let Some(u) = never_reads("huge", hold).await else {
        return;
    };
    let run = &u.run;
    eprintln!(
        "2 GiB windows, socket unread: {} bytes held at most, cut after {:?}",
        u.peak, u.closed_after
    );
    // The write timeout (checked once per write timeout), well before the idle path of the
    // test above could (write + idle + grace = 1.6 s).
    assert!(
        u.closed_after >= WRITE_TIMEOUT && u.closed_after < Duration::from_millis(1500),
        "closed after {:?}\n{}",
        u.closed_after,
        run.text
    );
    // Every answer that got out before the socket filled is the file's 200 (a stream whose
    // HEADERS were queued behind the full socket went down with the connection).
    for i in 0..STREAMS as u32 {
        let sid = 2 * i + 1;
        let line = run.find(&format!("stream {sid} ")).unwrap().1;
        assert!(
            line.starts_with(&format!("stream {sid} status=200 "))
                || line.starts_with(&format!("stream {sid} status=None data=0 ")),
            "{line}\n{}",
            run.text
        );
    }
    assert!(run.has("eof") || run.has("reset"), "{}", run.text);
    assert!(!run.has("still open"), "{}", run.text);
    // What reached the peer: what the kernel buffered (the server's send buffer, at most
    // tcp_wmem's maximum; the peer's 4 KiB receive buffer and what was in flight, well under
    // 1 MiB), not the 512 MiB asked for. About 3 MB measured with a 4 MiB tcp_wmem.
    let wmem_max: isize = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_wmem")
        .ok()
        .and_then(|s| s.split_whitespace().nth(2)?.parse().ok())
        .unwrap_or(4 << 20);
    let total: isize = run.find("total-data ").unwrap().1["total-data ".len()..]
        .parse()
        .unwrap();
    assert!(
        total > 0 && total < wmem_max + CONN_SEND_BUFFER,
        "{total} bytes reached a peer that read nothing\n{}",
        run.text
    );
    // In the process: the DATA queued in `h2`, at most the send budget; as the pieces are
    // slices of the file's chunks, a stream's queued pieces keep at most their bytes plus a
    // chunk at either end alive; each stream's task and state (16 KiB); the connection's
    // own. 2.375 MiB for eight streams; 1.6 to 1.9 MB measured.
    let bound = CONN_SEND_BUFFER + STREAMS as isize * (2 * FILE_CHUNK + (16 << 10)) + CONN_OVERHEAD;
    assert!(
        u.peak < bound,
        "{} bytes held for a peer that reads nothing, bound {bound}",
        u.peak
    );
}

// ---------------------------------------------------------------------------------------------
// (b) A body trickled a byte per 100 ms.

/// A JSON body of 60 bytes (under the 100-byte limit) and a form of 60 (under 64).
const JSON_BODY: &str = r#"{"x":1,"y":2,"pad":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}"#;
const FORM_BODY: &str = "item=tea&qty=1&note=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

async fn trickle(py: &Path, port: u16, path: &str, ctype: &str, body: &str) -> Run {
    assert_eq!(body.len(), 60);
    run_peer(py, port, &["trickle", "0.1", path, ctype, body]).await
}

/// The 408 a trickled body gets, with `reason`, at a time within `window` (seconds from the
/// peer's start), having sent fewer than `max_sent` of its 60 bytes; then the stream is
/// reset with NO_ERROR (RFC 9113 §8.1: a complete answer, and the rest of the request is not
/// wanted).
fn assert_cut(run: &Run, reason: &str, window: (f64, f64), max_sent: usize) {
    let (t, _) = run
        .find("response 1 ")
        .unwrap_or_else(|| panic!("no answer:\n{}", run.text));
    assert_eq!(
        run.of_stream(1),
        ["response 1 408", "end 1", "rst 1 0"],
        "{}",
        run.text
    );
    assert_eq!(run.body_of(1), format!("{reason}\n"), "{}", run.text);
    assert!(
        t >= window.0 && t <= window.1,
        "answered after {t} s, expected within {window:?}\n{}",
        run.text
    );
    let sent = run.sent();
    assert!(sent < max_sent, "{sent} bytes sent\n{}", run.text);
}

/// The minimum data rate (100 bytes/s after a 500 ms grace) cuts a body arriving at 10
/// bytes/s: the wait allowed is 0.5 s plus 10 ms per byte received, so the cut comes after
/// about 0.56 s and 5 or 6 bytes, on the JSON and the form readers alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_body_is_cut_by_the_minimum_data_rate() {
    let _serial = SERIAL.lock().await;
    let Some(py) = python() else {
        return;
    };
    let (_dir, root) = tree();
    let server = Server::new()
        .read_timeout(Duration::from_secs(30))
        .min_body_rate(Some(MinDataRate {
            bytes_per_sec: 100,
            grace: Duration::from_millis(500),
        }));
    let h = start(server, &root, 100);
    let port = h.local_addr().port();
    let (j, f) = tokio::join!(
        trickle(&py, port, "/json", "application/json", JSON_BODY),
        trickle(
            &py,
            port,
            "/form",
            "application/x-www-form-urlencoded",
            FORM_BODY
        ),
    );
    let reason = "request body arrived too slowly (below the minimum data rate)";
    assert_cut(&j, reason, (0.5, 1.5), 15);
    assert_cut(&f, reason, (0.5, 1.5), 15);
    h.shutdown(Duration::from_secs(1)).await;
}

/// Without a minimum rate the read timeout (800 ms from the request head) cuts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_body_is_cut_by_the_read_timeout() {
    let _serial = SERIAL.lock().await;
    let Some(py) = python() else {
        return;
    };
    let (_dir, root) = tree();
    let server = Server::new()
        .read_timeout(Duration::from_millis(800))
        .min_body_rate(None);
    let h = start(server, &root, 100);
    let port = h.local_addr().port();
    let (j, f) = tokio::join!(
        trickle(&py, port, "/json", "application/json", JSON_BODY),
        trickle(
            &py,
            port,
            "/form",
            "application/x-www-form-urlencoded",
            FORM_BODY
        ),
    );
    let reason = "reading the request body timed out";
    assert_cut(&j, reason, (0.75, 2.0), 20);
    assert_cut(&f, reason, (0.75, 2.0), 20);
    h.shutdown(Duration::from_secs(1)).await;
}

// ---------------------------------------------------------------------------------------------
// (c) content-length that is not what the DATA frames carry.

/// RFC 9113 §8.1.1: a request whose `content-length` does not equal the sum of its DATA
/// payloads is malformed, and §8.1.1 with §5.4.2 make it a stream error of type
/// PROTOCOL_ERROR. More than declared (10 then 1000 bytes), less (5 then END_STREAM, in the
/// same frame or after a pause while the handler waits for the rest), on the JSON route and
/// behind `max_bytes` (which trusts a declared length within its limit to be held to): each
/// stream is reset with PROTOCOL_ERROR, no answer goes out, and the next request on the
/// connection is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_content_length_that_lies_is_a_stream_error() {
    let _serial = SERIAL.lock().await;
    let Some(py) = python() else {
        return;
    };
    let (_dir, root) = tree();
    let h = start(Server::new(), &root, 100);
    let port = h.local_addr().port();
    for (path, declared, send, how) in [
        ("/json", "10", "1000", "one"),
        ("/json", "10", "5", "one"),
        ("/json", "10", "5", "split"),
        ("/capped", "10", "1000", "one"),
        ("/capped", "10", "5", "split"),
    ] {
        let ctype = "application/json";
        let run = run_peer(&py, port, &["liar", path, ctype, declared, send, how]).await;
        let case = format!("{path}: content-length {declared}, {send} bytes ({how})");
        assert_eq!(run.of_stream(1), ["rst 1 1"], "{case}\n{}", run.text);
        assert_eq!(run.body_of(1), "", "{case}");
        assert_eq!(
            run.of_stream(3),
            ["response 3 201", "end 3"],
            "{case}\n{}",
            run.text
        );
        assert_eq!(run.body_of(3), r#"{"x":6,"y":5}"#, "{case}");
        assert!(run.find("goaway").is_none(), "{case}\n{}", run.text);
    }
    h.shutdown(Duration::from_secs(1)).await;
}

// ---------------------------------------------------------------------------------------------
// (d) A flood of streams past their limits.

const FLOOD_STREAMS: usize = 60;
const FLOOD_BYTES: usize = 256 << 10;
const FLOOD_LIMIT: usize = 1024;

/// `FLOOD_STREAMS` streams at once, each posting 256 KiB to a route that takes 1 KiB (the
/// JSON reader, the form reader, `max_bytes`), as fast as the windows allow: every one is
/// answered 413 with its reader's reason, and the connection then serves a file. What the
/// server holds is bounded by the connection's receive window (2 MiB: the most unread
/// request data `h2` keeps for all streams together) and a little per stream. (The peer's
/// output, read while it runs, is counted too: a few tens of KB.)
async fn flood(declared: &str) -> Option<(Run, isize)> {
    let py = python()?;
    let (_dir, root) = tree();
    let h = start(Server::new(), &root, FLOOD_LIMIT);
    let base = reset_peak();
    let streams = FLOOD_STREAMS.to_string();
    let bytes = FLOOD_BYTES.to_string();
    let run = run_peer(
        &py,
        h.local_addr().port(),
        &[
            "flood", &streams, &bytes, declared, "/json", "/form", "/capped",
        ],
    )
    .await;
    let peak = PEAK.load(Relaxed) - base;
    h.shutdown(Duration::from_secs(1)).await;
    for i in 0..FLOOD_STREAMS as u32 {
        let sid = 2 * i + 1;
        let reason = match i % 3 {
            0 | 1 => "body exceeds the read limit\n",
            _ => "request body too large\n",
        };
        let events = run.of_stream(sid);
        assert_eq!(
            events.get(..2),
            Some(&[format!("response {sid} 413"), format!("end {sid}")][..]),
            "stream {sid} ({declared}):\n{}",
            run.text
        );
        // After the answer, the rest of the body is refused with NO_ERROR (RFC 9113 §8.1)
        // unless it had all arrived.
        assert!(
            events[2..].is_empty() || events[2..] == [format!("rst {sid} 0")],
            "stream {sid}: {events:?}"
        );
        assert_eq!(run.body_of(sid), reason, "stream {sid}");
    }
    assert!(run.has("unanswered 0"), "{}", run.text);
    let last = 2 * FLOOD_STREAMS as u32 + 1;
    assert_eq!(
        run.of_stream(last),
        [format!("response {last} 200"), format!("end {last}")],
        "{}",
        run.text
    );
    assert_eq!(run.body_of(last), "small\n");
    // A body after the flood is read: the connection's receive window was given back for
    // the bodies thrown away. `h2` announces credit once half the window is unannounced, so
    // with all of it returned the peer holds more than half of the 2 MiB.
    assert_eq!(
        run.of_stream(last + 2),
        [
            format!("response {} 201", last + 2),
            format!("end {}", last + 2)
        ],
        "{}",
        run.text
    );
    assert_eq!(run.body_of(last + 2), r#"{"x":6,"y":5}"#);
    let window: isize = run.find("window ").unwrap().1["window ".len()..]
        .parse()
        .unwrap();
    assert!(
        window > CONN_RECV_WINDOW / 2,
        "window {window}\n{}",
        run.text
    );
    Some((run, peak))
}

/// The per-stream share of the flood bound: the reader's buffer (1 KiB), the stream's task
/// and `h2`'s stream state, the answer; 32 KiB is generous.
const PER_FLOOD_STREAM: isize = 32 << 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_streams_past_their_limits_gets_413s_with_bounded_memory() {
    let _serial = SERIAL.lock().await;
    let Some((run, peak)) = flood("no").await else {
        return;
    };
    let sent = run.sent();
    eprintln!("flood without lengths: {sent} bytes sent, {peak} bytes held at most");
    // Each stream crossed its limit: more than 1 KiB of each was sent.
    assert!(sent > FLOOD_STREAMS * FLOOD_LIMIT, "{sent} bytes sent");
    let bound = CONN_RECV_WINDOW + FLOOD_STREAMS as isize * PER_FLOOD_STREAM;
    assert!(peak < bound, "{peak} bytes held, bound {bound}");
}

/// The same flood with each length declared: answered 413 from the head, before the body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_declared_lengths_past_their_limits_gets_413s_with_bounded_memory() {
    let _serial = SERIAL.lock().await;
    let Some((run, peak)) = flood("yes").await else {
        return;
    };
    let sent = run.sent();
    eprintln!("flood with lengths: {sent} bytes sent, {peak} bytes held at most");
    let bound = CONN_RECV_WINDOW + FLOOD_STREAMS as isize * PER_FLOOD_STREAM;
    assert!(peak < bound, "{peak} bytes held, bound {bound}");
}
