//! A file body over HTTP/1.1 on a socket goes out with `sendfile(2)`, never through user
//! space: measured with a counting allocator (per thread, on a current-thread runtime where
//! server and client both run), a 32 MiB file over TCP and over a Unix socket costs the
//! server under 16 KiB of allocations (no 64 KiB chunk buffer), while the same file over in-memory IO (read and
//! written, 64 KiB at a time) costs at least its size, which shows the count sees the copy.
//! An `EmbeddedFiles` file (bytes in memory) is written from its shared bytes, as cheaply.
//! Also: the bytes arrive intact, ranges and pipelined neighbours keep their order, and a
//! file that shrinks mid-send closes the connection.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::wire::{normalize, start};
use nethttp::http::StatusCode;
use nethttp::{Body, HttpRequest, HttpResponse, Server};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

struct Counting;

thread_local! {
    static BYTES: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: defers to the system allocator; only counts requested bytes on the current thread.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = BYTES.try_with(|n| n.set(n.get() + layout.size()));
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = BYTES.try_with(|n| n.set(n.get() + new_size));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocated() -> usize {
    BYTES.with(Cell::get)
}

const SIZE: usize = 32 << 20;
const LIMIT: Duration = Duration::from_secs(20);

/// Byte `i` of every test file.
fn byte_at(i: usize) -> u8 {
    (i % 251) as u8
}

fn write_pattern(path: &Path, n: usize) {
    let data: Vec<u8> = (0..n).map(byte_at).collect();
    std::fs::write(path, data).unwrap();
}

/// Serves `GET /big` (the whole file), `GET /part` (1 MiB from offset 5), anything else a
/// short text.
fn handler(path: Arc<std::path::PathBuf>) -> impl nethttp::Handler {
    move |req: HttpRequest| {
        let path = path.clone();
        async move {
            let file = std::fs::File::open(&*path).unwrap();
            let len = file.metadata().unwrap().len();
            match req.uri().path() {
                "/big" => HttpResponse::new(Body::file(file, 0, len)),
                "/part" => HttpResponse::new(Body::file(file, 5, 1 << 20)),
                _ => nethttp::text_response(StatusCode::OK, "small"),
            }
        }
    }
}

/// Reads an HTTP/1.1 response head (up to the blank line) from `io`, byte by byte (no
/// allocation past the first), and returns it.
async fn read_head<R: AsyncRead + Unpin>(io: &mut R) -> String {
    let mut head = Vec::with_capacity(512);
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(LIMIT, io.read(&mut b))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            n,
            1,
            "closed inside the head: {:?}",
            String::from_utf8_lossy(&head)
        );
        head.push(b[0]);
    }
    String::from_utf8(head).unwrap()
}

/// Reads `n` body bytes into a fixed buffer, checking each against the pattern from `from`.
async fn read_pattern<R: AsyncRead + Unpin>(io: &mut R, n: usize, from: usize) {
    let mut buf = [0u8; 16 * 1024];
    let mut got = 0;
    while got < n {
        let want = buf.len().min(n - got);
        let k = tokio::time::timeout(LIMIT, io.read(&mut buf[..want]))
            .await
            .unwrap()
            .unwrap();
        assert!(k > 0, "closed after {got} of {n} body bytes");
        for (j, b) in buf[..k].iter().enumerate() {
            assert_eq!(*b, byte_at(from + got + j), "byte {} differs", got + j);
        }
        got += k;
    }
}

const GET_BIG: &[u8] = b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n";

/// Bytes allocated (on this thread: server and client both) while `io` fetches the whole
/// big file, after a first small exchange has warmed the connection's buffers and the
/// server's recycled state.
async fn allocated_for_the_big_file<I: AsyncRead + AsyncWriteExt + Unpin>(io: &mut I) -> usize {
    io.write_all(b"GET /small HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    read_head(io).await;
    read_pattern_text(io, b"small").await;

    let before = allocated();
    io.write_all(GET_BIG).await.unwrap();
    let head = read_head(io).await;
    assert!(
        head.contains(&format!("content-length: {SIZE}\r\n")),
        "{head}"
    );
    read_pattern(io, SIZE, 0).await;
    let spent = allocated() - before;
    eprintln!("allocated while sending: {spent} bytes");
    spent
}

#[tokio::test]
async fn a_file_over_tcp_costs_no_copy_through_user_space() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big");
    write_pattern(&path, SIZE);
    let h = start(Server::new(), handler(Arc::new(path)));
    assert_no_copy_over_tcp(h.local_addr(), "file over TCP").await;
}

/// Fetches the big file from `addr` over TCP and checks what it cost: under 16 KiB of
/// allocations, so no copy of it went through user space.
async fn assert_no_copy_over_tcp(addr: std::net::SocketAddr, what: &str) {
    let mut io = tokio::net::TcpStream::connect(addr).await.unwrap();
    let spent = allocated_for_the_big_file(&mut io).await;
    assert!(
        spent < 16 << 10,
        "{spent} bytes allocated to send a {SIZE}-byte {what}"
    );
}

/// `fs::EmbeddedFiles` holds its files as `Bytes`: a response shares them, nothing is
/// copied per request.
#[tokio::test]
async fn an_embedded_file_is_written_from_its_shared_bytes_without_a_copy() {
    let big: Vec<u8> = (0..SIZE).map(byte_at).collect();
    let files = nethttp::fs::EmbeddedFiles::new()
        .with("big", big)
        .with("small", "small");
    let h = start(Server::new(), files);
    assert_no_copy_over_tcp(h.local_addr(), "embedded file").await;
}

#[tokio::test]
async fn a_file_over_a_unix_socket_costs_no_copy_through_user_space() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big");
    write_pattern(&path, SIZE);
    let sock = dir.path().join("s.sock");
    let server = Server::new();
    let listener = server.bind_unix(&sock).unwrap();
    let _h = server.serve(listener, handler(Arc::new(path)));
    let mut io = tokio::net::UnixStream::connect(&sock).await.unwrap();
    let spent = allocated_for_the_big_file(&mut io).await;
    assert!(
        spent < 16 << 10,
        "{spent} bytes allocated to send a {SIZE}-byte file over a Unix socket"
    );
}

#[tokio::test]
async fn a_file_over_in_memory_io_is_read_and_written_which_the_count_sees() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big");
    write_pattern(&path, SIZE);
    let (mut io, server_io) = tokio::io::duplex(64 << 10);
    let conn = Server::new().serve_connection(server_io, Arc::new(handler(Arc::new(path))));
    tokio::spawn(conn);
    let spent = allocated_for_the_big_file(&mut io).await;
    assert!(
        spent >= SIZE,
        "only {spent} bytes allocated to read a {SIZE}-byte file: the count misses the copy"
    );
}

#[tokio::test]
async fn a_file_between_pipelined_responses_keeps_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big");
    write_pattern(&path, 2 << 20);
    let h = start(Server::new(), handler(Arc::new(path)));
    let mut io = tokio::net::TcpStream::connect(h.local_addr())
        .await
        .unwrap();
    io.write_all(
        b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n\
          GET /part HTTP/1.1\r\nHost: x\r\n\r\n\
          GET /b HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .await
    .unwrap();
    let first = read_head(&mut io).await;
    assert!(first.contains("content-length: 5\r\n"), "{first}");
    read_pattern_text(&mut io, b"small").await;
    let head = normalize(read_head(&mut io).await.as_bytes());
    assert_eq!(
        head,
        "HTTP/1.1 200 OK\r\ncontent-length: 1048576\r\ndate: <DATE>\r\nkeep-alive: timeout=60\r\n\r\n"
    );
    read_pattern(&mut io, 1 << 20, 5).await;
    let last = read_head(&mut io).await;
    assert!(last.contains("content-length: 5\r\n"), "{last}");
    read_pattern_text(&mut io, b"small").await;
}

#[tokio::test]
async fn a_file_shorter_than_promised_closes_the_connection() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big");
    write_pattern(&path, 1 << 20);
    // `/part` promises 1 MiB from offset 5: the file holds 5 bytes fewer.
    let h = start(Server::new(), handler(Arc::new(path)));
    let mut io = tokio::net::TcpStream::connect(h.local_addr())
        .await
        .unwrap();
    io.write_all(b"GET /part HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let head = read_head(&mut io).await;
    assert!(head.contains("content-length: 1048576\r\n"), "{head}");
    let mut total = 0usize;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match tokio::time::timeout(LIMIT, io.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => total += n,
            Err(_) => panic!("the connection hung after {total} bytes"),
        }
    }
    assert_eq!(total, (1 << 20) - 5, "all the file had, then the close");
}

/// Reads a short body of known text.
async fn read_pattern_text<R: AsyncRead + Unpin>(io: &mut R, want: &[u8]) {
    let mut buf = vec![0u8; want.len()];
    tokio::time::timeout(LIMIT, io.read_exact(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(buf, want);
}
