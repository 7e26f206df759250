//! The handler batteries over HTTP/2 (h2c by prior knowledge), as the HTTP/1.1 tests
//! (fs.rs, request_*.rs, response_writer.rs, wrap_*.rs) check them, from three clients
//! nobody shares code with: curl (`--http2-prior-knowledge`: ranges, `304`/`412`, a `-F`
//! upload, `-b` cookies, `--data-urlencode`), hyper's HTTP/2 client (the
//! `multipart/byteranges` body byte for byte, and every refusal with its exact status and
//! reason) and our own `Client` (JSON both ways, cookie crumbs, `timeout_handler`'s `503`,
//! `Body::chunk` before the body ends). Server-sent events reach hyper and our client while
//! the handler still runs.
//!
//! curl is found on `PATH`; missing, its tests fail under `CI=true` and skip otherwise.

mod common;
#[path = "common/h2peers.rs"]
mod h2peers;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::peers::peer;
use h2peers::{hyper_h2c, send, within, Got, H2Sender};
use http_body_util::BodyExt;
use nethttp::cookie::{set_cookie, Cookie, SameSite};
use nethttp::fs::FileServer;
use nethttp::http::{self, HeaderValue, Method, StatusCode, Version};
use nethttp::request::{MultipartLimits, RequestExt};
use nethttp::response_writer::{sse_event, ResponseWriter};
use nethttp::wrap::{max_bytes, strip_prefix, timeout_handler};
use nethttp::{
    json, text_response, Body, Error, HttpRequest, HttpResponse, ServeMux, Server, ServerHandle,
};
use tokio::sync::Notify;

// ---------------------------------------------------------------------------------------------
// The application: the handlers of the HTTP/1.1 tests, under one mux.

#[derive(Debug, serde::Deserialize, serde::Serialize)]
struct Point {
    x: i32,
    y: i32,
}

/// `POST /json`: a `Point` (at most 100 bytes) mirrored, `201`.
async fn mirror(mut req: HttpRequest) -> Result<HttpResponse, Error> {
    let p: Point = req.json(100).await?;
    Ok(json(StatusCode::CREATED, &Point { x: p.y, y: p.x }))
}

#[derive(serde::Deserialize)]
struct Order {
    item: String,
    qty: u32,
    note: Option<String>,
}

/// `POST /order`: a form (at most 64 bytes) into an `Order`.
async fn order(mut req: HttpRequest) -> Result<HttpResponse, Error> {
    let o: Order = req.form(64).await?;
    Ok(text_response(
        StatusCode::OK,
        format!("{} x{} {:?}", o.item, o.qty, o.note),
    ))
}

/// `POST /pairs`: the query's and the form's pairs, apart.
async fn pairs(mut req: HttpRequest) -> Result<HttpResponse, Error> {
    let query: Vec<String> = req.query_pairs().map(|(k, v)| format!("{k}={v}")).collect();
    let form = req.form_pairs(1024).await?;
    let form: Vec<String> = form.iter().map(|(k, v)| format!("{k}={v}")).collect();
    Ok(text_response(
        StatusCode::OK,
        format!("query {query:?} form {form:?}"),
    ))
}

#[derive(serde::Deserialize)]
struct Search {
    q: String,
    page: Option<u32>,
}

/// `GET /search`: the query string into a `Search`.
async fn search(req: HttpRequest) -> Result<HttpResponse, Error> {
    let s: Search = req.query()?;
    Ok(text_response(
        StatusCode::OK,
        format!("{} page {}", s.q, s.page.unwrap_or(1)),
    ))
}

/// `POST /upload`: each multipart field as `name file type size sum` (64 KiB in all, 16 KiB
/// a field, four fields).
async fn describe(mut req: HttpRequest) -> Result<HttpResponse, Error> {
    let limits = MultipartLimits::new(64 * 1024)
        .max_field_bytes(16 * 1024)
        .max_fields(4);
    let mut form = req.multipart(limits)?;
    let mut out = String::new();
    while let Some(mut field) = form.next_field().await? {
        let name = field.name().unwrap_or("-").to_owned();
        let file = field.file_name().unwrap_or("-").to_owned();
        let ct = field.content_type().unwrap_or("-").to_owned();
        let (mut size, mut sum) = (0usize, 0u64);
        while let Some(chunk) = field.chunk().await? {
            size += chunk.len();
            sum += digest(&chunk);
        }
        out += &format!("{name} {file} {ct} {size} {sum}\n");
    }
    Ok(text_response(StatusCode::OK, out))
}

fn digest(data: &[u8]) -> u64 {
    data.iter().map(|&b| u64::from(b)).sum()
}

/// `GET /cookies`: the request's cookies, one a line, then the `SID` one.
async fn echo_cookies(req: HttpRequest) -> HttpResponse {
    let mut out = String::new();
    for c in req.cookies() {
        out += &format!("{}={}\n", c.name(), c.value());
    }
    if let Some(sid) = req.cookie("SID") {
        out += &format!("SID is {}\n", sid.value());
    }
    text_response(StatusCode::OK, out)
}

/// `GET /set-cookie`: three `Set-Cookie` fields.
async fn set_cookies(_req: HttpRequest) -> Result<HttpResponse, Error> {
    let mut resp = text_response(StatusCode::OK, "set\n");
    for c in [
        Cookie::build(("SID", "31d4d96e407aad42"))
            .path("/")
            .secure(true)
            .http_only(true)
            .build(),
        Cookie::build(("lang", "en-US")).path("/").build(),
        Cookie::build(("all", "\"quoted\""))
            .path("/app")
            .same_site(SameSite::Strict)
            .http_only(true)
            .build(),
    ] {
        set_cookie(resp.headers_mut(), &c)?;
    }
    Ok(resp)
}

/// `POST /text`: UTF-8 text of at most 16 bytes, upper-cased.
async fn text(req: HttpRequest) -> Result<HttpResponse, Error> {
    let s = req.into_body().text(16).await?;
    Ok(text_response(StatusCode::OK, s.to_uppercase()))
}

/// `POST /capped` (behind `max_bytes(_, 10)`): what the read of the whole body gave.
async fn capped(req: HttpRequest) -> HttpResponse {
    let got = req.into_body().to_bytes(usize::MAX).await;
    let got = got.map(|b| b.len()).map_err(|e| e.kind());
    text_response(StatusCode::OK, format!("{got:?}"))
}

/// Sets its flag when dropped: proof the future holding it was dropped.
struct DropGuard(Arc<AtomicBool>);

impl Drop for DropGuard {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// What the tests can look at besides the answers.
#[derive(Default)]
struct Probe {
    /// The slow handler's future was dropped.
    slow_dropped: Arc<AtomicBool>,
    /// Notified by a test once it has read the first server-sent event.
    event_read: Arc<Notify>,
}

fn app(root: &Path, probe: &Probe) -> ServeMux {
    let dropped = probe.slow_dropped.clone();
    let slow = move |_req: HttpRequest| {
        let guard = DropGuard(dropped.clone());
        async move {
            let _guard = guard;
            tokio::time::sleep(Duration::from_secs(30)).await;
            text_response(StatusCode::OK, "late")
        }
    };
    let read = probe.event_read.clone();
    let events = move |_req: HttpRequest| {
        let read = read.clone();
        async move {
            let mut resp = ResponseWriter::stream(|mut w| async move {
                w.write(sse_event("hello", "one\ntwo")).await?;
                w.flush().await?;
                // Held until the client has read the first event: were it held back by the
                // server, the client would wait for it forever.
                read.notified().await;
                w.write(sse_event("", "bye")).await?;
                w.finish().await
            });
            resp.headers_mut().insert(
                "content-type",
                HeaderValue::from_static("text/event-stream"),
            );
            resp
        }
    };
    ServeMux::new()
        .route(
            "/files/",
            strip_prefix("/files", FileServer::new(root).unwrap()),
        )
        .route("POST /json", mirror)
        .route("POST /order", order)
        .route("POST /pairs", pairs)
        .route("GET /search", search)
        .route("POST /upload", describe)
        .route("GET /cookies", echo_cookies)
        .route("GET /set-cookie", set_cookies)
        .route("POST /text", text)
        .route("POST /capped", max_bytes(capped, 10))
        .route(
            "GET /slow",
            timeout_handler(slow, Duration::from_millis(200), "too slow\n"),
        )
        .route("GET /events", events)
}

/// A directory with `hello.txt` (`hello, world\n`) and `big.bin` (2 MiB + 7 of a known
/// pattern: past the default flow-control windows of every client here).
fn tree() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("hello.txt"), "hello, world\n").unwrap();
    std::fs::write(root.join("big.bin"), pattern((2 << 20) + 7)).unwrap();
    std::fs::write(dir.path().join("outside.txt"), "outside").unwrap();
    (dir, root)
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

struct Served {
    handle: ServerHandle,
    probe: Probe,
    root: PathBuf,
    _dir: tempfile::TempDir,
}

impl Served {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.handle.local_addr())
    }
}

fn serve() -> Served {
    let (dir, root) = tree();
    let probe = Probe::default();
    let handle = h2peers::start(&Server::new(), app(&root, &probe));
    Served {
        handle,
        probe,
        root,
        _dir: dir,
    }
}

fn etag_of(root: &Path, name: &str) -> String {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(root.join(name)).unwrap();
    format!(
        "\"{:x}-{:x}-{:x}.{:x}\"",
        m.ino(),
        m.len(),
        m.mtime(),
        m.mtime_nsec()
    )
}

fn last_modified(root: &Path, name: &str) -> String {
    let m = std::fs::metadata(root.join(name))
        .unwrap()
        .modified()
        .unwrap();
    httpdate::fmt_http_date(m)
}

/// The boundary of a `multipart/byteranges` content type.
fn boundary_of(ctype: &str) -> &str {
    ctype
        .strip_prefix("multipart/byteranges; boundary=")
        .unwrap_or_else(|| panic!("not multipart/byteranges: {ctype}"))
}

/// The `multipart/byteranges` body of `bytes=0-1,7-11` of `hello.txt`, as fs.rs expects it
/// over HTTP/1.1.
fn two_ranges(boundary: &str) -> String {
    format!(
        "--{boundary}\r\nContent-Range: bytes 0-1/13\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhe\
         \r\n--{boundary}\r\nContent-Range: bytes 7-11/13\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nworld\
         \r\n--{boundary}--\r\n"
    )
}

// ---------------------------------------------------------------------------------------------
// curl.

/// One response as curl printed it with `-i`.
struct CurlGot {
    status: u16,
    fields: Vec<(String, String)>,
    body: Vec<u8>,
}

impl CurlGot {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn all(&self, name: &str) -> Vec<&str> {
        self.fields
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Runs `curl --http2-prior-knowledge -i ARGS` and parses its answer, asserting it came over
/// HTTP/2 (`HTTP/2 NNN` status line).
async fn curl_h2(bin: &Path, args: &[&str]) -> CurlGot {
    let mut cmd = common::curl::curl(bin);
    cmd.args(["--http2-prior-knowledge", "-i"]).args(args);
    let out = common::curl::run(cmd, &format!("curl {args:?}")).await;
    let raw = out.stdout;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no head in {:?}", String::from_utf8_lossy(&raw)));
    let head = String::from_utf8(raw[..split].to_vec()).expect("the head is text");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status = status_line
        .strip_prefix("HTTP/2 ")
        .unwrap_or_else(|| panic!("not an HTTP/2 answer: {status_line:?}"))
        .trim()
        .parse()
        .expect("a status code");
    let fields = lines
        .filter_map(|l| {
            let (k, v) = l.split_once(": ")?;
            Some((k.to_owned(), v.to_owned()))
        })
        .collect();
    CurlGot {
        status,
        fields,
        body: raw[split + 4..].to_vec(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_gets_files_ranges_and_conditionals_over_h2() {
    let Some(bin) = peer("curl", "--version", &[]) else {
        return;
    };
    let s = serve();
    let url = s.url("/files/hello.txt");
    let tag = etag_of(&s.root, "hello.txt");
    let lm = last_modified(&s.root, "hello.txt");

    let whole = curl_h2(&bin, &[&url]).await;
    assert_eq!(whole.status, 200);
    assert_eq!(whole.text(), "hello, world\n");
    assert_eq!(
        whole.field("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(whole.field("content-length"), Some("13"));
    assert_eq!(whole.field("etag"), Some(tag.as_str()));
    assert_eq!(whole.field("last-modified"), Some(lm.as_str()));
    assert_eq!(whole.field("accept-ranges"), Some("bytes"));
    // No HTTP/1.1 connection fields on HTTP/2 (RFC 9113 §8.2.2).
    assert_eq!(whole.field("keep-alive"), None);
    assert_eq!(whole.field("connection"), None);

    let head = curl_h2(&bin, &["-I", &url]).await;
    assert_eq!(head.status, 200);
    assert_eq!(head.field("content-length"), Some("13"));
    assert!(head.body.is_empty(), "{:?}", head.text());

    let one = curl_h2(&bin, &["-r", "0-4", &url]).await;
    assert_eq!((one.status, one.text().as_str()), (206, "hello"));
    assert_eq!(one.field("content-range"), Some("bytes 0-4/13"));
    assert_eq!(one.field("content-length"), Some("5"));

    let suffix = curl_h2(&bin, &["-r", "-6", &url]).await;
    assert_eq!((suffix.status, suffix.text().as_str()), (206, "world\n"));

    let several = curl_h2(&bin, &["-r", "0-1,7-11", &url]).await;
    assert_eq!(several.status, 206);
    let boundary = boundary_of(several.field("content-type").unwrap());
    assert_eq!(several.text(), two_ranges(boundary));
    assert_eq!(
        several.field("content-length"),
        Some(several.body.len().to_string().as_str())
    );

    let none = curl_h2(&bin, &["-r", "100-", &url]).await;
    assert_eq!(none.status, 416);
    assert_eq!(none.field("content-range"), Some("bytes */13"));

    let inm = curl_h2(&bin, &["-H", &format!("If-None-Match: {tag}"), &url]).await;
    assert_eq!(inm.status, 304);
    assert_eq!(inm.field("etag"), Some(tag.as_str()));
    assert!(inm.body.is_empty());
    let ims = curl_h2(&bin, &["-H", &format!("If-Modified-Since: {lm}"), &url]).await;
    assert_eq!(ims.status, 304);

    let ius = curl_h2(
        &bin,
        &[
            "-H",
            "If-Unmodified-Since: Sun, 06 Nov 1994 08:49:37 GMT",
            &url,
        ],
    )
    .await;
    assert_eq!(ius.status, 412);
    let im = curl_h2(&bin, &["-H", "If-Match: \"nope\"", &url]).await;
    assert_eq!(im.status, 412);
    let im_ok = curl_h2(&bin, &["-H", &format!("If-Match: {tag}"), &url]).await;
    assert_eq!(
        (im_ok.status, im_ok.text().as_str()),
        (200, "hello, world\n")
    );

    let ir = curl_h2(
        &bin,
        &["-r", "0-4", "-H", &format!("If-Range: {tag}"), &url],
    )
    .await;
    assert_eq!((ir.status, ir.text().as_str()), (206, "hello"));
    let stale = curl_h2(&bin, &["-r", "0-4", "-H", "If-Range: \"old\"", &url]).await;
    assert_eq!(
        (stale.status, stale.text().as_str()),
        (200, "hello, world\n")
    );

    // The way out of the root is refused over HTTP/2 as over HTTP/1.1.
    let out = curl_h2(&bin, &["--path-as-is", &s.url("/files/%2e%2e/outside.txt")]).await;
    assert_eq!(out.status, 400);
    assert!(!out.text().contains("outside"), "{}", out.text());

    // A range in the middle of a file larger than the windows.
    let big = curl_h2(&bin, &["-r", "1500000-1500009", &s.url("/files/big.bin")]).await;
    assert_eq!(big.status, 206);
    assert_eq!(big.body, &pattern((2 << 20) + 7)[1_500_000..1_500_010]);
    s.handle.shutdown(Duration::from_secs(1)).await;
}

/// Makes curl send a body without `content-length` over HTTP/2.
const CHUNKED: &str = "Transfer-Encoding: chunked";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_uploads_forms_json_and_cookies_over_h2() {
    let Some(bin) = peer("curl", "--version", &[]) else {
        return;
    };
    let s = serve();

    // Multipart: a field and a file, then each limit crossed.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("photo.bin");
    let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&file, &data).unwrap();
    let file_arg = format!("upload=@{};type=image/png", file.display());
    let up = s.url("/upload");
    let got = curl_h2(&bin, &["-F", "title=Hello", "-F", &file_arg, &up]).await;
    assert_eq!(got.status, 200, "{}", got.text());
    assert_eq!(
        got.text(),
        format!(
            "title - - 5 {}\nupload photo.bin image/png 10000 {}\n",
            digest(b"Hello"),
            digest(&data)
        )
    );
    std::fs::write(&file, vec![b'x'; 20_000]).unwrap();
    let file_arg = format!("upload=@{}", file.display());
    let got = curl_h2(&bin, &["-F", &file_arg, &up]).await;
    assert_eq!(got.status, 413, "{}", got.text());
    assert!(
        got.text().starts_with("multipart field exceeds its limit"),
        "{}",
        got.text()
    );
    let got = curl_h2(
        &bin,
        &[
            "-F", "a=1", "-F", "b=2", "-F", "c=3", "-F", "d=4", "-F", "e=5", &up,
        ],
    )
    .await;
    assert_eq!(
        (got.status, got.text().as_str()),
        (413, "multipart body has more fields than allowed\n")
    );

    // Cookies from `-b`, and the three `Set-Cookie` fields as separate HTTP/2 fields.
    let got = curl_h2(
        &bin,
        &["-b", "SID=31d4d96e407aad42; lang=en-US", &s.url("/cookies")],
    )
    .await;
    assert_eq!(
        (got.status, got.text().as_str()),
        (
            200,
            "SID=31d4d96e407aad42\nlang=en-US\nSID is 31d4d96e407aad42\n"
        )
    );
    let got = curl_h2(&bin, &[&s.url("/set-cookie")]).await;
    assert_eq!(
        got.all("set-cookie"),
        [
            "SID=31d4d96e407aad42; HttpOnly; Secure; Path=/",
            "lang=en-US; Path=/",
            "all=\"quoted\"; HttpOnly; SameSite=Strict; Path=/app",
        ]
    );

    // A form with --data-urlencode, into a type and as pairs; then over its limit, and the
    // query read by -G.
    let got = curl_h2(
        &bin,
        &[
            "-d",
            "item=tea&qty=3",
            "--data-urlencode",
            "note=green & hot",
            &s.url("/order"),
        ],
    )
    .await;
    assert_eq!(
        (got.status, got.text().as_str()),
        (200, "tea x3 Some(\"green & hot\")")
    );
    let got = curl_h2(
        &bin,
        &[
            "-d",
            "a=1&a=2&b=x+y%21&empty=&flag",
            &s.url("/pairs?z=%E2%9C%93"),
        ],
    )
    .await;
    assert_eq!(
        (got.status, got.text().as_str()),
        (
            200,
            r#"query ["z=✓"] form ["a=1", "a=2", "b=x y!", "empty=", "flag="]"#
        )
    );
    // Past the limit, sent without a length (curl drops `content-length` for a chunked
    // upload over HTTP/2): the read that crosses 64 bytes fails. (With the length declared
    // the server answers at once, before the body, and resets the stream with NO_ERROR as
    // RFC 9113 §8.1 allows; curl 7.88 sometimes reports such an early answer as error 92
    // while it is still uploading, so that path is hyper's below.)
    let big = format!("item={}&qty=1", "t".repeat(80));
    let got = curl_h2(&bin, &["-H", CHUNKED, "-d", &big, &s.url("/order")]).await;
    assert_eq!(
        (got.status, got.text().as_str()),
        (413, "body exceeds the read limit\n")
    );
    let got = curl_h2(
        &bin,
        &[
            "-G",
            "--data-urlencode",
            "q=rust & go",
            "-d",
            "page=2",
            &s.url("/search"),
        ],
    )
    .await;
    assert_eq!((got.status, got.text().as_str()), (200, "rust & go page 2"));

    // JSON: a round trip, bad JSON, too large, and the wrong type.
    let j = s.url("/json");
    let got = curl_h2(&bin, &["--json", r#"{"x": 1, "y": -2}"#, &j]).await;
    assert_eq!(
        (got.status, got.text().as_str()),
        (201, r#"{"x":-2,"y":1}"#)
    );
    assert_eq!(got.field("content-type"), Some("application/json"));
    let got = curl_h2(&bin, &["--json", r#"{"x": 1,"#, &j]).await;
    assert_eq!(
        (got.status, got.text().as_str()),
        (
            400,
            "body is not the JSON expected: EOF while parsing a value at line 1 column 8\n"
        )
    );
    let big = format!(r#"{{"x": 1, "y": 2, "pad": "{}"}}"#, "p".repeat(100));
    let got = curl_h2(&bin, &["-H", CHUNKED, "--json", &big, &j]).await;
    assert_eq!(
        (got.status, got.text().as_str()),
        (413, "body exceeds the read limit\n")
    );
    // An empty form (no body to race the early answer, see above) is still not JSON.
    let got = curl_h2(&bin, &["-d", "", &j]).await;
    assert_eq!(
        (got.status, got.text().as_str()),
        (415, "expected Content-Type: application/json\n")
    );
    s.handle.shutdown(Duration::from_secs(1)).await;
}

// ---------------------------------------------------------------------------------------------
// hyper's HTTP/2 client.

fn request(method: Method, url: &str, ctype: Option<&str>, body: Body) -> http::Request<Body> {
    let mut b = http::Request::builder().method(method).uri(url);
    if let Some(ct) = ctype {
        b = b.header("content-type", ct);
    }
    b.body(body).unwrap()
}

/// A body of unknown length (no `content-length` is sent): `chunks` from a channel.
fn streamed(chunks: Vec<&'static str>) -> Body {
    let (tx, body) = Body::channel(1);
    tokio::spawn(async move {
        for c in chunks {
            if tx.send_data(c).await.is_err() {
                return;
            }
        }
    });
    body
}

fn text_of(got: &Got) -> String {
    String::from_utf8_lossy(&got.body).into_owned()
}

async fn post(sender: &H2Sender, url: &str, ctype: &str, body: impl Into<Body>) -> Got {
    send(sender, request(Method::POST, url, Some(ctype), body.into())).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hyper_reads_byteranges_and_gets_every_refusal() {
    let s = serve();
    let (sender, _conn) = hyper_h2c(s.handle.local_addr()).await;

    // Two ranges: the multipart/byteranges body byte for byte, its length declared.
    let mut req = h2peers::get(s.handle.local_addr(), "/files/hello.txt");
    req.headers_mut()
        .insert("range", HeaderValue::from_static("bytes=0-1, 7-11"));
    let got = send(&sender, req).await;
    assert_eq!(got.head.version, Version::HTTP_2);
    assert_eq!(got.head.status, StatusCode::PARTIAL_CONTENT);
    let boundary = boundary_of(got.head.headers["content-type"].to_str().unwrap());
    assert_eq!(text_of(&got), two_ranges(boundary));
    assert_eq!(
        got.head.headers["content-length"],
        got.body.len().to_string().as_str()
    );

    // The whole of a file past hyper's windows.
    let got = send(
        &sender,
        h2peers::get(s.handle.local_addr(), "/files/big.bin"),
    )
    .await;
    assert_eq!(got.head.status, StatusCode::OK);
    assert!(
        got.body == pattern((2 << 20) + 7),
        "{} bytes",
        got.body.len()
    );

    let j = s.url("/json");
    let js = "application/json";
    let got = post(&sender, &j, js, r#"{"x":5,"y":6}"#).await;
    assert_eq!(
        (got.head.status, text_of(&got).as_str()),
        (StatusCode::CREATED, r#"{"x":6,"y":5}"#)
    );
    // Bad JSON: 400 with serde_json's reason, as Go's http.Error writes it.
    let got = post(&sender, &j, js, r#"{"x": 1,"#).await;
    assert_eq!(
        (got.head.status, text_of(&got).as_str()),
        (
            StatusCode::BAD_REQUEST,
            "body is not the JSON expected: EOF while parsing a value at line 1 column 8\n"
        )
    );
    assert_eq!(got.head.headers["x-content-type-options"], "nosniff");
    let got = post(&sender, &j, js, b"{\"x\":\"\xff\"}".as_slice()).await;
    assert_eq!(got.head.status, StatusCode::BAD_REQUEST);
    // Too large, declared (hyper sends content-length for a body of known size) and
    // streamed (no length; 60 + 60 bytes against 100).
    let big = format!(r#"{{"x": 1, "y": 2, "pad": "{}"}}"#, "p".repeat(100));
    let got = post(&sender, &j, js, big).await;
    assert_eq!(
        (got.head.status, text_of(&got).as_str()),
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            "body exceeds the read limit\n"
        )
    );
    let got = post(
        &sender,
        &j,
        js,
        streamed(vec![
            r#"{"x":1,"y":2,"p":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"#,
            "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\"}",
        ]),
    )
    .await;
    assert_eq!(
        (got.head.status, text_of(&got).as_str()),
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            "body exceeds the read limit\n"
        )
    );

    // Forms: too large (declared and streamed), a field that does not fit, the wrong type.
    let form = "application/x-www-form-urlencoded";
    let o = s.url("/order");
    let big = format!("item={}&qty=1", "t".repeat(80));
    let got = post(&sender, &o, form, big).await;
    assert_eq!(
        (got.head.status, text_of(&got).as_str()),
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            "body exceeds the read limit\n"
        )
    );
    let got = post(
        &sender,
        &o,
        form,
        streamed(vec![
            "item=tttttttttttttttttttttttttttttttttt",
            "tttttttttttttttttttttttttttttttttttt&qty=1",
        ]),
    )
    .await;
    assert_eq!(got.head.status, StatusCode::PAYLOAD_TOO_LARGE);
    let got = post(&sender, &o, form, "item=tea&qty=-2").await;
    assert_eq!(
        (got.head.status, text_of(&got).as_str()),
        (
            StatusCode::BAD_REQUEST,
            "invalid form body: invalid digit found in string\n"
        )
    );
    let got = post(&sender, &o, js, "{}").await;
    assert_eq!(got.head.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    // Text: not UTF-8 is 400 with the reason, over 16 bytes 413.
    let t = s.url("/text");
    let plain = "text/plain";
    let got = post(&sender, &t, plain, b"a\xffb".as_slice()).await;
    assert_eq!(
        (got.head.status, text_of(&got).as_str()),
        (
            StatusCode::BAD_REQUEST,
            "body is not valid UTF-8: invalid utf-8 sequence of 1 bytes from index 1\n"
        )
    );
    let got = post(&sender, &t, plain, "0123456789abcdefg").await;
    assert_eq!(got.head.status, StatusCode::PAYLOAD_TOO_LARGE);
    let got = post(&sender, &t, plain, "héllo").await;
    assert_eq!(
        (got.head.status, text_of(&got).as_str()),
        (StatusCode::OK, "HÉLLO")
    );

    // Multipart: over the total (four fields each under their limit), then malformed bodies
    // answered 400, a missing boundary 400, another subtype 415.
    let u = s.url("/upload");
    let mp = "multipart/form-data; boundary=B";
    let mut big = String::new();
    for i in 0..4 {
        big += &format!(
            "--B\r\nContent-Disposition: form-data; name=\"f{i}\"\r\n\r\n{}\r\n",
            "x".repeat(16_380)
        );
    }
    big += "--B--\r\n";
    let got = post(&sender, &u, mp, big).await;
    assert_eq!(
        (got.head.status, text_of(&got).as_str()),
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            "multipart body exceeds its limit: stream size exceeded limit: 65536 bytes\n"
        )
    );
    for body in [
        "--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nabc",
        "hello there, this is not multipart",
        "--B\r\nContent-Disposition: form-data; name=\"a\"\r\nX: y",
        "--B\r\n\u{1}\u{2}: \r\n\r\nabc\r\n--B--\r\n",
        "",
    ] {
        let got = post(&sender, &u, mp, body).await;
        assert_eq!(
            got.head.status,
            StatusCode::BAD_REQUEST,
            "{body:?}: {}",
            text_of(&got)
        );
    }
    // The same malformed body, streamed without a length.
    let got = post(
        &sender,
        &u,
        mp,
        streamed(vec![
            "--B\r\nContent-Disposition: form-data; ",
            "name=\"a\"\r\n\r\nabc",
        ]),
    )
    .await;
    assert_eq!(got.head.status, StatusCode::BAD_REQUEST);
    let got = post(&sender, &u, "multipart/form-data", "x").await;
    assert_eq!(got.head.status, StatusCode::BAD_REQUEST);
    let got = post(&sender, &u, "multipart/mixed; boundary=B", "x").await;
    assert_eq!(got.head.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    // max_bytes(_, 10): declared over the limit never reaches the handler; streamed past it
    // the read fails and the answer is 413 whatever the handler said; at the limit it passes.
    let c = s.url("/capped");
    let got = post(&sender, &c, plain, "hello world").await;
    assert_eq!(
        (got.head.status, text_of(&got).as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n")
    );
    let got = post(&sender, &c, plain, streamed(vec!["hello ", "world!"])).await;
    assert_eq!(
        (got.head.status, text_of(&got).as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n")
    );
    let got = post(&sender, &c, plain, streamed(vec!["hello ", "worl"])).await;
    assert_eq!(
        (got.head.status, text_of(&got).as_str()),
        (StatusCode::OK, "Ok(10)")
    );

    // After every refusal the connection still serves.
    let got = send(
        &sender,
        h2peers::get(s.handle.local_addr(), "/files/hello.txt"),
    )
    .await;
    assert_eq!(text_of(&got), "hello, world\n");
    s.handle.shutdown(Duration::from_secs(1)).await;
}

/// An event reaches hyper while the handler still runs: the handler sends the second only
/// after the test read the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hyper_gets_an_event_before_the_handler_ends() {
    let s = serve();
    let (sender, _conn) = hyper_h2c(s.handle.local_addr()).await;
    let mut sender = sender.clone();
    within("the events", async {
        sender.ready().await.unwrap();
        let resp = sender
            .send_request(h2peers::get(s.handle.local_addr(), "/events"))
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()["content-type"], "text/event-stream");
        assert_eq!(resp.headers().get("content-length"), None);
        let mut body = resp.into_body();
        let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(first, "event: hello\ndata: one\ndata: two\n\n");
        s.probe.event_read.notify_one();
        let second = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(second, "data: bye\n\n");
        assert!(body.frame().await.is_none());
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// Our client, by prior knowledge.

fn h2_client() -> nethttp::Client {
    nethttp::Client::builder()
        .transport(|t| t.http2_prior_knowledge(true))
        .build()
        .unwrap()
}

async fn body_text(res: http::Response<Body>) -> String {
    let b = within("the body", res.into_body().bytes(1 << 20))
        .await
        .expect("the body");
    String::from_utf8_lossy(&b).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_client_over_h2_json_cookies_forms_ranges_and_a_timeout() {
    let s = serve();
    let client = h2_client();

    // JSON both ways: the response read by `Body::json`.
    let res = within(
        "json",
        client
            .post(s.url("/json"))
            .header("content-type", "application/json")
            .body(r#"{"x":3,"y":4}"#)
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(res.version(), Version::HTTP_2);
    assert_eq!(res.status(), StatusCode::CREATED);
    let p: Point = res.into_body().json(1024).await.unwrap();
    assert_eq!((p.x, p.y), (4, 3));
    // A response over the reader's own limit: `Body::json` refuses it.
    let res = within(
        "json",
        client
            .post(s.url("/json"))
            .header("content-type", "application/json")
            .body(r#"{"x":3,"y":4}"#)
            .send(),
    )
    .await
    .unwrap();
    let err = res.into_body().json::<Point>(5).await.unwrap_err();
    assert!(err.is_body_too_large(), "{err}");

    // Cookies in two fields, as HTTP/2 clients may split them (RFC 9113 §8.2.3), and
    // invalid pairs skipped.
    let res = within(
        "cookies",
        client
            .get(s.url("/cookies"))
            .header("cookie", "SID=31d4d96e407aad42")
            .header("cookie", "bad name=4; lang=en-US")
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(
        body_text(res).await,
        "SID=31d4d96e407aad42\nlang=en-US\nSID is 31d4d96e407aad42\n"
    );
    let res = within("set-cookie", client.get(s.url("/set-cookie")).send())
        .await
        .unwrap();
    let set: Vec<&str> = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(set.len(), 3, "{set:?}");
    assert_eq!(set[0], "SID=31d4d96e407aad42; HttpOnly; Secure; Path=/");

    // A form and a query.
    let res = within(
        "form",
        client
            .post(s.url("/order"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("item=tea&qty=2&note=hot%20%26%20green")
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(body_text(res).await, "tea x2 Some(\"hot & green\")");
    let res = within("query", client.get(s.url("/search?q=a%2Bb&page=x")).send())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(
        body_text(res).await.starts_with("invalid query string: "),
        "a page that is not a number"
    );

    // A range and a conditional request.
    let res = within(
        "range",
        client
            .get(s.url("/files/big.bin"))
            .header("range", "bytes=2097150-")
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        res.headers()["content-range"],
        "bytes 2097150-2097158/2097159"
    );
    let b = res.into_body().bytes(64).await.unwrap();
    assert_eq!(b, &pattern((2 << 20) + 7)[2_097_150..]);
    let tag = etag_of(&s.root, "big.bin");
    let res = within(
        "304",
        client
            .get(s.url("/files/big.bin"))
            .header("if-none-match", tag.as_str())
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(body_text(res).await, "");

    // timeout_handler: the exact 503 at the duration, the handler's future dropped then.
    let t0 = Instant::now();
    let res = within("slow", client.get(s.url("/slow")).send())
        .await
        .unwrap();
    let took = t0.elapsed();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.headers()["content-type"], "text/plain; charset=utf-8");
    assert_eq!(body_text(res).await, "too slow\n");
    assert!(
        took >= Duration::from_millis(190),
        "answered after {took:?}"
    );
    assert!(took < Duration::from_secs(5), "answered after {took:?}");
    assert!(
        s.probe.slow_dropped.load(Ordering::SeqCst),
        "the slow handler's future still lives"
    );
    s.handle.shutdown(Duration::from_secs(1)).await;
}

/// `Body::chunk` hands the handler the first DATA frame while our client still holds the
/// rest back; and the server-sent events reach our client before the handler ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_client_over_h2_chunks_and_events_arrive_early() {
    let (seen_tx, mut seen) = tokio::sync::mpsc::unbounded_channel::<Bytes>();
    let h = h2peers::start(&Server::new(), move |req: HttpRequest| {
        let seen_tx = seen_tx.clone();
        async move {
            let mut body = req.into_body();
            let mut total = 0;
            while let Some(chunk) = body.chunk().await {
                let chunk = chunk?;
                total += chunk.len();
                let _ = seen_tx.send(chunk);
            }
            Ok::<_, Error>(text_response(StatusCode::OK, format!("{total}")))
        }
    });
    let client = h2_client();
    let (tx, body) = Body::channel(1);
    let url = format!("http://{}/count", h.local_addr());
    let call = tokio::spawn({
        let client = client.clone();
        async move { client.post(url).body(body).send().await }
    });
    tx.send_data("early").await.unwrap();
    let first = within("the first chunk", seen.recv()).await.unwrap();
    assert_eq!(first, "early");
    tx.send_data("late").await.unwrap();
    drop(tx);
    let res = within("the answer", call).await.unwrap().unwrap();
    assert_eq!(res.version(), Version::HTTP_2);
    assert_eq!(body_text(res).await, "9");
    assert_eq!(seen.recv().await.unwrap(), "late");

    let s = serve();
    let res = within("events", client.get(s.url("/events")).send())
        .await
        .unwrap();
    assert_eq!(res.version(), Version::HTTP_2);
    let mut body = res.into_body();
    let first = within("the first event", body.chunk())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first, "event: hello\ndata: one\ndata: two\n\n");
    s.probe.event_read.notify_one();
    let second = within("the second event", body.chunk())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(second, "data: bye\n\n");
    assert!(within("the end", body.chunk()).await.is_none());
}
