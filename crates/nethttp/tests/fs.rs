//! `nethttp::fs::FileServer` on the wire: exact heads for a file, `HEAD`, ranges (one, several
//! as `multipart/byteranges`, unsatisfiable), conditional requests (`304`, `412`,
//! `If-Range`), directories (redirect, index, escaped listing), precompressed siblings, large
//! files streamed over HTTP/1.1 and HTTP/2 (curl), and every way out of the root refused
//! (`..`, encoded dots and separators, NUL, dotfiles, symlinks out); hostile clients: one
//! that never reads a large file is cut with bounded memory, a file that shrinks mid-send
//! ends the connection instead of hanging it.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::peers::peer;
use common::wire::{normalize, start, Conn};
use nethttp::fs::FileServer;
use nethttp::Server;

const LIMIT: Duration = Duration::from_secs(10);

/// A fresh directory with: `hello.txt` (`hello, world\n`), `big.bin` (1 MiB + 7 of a known
/// pattern), `page/index.html`, `list/` (names needing escapes), `app.js` with `app.js.gz`,
/// `.env`, and symlinks in and out of the root.
fn tree() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("page")).unwrap();
    std::fs::create_dir_all(root.join("list/sub")).unwrap();
    std::fs::write(root.join("hello.txt"), "hello, world\n").unwrap();
    std::fs::write(root.join("big.bin"), pattern((1 << 20) + 7)).unwrap();
    std::fs::write(root.join("page/index.html"), "<h1>index</h1>").unwrap();
    std::fs::write(root.join("list/<script>&.txt"), "x").unwrap();
    std::fs::write(root.join("list/b b.txt"), "yy").unwrap();
    std::fs::write(root.join("app.js"), "console.log(1)").unwrap();
    std::fs::write(root.join("app.js.gz"), gzip(b"console.log(1)")).unwrap();
    std::fs::write(root.join(".env"), "SECRET=1").unwrap();
    std::fs::write(root.join("no-extension"), "<!DOCTYPE html><p>hi").unwrap();
    std::fs::write(dir.path().join("outside.txt"), "outside").unwrap();
    std::os::unix::fs::symlink(dir.path().join("outside.txt"), root.join("out-link")).unwrap();
    std::os::unix::fs::symlink(root.join("hello.txt"), root.join("in-link")).unwrap();
    // Relative links: one that climbs but stays inside, one that climbs out, one that
    // leads out through a linked directory, and a loop.
    std::os::unix::fs::symlink("../hello.txt", root.join("page/up-link")).unwrap();
    std::os::unix::fs::symlink("../outside.txt", root.join("rel-out-link")).unwrap();
    std::os::unix::fs::symlink("..", root.join("parent-dir")).unwrap();
    std::os::unix::fs::symlink("loop-b", root.join("loop-a")).unwrap();
    std::os::unix::fs::symlink("loop-a", root.join("loop-b")).unwrap();
    (dir, root)
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn serve(root: &Path) -> nethttp::ServerHandle {
    start(Server::new(), FileServer::new(root).unwrap())
}

async fn exchange(h: &nethttp::ServerHandle, request: &str) -> String {
    let mut c = Conn::connect(h.local_addr()).await;
    c.send(request).await;
    let head_only = request.starts_with("HEAD");
    normalize(&c.raw_response(head_only).await)
}

fn get(path: &str, extra: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: t\r\n{extra}\r\n")
}

/// The value of `name` in a response head.
fn field<'a>(resp: &'a str, name: &str) -> Option<&'a str> {
    let head = &resp[..resp.find("\r\n\r\n")?];
    head.split("\r\n").skip(1).find_map(|l| {
        let (k, v) = l.split_once(": ")?;
        k.eq_ignore_ascii_case(name).then_some(v)
    })
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

#[tokio::test]
async fn a_file_and_its_head_byte_for_byte() {
    let (_d, root) = tree();
    let h = serve(&root);
    let tag = etag_of(&root, "hello.txt");
    let lm = last_modified(&root, "hello.txt");
    let want_head = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain; charset=utf-8\r\nlast-modified: {lm}\r\n\
         etag: {tag}\r\nvary: accept-encoding\r\naccept-ranges: bytes\r\ncontent-length: 13\r\n\
         date: <DATE>\r\n\
         keep-alive: timeout=60\r\n\r\n"
    );
    assert_eq!(
        exchange(&h, &get("/hello.txt", "")).await,
        format!("{want_head}hello, world\n")
    );
    let head = exchange(&h, "HEAD /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n").await;
    assert_eq!(head, want_head);
}

#[tokio::test]
async fn ranges_one_several_and_unsatisfiable() {
    let (_d, root) = tree();
    let h = serve(&root);
    let one = exchange(&h, &get("/hello.txt", "Range: bytes=0-4\r\n")).await;
    assert!(one.starts_with("HTTP/1.1 206 Partial Content\r\n"), "{one}");
    assert_eq!(field(&one, "content-range"), Some("bytes 0-4/13"));
    assert_eq!(field(&one, "content-length"), Some("5"));
    assert!(one.ends_with("\r\n\r\nhello"));

    let suffix = exchange(&h, &get("/hello.txt", "Range: bytes=-6\r\n")).await;
    assert!(suffix.ends_with("\r\n\r\nworld\n"), "{suffix}");

    let several = exchange(&h, &get("/hello.txt", "Range: bytes=0-1, 7-11\r\n")).await;
    assert!(several.starts_with("HTTP/1.1 206 "), "{several}");
    let ctype = field(&several, "content-type").unwrap();
    let boundary = ctype
        .strip_prefix("multipart/byteranges; boundary=")
        .unwrap_or_else(|| panic!("{ctype}"));
    let body = &several[several.find("\r\n\r\n").unwrap() + 4..];
    assert_eq!(
        body,
        format!(
            "--{boundary}\r\nContent-Range: bytes 0-1/13\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhe\
             \r\n--{boundary}\r\nContent-Range: bytes 7-11/13\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nworld\
             \r\n--{boundary}--\r\n"
        )
    );
    assert_eq!(
        field(&several, "content-length").unwrap(),
        body.len().to_string()
    );

    let none = exchange(&h, &get("/hello.txt", "Range: bytes=100-\r\n")).await;
    assert!(
        none.starts_with("HTTP/1.1 416 Range Not Satisfiable\r\n"),
        "{none}"
    );
    assert_eq!(field(&none, "content-range"), Some("bytes */13"));
    // Ranges adding up past the file: the whole file, 200.
    let whole = exchange(&h, &get("/hello.txt", "Range: bytes=0-12,0-12\r\n")).await;
    assert!(whole.starts_with("HTTP/1.1 200 OK\r\n"), "{whole}");
}

#[tokio::test]
async fn conditional_requests() {
    let (_d, root) = tree();
    let h = serve(&root);
    let tag = etag_of(&root, "hello.txt");
    let lm = last_modified(&root, "hello.txt");
    assert_eq!(
        exchange(&h, &get("/hello.txt", &format!("If-None-Match: {tag}\r\n"))).await,
        format!(
            "HTTP/1.1 304 Not Modified\r\netag: {tag}\r\nvary: accept-encoding\r\ndate: <DATE>\r\n\
             keep-alive: timeout=60\r\n\r\n"
        )
    );
    let ims = exchange(
        &h,
        &get("/hello.txt", &format!("If-Modified-Since: {lm}\r\n")),
    )
    .await;
    assert!(ims.starts_with("HTTP/1.1 304 "), "{ims}");
    let old = "Sun, 06 Nov 1994 08:49:37 GMT";
    let ius = exchange(
        &h,
        &get("/hello.txt", &format!("If-Unmodified-Since: {old}\r\n")),
    )
    .await;
    assert!(
        ius.starts_with("HTTP/1.1 412 Precondition Failed\r\n"),
        "{ius}"
    );
    let im = exchange(&h, &get("/hello.txt", "If-Match: \"nope\"\r\n")).await;
    assert!(im.starts_with("HTTP/1.1 412 "), "{im}");
    let im_ok = exchange(&h, &get("/hello.txt", &format!("If-Match: {tag}\r\n"))).await;
    assert!(im_ok.starts_with("HTTP/1.1 200 "), "{im_ok}");
    let ir = exchange(
        &h,
        &get(
            "/hello.txt",
            &format!("Range: bytes=0-4\r\nIf-Range: {tag}\r\n"),
        ),
    )
    .await;
    assert!(ir.starts_with("HTTP/1.1 206 "), "{ir}");
    let ir_stale = exchange(
        &h,
        &get("/hello.txt", "Range: bytes=0-4\r\nIf-Range: \"old\"\r\n"),
    )
    .await;
    assert!(ir_stale.starts_with("HTTP/1.1 200 "), "{ir_stale}");
    assert!(ir_stale.ends_with("hello, world\n"));
}

#[tokio::test]
async fn directories_redirect_index_and_list() {
    let (_d, root) = tree();
    let h = serve(&root);
    let r = exchange(&h, &get("/page?x=1", "")).await;
    assert!(r.starts_with("HTTP/1.1 301 Moved Permanently\r\n"), "{r}");
    assert_eq!(field(&r, "location"), Some("page/?x=1"));
    let index = exchange(&h, &get("/page/", "")).await;
    assert!(index.ends_with("<h1>index</h1>"), "{index}");
    assert_eq!(
        field(&index, "content-type"),
        Some("text/html; charset=utf-8")
    );
    let r = exchange(&h, &get("/page/index.html", "")).await;
    assert_eq!(field(&r, "location"), Some("./"));
    let r = exchange(&h, &get("/hello.txt/", "")).await;
    assert_eq!(field(&r, "location"), Some("../hello.txt"));

    let list = exchange(&h, &get("/list/", "")).await;
    assert!(list.starts_with("HTTP/1.1 200 OK\r\n"), "{list}");
    assert!(
        list.contains("<a href=\"./%3Cscript%3E%26.txt\">&lt;script&gt;&amp;.txt</a>"),
        "{list}"
    );
    assert!(!list.contains("<script>"), "{list}");
    assert!(list.contains("<a href=\"./sub/\">sub/</a>"), "{list}");
    // Sorted by name by default, by size descending when asked.
    let by_name = list.find("b%20b.txt").unwrap() < list.find("sub/").unwrap();
    assert!(by_name);
    let by_size = exchange(&h, &get("/list/?sort=size&order=desc", "")).await;
    assert!(
        by_size.find("b%20b.txt").unwrap() < by_size.find("%3Cscript").unwrap(),
        "{by_size}"
    );
    let root_list = exchange(&h, &get("/", "")).await;
    assert!(!root_list.contains(".env"), "dotfiles are not listed");
}

#[tokio::test]
async fn every_way_out_of_the_root_is_refused() {
    let (_d, root) = tree();
    let h = serve(&root);
    for path in [
        "/../outside.txt",
        "/list/../../outside.txt",
        "/%2e%2e/outside.txt",
        "/%2E%2E/outside.txt",
        "/list/%2e%2e%2f%2e%2e%2foutside.txt",
        "/list%2f..%2f..%2foutside.txt",
        "/list%5c..%5c..%5coutside.txt",
        "/hello.txt%00.png",
    ] {
        let r = exchange(&h, &get(path, "")).await;
        assert!(r.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{path}: {r}");
    }
    for path in [
        "/.env",
        "/%2eenv",
        "/out-link",
        "/rel-out-link",
        "/parent-dir/outside.txt",
        "/parent-dir/",
        "/loop-a",
    ] {
        let r = exchange(&h, &get(path, "")).await;
        assert!(r.starts_with("HTTP/1.1 404 Not Found\r\n"), "{path}: {r}");
        assert!(!r.contains("SECRET") && !r.ends_with("outside"), "{r}");
    }
    // Links that stay inside: absolute (checked on the slow path) and relative (the kernel
    // keeps it beneath the root).
    for path in ["/in-link", "/page/up-link"] {
        let inside = exchange(&h, &get(path, "")).await;
        assert!(inside.ends_with("hello, world\n"), "{path}: {inside}");
    }
    let post = exchange(
        &h,
        "POST /hello.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n",
    )
    .await;
    assert!(
        post.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"),
        "{post}"
    );
    assert_eq!(field(&post, "allow"), Some("GET, HEAD"));

    // Opted in: dotfiles and symlinks out are served.
    let open = start(
        Server::new(),
        FileServer::new(&root)
            .unwrap()
            .dotfiles(true)
            .symlinks_outside_root(true),
    );
    assert!(exchange(&open, &get("/.env", ""))
        .await
        .ends_with("SECRET=1"));
    assert!(exchange(&open, &get("/out-link", ""))
        .await
        .ends_with("outside"));
}

/// Of two siblings, the coding the client weights highest is sent; on a tie brotli, which
/// codes smaller (RFC 9110 §12.5.3 leaves ties to the server).
#[tokio::test]
async fn the_sibling_sent_is_the_coding_weighted_highest() {
    let (_d, root) = tree();
    std::fs::write(root.join("app.js.br"), "brotli bytes").unwrap();
    let h = serve(&root);
    for (accept, coding) in [
        ("gzip, deflate, br, zstd", Some("br")),
        ("br;q=0.5, gzip", Some("gzip")),
        ("br;q=0.9, gzip;q=0.8", Some("br")),
        ("br;q=0.2, gzip;q=0", Some("br")),
        ("gzip;q=0.1, *", Some("br")),
        ("*;q=0.3, br;q=0.2", Some("gzip")),
        ("x-gzip;q=0.4, br;q=0.3", Some("gzip")),
        ("br;q=0, gzip;q=0", None),
        ("identity", None),
    ] {
        // HEAD: the same fields as GET, without a body that is not text.
        let head = format!("HEAD /app.js HTTP/1.1\r\nHost: t\r\nAccept-Encoding: {accept}\r\n\r\n");
        let answer = exchange(&h, &head).await;
        assert_eq!(field(&answer, "content-encoding"), coding, "{accept}");
    }
    let br = exchange(&h, &get("/app.js", "Accept-Encoding: gzip, br\r\n")).await;
    assert!(br.ends_with("brotli bytes"), "{br}");
}

#[tokio::test]
async fn precompressed_siblings_for_clients_that_accept_them() {
    let (_d, root) = tree();
    let h = serve(&root);
    let mut c = Conn::connect(h.local_addr()).await;
    c.send(get("/app.js", "Accept-Encoding: br;q=0, gzip\r\n"))
        .await;
    let raw = c.raw_response(false).await;
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert_eq!(&raw[split..], gzip(b"console.log(1)").as_slice());
    let gz = String::from_utf8(raw[..split].to_vec()).unwrap();
    assert_eq!(field(&gz, "content-encoding"), Some("gzip"));
    assert_eq!(field(&gz, "vary"), Some("accept-encoding"));
    assert_eq!(
        field(&gz, "content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(
        field(&gz, "etag"),
        Some(etag_of(&root, "app.js.gz").as_str())
    );
    let plain = exchange(&h, &get("/app.js", "Accept-Encoding: gzip;q=0\r\n")).await;
    assert_eq!(field(&plain, "content-encoding"), None);
    assert_eq!(field(&plain, "vary"), Some("accept-encoding"));
    assert!(plain.ends_with("console.log(1)"));

    let Some(curl) = peer("curl", "--version", &[]) else {
        return;
    };
    let out = tokio::process::Command::new(curl)
        .args(["-sS", "--compressed", "--noproxy", "*", "--max-time", "8"])
        .arg(format!("http://{}/app.js", h.local_addr()))
        .output()
        .await
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "console.log(1)");
}

#[tokio::test]
async fn a_large_file_streams_whole_and_in_ranges_over_http11_and_http2() {
    let Some(curl) = peer("curl", "--version", &[]) else {
        return;
    };
    let (_d, root) = tree();
    let h = serve(&root);
    let want = pattern((1 << 20) + 7);
    for proto in ["--http1.1", "--http2-prior-knowledge"] {
        let out = tokio::time::timeout(
            LIMIT,
            tokio::process::Command::new(&curl)
                .args(["-sS", "--noproxy", "*", "--max-time", "8", proto])
                .arg(format!("http://{}/big.bin", h.local_addr()))
                .output(),
        )
        .await
        .unwrap()
        .unwrap();
        assert!(out.stdout == want, "{proto}: {} bytes", out.stdout.len());
        let out = tokio::process::Command::new(&curl)
            .args([
                "-sS",
                "--noproxy",
                "*",
                "--max-time",
                "8",
                proto,
                "-r",
                "700000-700009",
            ])
            .arg(format!("http://{}/big.bin", h.local_addr()))
            .output()
            .await
            .unwrap();
        assert_eq!(out.stdout, &want[700000..700010], "{proto}");
    }
}

#[tokio::test]
async fn a_client_that_never_reads_a_large_file_is_cut_with_bounded_memory() {
    let (_d, root) = tree();
    // 256 MiB, sparse: nothing like it could be buffered for one connection unnoticed.
    let f = std::fs::File::create(root.join("huge.bin")).unwrap();
    f.set_len(256 << 20).unwrap();
    let server = Server::new().write_timeout(Duration::from_millis(300));
    let h = start(server, FileServer::new(&root).unwrap());
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    sock.connect(&h.local_addr().into()).unwrap();
    sock.set_nonblocking(true).unwrap();
    let stream = tokio::net::TcpStream::from_std(sock.into()).unwrap();
    let mut c = Conn::from_stream(stream);
    c.send(get("/huge.bin", "")).await;
    let started = std::time::Instant::now();
    // Give the server time to fill the buffers and stall (the connection counts as live
    // from its accept), then wait for the write timeout to cut it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    while h.live_connections() > 0 {
        assert!(
            started.elapsed() < LIMIT,
            "a client that never reads was never cut"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // What left the server: socket buffers' worth, read back now.
    let mut got = 0usize;
    let mut buf = vec![0u8; 1 << 16];
    use tokio::io::AsyncReadExt;
    while let Ok(Ok(n)) =
        tokio::time::timeout(Duration::from_secs(2), c.stream.read(&mut buf)).await
    {
        if n == 0 {
            break;
        }
        got += n;
    }
    assert!(
        got < 32 << 20,
        "{got} bytes were sent to a client that read none"
    );
}

#[tokio::test]
async fn a_file_that_shrinks_while_it_is_sent_ends_the_connection() {
    let (_d, root) = tree();
    let path = root.join("shrinking.bin");
    std::fs::write(&path, pattern(4 << 20)).unwrap();
    let h = serve(&root);
    let mut c = Conn::connect(h.local_addr()).await;
    c.send(get("/shrinking.bin", "")).await;
    // The head promises 4 MiB; cut the file to 1 MiB while the body goes out.
    let head = c.read_bytes(100).await;
    assert!(head.starts_with(b"HTTP/1.1 200 OK\r\n"));
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(1 << 20)
        .unwrap();
    let mut total = 100usize;
    let mut buf = vec![0u8; 1 << 16];
    use tokio::io::AsyncReadExt;
    loop {
        match tokio::time::timeout(LIMIT, c.stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => total += n,
            Err(_) => panic!("the connection hung after {total} bytes"),
        }
    }
    assert!(
        total < (4 << 20),
        "a short file cannot complete the promised length"
    );
}

#[tokio::test]
async fn a_file_without_a_known_extension_gets_a_sniffed_type() {
    let (_d, root) = tree();
    let h = serve(&root);
    let r = exchange(&h, &get("/no-extension", "")).await;
    assert_eq!(
        field(&r, "content-type"),
        Some("text/html; charset=utf-8"),
        "{r}"
    );
    assert!(r.ends_with("<!DOCTYPE html><p>hi"));
}

#[tokio::test]
async fn a_304_over_http2_carries_no_length() {
    let (_d, root) = tree();
    let h = serve(&root);
    let client = nethttp::Client::builder()
        .transport(|t| t.http2_prior_knowledge(true))
        .build()
        .unwrap();
    let url = format!("http://{}/hello.txt", h.local_addr());
    let first = client.get(&url).send().await.unwrap();
    assert_eq!(first.version(), nethttp::http::Version::HTTP_2);
    let tag = first.headers()["etag"].clone();
    let again = client
        .get(&url)
        .header("if-none-match", tag.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    assert_eq!(again.headers().get("etag"), Some(&tag));
    // RFC 9110 §8.6: a 304 may carry only the length a 200 would have; an empty body says
    // nothing of it, so none is sent.
    assert_eq!(again.headers().get("content-length"), None);
}
