//! `nethttp serve` end to end: the real binary on an ephemeral loopback port (found from its
//! `listening on` log line), each demo route checked with reqwest, and SIGTERM during an
//! in-flight request: the request completes, newcomers are refused, the process exits 0.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;

/// Bound on any single exchange with the server.
const TIMEOUT: Duration = Duration::from_secs(10);

/// A running `nethttp serve`, killed if the test ends while it still runs.
struct Served {
    child: Child,
    addr: SocketAddr,
    /// Everything it logged so far (stderr, colour codes stripped).
    log: Arc<Mutex<String>>,
}

impl Served {
    fn start(extra: &[&str]) -> Served {
        let mut child = Command::new(env!("CARGO_BIN_EXE_nethttp"))
            .args(["serve", "--addr", "127.0.0.1:0"])
            .args(extra)
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn nethttp serve");
        let stderr = child.stderr.take().expect("piped stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        std::thread::spawn({
            let log = log.clone();
            // Reads until the process closes stderr, so it can never block on a full pipe.
            move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    let line = strip_ansi(&line);
                    log.lock().unwrap().push_str(&format!("{line}\n"));
                    let _ = tx.send(line);
                }
            }
        });
        let deadline = Instant::now() + TIMEOUT;
        let addr = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(addr) = listening_addr(&line) {
                        break addr;
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    panic!(
                        "no `listening on` line within {TIMEOUT:?}; log:\n{}",
                        log.lock().unwrap()
                    );
                }
            }
        };
        Served { child, addr, log }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    fn signal(&self, sig: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid fits pid_t");
        // SAFETY: kill(2) on our own child's pid; no memory is involved.
        let rc = unsafe { libc::kill(pid, sig) };
        assert_eq!(
            rc,
            0,
            "kill({pid}, {sig}) failed: {}",
            std::io::Error::last_os_error()
        );
    }

    /// Waits (polling, bounded) for the process to exit.
    fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `127.0.0.1:PORT` from a line containing `listening on 127.0.0.1:PORT`.
fn listening_addr(line: &str) -> Option<SocketAddr> {
    let rest = &line[line.find("listening on ")? + "listening on ".len()..];
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ':'))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// Removes ANSI colour sequences (`ESC [ ... letter`), in case the logger colours anyway.
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(TIMEOUT)
        .build()
        .expect("reqwest client")
}

/// `len` bytes that are not a repeating short pattern, so a misplaced or lost chunk shows.
fn payload(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

#[tokio::test]
async fn get_root_says_hello() {
    let server = Served::start(&[]);
    let resp = client().get(server.url("/")).send().await.expect("GET /");
    assert_eq!(resp.status(), 200);
    let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("text/plain"), "content-type {ct:?}");
    assert_eq!(resp.text().await.unwrap(), "Hello, World!");
}

#[tokio::test]
async fn post_echo_streams_megabytes_back_byte_for_byte() {
    const CHUNK: usize = 64 * 1024;
    let server = Served::start(&[]);
    let sent = payload(4 << 20);
    // A streamed upload (chunked: reqwest cannot know its length), read back as it comes.
    let pieces: Vec<Result<Bytes, std::io::Error>> = sent
        .chunks(CHUNK)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let body = reqwest::Body::wrap_stream(futures_util::stream::iter(pieces));
    let mut resp = client()
        .post(server.url("/echo"))
        .header("content-type", "application/octet-stream")
        .body(body)
        .send()
        .await
        .expect("POST /echo");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/octet-stream");
    let mut got = Vec::with_capacity(sent.len());
    while let Some(piece) = resp.chunk().await.expect("reading the echo") {
        got.extend_from_slice(&piece);
        assert!(got.len() <= sent.len(), "echo longer than the upload");
    }
    assert_eq!(got.len(), sent.len());
    assert!(got == sent, "echoed bytes differ from the upload");
}

#[tokio::test]
async fn get_stream_sends_five_chunked_lines() {
    let server = Served::start(&[]);
    let resp = client()
        .get(server.url("/stream/5"))
        .send()
        .await
        .expect("GET /stream/5");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["transfer-encoding"], "chunked");
    assert!(resp.headers().get("content-length").is_none());
    let want: String = (0..5).map(|i| format!("chunk {i}\n")).collect();
    assert_eq!(resp.text().await.unwrap(), want);
}

#[tokio::test]
async fn get_delay_waits_then_says_done() {
    let server = Served::start(&[]);
    let t0 = Instant::now();
    let resp = client()
        .get(server.url("/delay/100"))
        .send()
        .await
        .expect("GET /delay/100");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "done");
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(100),
        "answered after {took:?}"
    );
}

#[tokio::test]
async fn get_status_answers_that_status() {
    let server = Served::start(&[]);
    let resp = client()
        .get(server.url("/status/418"))
        .send()
        .await
        .expect("GET /status/418");
    assert_eq!(resp.status(), 418);
    assert_eq!(resp.bytes().await.unwrap().len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_the_in_flight_request_then_exits_zero() {
    let shutdown_timeout = Duration::from_secs(5);
    let mut server = Served::start(&["--shutdown-timeout", "5s"]);
    let addr = server.addr;
    let t0 = Instant::now();
    let in_flight = tokio::spawn({
        let url = server.url("/delay/500");
        async move {
            let resp = client().get(url).send().await?;
            let status = resp.status();
            let body = resp.text().await?;
            Ok::<_, reqwest::Error>((status, body, t0.elapsed()))
        }
    });
    // Let the request reach the handler, then ask the server to stop.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !in_flight.is_finished(),
        "the delayed request finished early"
    );
    server.signal(libc::SIGTERM);

    // The listener closes at once: newcomers are refused while the request still runs.
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        match tokio::time::timeout(Duration::from_secs(1), tokio::net::TcpStream::connect(addr))
            .await
        {
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => break,
            _ => {}
        }
        assert!(
            Instant::now() < deadline,
            "still accepting connections 2 s after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        !in_flight.is_finished(),
        "the listener should close before the request finishes"
    );

    let (status, body, took) = tokio::time::timeout(TIMEOUT, in_flight)
        .await
        .expect("in-flight request hung")
        .expect("request task panicked")
        .unwrap_or_else(|e| {
            panic!(
                "in-flight request failed after SIGTERM: {e}\nlog:\n{}",
                server.log()
            )
        });
    assert_eq!(status, 200);
    assert_eq!(body, "done");
    assert!(
        took >= Duration::from_millis(500),
        "answered after {took:?}"
    );

    let status =
        tokio::task::block_in_place(|| server.wait_exit(shutdown_timeout + Duration::from_secs(1)));
    let log = server.log();
    let status = status
        .unwrap_or_else(|| panic!("still running {shutdown_timeout:?} after SIGTERM; log:\n{log}"));
    assert_eq!(status.code(), Some(0), "exit status {status}; log:\n{log}");
    assert!(log.contains("shutting down"), "log:\n{log}");
    assert!(log.contains("stopped"), "log:\n{log}");
    assert!(
        !log.contains("forced"),
        "a connection was forced closed; log:\n{log}"
    );
}
