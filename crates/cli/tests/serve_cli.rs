//! `nethttp serve` end to end: the real binary on an ephemeral loopback port (found from its
//! `listening on` log line), each demo route checked with reqwest, and SIGTERM during an
//! in-flight request: the request completes, newcomers are refused, the process exits 0.
//! Also the flags as Go users write them (`--addr :PORT`, `--addr localhost:PORT`), plain log
//! lines off a terminal, and the default body limit.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::Served;

use bytes::Bytes;

/// Bound on any single exchange with the server.
const TIMEOUT: Duration = Duration::from_secs(10);

/// `nethttp serve --addr 127.0.0.1:0` plus `extra` flags.
fn start(extra: &[&str]) -> Served {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nethttp"));
    cmd.args(["serve", "--addr", "127.0.0.1:0"]).args(extra);
    Served::spawn(cmd)
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
    let server = start(&[]);
    let resp = client().get(server.url("/")).send().await.expect("GET /");
    assert_eq!(resp.status(), 200);
    let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("text/plain"), "content-type {ct:?}");
    assert_eq!(resp.text().await.unwrap(), "Hello, World!");
}

#[tokio::test]
async fn post_echo_streams_megabytes_back_byte_for_byte() {
    const CHUNK: usize = 64 * 1024;
    let server = start(&[]);
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
    let server = start(&[]);
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
    let server = start(&[]);
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
    let server = start(&[]);
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
    let mut server = start(&["--shutdown-timeout", "5s"]);
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

/// `GET /` on `addr`, answered "Hello, World!".
async fn says_hello(addr: std::net::SocketAddr) {
    let resp = client()
        .get(format!("http://{addr}/"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET http://{addr}/: {e}"));
    assert_eq!(resp.text().await.unwrap(), "Hello, World!");
}

/// Go's `:PORT` listens on every interface: here `:0`, reached on 127.0.0.1.
#[tokio::test]
async fn addr_with_only_a_port_listens_on_every_interface() {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nethttp"));
    cmd.args(["serve", "--addr", ":0"]);
    let server = Served::spawn(cmd);
    assert!(
        server.addr.ip().is_unspecified(),
        "listening on {}",
        server.addr
    );
    says_hello(([127, 0, 0, 1], server.addr.port()).into()).await;
}

/// A host name is resolved, IPv4 first as Go's listener does: `localhost:0` is 127.0.0.1.
#[tokio::test]
async fn addr_with_a_host_name_is_resolved() {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nethttp"));
    cmd.args(["serve", "--addr", "localhost:0"]);
    let server = Served::spawn(cmd);
    assert!(
        server.addr.ip().is_loopback(),
        "listening on {}",
        server.addr
    );
    says_hello(server.addr).await;
}

#[test]
fn an_addr_without_a_usable_port_fails_with_its_name() {
    for addr in ["127.0.0.1", ":99999", "[::1", "localhost"] {
        let ran = common::run_nethttp(&["serve", "--addr", addr], TIMEOUT);
        assert!(!ran.status.success(), "{addr}: {}", ran.stderr);
        assert!(ran.stderr.contains(addr), "{addr}: {}", ran.stderr);
    }
}

/// Log lines carry ANSI colour only on a terminal; a pipe or a file gets plain text, whether
/// or not NO_COLOR is set.
#[test]
fn log_lines_are_plain_text_off_a_terminal() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_nethttp"))
        .args(["serve", "--addr", "127.0.0.1:0"])
        .env_remove("NO_COLOR")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn nethttp serve");
    let stderr = child.stderr.take().expect("piped stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let line = loop {
        match rx.recv_timeout(TIMEOUT) {
            Ok(line) if line.contains("listening on") => break line,
            Ok(_) => {}
            Err(e) => {
                let _ = child.kill();
                panic!("no `listening on` line: {e}");
            }
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(!line.contains('\u{1b}'), "colour codes in {line:?}");
}

/// The status line of the answer to a POST /echo that announces `length` body bytes and
/// sends none of them.
async fn echo_status_for_length(addr: std::net::SocketAddr, length: u64) -> String {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let mut conn = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n");
    conn.write_all(head.as_bytes()).await.expect("write");
    let mut line = String::new();
    let mut reader = tokio::io::BufReader::new(conn);
    tokio::time::timeout(TIMEOUT, reader.read_line(&mut line))
        .await
        .expect("a status line in time")
        .expect("read");
    line.trim_end().to_owned()
}

/// `serve` takes the library's body limit, 64 MiB, unless told otherwise; 0 lifts it.
#[tokio::test]
async fn max_body_bytes_defaults_to_the_library_default() {
    const LIMIT: u64 = 64 * 1024 * 1024;
    let server = start(&[]);
    assert_eq!(
        echo_status_for_length(server.addr, LIMIT + 1).await,
        "HTTP/1.1 413 Payload Too Large"
    );
    assert_eq!(
        echo_status_for_length(server.addr, LIMIT).await,
        "HTTP/1.1 200 OK"
    );
    let unlimited = start(&["--max-body-bytes", "0"]);
    assert_eq!(
        echo_status_for_length(unlimited.addr, LIMIT + 1).await,
        "HTTP/1.1 200 OK"
    );
    let help = common::run_nethttp(&["serve", "--help"], TIMEOUT);
    let help = help.stdout_str();
    let flag = help
        .split("--max-body-bytes")
        .nth(1)
        .unwrap_or_else(|| panic!("no --max-body-bytes in:\n{help}"));
    let flag = &flag[..flag.find("\n  -").unwrap_or(flag.len())];
    assert!(flag.contains("[default: 67108864]"), "{flag}");
    assert!(flag.contains("64 MiB"), "{flag}");
    assert!(flag.contains("0 means no limit"), "{flag}");
}

/// `--max-connections-per-ip 2`: a client's third connection is closed at once, with nothing
/// written, while its first two are served; another client address is served meanwhile.
#[tokio::test]
async fn max_connections_per_ip_closes_a_clients_extra_connections() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = start(&["--max-connections-per-ip", "2"]);
    let connect_from = |ip: [u8; 4]| async move {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind((ip, 0).into()).unwrap();
        socket.connect(server.addr).await.unwrap()
    };
    // One exchange on a connection, kept open or closed after.
    async fn ask(s: &mut tokio::net::TcpStream, close: bool) -> String {
        let req = if close {
            "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        } else {
            "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
        };
        let _ = s.write_all(req.as_bytes()).await;
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        // The demo's `/` ends with its greeting.
        while !got.ends_with(b"Hello, World!") {
            match tokio::time::timeout(TIMEOUT, s.read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => got.extend_from_slice(&buf[..n]),
                Ok(_) => break,
                Err(_) => panic!("no answer and no close in time"),
            }
        }
        String::from_utf8_lossy(&got).into_owned()
    }
    // Both answered (so both are counted) before the third comes.
    let mut first = connect_from([127, 0, 0, 1]).await;
    let mut second = connect_from([127, 0, 0, 1]).await;
    assert!(ask(&mut first, false)
        .await
        .starts_with("HTTP/1.1 200 OK\r\n"));
    assert!(ask(&mut second, false)
        .await
        .starts_with("HTTP/1.1 200 OK\r\n"));
    let mut third = connect_from([127, 0, 0, 1]).await;
    assert_eq!(
        ask(&mut third, true).await,
        "",
        "the third connection is closed unanswered"
    );
    let mut other = connect_from([127, 0, 0, 2]).await;
    assert!(ask(&mut other, true)
        .await
        .starts_with("HTTP/1.1 200 OK\r\n"));
    assert!(ask(&mut first, true)
        .await
        .starts_with("HTTP/1.1 200 OK\r\n"));
}

/// `--rate-limit 1/m --rate-limit-burst 1`: a client's two requests are served, its third
/// answered `429` with `Retry-After`, with `--compress` on too (both wrappers at once); a
/// rate that is not one is refused with its form, and so is a limit by address on a Unix
/// socket, whose clients have none.
#[tokio::test]
async fn rate_limit_answers_429_past_the_rate_and_its_burst() {
    let server = start(&[
        "--rate-limit",
        "1/m",
        "--rate-limit-burst",
        "1",
        "--compress",
    ]);
    let client = client();
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let resp = client.get(server.url("/")).send().await.unwrap();
        statuses.push(resp.status().as_u16());
        if resp.status() == 429 {
            assert_eq!(resp.headers()["retry-after"], "60");
        }
    }
    assert_eq!(statuses, [200, 200, 429]);
    let bad = common::run_nethttp(&["serve", "--rate-limit", "10 a second"], TIMEOUT);
    assert!(!bad.status.success());
    assert!(
        bad.stderr.contains("a rate is N/s, N/m or N/h"),
        "{}",
        bad.stderr
    );
    let tmp = tempfile::tempdir().unwrap();
    let sock = tmp.path().join("s.sock");
    for flag in [["--rate-limit", "1/s"], ["--max-connections-per-ip", "2"]] {
        let unix = common::run_nethttp(
            &["serve", "--unix", sock.to_str().unwrap(), flag[0], flag[1]],
            TIMEOUT,
        );
        assert!(!unix.status.success(), "{flag:?}");
        assert!(
            unix.stderr.contains("counts clients by address"),
            "{}",
            unix.stderr
        );
    }
}
