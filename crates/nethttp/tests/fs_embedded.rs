//! `nethttp::fs::EmbeddedFiles` on the wire: compiled-in bytes answered with exact heads
//! (`ETag` from the content, the set's `Last-Modified`, `304`, `206`); the same directory
//! served by `FileServer` and read into `EmbeddedFiles` gives the same answers to a table of
//! requests (files, ranges, conditionals, redirects, index pages, listings, dotfiles, escapes,
//! precompressed siblings); curl over HTTP/1.1 and h2c decodes a precompressed sibling and
//! takes a range of a large file. Go's own FileServer is the peer in `fs_go_parity`.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, UNIX_EPOCH};

use common::curl::{curl, run};
use common::peers::peer;
use common::wire::{normalize, start, Conn, DATE};
use nethttp::fs::{EmbeddedFiles, FileServer};
use nethttp::Server;

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

#[tokio::test]
async fn compiled_in_bytes_are_answered_with_exact_heads() {
    static HELLO: &[u8] = b"hello, world\n";
    let built = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let files = EmbeddedFiles::new()
        .with("/hello.txt", HELLO)
        .with("js/app.js", "let x = 1;\n")
        .modified(built);
    let h = start(Server::new(), files);
    let mut c = Conn::connect(h.local_addr()).await;

    c.send("GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n").await;
    // 13 bytes; FNV-1a 64 of `hello, world\n` (as Python computes it from the published
    // algorithm).
    let etag = "\"d-e60e7ee648829675\"";
    assert_eq!(
        c.response().await,
        format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain; charset=utf-8\r\n\
             last-modified: Tue, 14 Nov 2023 22:13:20 GMT\r\netag: {etag}\r\n\
             vary: accept-encoding\r\naccept-ranges: bytes\r\ncontent-length: 13\r\n{DATE}\
             keep-alive: timeout=60\r\n\r\nhello, world\n"
        )
    );
    c.send(format!(
        "GET /hello.txt HTTP/1.1\r\nHost: x\r\nIf-None-Match: {etag}\r\n\r\n"
    ))
    .await;
    assert_eq!(
        c.response().await,
        format!(
            "HTTP/1.1 304 Not Modified\r\netag: {etag}\r\nvary: accept-encoding\r\n{DATE}\
             keep-alive: timeout=60\r\n\r\n"
        )
    );
    c.send("GET /hello.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=7-11\r\n\r\n")
        .await;
    let got = c.response().await;
    assert!(got.starts_with("HTTP/1.1 206 Partial Content\r\n"), "{got}");
    assert!(got.contains("content-range: bytes 7-11/13\r\n"), "{got}");
    assert!(got.ends_with("\r\n\r\nworld"), "{got}");
    c.send(
        "GET /js/app.js HTTP/1.1\r\nHost: x\r\n\
         If-Modified-Since: Tue, 14 Nov 2023 22:13:20 GMT\r\n\r\n",
    )
    .await;
    assert!(c
        .response()
        .await
        .starts_with("HTTP/1.1 304 Not Modified\r\n"));
    c.send("POST /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        .await;
    let got = c.response().await;
    assert!(
        got.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"),
        "{got}"
    );
    assert!(got.contains("allow: GET, HEAD\r\n"), "{got}");
}

/// A directory with what the table asks for; no symbolic links (`from_dir` does not follow
/// them, `FileServer` confines them: `fs.rs` tests those).
fn tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("page")).unwrap();
    std::fs::create_dir_all(root.join("list/sub")).unwrap();
    std::fs::write(root.join("hello.txt"), "hello, world\n").unwrap();
    std::fs::write(root.join("big.bin"), pattern((1 << 20) + 7)).unwrap();
    std::fs::write(root.join("page/index.html"), "<h1>index</h1>").unwrap();
    std::fs::write(root.join("list/<script>&.txt"), "x").unwrap();
    std::fs::write(root.join("list/b b.txt"), "yy").unwrap();
    std::fs::write(root.join("list/sub/deep.txt"), "deep").unwrap();
    std::fs::write(root.join("list/.hidden"), "h").unwrap();
    std::fs::write(root.join("app.js"), "console.log(1)").unwrap();
    std::fs::write(root.join("app.js.gz"), gzip(b"console.log(1)")).unwrap();
    std::fs::write(root.join("app.js.br"), "brotli bytes").unwrap();
    std::fs::write(root.join(".env"), "SECRET=1").unwrap();
    std::fs::write(root.join("no-extension"), "<!DOCTYPE html><p>hi").unwrap();
    dir
}

/// One answer, as compared: status, the fields that carry meaning, the body.
#[derive(Debug, PartialEq)]
struct Answer {
    status: String,
    fields: Vec<String>,
    body: Vec<u8>,
}

const COMPARED: [&str; 9] = [
    "content-type",
    "content-length",
    "content-range",
    "content-encoding",
    "accept-ranges",
    "location",
    "last-modified",
    "vary",
    "allow",
];

/// Sends `method target` with `extra` fields (`{etag}`: the server's own tag for the file,
/// asked first) and reads the answer.
async fn ask(addr: SocketAddr, method: &str, target: &str, extra: &str) -> (Answer, String) {
    let mut c = Conn::connect(addr).await;
    let etag = if extra.contains("{etag}") {
        c.send(format!("HEAD {target} HTTP/1.1\r\nHost: x\r\n\r\n"))
            .await;
        let head = normalize(&c.raw_response(true).await);
        let line = head.lines().find(|l| l.starts_with("etag: ")).unwrap();
        line["etag: ".len()..].to_owned()
    } else {
        String::new()
    };
    let extra = extra.replace("{etag}", &etag);
    c.send(format!(
        "{method} {target} HTTP/1.1\r\nHost: x\r\n{extra}\r\n"
    ))
    .await;
    let raw = c.raw_response(method == "HEAD").await;
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let head = String::from_utf8(raw[..end].to_vec()).unwrap();
    let mut lines = head.lines();
    let status = lines.next().unwrap().to_owned();
    let fields = lines
        .filter(|l| COMPARED.iter().any(|f| l.starts_with(&format!("{f}: "))))
        .map(str::to_owned)
        .collect();
    let mut answer = Answer {
        status,
        fields,
        body: raw[end..].to_vec(),
    };
    // A multipart answer's boundary is random: the same placeholder in both.
    let boundary = answer
        .fields
        .iter()
        .find_map(|f| f.split_once("boundary=").map(|(_, b)| b.to_owned()));
    if let Some(b) = boundary {
        for f in &mut answer.fields {
            *f = f.replace(&b, "<B>");
        }
        let body = String::from_utf8_lossy(&answer.body).replace(&b, "<B>");
        answer.body = body.into_bytes();
    }
    (answer, etag)
}

#[tokio::test]
async fn a_directory_read_in_answers_as_the_file_server_over_it() {
    let dir = tree();
    let on_disk = start(Server::new(), FileServer::new(dir.path()).unwrap());
    let files = EmbeddedFiles::from_dir(dir.path()).unwrap();
    assert_eq!(files.len(), 12);
    assert_eq!(
        files.total_bytes(),
        (1 << 20) + 7 + 13 + 14 + 1 + 2 + 4 + 1 + 14 + 34 + 12 + 8 + 20
    );
    let in_memory = start(Server::new(), files);
    let cases: &[(&str, &str, &str)] = &[
        ("GET", "/hello.txt", ""),
        ("HEAD", "/hello.txt", ""),
        ("GET", "/big.bin", "Range: bytes=1048570-\r\n"),
        ("GET", "/big.bin", "Range: bytes=0-1,5-6\r\n"),
        ("GET", "/big.bin", "Range: bytes=2000000-\r\n"),
        ("GET", "/hello.txt", "If-None-Match: {etag}\r\n"),
        ("GET", "/hello.txt", "If-Match: \"nope\"\r\n"),
        (
            "GET",
            "/hello.txt",
            "If-Range: {etag}\r\nRange: bytes=0-4\r\n",
        ),
        (
            "GET",
            "/hello.txt",
            "If-Range: \"old\"\r\nRange: bytes=0-4\r\n",
        ),
        ("GET", "/page", ""),
        ("GET", "/page?x=1", ""),
        ("GET", "/page/", ""),
        ("GET", "/page/index.html", ""),
        ("GET", "/hello.txt/", ""),
        ("GET", "/", ""),
        ("GET", "/list/", ""),
        ("GET", "/list/sub", ""),
        ("GET", "/list/%3Cscript%3E%26.txt", ""),
        ("GET", "/list/b%20b.txt", ""),
        ("GET", "/list/.hidden", ""),
        ("GET", "/.env", ""),
        ("GET", "/missing", ""),
        ("GET", "/../etc/passwd", ""),
        ("GET", "/list/%2e%2e/hello.txt", ""),
        ("GET", "/list%2Fsub/deep.txt", ""),
        ("GET", "/app.js", "Accept-Encoding: gzip, br\r\n"),
        ("GET", "/app.js", "Accept-Encoding: gzip;q=0\r\n"),
        ("GET", "/app.js", "Accept-Encoding: br;q=0.5, gzip\r\n"),
        ("GET", "/app.js", "Accept-Encoding: gzip;q=0.1, *\r\n"),
        ("GET", "/app.js", ""),
        ("GET", "/no-extension", ""),
        ("DELETE", "/hello.txt", ""),
    ];
    for (method, target, extra) in cases {
        let (disk, disk_etag) = ask(on_disk.local_addr(), method, target, extra).await;
        let (memory, memory_etag) = ask(in_memory.local_addr(), method, target, extra).await;
        if ["/", "/list/"].contains(target) {
            // A listing: the same names and sizes; a directory's row has its time on disk,
            // none in memory.
            assert_eq!(disk.status, memory.status, "{method} {target}");
            let rows = |a: &Answer| -> Vec<String> {
                String::from_utf8_lossy(&a.body)
                    .lines()
                    .filter(|l| l.starts_with("<tr><td>"))
                    .map(|l| l.split("</td><td>").take(2).collect::<Vec<_>>().join("|"))
                    .collect()
            };
            assert_eq!(rows(&disk), rows(&memory), "{method} {target}");
            assert!(!rows(&memory).is_empty());
            continue;
        }
        assert_eq!(disk, memory, "{method} {target} {extra:?}");
        if extra.contains("{etag}") {
            // Each has its own tag; the in-memory one is the content's.
            assert!(memory_etag.starts_with("\"d-"), "{memory_etag}");
            assert_ne!(disk_etag, memory_etag);
        }
    }
}

#[tokio::test]
async fn curl_decodes_a_precompressed_sibling_and_takes_ranges_over_both_protocols() {
    let Some(curl_bin) = peer("curl", "--version", &[]) else {
        return;
    };
    let big = pattern(3 << 20);
    let files = EmbeddedFiles::new()
        .with("app.js", "console.log('plain')\n")
        .with("app.js.gz", gzip(b"console.log('plain')\n"))
        .with("big.bin", big.clone());
    let h = start(Server::new(), files);
    let base = format!("http://{}", h.local_addr());
    for proto in ["--http1.1", "--http2-prior-knowledge"] {
        let mut cmd = curl(&curl_bin);
        cmd.args([proto, "--compressed", "-D", "-", &format!("{base}/app.js")]);
        let out = run(cmd, "curl --compressed").await;
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(
            text.to_ascii_lowercase().contains("content-encoding: gzip"),
            "{text}"
        );
        assert!(text.ends_with("\r\n\r\nconsole.log('plain')\n"), "{text}");

        let mut cmd = curl(&curl_bin);
        cmd.args([proto, "-r", "1000000-1000009", &format!("{base}/big.bin")]);
        let out = run(cmd, "curl -r").await;
        assert_eq!(out.stdout, &big[1_000_000..1_000_010]);

        let mut cmd = curl(&curl_bin);
        cmd.args([proto, &format!("{base}/big.bin")]);
        let out = run(cmd, "curl big.bin").await;
        assert!(out.stdout == big, "{} bytes back", out.stdout.len());
    }
}
