//! Memory per idle keep-alive connection, the limit the server promises (at most 4 KB): the
//! real `nethttp serve` binary holds hundreds of connections that each served one request,
//! and the growth of its resident set, divided by the connections, must stay under it. The
//! full measurement (10,000 connections, against hyper) is `bench/run.sh`; this keeps a
//! regression (a large future or buffer kept per connection) from landing unseen. The same
//! bound holds for connections on a Unix socket (`serve --unix`).

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::Served;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// Connections held idle. Well under a default open-file limit of 1024 for this process and
/// for the server, and enough that the per-connection cost dwarfs page-granular noise.
const CONNS: usize = 600;
/// Most resident memory one idle keep-alive connection may add.
const MAX_BYTES_PER_CONN: u64 = 4096;
/// Bound on the whole open-and-request phase.
const TIMEOUT: Duration = Duration::from_secs(20);

/// The server's resident set (VmRSS), in bytes.
fn rss(server: &Served) -> u64 {
    rss_of(server.child.id())
}

/// The resident set (VmRSS) of process `pid`, in bytes.
fn rss_of(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .expect("reading the server's /proc status");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc status");
    kb * 1024
}

/// A connection that has sent `GET /` and read the whole keep-alive response: what the
/// server holds afterwards is exactly its idle state.
async fn served_connection(server: &Served) -> TcpStream {
    let s = TcpStream::connect(server.addr).await.expect("connect");
    one_request(s).await
}

/// Sends `GET /` on `s` and reads the whole keep-alive response.
async fn one_request<S: AsyncRead + AsyncWrite + Unpin>(mut s: S) -> S {
    s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .expect("write request");
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    while !got.ends_with(b"Hello, World!") {
        let n = s.read(&mut buf).await.expect("read response");
        assert!(n > 0, "server closed: {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    assert!(got.starts_with(b"HTTP/1.1 200 OK\r\n"));
    s
}

#[tokio::test]
async fn idle_keep_alive_connections_stay_under_4kb_each() {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nethttp"));
    cmd.args(["serve", "--addr", "127.0.0.1:0", "--threads", "1"]);
    let server = Served::spawn(cmd);
    // Warm up: the first connection brings the buffer pools and runtime structures in.
    let _warm = served_connection(&server).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = rss(&server);

    let started = Instant::now();
    let mut held = Vec::with_capacity(CONNS);
    for _ in 0..CONNS {
        held.push(
            tokio::time::timeout(TIMEOUT, served_connection(&server))
                .await
                .expect("connection served in time"),
        );
        assert!(
            started.elapsed() < TIMEOUT,
            "opening connections took too long"
        );
    }
    // Let the server finish moving every connection to its idle state.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = rss(&server);
    let per_conn = after.saturating_sub(before) / CONNS as u64;
    eprintln!("idle keep-alive memory: {per_conn} bytes per connection ({before} -> {after})");
    assert!(
        per_conn <= MAX_BYTES_PER_CONN,
        "{per_conn} bytes per idle connection (limit {MAX_BYTES_PER_CONN}; RSS {before} -> {after})"
    );
    drop(held);
}

#[tokio::test]
async fn idle_keep_alive_connections_on_a_unix_socket_stay_under_4kb_each() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("idle.sock");
    let mut child = Command::new(env!("CARGO_BIN_EXE_nethttp"))
        .args(["serve", "--threads", "1", "--unix"])
        .arg(&path)
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn nethttp serve --unix");
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let started = Instant::now();
    while tokio::net::UnixStream::connect(&path).await.is_err() {
        assert!(child.try_wait().unwrap().is_none(), "serve --unix exited");
        assert!(
            started.elapsed() < TIMEOUT,
            "no socket at {}",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let child = Kill(child);
    let connect = || async {
        let s = tokio::net::UnixStream::connect(&path)
            .await
            .expect("connect");
        tokio::time::timeout(TIMEOUT, one_request(s))
            .await
            .expect("connection served in time")
    };
    let _warm = connect().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = rss_of(child.0.id());
    let mut held = Vec::with_capacity(CONNS);
    for _ in 0..CONNS {
        held.push(connect().await);
        assert!(
            started.elapsed() < TIMEOUT * 2,
            "opening connections took too long"
        );
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = rss_of(child.0.id());
    let per_conn = after.saturating_sub(before) / CONNS as u64;
    eprintln!("idle Unix keep-alive memory: {per_conn} bytes per connection ({before} -> {after})");
    assert!(
        per_conn <= MAX_BYTES_PER_CONN,
        "{per_conn} bytes per idle Unix connection (limit {MAX_BYTES_PER_CONN}; RSS {before} -> {after})"
    );
    drop(held);
}
