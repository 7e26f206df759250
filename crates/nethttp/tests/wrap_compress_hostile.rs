//! `wrap::compress` against hostile clients: one that never reads a coded stream holds one
//! compressor and one coded piece, not the stream (live heap measured per connection, and
//! the bytes produced bounded by the socket buffers); one that floods pipelined requests for
//! coded answers gets each of them whole.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::sync::atomic::{AtomicIsize, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::wire::{start, Conn};
use nethttp::http::{header, StatusCode};
use nethttp::wrap::compress;
use nethttp::{text_response, Body, HttpRequest, HttpResponse, Server};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: defers to the system allocator; only adds up the sizes it hands out and takes back.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// 64 KiB pieces of bytes that do not compress, labelled as text.
fn noise(seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..64 * 1024)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_never_read_a_coded_stream_hold_a_compressor_each_not_the_stream() {
    const CLIENTS: usize = 8;
    const PIECES: u64 = 4096; // 256 MiB offered to each
    let produced = Arc::new(AtomicU64::new(0));
    let made = produced.clone();
    let app = compress(move |_req: HttpRequest| {
        let made = made.clone();
        async move {
            let (tx, body) = Body::channel(1);
            tokio::spawn(async move {
                for i in 0..PIECES {
                    if tx.send_data(noise(i)).await.is_err() {
                        return;
                    }
                    made.fetch_add(64 * 1024, Ordering::Relaxed);
                }
            });
            let mut resp = HttpResponse::new(body);
            resp.headers_mut()
                .insert(header::CONTENT_TYPE, "text/plain".parse().unwrap());
            resp
        }
    });
    let server = Server::new().write_timeout(Duration::from_secs(3));
    let h = start(server, app);
    let before = LIVE.load(Ordering::Relaxed);
    let mut conns = Vec::new();
    for _ in 0..CLIENTS {
        let mut c = Conn::connect(h.local_addr()).await;
        c.send("GET / HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n")
            .await;
        conns.push(c);
    }
    // Until the socket buffers are full and every stream waits on its client.
    let mut last = 0;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = produced.load(Ordering::Relaxed);
        if now == last && now > 0 {
            break;
        }
        last = now;
    }
    let held = (LIVE.load(Ordering::Relaxed) - before).max(0) as usize;
    let per_client = held / CLIENTS;
    let produced_each = produced.load(Ordering::Relaxed) / CLIENTS as u64;
    eprintln!("held {held} bytes: {per_client} per client; {produced_each} bytes produced each");
    // A compressor (zlib-rs's deflate state), one coded piece and one plain piece in flight,
    // the connection's own buffers: under 1 MiB each.
    assert!(per_client < 1 << 20, "{per_client} bytes held per client");
    // What left went into socket buffers (loopback: a few MiB each way), not our memory.
    assert!(
        produced_each < 32 << 20,
        "{produced_each} bytes produced for each client"
    );
    // The write timeout (3 s here) closes them, unread.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while h.live_connections() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "{} connections still open",
            h.live_connections()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(conns);
}

#[tokio::test]
async fn a_flood_of_pipelined_requests_for_coded_answers_gets_each_whole() {
    let text: String = (0..400)
        .map(|i| format!("line {i:04} of the page\n"))
        .collect();
    let body = text.clone();
    let app = compress(move |_req: HttpRequest| {
        let body = body.clone();
        async move { text_response(StatusCode::OK, body) }
    });
    let h = start(Server::new(), app);
    let mut c = Conn::connect(h.local_addr()).await;
    const N: usize = 300;
    c.send("GET / HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n".repeat(N))
        .await;
    for i in 0..N {
        let raw = c.raw_response(false).await;
        let at = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let mut d = flate2::write::GzDecoder::new(Vec::new());
        d.write_all(&raw[at..]).unwrap();
        assert_eq!(d.finish().unwrap(), text.as_bytes(), "answer {i}");
    }
}
