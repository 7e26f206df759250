//! Interoperability: our HTTP/1.1 server, started in-process on loopback, against real clients
//! nobody here wrote — hyper's client, reqwest, curl and Python's `http.client` — covering
//! keep-alive reuse, bodies echoed byte for byte, chunked framing both ways, HTTP/1.0, HEAD
//! and `Expect: 100-continue`.
//!
//! The external programs (curl, python3) are found on `PATH`. When one is missing the test
//! fails if `CI=true` (CI installs them, see `.ci/run`) and is skipped with a note otherwise.

mod common;

use common::peers::peer;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use nethttp::http::{self, header, Request, Response, StatusCode};
use nethttp::{text_response, Body, HttpRequest, HttpResponse, Server, ServerHandle};

/// Bound on any single exchange with a client, so a bug fails a test instead of hanging it.
const TIMEOUT: Duration = Duration::from_secs(15);

// ---------------------------------------------------------------------------------------------
// The server under test.

/// The application every test serves:
/// - `GET /hello` → `hello` (Content-Length framing);
/// - `POST /echo` → the request body streamed back as it arrives, with how the request came
///   (`x-request-te`, `x-request-expect`, `x-request-version`) in response headers;
/// - `GET /stream/{n}` → `n` lines `chunk {i}\n` from a channel (unknown length: chunked).
async fn app(req: HttpRequest) -> HttpResponse {
    let path = req.uri().path().to_owned();
    if path == "/hello" {
        return text_response(StatusCode::OK, "hello");
    }
    if path == "/echo" && req.method() == http::Method::POST {
        let mut echoed = Vec::new();
        for (name, from) in [
            ("x-request-te", header::TRANSFER_ENCODING),
            ("x-request-expect", header::EXPECT),
            ("content-type", header::CONTENT_TYPE),
        ] {
            if let Some(v) = req.headers().get(from) {
                echoed.push((name, v.clone()));
            }
        }
        let version = format!("{:?}", req.version());
        let mut resp = Response::new(req.into_body());
        for (name, value) in echoed {
            resp.headers_mut().insert(name, value);
        }
        resp.headers_mut()
            .insert("x-request-version", version.parse().unwrap());
        return resp;
    }
    if let Some(n) = path
        .strip_prefix("/stream/")
        .and_then(|n| n.parse::<usize>().ok())
    {
        let (tx, body) = Body::channel(4);
        tokio::spawn(async move {
            for i in 0..n {
                if tx.send_data(format!("chunk {i}\n")).await.is_err() {
                    return;
                }
            }
        });
        return Response::new(body);
    }
    text_response(StatusCode::NOT_FOUND, "not found\n")
}

/// What `GET /stream/{n}` sends.
fn stream_lines(n: usize) -> String {
    (0..n).map(|i| format!("chunk {i}\n")).collect()
}

/// Starts [`app`] on an ephemeral loopback port with the default configuration.
fn start() -> ServerHandle {
    let server = Server::new();
    let listener = server
        .bind("127.0.0.1:0".parse().unwrap())
        .expect("bind 127.0.0.1:0");
    server.serve(listener, app)
}

fn url(handle: &ServerHandle, path: &str) -> String {
    format!("http://{}{path}", handle.local_addr())
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

/// Awaits `f`, failing the test if it takes longer than [`TIMEOUT`].
async fn within<F: Future>(what: &str, f: F) -> F::Output {
    match tokio::time::timeout(TIMEOUT, f).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: no answer within {TIMEOUT:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// External peers.

/// Runs a peer to completion (killed if it outlives [`TIMEOUT`]) and returns its output,
/// failing the test with its stderr if it exits unsuccessfully.
async fn run(mut cmd: tokio::process::Command, what: &str) -> std::process::Output {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let out = within(what, cmd.output())
        .await
        .unwrap_or_else(|e| panic!("{what}: spawn failed: {e}"));
    assert!(
        out.status.success(),
        "{what}: exited with {}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// curl with the flags every test wants: quiet but showing errors, a hard time limit, and no
/// proxy from the environment.
fn curl(bin: &Path) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(bin);
    cmd.args(["-sS", "--noproxy", "*", "--max-time", "12"]);
    cmd
}

/// A scratch directory for files handed to a peer, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "nethttp-interop-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        Scratch(dir)
    }

    fn file(&self, name: &str, contents: &[u8]) -> PathBuf {
        let p = self.0.join(name);
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

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// hyper-util's pool (reqwest's too) gets a connection back from a background task once the
/// response is consumed; a request issued before that races a pool checkout against a fresh
/// connect, and keeps the fresh socket even when the checkout wins. A short pause between
/// requests takes that client-side race out, so a connection count is the server's doing.
async fn pool_settle() {
    tokio::time::sleep(Duration::from_millis(5)).await;
}

// ---------------------------------------------------------------------------------------------
// hyper's client (hyper-util legacy `Client`, HTTP/1).

type HyperClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

fn hyper_client() -> HyperClient {
    Client::builder(TokioExecutor::new()).build_http()
}

async fn hyper_send(
    client: &HyperClient,
    req: Request<Full<Bytes>>,
) -> (http::response::Parts, Bytes) {
    within("hyper request", async {
        let resp = client.request(req).await.expect("hyper request failed");
        let (parts, body) = resp.into_parts();
        let body = body.collect().await.expect("hyper body failed").to_bytes();
        (parts, body)
    })
    .await
}

fn hyper_get(uri: &str) -> Request<Full<Bytes>> {
    Request::get(uri).body(Full::new(Bytes::new())).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hyper_get_and_post_echo() {
    let handle = start();
    let client = hyper_client();

    let (parts, body) = hyper_send(&client, hyper_get(&url(&handle, "/hello"))).await;
    assert_eq!(parts.status, StatusCode::OK);
    assert_eq!(parts.headers[header::CONTENT_LENGTH], "5");
    assert_eq!(
        parts.headers[header::CONTENT_TYPE],
        "text/plain; charset=utf-8"
    );
    assert!(parts.headers.contains_key(header::DATE));
    assert_eq!(&body[..], b"hello");

    let sent = payload(200_000, 1);
    let req = Request::post(url(&handle, "/echo"))
        .header(header::CONTENT_TYPE, "application/x-test")
        .body(Full::new(Bytes::from(sent.clone())))
        .unwrap();
    let (parts, body) = hyper_send(&client, req).await;
    assert_eq!(parts.status, StatusCode::OK);
    assert_eq!(parts.headers[header::CONTENT_TYPE], "application/x-test");
    assert_eq!(parts.headers["x-request-version"], "HTTP/1.1");
    assert_same_bytes(&body, &sent, "hyper POST /echo");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hyper_sequential_requests_reuse_one_connection() {
    let handle = start();
    let client = hyper_client();
    for i in 0..50u64 {
        if i % 2 == 0 {
            let (parts, body) = hyper_send(&client, hyper_get(&url(&handle, "/hello"))).await;
            assert_eq!(parts.status, StatusCode::OK, "request {i}");
            assert_eq!(&body[..], b"hello", "request {i}");
        } else {
            let sent = payload(1000 + i as usize * 37, i);
            let req = Request::post(url(&handle, "/echo"))
                .body(Full::new(Bytes::from(sent.clone())))
                .unwrap();
            let (parts, body) = hyper_send(&client, req).await;
            assert_eq!(parts.status, StatusCode::OK, "request {i}");
            assert_same_bytes(&body, &sent, &format!("request {i}"));
        }
        pool_settle().await;
    }
    assert_eq!(
        handle.accepted_connections(),
        1,
        "50 sequential requests should share one connection"
    );
    assert_eq!(
        handle.live_connections(),
        1,
        "the server closed a keep-alive connection"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hyper_concurrent_requests() {
    const N: u64 = 32;
    let handle = start();
    let client = hyper_client();
    let mut tasks = Vec::new();
    for i in 0..N {
        let client = client.clone();
        let uri = url(&handle, "/echo");
        tasks.push(tokio::spawn(async move {
            let sent = payload(10_000 + i as usize * 1000, i);
            let req = Request::post(uri)
                .body(Full::new(Bytes::from(sent.clone())))
                .unwrap();
            let (parts, body) = hyper_send(&client, req).await;
            assert_eq!(parts.status, StatusCode::OK, "request {i}");
            assert_same_bytes(&body, &sent, &format!("concurrent request {i}"));
        }));
    }
    for t in tasks {
        within("concurrent request task", t)
            .await
            .expect("request task panicked");
    }
    let accepted = handle.accepted_connections();
    assert!(
        (1..=N).contains(&accepted),
        "accepted {accepted} connections for {N} requests"
    );
}

// ---------------------------------------------------------------------------------------------
// reqwest.

fn reqwest_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(TIMEOUT)
        .build()
        .expect("build reqwest client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reqwest_get_and_one_mib_echo() {
    let handle = start();
    let client = reqwest_client();

    let resp = client
        .get(url(&handle, "/hello"))
        .send()
        .await
        .expect("GET /hello");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()[header::CONTENT_TYPE],
        "text/plain; charset=utf-8"
    );
    assert_eq!(resp.text().await.expect("GET /hello body"), "hello");

    let sent = payload(1 << 20, 2);
    let resp = client
        .post(url(&handle, "/echo"))
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .body(sent.clone())
        .send()
        .await
        .expect("POST /echo");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()[header::CONTENT_TYPE],
        "application/octet-stream"
    );
    let got = resp.bytes().await.expect("POST /echo body");
    assert_same_bytes(&got, &sent, "reqwest 1 MiB echo");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reqwest_reads_a_streamed_chunked_response() {
    const N: usize = 3000;
    let handle = start();
    let client = reqwest_client();
    let mut resp = client
        .get(url(&handle, &format!("/stream/{N}")))
        .send()
        .await
        .expect("GET /stream");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()[header::TRANSFER_ENCODING], "chunked");
    assert!(!resp.headers().contains_key(header::CONTENT_LENGTH));
    let mut got = Vec::new();
    let mut pieces = 0;
    while let Some(piece) = resp.chunk().await.expect("reading the chunked body") {
        got.extend_from_slice(&piece);
        pieces += 1;
        assert!(pieces <= 100_000, "runaway body");
    }
    assert_same_bytes(&got, stream_lines(N).as_bytes(), "streamed body");
    // The chunked body ended cleanly: the connection is reused for the next request.
    pool_settle().await;
    let resp = client
        .get(url(&handle, "/hello"))
        .send()
        .await
        .expect("GET /hello after stream");
    assert_eq!(resp.text().await.unwrap(), "hello");
    assert_eq!(handle.accepted_connections(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reqwest_keep_alive_reuses_connections() {
    let handle = start();
    let client = reqwest_client();
    for i in 0..40u64 {
        let sent = payload(500 + i as usize, i);
        let resp = client
            .post(url(&handle, "/echo"))
            .body(sent.clone())
            .send()
            .await
            .expect("POST /echo");
        assert_eq!(resp.status(), StatusCode::OK, "request {i}");
        assert_same_bytes(
            &resp.bytes().await.expect("echo body"),
            &sent,
            &format!("request {i}"),
        );
        pool_settle().await;
    }
    assert_eq!(
        handle.accepted_connections(),
        1,
        "40 sequential reqwest requests should share one connection"
    );
    assert_eq!(
        handle.live_connections(),
        1,
        "the server closed a keep-alive connection"
    );
}

// ---------------------------------------------------------------------------------------------
// curl.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_reuses_the_connection_for_two_urls() {
    let Some(bin) = peer("curl", "--version", &[]) else {
        return;
    };
    let handle = start();
    let mut cmd = curl(&bin);
    cmd.arg("-v")
        .arg(url(&handle, "/hello"))
        .arg(url(&handle, "/stream/3"));
    let out = run(cmd, "curl two URLs").await;
    let stderr = lossy(&out.stderr);
    assert_eq!(lossy(&out.stdout), format!("hello{}", stream_lines(3)));
    let reused = stderr.contains("Re-using existing connection")
        || (stderr.contains("left intact") && stderr.matches("Connected to").count() == 1);
    assert!(reused, "curl did not reuse the connection:\n{stderr}");
    assert_eq!(handle.accepted_connections(), 1, "curl stderr:\n{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_http10() {
    let Some(bin) = peer("curl", "--version", &[]) else {
        return;
    };
    let handle = start();

    // A known length: Content-Length framing, and the connection closes (no keep-alive asked).
    let mut cmd = curl(&bin);
    cmd.args(["-v", "--http1.0"]).arg(url(&handle, "/hello"));
    let out = run(cmd, "curl --http1.0 /hello").await;
    let stderr = lossy(&out.stderr).to_ascii_lowercase();
    assert_eq!(lossy(&out.stdout), "hello");
    assert!(
        stderr.contains("> get /hello http/1.0"),
        "curl did not speak HTTP/1.0:\n{stderr}"
    );
    assert!(stderr.contains("< content-length: 5"), "{stderr}");
    assert!(stderr.contains("< connection: close"), "{stderr}");

    // An unknown length: no chunked encoding for a 1.0 client; the body ends at close.
    let mut cmd = curl(&bin);
    cmd.args(["-v", "--http1.0"])
        .arg(url(&handle, "/stream/200"));
    let out = run(cmd, "curl --http1.0 /stream/200").await;
    let stderr = lossy(&out.stderr).to_ascii_lowercase();
    assert_eq!(lossy(&out.stdout), stream_lines(200));
    assert!(
        !stderr.contains("transfer-encoding"),
        "chunked sent to an HTTP/1.0 client:\n{stderr}"
    );
    assert!(!stderr.contains("< content-length"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_head() {
    let Some(bin) = peer("curl", "--version", &[]) else {
        return;
    };
    let handle = start();
    // Two HEADs on one connection: had the server sent a body after the first head, curl
    // would read it as the second response and fail.
    let mut cmd = curl(&bin);
    cmd.arg("-I")
        .arg(url(&handle, "/hello"))
        .arg(url(&handle, "/hello"));
    let out = run(cmd, "curl -I").await;
    let stdout = lossy(&out.stdout).to_ascii_lowercase();
    let heads: Vec<&str> = stdout.split("\r\n\r\n").filter(|h| !h.is_empty()).collect();
    assert_eq!(heads.len(), 2, "want two response heads:\n{stdout}");
    for head in heads {
        assert!(head.starts_with("http/1.1 200 ok\r\n"), "{head}");
        assert!(
            head.contains("\r\ncontent-length: 5"),
            "HEAD should carry GET's length:\n{head}"
        );
        assert!(
            head.contains("\r\ncontent-type: text/plain; charset=utf-8"),
            "{head}"
        );
    }
    assert_eq!(handle.accepted_connections(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_chunked_upload() {
    let Some(bin) = peer("curl", "--version", &[]) else {
        return;
    };
    let handle = start();
    let dir = Scratch::new();
    let sent = payload(300_000, 3);
    let input = dir.file("in", &sent);
    let output = dir.path("out");
    let mut cmd = curl(&bin);
    cmd.args([
        "-v",
        "-H",
        "Transfer-Encoding: chunked",
        "-H",
        "Expect:",
        "--data-binary",
    ])
    .arg(format!("@{}", input.display()))
    .arg("-o")
    .arg(&output)
    .arg(url(&handle, "/echo"));
    let out = run(cmd, "curl chunked upload").await;
    let stderr = lossy(&out.stderr).to_ascii_lowercase();
    assert!(
        stderr.contains("> transfer-encoding: chunked"),
        "curl did not send chunked:\n{stderr}"
    );
    assert!(
        stderr.contains("< x-request-te: chunked"),
        "server did not see chunked:\n{stderr}"
    );
    assert_same_bytes(
        &std::fs::read(&output).unwrap(),
        &sent,
        "curl chunked upload echo",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_expect_100_continue_is_answered() {
    let Some(bin) = peer("curl", "--version", &[]) else {
        return;
    };
    let handle = start();
    let dir = Scratch::new();
    let sent = payload(256 * 1024, 4);
    let input = dir.file("in", &sent);
    let output = dir.path("out");
    // curl waits this long for `100 Continue` before sending the body anyway; a long wait
    // makes a missing 100 unmistakable in the elapsed time.
    let expect_timeout = Duration::from_secs(5);
    let mut cmd = curl(&bin);
    cmd.args(["-v", "-H", "Expect: 100-continue", "--expect100-timeout"])
        .arg(expect_timeout.as_secs().to_string())
        .arg("--data-binary")
        .arg(format!("@{}", input.display()))
        .arg("-o")
        .arg(&output)
        .arg(url(&handle, "/echo"));
    let t0 = Instant::now();
    let out = run(cmd, "curl Expect: 100-continue").await;
    let elapsed = t0.elapsed();
    let stderr = lossy(&out.stderr).to_ascii_lowercase();
    assert!(stderr.contains("> expect: 100-continue"), "{stderr}");
    assert!(
        stderr.contains("< http/1.1 100 continue"),
        "no 100 Continue seen by curl:\n{stderr}"
    );
    assert!(
        stderr.contains("< x-request-expect: 100-continue"),
        "{stderr}"
    );
    assert!(
        elapsed < expect_timeout / 2,
        "curl took {elapsed:?}: it waited for its expect timeout instead of getting the 100"
    );
    assert_same_bytes(
        &std::fs::read(&output).unwrap(),
        &sent,
        "curl Expect upload echo",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_data_binary_several_mib_echoed_exactly() {
    let Some(bin) = peer("curl", "--version", &[]) else {
        return;
    };
    let handle = start();
    let dir = Scratch::new();
    let sent = payload(6 << 20, 5);
    let input = dir.file("in", &sent);
    let output = dir.path("out");
    // curl's own choice of headers (it may add `Expect: 100-continue` for a body this big).
    let mut cmd = curl(&bin);
    cmd.arg("--data-binary")
        .arg(format!("@{}", input.display()))
        .args([
            "-H",
            "Content-Type: application/octet-stream",
            "-D",
            "-",
            "-o",
        ])
        .arg(&output)
        .arg(url(&handle, "/echo"));
    let out = run(cmd, "curl --data-binary 6 MiB").await;
    let head = lossy(&out.stdout).to_ascii_lowercase();
    assert!(head.contains("http/1.1 200 ok"), "{head}");
    assert!(
        head.contains("content-type: application/octet-stream"),
        "{head}"
    );
    assert_same_bytes(&std::fs::read(&output).unwrap(), &sent, "curl 6 MiB echo");
}

// ---------------------------------------------------------------------------------------------
// Python's http.client.

async fn python(bin: &Path, handle: &ServerHandle, script: &str, what: &str) -> String {
    let mut cmd = tokio::process::Command::new(bin);
    cmd.arg("-c")
        .arg(script)
        .arg(handle.local_addr().port().to_string());
    lossy(&run(cmd, what).await.stdout)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_keep_alive_on_one_connection() {
    let Some(bin) = peer("python3", "--version", &[]) else {
        return;
    };
    let handle = start();
    let script = r#"
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10)
ports = set()
for i in range(10):
    c.request("GET", "/hello")
    r = c.getresponse()
    body = r.read()
    assert r.status == 200 and body == b"hello", (i, r.status, body)
    assert not r.will_close, ("server asked to close", i, r.getheaders())
    ports.add(c.sock.getsockname()[1])
print("sockets", len(ports))
"#;
    let out = python(&bin, &handle, script, "python keep-alive").await;
    assert_eq!(out.trim(), "sockets 1");
    assert_eq!(handle.accepted_connections(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_chunked_request_body() {
    let Some(bin) = peer("python3", "--version", &[]) else {
        return;
    };
    let handle = start();
    let script = r#"
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10)
parts = [bytes((i * 7 + j) % 256 for j in range(1 + i * 97)) for i in range(60)]
c.request("POST", "/echo", body=iter(parts),
          headers={"Transfer-Encoding": "chunked", "Content-Type": "application/x-py"},
          encode_chunked=True)
r = c.getresponse()
data = r.read()
assert r.status == 200, r.status
assert r.getheader("x-request-te") == "chunked", r.getheaders()
assert r.getheader("content-type") == "application/x-py", r.getheaders()
assert data == b"".join(parts), (len(data), sum(map(len, parts)))
# The chunked request ended cleanly: the same connection serves another request.
c.request("GET", "/hello")
r = c.getresponse()
assert r.read() == b"hello"
print("ok", len(data))
"#;
    let out = python(&bin, &handle, script, "python chunked request").await;
    let want: usize = (0..60).map(|i| 1 + i * 97).sum();
    assert_eq!(out.trim(), format!("ok {want}"));
    assert_eq!(handle.accepted_connections(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_reads_a_chunked_response() {
    let Some(bin) = peer("python3", "--version", &[]) else {
        return;
    };
    let handle = start();
    let script = r#"
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10)
c.request("GET", "/stream/500")
r = c.getresponse()
assert r.status == 200, r.status
assert r.chunked, r.getheaders()
assert r.getheader("transfer-encoding") == "chunked", r.getheaders()
data = r.read()
want = "".join("chunk %d\n" % i for i in range(500)).encode()
assert data == want, (len(data), len(want))
c.request("GET", "/hello")
r = c.getresponse()
assert r.read() == b"hello"
print("ok", len(data))
"#;
    let out = python(&bin, &handle, script, "python chunked response").await;
    assert_eq!(out.trim(), format!("ok {}", stream_lines(500).len()));
    assert_eq!(handle.accepted_connections(), 1);
}
