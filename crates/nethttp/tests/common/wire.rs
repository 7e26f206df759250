//! Raw-TCP helpers shared by the `h1_wire_*` tests: start a real server on loopback, write
//! exact bytes to it, read whole responses (or EOF) under a timeout, and normalise the `Date`
//! header so responses can be compared byte for byte.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nethttp::http::StatusCode;
use nethttp::{text_response, ConnState, Handler, HttpRequest, HttpResponse, Server, ServerHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Upper bound on any single wait for the server, so a bug fails a test instead of hanging it.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// What [`normalize`] puts in place of the `date:` header line.
pub const DATE: &str = "date: <DATE>\r\n";

/// How many bytes longer a raw response is than its normalised form.
pub const DATE_EXTRA: usize = 29 - "<DATE>".len();

/// Binds `server` to an ephemeral loopback port and serves `handler` on it.
pub fn start<H: Handler>(server: Server, handler: H) -> ServerHandle {
    let listener = server
        .bind("127.0.0.1:0".parse().unwrap())
        .expect("bind 127.0.0.1:0");
    server.serve(listener, handler)
}

/// The error response the server writes for a rejected request: status, a short text body
/// (`reason` plus a newline) and `connection: close`.
/// A connection to `to` from `from`, an address of the loopback network (127.0.0.2 is
/// another client than 127.0.0.1).
pub async fn connect_from(from: [u8; 4], to: SocketAddr) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((from, 0))).unwrap();
    socket.connect(to).await.unwrap()
}

pub fn error_response(status_line: &str, reason: &str) -> String {
    format!(
        "HTTP/1.1 {status_line}\r\ncontent-type: text/plain; charset=utf-8\r\n\
         content-length: {}\r\n{DATE}connection: close\r\n\r\n{reason}\n",
        reason.len() + 1
    )
}

/// A `text_response(200, body)` on a keep-alive connection with the default idle timeout.
pub fn ok_text(body: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain; charset=utf-8\r\n\
         content-length: {}\r\n{DATE}keep-alive: timeout=60\r\n\r\n{body}",
        body.len()
    )
}

/// A `text_response(200, body)` that closes the connection.
pub fn ok_text_close(body: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain; charset=utf-8\r\n\
         content-length: {}\r\n{DATE}connection: close\r\n\r\n{body}",
        body.len()
    )
}

/// Replaces the value of the first `date:` header in a response head with `<DATE>`, after
/// checking it is an IMF-fixdate (29 bytes, `... GMT`, parseable).
pub fn normalize(raw: &[u8]) -> String {
    let text = String::from_utf8(raw.to_vec())
        .unwrap_or_else(|_| panic!("response is not UTF-8: {:?}", String::from_utf8_lossy(raw)));
    let head_end = text.find("\r\n\r\n").map_or(text.len(), |i| i + 2);
    let Some(at) = text[..head_end].find("\r\ndate: ") else {
        return text;
    };
    let value_start = at + "\r\ndate: ".len();
    let value_end = value_start
        + text[value_start..]
            .find("\r\n")
            .unwrap_or_else(|| panic!("unterminated date in {text:?}"));
    let value = &text[value_start..value_end];
    assert_eq!(value.len(), 29, "date is not an IMF-fixdate: {value:?}");
    assert!(
        value.ends_with(" GMT"),
        "date is not an IMF-fixdate: {value:?}"
    );
    httpdate::parse_http_date(value).unwrap_or_else(|e| panic!("bad date {value:?}: {e}"));
    format!("{}<DATE>{}", &text[..value_start], &text[value_end..])
}

/// How much of a buffer the first response occupies.
enum Extent {
    /// The response ends at this offset.
    Complete(usize),
    /// More bytes are needed.
    More,
    /// No framing: the body runs until the server closes.
    UntilEof,
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Finds the end of the first response in `buf`, following its framing the way a client
/// would (RFC 9112 §6.3). `to_head` says the request was HEAD (no body follows).
fn extent(buf: &[u8], to_head: bool) -> Extent {
    let Some(head_end) = find(buf, b"\r\n\r\n").map(|i| i + 4) else {
        return Extent::More;
    };
    let head = std::str::from_utf8(&buf[..head_end]).expect("response head is not UTF-8");
    let status: u16 = head
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line in {head:?}"));
    if to_head || (100..200).contains(&status) || status == 204 || status == 304 {
        return Extent::Complete(head_end);
    }
    let mut chunked = false;
    let mut length = None;
    for line in head.split("\r\n").skip(1) {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match name.to_ascii_lowercase().as_str() {
            "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
            "content-length" => length = Some(value.parse::<usize>().expect("content-length")),
            _ => {}
        }
    }
    if chunked {
        let mut pos = head_end;
        loop {
            let Some(line_len) = find(&buf[pos..], b"\r\n") else {
                return Extent::More;
            };
            let line = std::str::from_utf8(&buf[pos..pos + line_len]).expect("chunk size line");
            let size_hex = line.split(';').next().unwrap().trim();
            let size = usize::from_str_radix(size_hex, 16)
                .unwrap_or_else(|_| panic!("bad chunk size line {line:?}"));
            pos += line_len + 2;
            if size == 0 {
                // Trailers, then an empty line.
                loop {
                    let Some(l) = find(&buf[pos..], b"\r\n") else {
                        return Extent::More;
                    };
                    pos += l + 2;
                    if l == 0 {
                        return Extent::Complete(pos);
                    }
                }
            }
            if buf.len() < pos + size + 2 {
                return Extent::More;
            }
            assert_eq!(
                &buf[pos + size..pos + size + 2],
                b"\r\n",
                "chunk data not followed by CRLF"
            );
            pos += size + 2;
        }
    }
    match length {
        Some(n) if buf.len() >= head_end + n => Extent::Complete(head_end + n),
        Some(_) => Extent::More,
        None => Extent::UntilEof,
    }
}

/// A raw client connection.
pub struct Conn {
    pub stream: TcpStream,
    /// Received bytes not yet returned by a read method.
    buf: Vec<u8>,
}

impl Conn {
    pub async fn connect(addr: SocketAddr) -> Conn {
        let stream = tokio::time::timeout(IO_TIMEOUT, TcpStream::connect(addr))
            .await
            .expect("connect timed out")
            .expect("connect");
        Conn::from_stream(stream)
    }

    pub fn from_stream(stream: TcpStream) -> Conn {
        Conn {
            stream,
            buf: Vec::new(),
        }
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.stream.local_addr().unwrap()
    }

    /// Writes all of `bytes` (fails the test if the server does not take them in time).
    pub async fn send(&mut self, bytes: impl AsRef<[u8]>) {
        tokio::time::timeout(IO_TIMEOUT, self.stream.write_all(bytes.as_ref()))
            .await
            .expect("write timed out")
            .expect("write");
    }

    /// Writes, ignoring errors (the server may already have closed).
    pub async fn try_send(&mut self, bytes: impl AsRef<[u8]>) -> std::io::Result<()> {
        match tokio::time::timeout(IO_TIMEOUT, self.stream.write_all(bytes.as_ref())).await {
            Ok(r) => r,
            Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
        }
    }

    /// One read into the buffer, before `deadline`. `Ok(0)` is EOF.
    async fn fill(&mut self, deadline: Instant) -> std::io::Result<usize> {
        let mut chunk = [0u8; 16 * 1024];
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, self.stream.read(&mut chunk)).await {
            Ok(Ok(n)) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(n)
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
        }
    }

    /// Reads exactly `n` bytes (fails the test on timeout or EOF first).
    pub async fn read_bytes(&mut self, n: usize) -> Vec<u8> {
        let deadline = Instant::now() + IO_TIMEOUT;
        while self.buf.len() < n {
            match self.fill(deadline).await {
                Ok(0) => panic!(
                    "EOF after {:?}, wanted {n} bytes",
                    String::from_utf8_lossy(&self.buf)
                ),
                Ok(_) => {}
                Err(e) => panic!(
                    "reading {n} bytes failed ({e}); got {:?}",
                    String::from_utf8_lossy(&self.buf)
                ),
            }
        }
        self.buf.drain(..n).collect()
    }

    /// Reads one complete response and returns its exact bytes.
    pub async fn raw_response(&mut self, to_head: bool) -> Vec<u8> {
        let deadline = Instant::now() + IO_TIMEOUT;
        loop {
            match extent(&self.buf, to_head) {
                Extent::Complete(n) => return self.buf.drain(..n).collect(),
                Extent::More | Extent::UntilEof => {}
            }
            match self.fill(deadline).await {
                Ok(0) => match extent(&self.buf, to_head) {
                    Extent::UntilEof => return std::mem::take(&mut self.buf),
                    _ => panic!(
                        "connection closed before the response was complete; got {:?}",
                        String::from_utf8_lossy(&self.buf)
                    ),
                },
                Ok(_) => {}
                Err(e) => panic!(
                    "reading a response failed ({e}); got so far {:?}",
                    String::from_utf8_lossy(&self.buf)
                ),
            }
        }
    }

    /// Reads one complete response; returns it with the date normalised.
    pub async fn response(&mut self) -> String {
        normalize(&self.raw_response(false).await)
    }

    /// Reads one response to a HEAD request (head only); returns it with the date normalised.
    pub async fn head_response(&mut self) -> String {
        normalize(&self.raw_response(true).await)
    }

    /// Asserts the server closes the connection (a clean EOF) with no further bytes.
    pub async fn expect_eof(&mut self) {
        let deadline = Instant::now() + IO_TIMEOUT;
        loop {
            assert!(
                self.buf.is_empty(),
                "expected EOF, got bytes {:?}",
                String::from_utf8_lossy(&self.buf)
            );
            match self.fill(deadline).await {
                Ok(0) => return,
                Ok(_) => {}
                Err(e) => panic!("expected EOF, read failed: {e}"),
            }
        }
    }

    /// Like [`Conn::expect_eof`], but a connection reset also counts as closed (used where the
    /// server closes with request bytes unread, which the kernel answers with RST).
    pub async fn expect_closed(&mut self) {
        let deadline = Instant::now() + IO_TIMEOUT;
        loop {
            assert!(
                self.buf.is_empty(),
                "expected close, got bytes {:?}",
                String::from_utf8_lossy(&self.buf)
            );
            match self.fill(deadline).await {
                Ok(0) => return,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return,
                Err(e) => panic!("expected the server to close, read failed: {e}"),
            }
        }
    }

    /// Reads everything until the server closes.
    pub async fn read_to_eof(&mut self) -> Vec<u8> {
        let deadline = Instant::now() + IO_TIMEOUT;
        loop {
            match self.fill(deadline).await {
                Ok(0) => return std::mem::take(&mut self.buf),
                Ok(_) => {}
                Err(e) => panic!(
                    "read to EOF failed ({e}); got {:?}",
                    String::from_utf8_lossy(&self.buf)
                ),
            }
        }
    }

    /// Writes `bytes` one byte every `interval` (then stays silent), while reading until the
    /// server closes. Returns what was read, when EOF came (from the call), and how many
    /// bytes were written. Write errors just stop the writing.
    pub async fn trickle_until_eof(
        &mut self,
        bytes: &[u8],
        interval: Duration,
    ) -> (Vec<u8>, Duration, usize) {
        let start = Instant::now();
        let deadline = start + IO_TIMEOUT;
        let (mut rd, mut wr) = self.stream.split();
        let mut got = std::mem::take(&mut self.buf);
        let mut sent = 0;
        let mut writing = true;
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut chunk = [0u8; 4096];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            tokio::select! {
                r = rd.read(&mut chunk) => match r {
                    Ok(0) => return (got, start.elapsed(), sent),
                    Ok(n) => got.extend_from_slice(&chunk[..n]),
                    Err(e) => panic!("read failed ({e}) after {:?}", String::from_utf8_lossy(&got)),
                },
                _ = tick.tick(), if writing => {
                    if sent < bytes.len() && wr.write_all(&bytes[sent..sent + 1]).await.is_ok() {
                        sent += 1;
                    } else {
                        writing = false;
                    }
                }
                _ = tokio::time::sleep(left) => {
                    panic!("no EOF within {IO_TIMEOUT:?}; got {:?}", String::from_utf8_lossy(&got))
                }
            }
        }
    }

    /// Asserts nothing arrives (and the connection stays open) for `d`.
    pub async fn expect_silence(&mut self, d: Duration) {
        match self.fill(Instant::now() + d).await {
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Ok(0) => panic!("expected silence, the server closed the connection"),
            Ok(_) => panic!(
                "expected silence, got {:?}",
                String::from_utf8_lossy(&self.buf)
            ),
            Err(e) => panic!("expected silence, read failed: {e}"),
        }
        assert!(self.buf.is_empty());
    }
}

/// Records every connection state change the server reports.
#[derive(Clone, Default)]
pub struct StateLog(Arc<Mutex<Vec<(SocketAddr, ConnState)>>>);

impl StateLog {
    /// A hook for [`Server::conn_state_hook`] that appends to this log.
    pub fn hook(&self) -> impl Fn(SocketAddr, ConnState) + Send + Sync + 'static {
        let log = self.0.clone();
        move |addr, state| log.lock().unwrap().push((addr, state))
    }

    /// The states reported for the connection from `peer` (the client's local address).
    pub fn states(&self, peer: SocketAddr) -> Vec<ConnState> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(a, _)| *a == peer)
            .map(|(_, s)| *s)
            .collect()
    }

    /// Waits (polling, up to `within`) until `peer`'s connection reports `Closed`; returns
    /// how long that took, or `None`.
    pub async fn wait_closed(&self, peer: SocketAddr, within: Duration) -> Option<Duration> {
        let start = Instant::now();
        while start.elapsed() < within {
            if self.states(peer).contains(&ConnState::Closed) {
                return Some(start.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        None
    }
}

/// Answers `METHOD PATH: BODY` after reading the whole body.
pub async fn echo_summary(req: HttpRequest) -> HttpResponse {
    let (parts, body) = req.into_parts();
    let body = body.to_bytes(1 << 20).await.expect("body");
    let body = String::from_utf8(body.to_vec()).expect("utf-8 body");
    text_response(
        StatusCode::OK,
        format!("{} {}: {body}", parts.method, parts.uri.path()),
    )
}
