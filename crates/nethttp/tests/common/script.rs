//! Scripted raw-TCP servers for the client tests: a loopback listener whose every accepted
//! connection runs a test-written script (read the request bytes, write exact response bytes,
//! stall, close), while the server side records each request it read and how many
//! connections it accepted, so a test can assert what went over the wire.
#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// Upper bound on any single wait of a script, so a bug fails a test instead of hanging it.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// One request as the server read it off the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// Which accepted connection it came on (0 for the first).
    pub conn: usize,
    /// The head, request line to the blank line, exactly as sent.
    pub head: String,
    /// The body bytes after framing is removed (chunks joined).
    pub body: Vec<u8>,
    /// The whole request exactly as sent: head, then the body with its chunk framing.
    pub raw: Vec<u8>,
}

impl Recorded {
    /// The request line's method.
    pub fn method(&self) -> &str {
        self.head.split(' ').next().unwrap_or("")
    }

    /// The request line's target.
    pub fn target(&self) -> &str {
        self.head.split(' ').nth(1).unwrap_or("")
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.split("\r\n").skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    /// The raw bytes as text (for byte-exact comparisons of text requests).
    pub fn raw_text(&self) -> String {
        String::from_utf8_lossy(&self.raw).into_owned()
    }
}

#[derive(Default)]
struct Shared {
    accepted: AtomicUsize,
    requests: Mutex<Vec<Recorded>>,
}

/// A listening scripted server; dropping it stops accepting and ends every script.
pub struct Script {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept_loop: JoinHandle<()>,
}

impl Script {
    /// Listens on `127.0.0.1:0` and runs `script` for every accepted connection.
    pub async fn start<F, Fut>(script: F) -> Script
    where
        F: Fn(Peer) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        Script::serve(listener, script)
    }

    /// Runs `script` for every connection accepted on `listener`.
    pub fn serve<F, Fut>(listener: TcpListener, script: F) -> Script
    where
        F: Fn(Peer) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let addr = listener.local_addr().expect("local addr");
        let shared = Arc::new(Shared::default());
        let s = shared.clone();
        let accept_loop = tokio::spawn(async move {
            let mut conns = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { continue };
                        stream.set_nodelay(true).ok();
                        let index = s.accepted.fetch_add(1, Ordering::SeqCst);
                        conns.spawn(script(Peer {
                            stream,
                            buf: Vec::new(),
                            index,
                            shared: s.clone(),
                        }));
                    }
                    Some(_) = conns.join_next(), if !conns.is_empty() => {}
                }
            }
        });
        Script {
            addr,
            shared,
            accept_loop,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// Every request read so far, in the order they were read.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// Waits (polling, bounded) until at least `n` requests have been read.
    pub async fn wait_requests(&self, n: usize) -> Vec<Recorded> {
        let start = Instant::now();
        loop {
            let got = self.requests();
            if got.len() >= n || start.elapsed() > IO_TIMEOUT {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

impl Drop for Script {
    fn drop(&mut self) {
        self.accept_loop.abort();
    }
}

/// How a read on the server side ended.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadEnd {
    /// The client closed its side (EOF) or reset the connection.
    Closed,
    /// Nothing more within the time allowed.
    TimedOut,
}

/// The server side of one accepted connection.
pub struct Peer {
    pub stream: TcpStream,
    /// Received bytes not yet consumed by a read method.
    pub buf: Vec<u8>,
    /// Which accepted connection this is (0 for the first).
    pub index: usize,
    shared: Arc<Shared>,
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

impl Peer {
    /// One read into the buffer before `deadline`: the byte count, or how it ended.
    pub async fn fill(&mut self, deadline: Instant) -> Result<usize, ReadEnd> {
        let mut chunk = [0u8; 16 * 1024];
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, self.stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => Err(ReadEnd::Closed),
            Ok(Ok(n)) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(n)
            }
            Err(_) => Err(ReadEnd::TimedOut),
        }
    }

    /// Reads until the buffer holds `n` bytes; false if the client closed or time ran out.
    async fn want(&mut self, n: usize, deadline: Instant) -> bool {
        while self.buf.len() < n {
            if self.fill(deadline).await.is_err() {
                return false;
            }
        }
        true
    }

    /// Reads up to and including the next CRLF; `None` if it never came.
    async fn line(&mut self, deadline: Instant) -> Option<Vec<u8>> {
        loop {
            if let Some(i) = find(&self.buf, b"\r\n") {
                return Some(self.buf.drain(..i + 2).collect());
            }
            self.fill(deadline).await.ok()?;
        }
    }

    /// Reads one request head (through the blank line); `None` if the client closed first
    /// or none arrived within [`IO_TIMEOUT`].
    pub async fn read_head(&mut self) -> Option<String> {
        let deadline = Instant::now() + IO_TIMEOUT;
        loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                let head: Vec<u8> = self.buf.drain(..i + 4).collect();
                return Some(String::from_utf8(head).expect("request head is not UTF-8"));
            }
            self.fill(deadline).await.ok()?;
        }
    }

    /// Reads one whole request (head and body, by its framing) and records it; `None` if the
    /// client closed before a whole request arrived or time ran out.
    pub async fn read_request(&mut self) -> Option<Recorded> {
        let head = self.read_head().await?;
        let (body, raw_body) = self.read_body(&head).await?;
        Some(self.record(head, body, raw_body))
    }

    /// Records a request whose body the script read itself.
    pub fn record(&mut self, head: String, body: Vec<u8>, raw_body: Vec<u8>) -> Recorded {
        let mut raw = head.clone().into_bytes();
        raw.extend_from_slice(&raw_body);
        let r = Recorded {
            conn: self.index,
            head,
            body,
            raw,
        };
        self.shared.requests.lock().unwrap().push(r.clone());
        r
    }

    /// Reads the body that `head` announces: returns it without framing, and as sent.
    pub async fn read_body(&mut self, head: &str) -> Option<(Vec<u8>, Vec<u8>)> {
        let deadline = Instant::now() + IO_TIMEOUT;
        let field = |name: &str| {
            head.split("\r\n").skip(1).find_map(|line| {
                let (n, v) = line.split_once(':')?;
                n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
            })
        };
        if field("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
            let mut body = Vec::new();
            let mut raw = Vec::new();
            loop {
                let line = self.line(deadline).await?;
                raw.extend_from_slice(&line);
                let text = std::str::from_utf8(&line).expect("chunk size line");
                let hex = text.trim_end().split(';').next().unwrap_or("").trim();
                let size = usize::from_str_radix(hex, 16).expect("chunk size");
                if size == 0 {
                    loop {
                        let t = self.line(deadline).await?;
                        raw.extend_from_slice(&t);
                        if t == b"\r\n" {
                            return Some((body, raw));
                        }
                    }
                }
                if !self.want(size + 2, deadline).await {
                    return None;
                }
                let data: Vec<u8> = self.buf.drain(..size + 2).collect();
                assert_eq!(&data[size..], b"\r\n", "chunk data not followed by CRLF");
                body.extend_from_slice(&data[..size]);
                raw.extend_from_slice(&data);
            }
        }
        let len: usize = field("content-length").map_or(0, |v| v.parse().expect("length"));
        if !self.want(len, deadline).await {
            return None;
        }
        let body: Vec<u8> = self.buf.drain(..len).collect();
        Some((body.clone(), body))
    }

    /// Reads one chunk of a chunked body: its data, or an empty vector for the last chunk
    /// (its trailers consumed too); `None` if the client closed or time ran out.
    pub async fn read_chunk(&mut self) -> Option<Vec<u8>> {
        let deadline = Instant::now() + IO_TIMEOUT;
        let line = self.line(deadline).await?;
        let text = std::str::from_utf8(&line).expect("chunk size line");
        let hex = text.trim_end().split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(hex, 16).expect("chunk size");
        if size == 0 {
            while self.line(deadline).await? != b"\r\n" {}
            return Some(Vec::new());
        }
        if !self.want(size + 2, deadline).await {
            return None;
        }
        let mut data: Vec<u8> = self.buf.drain(..size + 2).collect();
        data.truncate(size);
        Some(data)
    }

    /// Writes all of `bytes`; false if the client is gone.
    pub async fn write(&mut self, bytes: impl AsRef<[u8]>) -> bool {
        matches!(
            tokio::time::timeout(IO_TIMEOUT, self.stream.write_all(bytes.as_ref())).await,
            Ok(Ok(()))
        )
    }

    /// Writes `bytes` a few at a time with a pause between writes (a response dribbled out).
    pub async fn dribble(&mut self, bytes: &[u8], piece: usize, pause: Duration) -> bool {
        for part in bytes.chunks(piece.max(1)) {
            if !self.write(part).await {
                return false;
            }
            tokio::time::sleep(pause).await;
        }
        true
    }

    /// Reads (and discards into the buffer) until the client closes, up to `within`. Returns
    /// how long that took, or `None` if the connection was still open.
    pub async fn wait_closed(&mut self, within: Duration) -> Option<Duration> {
        let start = Instant::now();
        let deadline = start + within;
        loop {
            match self.fill(deadline).await {
                Ok(_) => {}
                Err(ReadEnd::Closed) => return Some(start.elapsed()),
                Err(ReadEnd::TimedOut) => return None,
            }
        }
    }

    /// Whether no byte arrives (and the connection stays open) for `d`.
    pub async fn silent_for(&mut self, d: Duration) -> bool {
        let before = self.buf.len();
        matches!(self.fill(Instant::now() + d).await, Err(ReadEnd::TimedOut))
            && self.buf.len() == before
    }

    /// Reads and throws away whatever arrives, for `d` or until the client closes.
    pub async fn discard_for(&mut self, d: Duration) {
        let deadline = Instant::now() + d;
        while self.fill(deadline).await.is_ok() {
            self.buf.clear();
        }
    }

    /// Keeps the connection open, doing nothing, for `d`.
    pub async fn hold(&self, d: Duration) {
        tokio::time::sleep(d).await;
    }
}

/// A `200 OK` with `body` and its length.
pub fn ok(body: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// A server answering every request on every connection with the same `response` bytes.
pub async fn answering(response: impl Into<bytes::Bytes>) -> Script {
    let response: bytes::Bytes = response.into();
    Script::start(move |mut p: Peer| {
        let response = response.clone();
        async move {
            while p.read_request().await.is_some() {
                if !p.write(response.clone()).await {
                    return;
                }
            }
        }
    })
    .await
}

/// Runs `f` under [`IO_TIMEOUT`], failing the test if it hangs.
pub async fn bounded<T>(what: &str, f: impl Future<Output = T>) -> T {
    match tokio::time::timeout(IO_TIMEOUT, f).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: no result within {IO_TIMEOUT:?}"),
    }
}

/// A client with the transport configured by `f`.
pub fn client_with(
    f: impl FnOnce(nethttp::client::TransportBuilder) -> nethttp::client::TransportBuilder,
) -> nethttp::Client {
    nethttp::Client::builder().transport(f).build().unwrap()
}

/// The whole body of `res` (up to 16 MiB), within [`IO_TIMEOUT`].
pub async fn body_of(
    res: nethttp::http::Response<nethttp::Body>,
) -> Result<bytes::Bytes, nethttp::Error> {
    bounded("reading the body", res.into_body().to_bytes(1 << 24)).await
}
