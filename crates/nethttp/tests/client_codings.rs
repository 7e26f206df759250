//! Every response coding the client decodes (gzip, br, zstd, deflate zlib-wrapped and raw),
//! against a Python server that encodes with Python's own gzip, zlib, brotli and zstandard
//! (tests/peers/codings.py): each decoded whatever its framing (Content-Length or chunked) on
//! one kept-alive connection, stacked codings decoded last applied first, an unknown coding
//! passed through as sent, a caller's own Accept-Encoding left alone; a bomb in each coding
//! stopped at `max_decompressed_bytes` with the typed error, within bounded memory (a counting
//! allocator) and time; truncated and garbage bodies failing as decompress errors, never as a
//! silent short body. Over HTTP/2, a br and a zstd answer from our own server.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use nethttp::client::{DecodedCodings, Decompressed, ACCEPT_ENCODING};
use nethttp::http::header::{CONTENT_ENCODING, CONTENT_LENGTH};
use nethttp::http::{Response, StatusCode};
use nethttp::{Body, Client, ErrorKind, HttpRequest};
use tokio::io::AsyncBufReadExt;

// ---------------------------------------------------------------------------------------------
// Memory: live and peak heap bytes of the current thread.

struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn grow(by: isize) {
    let _ = LIVE.try_with(|live| {
        live.set(live.get() + by);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(live.get())));
    });
}

// SAFETY: defers to the system allocator; only counts bytes on the current thread.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grow(layout.size() as isize);
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        grow(layout.size() as isize);
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        grow(-(layout.size() as isize));
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        grow(new_size as isize - layout.size() as isize);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Starts measuring this thread's peak heap from what it holds now; returns that.
fn peak_from_here() -> isize {
    let live = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(live));
    live
}

/// Bytes this thread's heap grew by at its peak since `base`.
fn peak_since(base: isize) -> isize {
    PEAK.with(Cell::get) - base
}

// ---------------------------------------------------------------------------------------------
// The Python peer.

/// tests/peers/codings.py, killed when dropped.
struct Peer {
    _child: tokio::process::Child,
    port: u16,
}

impl Peer {
    /// Starts the peer if python3 can import brotli and zstandard; by the CI rule, missing
    /// under `CI=true` fails, elsewhere `None` and a note.
    async fn start() -> Option<Peer> {
        let py = common::peers::python_with(&["brotli", "zstandard"])?;
        Some(Peer::spawn(&py).await)
    }

    async fn spawn(py: &Path) -> Peer {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/codings.py");
        let mut child = tokio::process::Command::new(py)
            .arg("-u")
            .arg(script)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn codings.py");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let line = within("codings.py to listen", lines.next_line())
            .await
            .expect("read codings.py's stdout")
            .expect("codings.py exited before listening");
        let port = line
            .strip_prefix("listening ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("codings.py said {line:?}"));
        Peer {
            _child: child,
            port,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

/// Bound on a whole test step: a bomb or a stuck decoder fails the test instead of hanging.
const STEP: Duration = Duration::from_secs(60);

async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(STEP, f)
        .await
        .unwrap_or_else(|_| panic!("{what}: no result within {STEP:?}"))
}

/// codings.py's TEXT.
fn text() -> Vec<u8> {
    (0..20000)
        .flat_map(|i| format!("{i} the quick brown fox jumps over the lazy dog\n").into_bytes())
        .collect()
}

/// The codings the peer speaks and the client decodes, as the peer's paths name them.
const CODINGS: [&str; 6] = ["gzip", "x-gzip", "br", "zstd", "deflate", "raw-deflate"];

async fn get(c: &Client, url: &str) -> Response<Body> {
    within(url, c.get(url).send())
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
}

async fn read_all(res: Response<Body>, what: &str) -> Result<Bytes, nethttp::Error> {
    within(what, res.into_body().to_bytes(16 << 20)).await
}

// ---------------------------------------------------------------------------------------------

#[test]
fn the_tests_build_the_library_with_every_coding() {
    assert_eq!(ACCEPT_ENCODING, "gzip, br, zstd, deflate");
}

#[tokio::test]
async fn every_coding_is_decoded_with_either_framing_on_one_connection() {
    let Some(peer) = Peer::start().await else {
        return;
    };
    let c = Client::new();
    let text = text();
    for coding in CODINGS {
        for framing in ["text", "chunked"] {
            let url = peer.url(&format!("/{coding}/{framing}"));
            let res = get(&c, &url).await;
            assert_eq!(res.status(), StatusCode::OK, "{url}");
            assert_eq!(res.headers()["x-accept-encoding"], ACCEPT_ENCODING, "{url}");
            assert!(res.headers().get(CONTENT_ENCODING).is_none(), "{url}");
            assert!(res.headers().get(CONTENT_LENGTH).is_none(), "{url}");
            assert_eq!(res.headers()["content-type"], "text/plain");
            assert_eq!(res.extensions().get::<Decompressed>(), Some(&Decompressed));
            let names: Vec<&str> = res
                .extensions()
                .get::<DecodedCodings>()
                .unwrap()
                .names()
                .collect();
            let want = match coding {
                "x-gzip" => "gzip",
                "raw-deflate" => "deflate",
                c => c,
            };
            assert_eq!(names, [want], "{url}");
            let body = read_all(res, &url).await.unwrap();
            assert!(body == text, "{url}: {} bytes, not the text", body.len());
        }
    }
    let stats = c.pool_stats();
    assert_eq!((stats.dials, stats.reuses), (1, 11), "{stats:?}");
}

#[tokio::test]
async fn stacked_codings_are_decoded_last_applied_first() {
    let Some(peer) = Peer::start().await else {
        return;
    };
    let res = get(&Client::new(), &peer.url("/gzip+br/text")).await;
    let codings = res.extensions().get::<DecodedCodings>().unwrap();
    assert_eq!(codings.to_string(), "gzip, br");
    assert!(res.headers().get(CONTENT_ENCODING).is_none());
    assert!(read_all(res, "gzip, br").await.unwrap() == text());
}

#[tokio::test]
async fn an_unknown_coding_passes_through_as_sent_with_its_header() {
    let Some(peer) = Peer::start().await else {
        return;
    };
    let res = get(&Client::new(), &peer.url("/compress/text")).await;
    assert_eq!(res.headers()[CONTENT_ENCODING], "compress");
    assert_eq!(res.headers()[CONTENT_LENGTH], text().len().to_string());
    assert!(res.extensions().get::<Decompressed>().is_none());
    assert!(res.extensions().get::<DecodedCodings>().is_none());
    assert!(read_all(res, "compress").await.unwrap() == text());
}

#[tokio::test]
async fn a_caller_with_its_own_accept_encoding_gets_the_bytes_as_sent() {
    let Some(peer) = Peer::start().await else {
        return;
    };
    let c = Client::new();
    for coding in ["br", "zstd", "deflate"] {
        let url = peer.url(&format!("/{coding}/text"));
        let req = c.get(&url).header("accept-encoding", coding);
        let res = within(&url, req.send()).await.unwrap();
        assert_eq!(res.headers()["x-accept-encoding"], coding);
        assert_eq!(res.headers()[CONTENT_ENCODING], coding);
        let len: usize = res.headers()[CONTENT_LENGTH]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(res.extensions().get::<Decompressed>().is_none());
        let body = read_all(res, &url).await.unwrap();
        assert_eq!(body.len(), len, "{url}");
        assert!(
            body.len() < text().len() / 2,
            "{url}: not the compressed bytes"
        );
    }
}

#[tokio::test]
async fn truncated_and_garbage_bodies_are_decompress_errors() {
    let Some(peer) = Peer::start().await else {
        return;
    };
    let c = Client::new();
    for coding in CODINGS {
        for what in ["truncated", "garbage"] {
            let url = peer.url(&format!("/{coding}/{what}"));
            let res = get(&c, &url).await;
            let err = read_all(res, &url)
                .await
                .expect_err("a damaged body read to a clean end");
            assert_eq!(err.kind(), ErrorKind::Decompress, "{url}: {err}");
        }
    }
}

/// A bomb in each coding (1 GiB of zeros in br and zstd, 128 MiB in gzip and deflate, a few
/// KB to 130 KB on the wire) against a client capped at 8 MiB: the typed error, no more than
/// 8 MiB handed out, and the client's heap never more than the coding's window above where
/// it started (br's largest is 16 MiB), however far the bomb would go.
#[tokio::test]
async fn a_bomb_in_any_coding_stops_at_the_limit_in_bounded_memory() {
    const MAX: u64 = 8 << 20;
    let Some(peer) = Peer::start().await else {
        return;
    };
    let c = common::script::client_with(|t| t.max_decompressed_bytes(Some(MAX)));
    for coding in CODINGS {
        let url = peer.url(&format!("/{coding}/bomb"));
        let base = peak_from_here();
        let mut body = get(&c, &url).await.into_body();
        let mut out = 0u64;
        let err = within(&url, async {
            loop {
                match body.frame().await {
                    Some(Ok(f)) => out += f.into_data().map_or(0, |d| d.len() as u64),
                    Some(Err(e)) => break e,
                    None => panic!("{url}: the whole bomb came out"),
                }
            }
        })
        .await;
        drop(body);
        let peak = peak_since(base);
        eprintln!(
            "{coding} bomb: {out} bytes out, heap peak +{} KiB",
            peak / 1024
        );
        assert_eq!(err.kind(), ErrorKind::DecompressedTooLarge, "{url}: {err}");
        assert!(err.is_decompressed_too_large() && err.is_body_too_large());
        assert!(
            out <= MAX && out > MAX - 64 * 1024,
            "{url}: {out} bytes out"
        );
        assert!(peak < 20 << 20, "{url}: the heap grew by {peak} bytes");
    }
}

/// Over HTTP/2 (h2c), from our own server: a br and a zstd answer decoded the same way.
#[tokio::test]
async fn http2_answers_are_decoded_too() {
    use std::io::Write;
    let text = Bytes::from(text());
    let mut br = Vec::new();
    {
        let mut w = brotli::CompressorWriter::new(&mut br, 4096, 5, 22);
        w.write_all(&text).unwrap();
    }
    let zstd =
        ruzstd::encoding::compress_to_vec(&text[..], ruzstd::encoding::CompressionLevel::Fastest);
    let (br, zstd) = (Bytes::from(br), Bytes::from(zstd));
    let server = nethttp::test::TestServer::start(move |req: HttpRequest| {
        let (br, zstd) = (br.clone(), zstd.clone());
        async move {
            let asked = req.headers().get("accept-encoding").cloned();
            let (coding, body) = if req.uri().path() == "/br" {
                ("br", br)
            } else {
                ("zstd", zstd)
            };
            let mut res = Response::new(Body::from(body));
            res.headers_mut()
                .insert(CONTENT_ENCODING, coding.parse().unwrap());
            if let Some(asked) = asked {
                res.headers_mut().insert("x-accept-encoding", asked);
            }
            res
        }
    })
    .await;
    let c = server
        .client_builder()
        .transport(|t| t.http2_prior_knowledge(true))
        .build()
        .unwrap();
    for path in ["/br", "/zstd"] {
        let res = get(&c, &server.url(path)).await;
        assert_eq!(res.version(), nethttp::http::Version::HTTP_2);
        assert_eq!(res.headers()["x-accept-encoding"], ACCEPT_ENCODING);
        assert!(res.headers().get(CONTENT_ENCODING).is_none());
        assert!(read_all(res, path).await.unwrap() == text, "{path}");
    }
}
