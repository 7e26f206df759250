//! `--access-log` on the real binaries: `serve` writes a `combined` line per request with the
//! client's address, reopens the file at its path on SIGUSR1 (after `logrotate` moved it),
//! and has written every line when it exits on SIGTERM, or, with the log's disk stuck, exits
//! after the flush's bound; a request it refuses before the handler is logged; `proxy` logs JSON with the upstream's status and the bytes
//! relayed; the format flag needs the log flag.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{run_nethttp, serve_plain, Served};

const LIMIT: Duration = Duration::from_secs(20);

/// The file's lines once it has `n` (bounded wait: lines are written by a thread of their
/// own).
fn wait_lines(path: &Path, n: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<String> = text.lines().map(str::to_owned).collect();
        if lines.len() >= n {
            return lines;
        }
        assert!(
            Instant::now() < deadline,
            "{} has {} lines, wanted {n}: {lines:?}",
            path.display(),
            lines.len()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn get(url: &str) {
    let ran = run_nethttp(&["get", url], LIMIT);
    assert!(ran.status.success(), "{}", ran.stderr);
}

/// A `combined` line without its time.
fn untimed(line: &str) -> String {
    let (before, rest) = line.split_once(" [").unwrap();
    let (_, after) = rest.split_once("] ").unwrap();
    format!("{before} {after}")
}

#[test]
fn serve_logs_reopens_on_sigusr1_and_flushes_at_exit() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("access.log");
    let rotated = tmp.path().join("access.log.1");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nethttp"));
    cmd.args(["serve", "--addr", "127.0.0.1:0", "--access-log"])
        .arg(&path);
    let mut served = Served::spawn(cmd);
    let agent = format!("nethttp/{}", env!("CARGO_PKG_VERSION"));
    get(&served.url("/"));
    get(&served.url("/status/418"));
    let lines = wait_lines(&path, 2);
    assert_eq!(
        lines.iter().map(|l| untimed(l)).collect::<Vec<_>>(),
        [
            format!("127.0.0.1 - - \"GET / HTTP/1.1\" 200 13 \"-\" \"{agent}\""),
            format!("127.0.0.1 - - \"GET /status/418 HTTP/1.1\" 418 0 \"-\" \"{agent}\""),
        ]
    );

    // logrotate's way: move the file, then SIGUSR1.
    std::fs::rename(&path, &rotated).unwrap();
    served.signal(libc::SIGUSR1);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !path.exists() {
        assert!(Instant::now() < deadline, "no new file after SIGUSR1");
        std::thread::sleep(Duration::from_millis(20));
    }
    get(&served.url("/stream/2"));
    let lines = wait_lines(&path, 1);
    assert!(untimed(&lines[0]).starts_with("127.0.0.1 - - \"GET /stream/2 HTTP/1.1\" 200 "));
    assert_eq!(wait_lines(&rotated, 2).len(), 2);

    // The last request's line is in the file once the process is gone.
    get(&served.url("/status/204"));
    served.signal(libc::SIGTERM);
    let status = served.wait_exit(LIMIT).expect("exits after SIGTERM");
    assert!(status.success(), "{}", served.log());
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(
        text.contains("\"GET /status/204 HTTP/1.1\" 204 0 "),
        "{text}"
    );
}

/// A request `serve` refuses before its handler is logged too, as nginx logs it.
#[test]
fn serve_logs_the_requests_it_refuses() {
    use std::io::{Read, Write};
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("access.log");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nethttp"));
    cmd.args(["serve", "--addr", "127.0.0.1:0", "--access-log"])
        .arg(&path);
    let served = Served::spawn(cmd);
    let mut c = std::net::TcpStream::connect(served.addr).unwrap();
    c.set_read_timeout(Some(LIMIT)).unwrap();
    c.write_all(b"GET /a b HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    c.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    let body = answer.split_once("\r\n\r\n").unwrap().1.len();
    let lines = wait_lines(&path, 1);
    assert_eq!(
        untimed(&lines[0]),
        format!("127.0.0.1 - - \"GET /a b HTTP/1.1\" 400 {body} \"-\" \"-\"")
    );
}

/// A log on a disk that takes nothing (here a FIFO nobody reads: the writer blocks as on a
/// hung mount) holds the exit up for the flush's bound (5 s) and no longer, and says so.
#[test]
fn a_stuck_log_holds_the_exit_up_for_its_bound_only() {
    use std::io::{Read, Write};
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("access.log");
    let made = Command::new("mkfifo").arg(&path).status().unwrap();
    assert!(made.success());
    // Opens the FIFO (so the server's open goes on) and reads nothing until the test ends.
    let (stop, held) = std::sync::mpsc::channel::<()>();
    let fifo = path.clone();
    let reader = std::thread::spawn(move || {
        let f = std::fs::File::open(fifo).unwrap();
        let _ = held.recv();
        drop(f);
    });
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nethttp"));
    cmd.args(["serve", "--addr", "127.0.0.1:0", "--access-log"])
        .arg(&path);
    let mut served = Served::spawn(cmd);
    // 3,000 lines of ~70 bytes: more than the pipe (64 KiB) and the writer's buffer take.
    const N: usize = 3000;
    let mut c = std::net::TcpStream::connect(served.addr).unwrap();
    c.set_read_timeout(Some(LIMIT)).unwrap();
    let mut batch = "GET / HTTP/1.1\r\nHost: x\r\n\r\n".repeat(N - 1);
    batch.push_str("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    c.write_all(batch.as_bytes()).unwrap();
    let mut answers = Vec::new();
    c.read_to_end(&mut answers).unwrap();
    let answered = String::from_utf8_lossy(&answers)
        .matches("HTTP/1.1 200 OK\r\n")
        .count();
    assert_eq!(answered, N);

    let start = Instant::now();
    served.signal(libc::SIGTERM);
    let status = served.wait_exit(LIMIT);
    let took = start.elapsed();
    let _ = stop.send(());
    reader.join().unwrap();
    let status = status.expect("exits after SIGTERM with its log stuck");
    assert!(status.success(), "{}", served.log());
    assert!(
        (Duration::from_secs(4)..Duration::from_secs(15)).contains(&took),
        "exited after {took:?}"
    );
    assert!(
        served
            .log()
            .contains("access log: lines still queued at exit were not written"),
        "{}",
        served.log()
    );
}

#[test]
fn proxy_logs_json_with_the_upstreams_answer() {
    let upstream = serve_plain();
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("access.json");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nethttp"));
    cmd.args(["proxy", "--addr", "127.0.0.1:0", "--to", &upstream.url("")])
        .args(["--access-log-format", "json", "--access-log"])
        .arg(&path);
    let front = Served::spawn(cmd);
    let ran = run_nethttp(&["get", "-d", "twelve bytes", &front.url("/echo")], LIMIT);
    assert!(ran.status.success(), "{}", ran.stderr);
    let lines = wait_lines(&path, 1);
    let v: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(v["method"], "POST");
    assert_eq!(v["uri"], "/echo");
    assert_eq!(v["status"], 200);
    assert_eq!(v["bytes"], 12);
    assert!(
        v["remote"].as_str().unwrap().starts_with("127.0.0.1:"),
        "{v}"
    );
}

#[test]
fn the_format_flag_needs_the_log_flag() {
    for args in [
        &["serve", "--access-log-format", "json"][..],
        &[
            "serve",
            "--access-log",
            "x",
            "--access-log-format",
            "apache",
        ][..],
    ] {
        let ran = run_nethttp(args, LIMIT);
        assert_eq!(ran.status.code(), Some(2), "{args:?}: {}", ran.stderr);
    }
    let ran = run_nethttp(
        &[
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--access-log",
            "/nonexistent/dir/a.log",
        ],
        LIMIT,
    );
    assert_eq!(ran.status.code(), Some(1), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("--access-log /nonexistent/dir/a.log"),
        "{}",
        ran.stderr
    );
}
