//! `nethttp get` end to end against a spawned `nethttp serve`: the body on stdout, `-i` with
//! the head first, `-d`/`--data-file` uploads (POST by default) echoed back, `-H` headers
//! sent, `-v` tracing each phase on stderr, and a refused connection failing with a one-line
//! message naming the address. Against scripted raw-TCP servers: the body reaches stdout while
//! the response is still arriving, a redirect is followed on the same connection, gzip, br,
//! zstd and deflate bodies are printed decoded (`--compressed` accepted, as curl's, changing
//! nothing), `--max-filesize` stops a body (a gzip bomb among them) with exit
//! status 63, and `--data-file` streams a large file with its length in bounded memory (and
//! standard input chunked). `-f`/`--fail` makes an error status exit 22, as curl's does.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{run_nethttp, Ran};

/// Bound on any single `nethttp get` run.
const TIMEOUT: Duration = Duration::from_secs(20);

fn get(args: &[&str]) -> Ran {
    let mut all = vec!["get"];
    all.extend_from_slice(args);
    let ran = run_nethttp(&all, TIMEOUT);
    assert!(
        ran.status.success(),
        "nethttp {all:?} failed: {}\nstderr:\n{}",
        ran.status,
        ran.stderr
    );
    ran
}

#[test]
fn body_goes_to_stdout() {
    let server = common::serve_plain();
    assert_eq!(get(&[&server.url("/")]).stdout_str(), "Hello, World!");
    assert_eq!(
        get(&[&server.url("/stream/3")]).stdout_str(),
        "chunk 0\nchunk 1\nchunk 2\n"
    );
}

#[test]
fn include_prints_the_head_before_the_body() {
    let server = common::serve_plain();
    let out = get(&["-i", &server.url("/")]).stdout_str();
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out:?}");
    let (head, body) = out
        .split_once("\r\n\r\n")
        .expect("blank line after the head");
    assert_eq!(body, "Hello, World!");
    let head = head.to_ascii_lowercase();
    assert!(head.contains("\r\ncontent-length: 13"), "{head:?}");
    assert!(head.contains("\r\ncontent-type: text/plain"), "{head:?}");
}

#[test]
fn data_is_posted_and_echoed() {
    let server = common::serve_plain();
    let url = server.url("/echo");
    // -d alone means POST (the route answers POST only).
    assert_eq!(
        get(&["-d", "hello there", &url]).stdout_str(),
        "hello there"
    );
    assert_eq!(
        get(&["-X", "POST", "-d", "explicit", &url]).stdout_str(),
        "explicit"
    );
    // Another method with a body goes out as that method: /echo refuses it.
    let out = get(&["-i", "-X", "PUT", "-d", "x", &url]).stdout_str();
    assert!(out.starts_with("HTTP/1.1 405 "), "{out:?}");
}

#[test]
fn headers_are_sent() {
    let server = common::serve_plain();
    // /echo copies the request's Content-Type into the response.
    let out = get(&[
        "-i",
        "-H",
        "Content-Type: application/x-nethttp-test",
        "-H",
        "X-Extra: 1",
        "-d",
        "{}",
        &server.url("/echo"),
    ])
    .stdout_str();
    assert!(
        out.to_ascii_lowercase()
            .contains("\r\ncontent-type: application/x-nethttp-test\r\n"),
        "{out:?}"
    );
    assert!(out.ends_with("\r\n\r\n{}"), "{out:?}");
}

#[test]
fn data_file_is_sent_byte_for_byte() {
    let server = common::serve_plain();
    // Every byte value, several times: binary data survives untouched.
    let data: Vec<u8> = (0..4096u32).map(|i| (i * 7 % 256) as u8).collect();
    let path = std::env::temp_dir().join(format!("nethttp-get-data-{}", std::process::id()));
    std::fs::write(&path, &data).expect("write the data file");
    let ran = get(&[
        "--data-file",
        path.to_str().expect("utf-8 temp path"),
        &server.url("/echo"),
    ]);
    let _ = std::fs::remove_file(&path);
    assert_eq!(ran.stdout.len(), data.len());
    assert!(ran.stdout == data, "echoed bytes differ from the file");
}

#[test]
fn refused_connection_fails_with_one_line_naming_the_address() {
    // A port that was just free: bound, then released, so nothing listens there.
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("local addr").port()
    };
    let url = format!("http://127.0.0.1:{port}/");
    let ran = run_nethttp(&["get", &url], TIMEOUT);
    assert!(!ran.status.success(), "exit status {}", ran.status);
    assert!(ran.stdout.is_empty(), "stdout: {:?}", ran.stdout_str());
    let lines: Vec<&str> = ran.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "stderr: {:?}", ran.stderr);
    let line = lines[0];
    assert!(line.starts_with("nethttp: "), "{line:?}");
    assert!(line.contains(&format!("127.0.0.1:{port}")), "{line:?}");
    assert!(line.to_ascii_lowercase().contains("refused"), "{line:?}");
}

#[test]
fn verbose_traces_each_phase_in_order() {
    let server = common::serve_plain();
    let ran = get(&["-v", &server.url("/")]);
    assert_eq!(ran.stdout_str(), "Hello, World!");
    let err = &ran.stderr;
    // The URL's host is an IP literal, so there is no DNS line; the rest come in this order.
    let phases = [
        "* connection to http://127.0.0.1:",
        "* connect 127.0.0.1:",
        "* connection: new, local 127.0.0.1:",
        "* request written in ",
        "* first response byte ",
        "< HTTP/1.1 200 OK",
        "* total ",
    ];
    let mut from = 0;
    for phase in phases {
        let at = err[from..]
            .find(phase)
            .unwrap_or_else(|| panic!("no {phase:?} after byte {from} of stderr:\n{err}"));
        from += at + phase.len();
    }
    assert!(err.contains(" ms"), "timings in ms:\n{err}");
}

/// Reads one request head (up to the blank line) from a raw connection.
fn read_head(conn: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match conn.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            other => panic!("reading a request head: {other:?} after {head:?}"),
        }
    }
    String::from_utf8(head).expect("ASCII head")
}

/// A loopback listener whose one connection is handled by `script` on a thread.
fn raw_server(script: impl FnOnce(TcpStream) + Send + 'static) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("local addr");
    std::thread::spawn(move || {
        let (conn, _) = listener.accept().expect("accept");
        conn.set_read_timeout(Some(TIMEOUT)).expect("read timeout");
        script(conn);
    });
    format!("http://{addr}")
}

#[test]
fn body_is_streamed_to_stdout_as_it_arrives() {
    let (go_on_tx, go_on_rx) = mpsc::channel::<()>();
    let url = raw_server(move |mut conn| {
        read_head(&mut conn);
        conn.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nfirst\n\r\n")
            .expect("write the first chunk");
        // The rest comes only once the first chunk has shown up on the client's stdout.
        if go_on_rx.recv_timeout(TIMEOUT).is_ok() {
            let _ = conn.write_all(b"5\r\nlast\n\r\n0\r\n\r\n");
        }
    });
    let mut child = Command::new(env!("CARGO_BIN_EXE_nethttp"))
        .args(["get", "--timeout", "20s", &format!("{url}/")])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn nethttp get");
    let stdout = child.stdout.take().expect("piped stdout");
    let (line_tx, line_rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = line_tx.send(line);
        }
    });
    let first = line_rx.recv_timeout(TIMEOUT);
    if first.is_err() {
        let _ = child.kill();
        let _ = child.wait();
    }
    assert_eq!(
        first.as_deref(),
        Ok("first"),
        "the first chunk did not reach stdout before the response ended"
    );
    go_on_tx.send(()).expect("server thread waiting");
    assert_eq!(line_rx.recv_timeout(TIMEOUT).as_deref(), Ok("last"));
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            panic!("nethttp get did not exit after the body ended");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    assert!(status.success(), "{status}");
}

#[test]
fn redirect_is_followed_on_the_same_connection() {
    let url = raw_server(|mut conn| {
        let first = read_head(&mut conn);
        assert!(first.starts_with("GET /start HTTP/1.1\r\n"), "{first:?}");
        conn.write_all(b"HTTP/1.1 302 Found\r\nLocation: /final\r\nContent-Length: 0\r\n\r\n")
            .expect("write the redirect");
        let second = read_head(&mut conn);
        assert!(second.starts_with("GET /final HTTP/1.1\r\n"), "{second:?}");
        conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            .expect("write the final response");
    });
    let ran = get(&["-v", "--timeout", "10s", &format!("{url}/start")]);
    assert_eq!(ran.stdout_str(), "ok");
    let err = &ran.stderr;
    let new = err
        .find("* connection: new")
        .unwrap_or_else(|| panic!("{err}"));
    let reused = err
        .find("* connection: reused")
        .unwrap_or_else(|| panic!("the redirect did not reuse the connection:\n{err}"));
    assert!(new < reused, "{err}");
    let redirect = err
        .find(&format!("* redirect: 302 to {url}/final"))
        .unwrap_or_else(|| panic!("the redirect was not traced:\n{err}"));
    assert!(new < redirect && redirect < reused, "{err}");
    assert!(err.contains("< HTTP/1.1 200 OK"), "{err}");
}

#[test]
fn total_timeout_fails_with_a_message() {
    let server = common::serve_plain();
    let ran = run_nethttp(
        &["get", "--timeout", "200ms", &server.url("/delay/10000")],
        TIMEOUT,
    );
    assert!(!ran.status.success(), "exit status {}", ran.status);
    assert!(ran.stdout.is_empty(), "stdout: {:?}", ran.stdout_str());
    assert!(
        ran.stderr.starts_with("nethttp: ") && ran.stderr.contains("timed out"),
        "{}",
        ran.stderr
    );
}

/// A gzip answer to the gzip `get` asks for is printed inflated, and `-v` says so.
#[test]
fn a_gzip_body_is_printed_inflated() {
    // `gzip.compress(b"hello, gzip\n", mtime=0)` from Python's gzip module.
    const HELLO_GZ: [u8; 32] = [
        31, 139, 8, 0, 0, 0, 0, 0, 2, 3, 203, 72, 205, 201, 201, 215, 81, 72, 175, 202, 44, 224, 2,
        0, 134, 31, 130, 164, 12, 0, 0, 0,
    ];
    let (head_tx, head_rx) = mpsc::channel::<String>();
    let url = raw_server(move |mut conn| {
        let _ = head_tx.send(read_head(&mut conn));
        let mut res =
            b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ncontent-length: 32\r\n\r\n".to_vec();
        res.extend_from_slice(&HELLO_GZ);
        conn.write_all(&res).expect("write the response");
    });
    let ran = get(&["-v", &format!("{url}/gz")]);
    assert_eq!(ran.stdout_str(), "hello, gzip\n");
    assert!(ran.stderr.contains("< HTTP/1.1 200 OK"), "{}", ran.stderr);
    assert!(!ran.stderr.contains("content-encoding"), "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains("* the body came with Content-Encoding: gzip and is decoded"),
        "{}",
        ran.stderr
    );
    let head = head_rx.recv_timeout(TIMEOUT).expect("the request head");
    assert!(
        head.contains("\r\naccept-encoding: gzip, br, zstd, deflate\r\n"),
        "{head}"
    );
}

/// br, zstd and deflate (zlib and raw) answers are printed decoded too, with or without
/// `--compressed` (curl's flag, accepted and documented, changing nothing); a request with
/// its own Accept-Encoding gets the bytes as they came.
#[test]
fn every_coding_is_printed_decoded_and_compressed_is_accepted() {
    // From Python: brotli.compress, zstandard (with a checksum), zlib.compress, and zlib's
    // raw deflate (wbits -15), each of the line below.
    let cases: [(&str, &[u8], &str); 4] = [
        (
            "br",
            &[
                139, 6, 128, 104, 101, 108, 108, 111, 44, 32, 99, 111, 100, 105, 110, 103, 10, 3,
            ],
            "br",
        ),
        (
            "zstd",
            &[
                40, 181, 47, 253, 36, 14, 113, 0, 0, 104, 101, 108, 108, 111, 44, 32, 99, 111, 100,
                105, 110, 103, 10, 156, 50, 212, 234,
            ],
            "zstd",
        ),
        (
            "deflate",
            &[
                120, 156, 203, 72, 205, 201, 201, 215, 81, 72, 206, 79, 201, 204, 75, 231, 2, 0,
                38, 126, 4, 223,
            ],
            "deflate",
        ),
        (
            "deflate",
            &[
                203, 72, 205, 201, 201, 215, 81, 72, 206, 79, 201, 204, 75, 231, 2, 0,
            ],
            "deflate",
        ),
    ];
    for (coding, bytes, shown) in cases {
        for compressed in [false, true] {
            let mut res = format!(
                "HTTP/1.1 200 OK\r\ncontent-encoding: {coding}\r\ncontent-length: {}\r\n\r\n",
                bytes.len()
            )
            .into_bytes();
            res.extend_from_slice(bytes);
            let url = raw_server(move |mut conn| {
                read_head(&mut conn);
                conn.write_all(&res).expect("write the response");
            });
            let mut args = vec!["-v"];
            if compressed {
                args.push("--compressed");
            }
            let url = format!("{url}/");
            args.push(&url);
            let ran = get(&args);
            assert_eq!(ran.stdout_str(), "hello, coding\n", "{coding} {bytes:?}");
            let said = format!("* the body came with Content-Encoding: {shown} and is decoded");
            assert!(ran.stderr.contains(&said), "{}", ran.stderr);
        }
    }
    let bytes = cases[0].1.to_vec();
    let url = raw_server(move |mut conn| {
        read_head(&mut conn);
        let mut res = format!(
            "HTTP/1.1 200 OK\r\ncontent-encoding: br\r\ncontent-length: {}\r\n\r\n",
            bytes.len()
        )
        .into_bytes();
        res.extend_from_slice(&bytes);
        conn.write_all(&res).expect("write the response");
    });
    let ran = get(&["-H", "Accept-Encoding: br", &format!("{url}/")]);
    assert_eq!(ran.stdout, cases[0].1, "the br bytes as they came");

    let help = get(&["--help"]).stdout_str().to_owned();
    assert!(help.contains("--compressed"), "{help}");
}

/// Answers one request with `head` then `body`, written in pieces; the rest of the writes
/// fail quietly once the client has gone.
fn answering_once(head: String, body: Vec<u8>) -> String {
    raw_server(move |mut conn| {
        read_head(&mut conn);
        if conn.write_all(head.as_bytes()).is_err() {
            return;
        }
        for piece in body.chunks(64 * 1024) {
            if conn.write_all(piece).is_err() {
                return;
            }
        }
    })
}

/// About 10 MB of gzip inflating to 10 GiB: 10,240 members of 1 MiB of zeros.
fn gzip_bomb() -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(&vec![0u8; 1 << 20]).expect("compress");
    e.finish().expect("compress").repeat(10 * 1024)
}

#[test]
fn max_filesize_stops_a_gzip_bomb_with_curls_exit_status() {
    let bomb = gzip_bomb();
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
        bomb.len()
    );
    let url = answering_once(head, bomb);
    let ran = run_nethttp(
        &["get", "--max-filesize", "1000000", &format!("{url}/")],
        TIMEOUT,
    );
    assert_eq!(ran.status.code(), Some(63), "stderr: {}", ran.stderr);
    assert!(
        ran.stdout.len() <= 1_000_000,
        "{} bytes written",
        ran.stdout.len()
    );
    assert!(ran.stdout.iter().all(|&b| b == 0));
    assert_eq!(
        ran.stderr.trim_end(),
        "nethttp: the response body is larger than --max-filesize 1000000 bytes"
    );
}

#[test]
fn max_filesize_refuses_an_announced_length_before_reading_and_a_stream_as_it_grows() {
    let url = answering_once(
        "HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n".into(),
        vec![b'x'; 5000],
    );
    let ran = run_nethttp(
        &["get", "--max-filesize", "4999", &format!("{url}/")],
        TIMEOUT,
    );
    assert_eq!(ran.status.code(), Some(63), "stderr: {}", ran.stderr);
    assert!(ran.stdout.is_empty(), "{} bytes written", ran.stdout.len());

    let chunked = b"4\r\nabcd\r\n4\r\nefgh\r\n0\r\n\r\n".to_vec();
    let head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_owned();
    let url = answering_once(head.clone(), chunked.clone());
    let ran = run_nethttp(&["get", "--max-filesize", "6", &format!("{url}/")], TIMEOUT);
    assert_eq!(ran.status.code(), Some(63), "stderr: {}", ran.stderr);
    assert_eq!(
        ran.stdout_str(),
        "abcd",
        "only whole frames within the limit"
    );

    let url = answering_once(head, chunked);
    let ran = get(&["--max-filesize", "8", &format!("{url}/")]);
    assert_eq!(ran.stdout_str(), "abcdefgh", "exactly the limit passes");
}

/// Peak resident memory of process `pid` (VmHWM), in bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read status");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/PID/status");
    kb * 1024
}

/// A 96 MiB file goes out as a stream with its Content-Length, and the CLI's peak memory
/// (read while it waits for the answer, the whole body sent) stays far below the file's size.
#[test]
fn data_file_is_streamed_with_its_length_not_read_into_memory() {
    const SIZE: u64 = 96 << 20;
    let path = std::env::temp_dir().join(format!("nethttp-get-big-{}", std::process::id()));
    // Sparse: the disk holds nothing, reads give zeros.
    std::fs::File::create(&path)
        .and_then(|f| f.set_len(SIZE))
        .expect("make the file");
    let (pid_tx, pid_rx) = mpsc::channel::<u32>();
    let (seen_tx, seen_rx) = mpsc::channel();
    let url = raw_server(move |mut conn| {
        let head = read_head(&mut conn);
        let mut got = 0u64;
        let mut buf = vec![0u8; 256 * 1024];
        while got < SIZE {
            match conn.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got += n as u64,
            }
        }
        let rss = pid_rx.recv_timeout(TIMEOUT).map(peak_rss).ok();
        let _ = seen_tx.send((head, got, rss));
        let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    });
    let child = Command::new(env!("CARGO_BIN_EXE_nethttp"))
        .args(["get", "--timeout", "20s", "--data-file"])
        .arg(&path)
        .arg(format!("{url}/up"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn nethttp get");
    pid_tx.send(child.id()).expect("server waiting");
    let out = child.wait_with_output().expect("nethttp get runs");
    let _ = std::fs::remove_file(&path);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, b"ok");
    let (head, got, rss) = seen_rx
        .recv_timeout(TIMEOUT)
        .expect("the server saw the upload");
    let head = head.to_ascii_lowercase();
    assert!(head.starts_with("post /up http/1.1\r\n"), "{head}");
    assert!(
        head.contains(&format!("\r\ncontent-length: {SIZE}\r\n")),
        "{head}"
    );
    assert!(!head.contains("transfer-encoding"), "{head}");
    assert_eq!(got, SIZE);
    let rss = rss.expect("peak memory read while the client waited");
    assert!(
        rss < SIZE / 3,
        "peak RSS {} MiB for a {} MiB file",
        rss >> 20,
        SIZE >> 20
    );
    eprintln!("peak RSS {} MiB for a {} MiB upload", rss >> 20, SIZE >> 20);
}

#[test]
fn data_file_dash_streams_standard_input_chunked() {
    let (head_tx, head_rx) = mpsc::channel();
    let url = raw_server(move |mut conn| {
        let head = read_head(&mut conn);
        let mut rest = Vec::new();
        let mut buf = [0u8; 1024];
        while !rest.ends_with(b"0\r\n\r\n") {
            match conn.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => rest.extend_from_slice(&buf[..n]),
            }
        }
        let _ = head_tx.send((head, rest));
        let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    });
    let mut child = Command::new(env!("CARGO_BIN_EXE_nethttp"))
        .args([
            "get",
            "--timeout",
            "20s",
            "--data-file",
            "-",
            &format!("{url}/"),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn nethttp get");
    let mut stdin = child.stdin.take().expect("piped stdin");
    stdin.write_all(b"from stdin").expect("write stdin");
    drop(stdin);
    let out = child.wait_with_output().expect("nethttp get runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (head, body) = head_rx
        .recv_timeout(TIMEOUT)
        .expect("the server saw the upload");
    assert!(
        head.to_ascii_lowercase()
            .contains("\r\ntransfer-encoding: chunked\r\n"),
        "{head}"
    );
    // However the pipe's reads fell, the chunks carry exactly the bytes written.
    let mut data = Vec::new();
    let mut rest = &body[..];
    loop {
        let line_end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("chunk line");
        let size = usize::from_str_radix(std::str::from_utf8(&rest[..line_end]).unwrap(), 16)
            .expect("chunk size");
        rest = &rest[line_end + 2..];
        if size == 0 {
            break;
        }
        data.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
    assert_eq!(data, b"from stdin");
}

#[test]
fn fail_exits_22_without_the_body_on_an_error_status() {
    let server = common::serve_plain();
    let get = |args: &[&str]| {
        let mut all = vec!["get"];
        all.extend_from_slice(args);
        run_nethttp(&all, TIMEOUT)
    };
    for flag in ["-f", "--fail"] {
        let ran = get(&[flag, &server.url("/status/404")]);
        assert_eq!(ran.status.code(), Some(22), "{flag}: {}", ran.stderr);
        assert!(ran.stdout.is_empty(), "{flag}: {}", ran.stdout_str());
        assert!(ran.stderr.contains("404"), "{flag}: {}", ran.stderr);
        let ran = get(&[flag, &server.url("/status/503")]);
        assert_eq!(ran.status.code(), Some(22), "{flag}: {}", ran.stderr);
        // Below 400 is success, body and all.
        let ran = get(&[flag, &server.url("/")]);
        assert!(ran.status.success(), "{flag}: {}", ran.stderr);
        assert_eq!(ran.stdout_str(), "Hello, World!");
    }
    // Without --fail an error status is still a response: printed, exit 0.
    let ran = get(&[&server.url("/status/404")]);
    assert!(ran.status.success(), "{}", ran.stderr);
}
