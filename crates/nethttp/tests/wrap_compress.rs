//! `wrap::compress` on the wire: curl (`--compressed`, HTTP/1.1 and h2c) and Python's
//! `requests` decode what they get back to the exact bytes, for a body in memory, a stream
//! and a 3 MiB file; the exact head of a coded answer over raw TCP; a stream's pieces arrive
//! as they are made; `Vary` on coded and uncoded answers alike; what is never coded (ranges,
//! `304`, precompressed files, images, small bodies, `no-transform`, clients that refuse
//! gzip); a weak `ETag` still answers `If-None-Match`; `HEAD` gets `GET`'s fields; past
//! `max_streams`, streams go uncoded.

mod common;

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use common::curl::{curl, run};
use common::peers::peer;
use common::wire::{normalize, start, Conn};
use nethttp::fs::FileServer;
use nethttp::http::{header, StatusCode};
use nethttp::wrap::compress;
use nethttp::{text_response, Body, HttpRequest, HttpResponse, ServeMux, Server, ServerHandle};

/// 20 KB of text that compresses well.
fn text() -> String {
    (0..400)
        .map(|i| format!("line {i:04}: the quick brown fox\n"))
        .collect()
}

fn gunzip(coded: &[u8]) -> Vec<u8> {
    let mut d = flate2::write::GzDecoder::new(Vec::new());
    d.write_all(coded).unwrap();
    d.finish().unwrap()
}

fn app(dir: &Path) -> ServeMux {
    ServeMux::new()
        .route("GET /text", |_req: HttpRequest| async {
            text_response(StatusCode::OK, text())
        })
        .route("GET /small", |_req: HttpRequest| async {
            text_response(StatusCode::OK, "short\n")
        })
        .route("GET /stream", |_req: HttpRequest| async {
            let (tx, body) = Body::channel(4);
            tokio::spawn(async move {
                for _ in 0..3 {
                    let _ = tx.send_data(text()).await;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            });
            let mut resp = HttpResponse::new(body);
            resp.headers_mut()
                .insert(header::CONTENT_TYPE, "text/plain".parse().unwrap());
            resp
        })
        .route("GET /png", |_req: HttpRequest| async {
            let mut resp = text_response(StatusCode::OK, text());
            resp.headers_mut()
                .insert(header::CONTENT_TYPE, "image/png".parse().unwrap());
            resp
        })
        .route("GET /no-transform", |_req: HttpRequest| async {
            let mut resp = text_response(StatusCode::OK, text());
            resp.headers_mut().insert(
                header::CACHE_CONTROL,
                "public, no-transform".parse().unwrap(),
            );
            resp
        })
        .route("GET /missing-page", |_req: HttpRequest| async {
            text_response(StatusCode::NOT_FOUND, text())
        })
        .route(
            "GET /files/",
            nethttp::wrap::strip_prefix("/files", FileServer::new(dir).unwrap()),
        )
}

struct Served {
    _tmp: tempfile::TempDir,
    big: Vec<u8>,
    h: ServerHandle,
}

fn served() -> Served {
    let tmp = tempfile::tempdir().unwrap();
    let big: Vec<u8> = text().repeat(160).into_bytes();
    std::fs::write(tmp.path().join("big.txt"), &big).unwrap();
    std::fs::write(tmp.path().join("app.js"), text()).unwrap();
    std::fs::write(
        tmp.path().join("app.js.gz"),
        nethttp_gzip(text().as_bytes()),
    )
    .unwrap();
    let h = start(Server::new(), compress(app(tmp.path())));
    Served { _tmp: tmp, big, h }
}

fn nethttp_gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[tokio::test]
async fn curl_decodes_every_coded_answer_to_the_exact_bytes() {
    let Some(curl_bin) = peer("curl", "--version", &[]) else {
        return;
    };
    let s = served();
    let tmp = tempfile::tempdir().unwrap();
    let stream: String = text().repeat(3);
    for proto in ["--http1.1", "--http2-prior-knowledge"] {
        for (target, want) in [
            ("/text", text().into_bytes()),
            ("/stream", stream.clone().into_bytes()),
            ("/files/big.txt", s.big.clone()),
        ] {
            let out = tmp.path().join("out");
            let head = tmp.path().join("head");
            let mut cmd = curl(&curl_bin);
            cmd.args([proto, "--compressed", "-o"])
                .arg(&out)
                .arg("-D")
                .arg(&head)
                .arg(format!("http://{}{target}", s.h.local_addr()));
            run(cmd, "curl").await;
            let head = std::fs::read_to_string(&head).unwrap().to_ascii_lowercase();
            assert!(
                head.contains("content-encoding: gzip"),
                "{proto} {target}: {head}"
            );
            assert!(
                head.contains("vary: accept-encoding"),
                "{proto} {target}: {head}"
            );
            assert!(!head.contains("accept-ranges"), "{proto} {target}: {head}");
            let got = std::fs::read(&out).unwrap();
            assert!(
                got == want,
                "{proto} {target}: {} of {} bytes",
                got.len(),
                want.len()
            );
        }
    }
}

#[tokio::test]
async fn a_coded_answer_in_memory_has_its_coded_length() {
    let s = served();
    let mut c = Conn::connect(s.h.local_addr()).await;
    c.send("GET /text HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n")
        .await;
    let raw = c.raw_response(false).await;
    let at = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let body = &raw[at..];
    let head = normalize(&raw[..at]);
    assert_eq!(
        head,
        format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain; charset=utf-8\r\n\
             vary: accept-encoding\r\ncontent-encoding: gzip\r\ncontent-length: {}\r\n\
             date: <DATE>\r\nkeep-alive: timeout=60\r\n\r\n",
            body.len()
        )
    );
    assert_eq!(gunzip(body), text().into_bytes());
    assert!(body.len() < 2000, "{} bytes", body.len());
}

#[tokio::test]
async fn what_is_never_coded_and_vary_wherever_it_could_have_been() {
    let s = served();
    let addr = s.h.local_addr();
    // (request, coded, vary)
    let cases: [(&str, bool, bool); 11] = [
        ("GET /text HTTP/1.1\r\nHost: x\r\n\r\n", false, true),
        ("GET /text HTTP/1.1\r\nHost: x\r\nAccept-Encoding: br, gzip;q=0\r\n\r\n", false, true),
        ("GET /text HTTP/1.1\r\nHost: x\r\nAccept-Encoding: *;q=0.5\r\n\r\n", true, true),
        // Too short to code for anyone: no `Vary` either.
        ("GET /small HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n", false, false),
        ("GET /png HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n", false, false),
        ("GET /no-transform HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n", false, false),
        ("GET /missing-page HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n", true, true),
        // A range is of the uncoded bytes: answered as it is (the file server says `Vary`
        // for its precompressed siblings).
        (
            "GET /files/big.txt HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nRange: bytes=0-99\r\n\r\n",
            false,
            true,
        ),
        // A precompressed sibling is sent as the file server chose it, not coded twice.
        ("GET /files/app.js HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n", false, true),
        ("GET /files/app.js HTTP/1.1\r\nHost: x\r\n\r\n", false, true),
        ("GET /files/big.txt HTTP/1.1\r\nHost: x\r\nAccept-Encoding: x-gzip\r\n\r\n", true, true),
    ];
    for (req, coded, vary) in cases {
        let mut c = Conn::connect(addr).await;
        c.send(req).await;
        let raw = c.raw_response(false).await;
        let at = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let head = String::from_utf8_lossy(&raw[..at]).to_ascii_lowercase();
        let gzip_by_us = head.contains("content-encoding: gzip") && !req.contains("app.js");
        assert_eq!(gzip_by_us, coded, "{req}{head}");
        assert_eq!(head.contains("vary: accept-encoding"), vary, "{req}{head}");
        if req.contains("app.js") && req.contains("gzip") {
            // The file server's own choice: the .gz sibling, exactly.
            assert!(head.contains("content-encoding: gzip"), "{head}");
            assert_eq!(gunzip(&raw[at..]), text().into_bytes());
        }
        if req.contains("Range") {
            assert!(head.starts_with("http/1.1 206 "), "{head}");
            assert_eq!(raw.len() - at, 100);
        }
    }
}

#[tokio::test]
async fn a_weak_tag_still_answers_if_none_match_and_head_gets_gets_fields() {
    let s = served();
    let addr = s.h.local_addr();
    let mut c = Conn::connect(addr).await;
    c.send("GET /files/big.txt HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n")
        .await;
    let raw = c.raw_response(false).await;
    let head =
        String::from_utf8_lossy(&raw[..raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap()])
            .to_string();
    let etag = head
        .lines()
        .find_map(|l| l.strip_prefix("etag: "))
        .expect("an etag")
        .to_owned();
    assert!(etag.starts_with("W/\""), "{etag}");
    assert!(head.contains("transfer-encoding: chunked"), "{head}");

    c.send(format!(
        "GET /files/big.txt HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nIf-None-Match: {etag}\r\n\r\n"
    ))
    .await;
    let again = c.head_response().await;
    assert!(again.starts_with("HTTP/1.1 304 "), "{again}");
    assert!(again.contains(&format!("etag: {etag}")), "{again}");

    c.send("HEAD /files/big.txt HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n")
        .await;
    let head_only = c.head_response().await;
    assert!(head_only.contains("content-encoding: gzip"), "{head_only}");
    assert!(head_only.contains(&format!("etag: {etag}")), "{head_only}");
    assert!(!head_only.contains("content-length"), "{head_only}");
}

/// Each piece of a stream is flushed as it is coded: the client decodes the first before the
/// handler makes the second.
#[tokio::test]
async fn a_streams_pieces_arrive_as_they_are_made() {
    let (next_tx, next_rx) = tokio::sync::mpsc::channel::<()>(1);
    let next_rx = std::sync::Arc::new(tokio::sync::Mutex::new(Some(next_rx)));
    let app = compress(move |_req: HttpRequest| {
        let next_rx = next_rx.clone();
        async move {
            let (tx, body) = Body::channel(1);
            tokio::spawn(async move {
                let mut rx = next_rx.lock().await.take().unwrap();
                let _ = tx.send_data("first piece\n").await;
                rx.recv().await;
                let _ = tx.send_data("second piece\n").await;
            });
            let mut resp = HttpResponse::new(body);
            resp.headers_mut()
                .insert(header::CONTENT_TYPE, "text/plain".parse().unwrap());
            resp
        }
    });
    let h = start(Server::new(), app);
    let mut c = Conn::connect(h.local_addr()).await;
    c.send("GET / HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n")
        .await;
    let mut got = Vec::new();
    // Chunked framing aside, the coded bytes so far decode to the first piece.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        got.extend(c.read_bytes(1).await);
        let text = String::from_utf8_lossy(&got).to_string();
        if let Some(at) = text.find("\r\n\r\n") {
            let coded = dechunk(&got[at + 4..]);
            let mut decoder = flate2::write::GzDecoder::new(Vec::new());
            let _ = decoder.write_all(&coded);
            let _ = decoder.flush();
            if decoder.get_ref().as_slice() == b"first piece\n" {
                break;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the first piece never decoded"
        );
    }
    next_tx.send(()).await.unwrap();
    let rest = c.read_to_eof().await;
    got.extend(rest);
    let at = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert_eq!(gunzip(&dechunk(&got[at..])), b"first piece\nsecond piece\n");
}

/// The data of complete chunks in `body` (a chunked body as far as it came).
fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = body.windows(2).position(|w| w == b"\r\n") {
        let Ok(n) = usize::from_str_radix(std::str::from_utf8(&body[..eol]).unwrap_or("x"), 16)
        else {
            break;
        };
        if n == 0 || body.len() < eol + 2 + n + 2 {
            break;
        }
        out.extend_from_slice(&body[eol + 2..eol + 2 + n]);
        body = &body[eol + 2 + n + 2..];
    }
    out
}

/// Past `max_streams` coded at once, streams go uncoded (with `Vary` still); a stream that
/// ends gives its place back.
#[tokio::test]
async fn past_max_streams_streams_go_uncoded_until_one_ends() {
    let app = compress(|_req: HttpRequest| async {
        let (tx, body) = Body::channel(1);
        tokio::spawn(async move {
            // A piece every 100 ms until the client goes, 30 s at most.
            for _ in 0..300 {
                if tx.send_data(text()).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        let mut resp = HttpResponse::new(body);
        resp.headers_mut()
            .insert(header::CONTENT_TYPE, "text/plain".parse().unwrap());
        resp
    })
    .max_streams(2);
    let h = start(Server::new(), app);
    let open = |addr| async move {
        let mut c = Conn::connect(addr).await;
        c.send("GET / HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n")
            .await;
        let head = c.head_response().await;
        (c, head)
    };
    let (first, a) = open(h.local_addr()).await;
    let (_second, b) = open(h.local_addr()).await;
    let (_third, c) = open(h.local_addr()).await;
    assert!(a.contains("content-encoding: gzip"), "{a}");
    assert!(b.contains("content-encoding: gzip"), "{b}");
    assert!(!c.contains("content-encoding"), "{c}");
    assert!(c.contains("vary: accept-encoding"), "{c}");
    drop(first);
    // The server drops the first stream once it sees its client gone.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_conn, d) = open(h.local_addr()).await;
        if d.contains("content-encoding: gzip") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the place was never given back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Python's `requests` (urllib3) decodes what it gets back to the exact bytes, and sees the
/// coding: another client than curl, with its own gzip reader.
#[tokio::test]
async fn python_requests_decodes_every_coded_answer() {
    let Some(py) = common::peers::python_with(&["requests"]) else {
        return;
    };
    let s = served();
    let out_dir = tempfile::tempdir().unwrap();
    let script = r#"
import os, sys, requests
base, out = sys.argv[1], sys.argv[2]
for i, path in enumerate(["/text", "/stream", "/files/big.txt"]):
    r = requests.get(base + path, timeout=10)
    print(path, r.status_code, r.headers.get("content-encoding"))
    with open(os.path.join(out, str(i)), "wb") as f:
        f.write(r.content)
"#;
    let mut cmd = tokio::process::Command::new(py);
    cmd.arg("-c")
        .arg(script)
        .arg(format!("http://{}", s.h.local_addr()))
        .arg(out_dir.path());
    let out = run(cmd, "python3 requests").await;
    let got = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        got.lines().collect::<Vec<_>>(),
        [
            "/text 200 gzip",
            "/stream 200 gzip",
            "/files/big.txt 200 gzip"
        ]
    );
    for (i, want) in [
        text().into_bytes(),
        text().repeat(3).into_bytes(),
        s.big.clone(),
    ]
    .iter()
    .enumerate()
    {
        let body = std::fs::read(out_dir.path().join(i.to_string())).unwrap();
        assert!(
            &body == want,
            "answer {i}: {} of {} bytes",
            body.len(),
            want.len()
        );
    }
}
