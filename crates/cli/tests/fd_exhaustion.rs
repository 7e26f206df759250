//! Robustness when file descriptors run out: `nethttp serve` under `ulimit -n 64` is flooded
//! with 300 held-open connections. While it cannot accept (EMFILE) it must back off — logging
//! it, using little CPU — instead of spinning on `accept`, and once the flood closes its
//! connections it must serve `GET /` again within a couple of seconds.

mod common;

use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use common::Served;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The file-descriptor limit the server runs under.
const FD_LIMIT: usize = 64;
/// Connections the flood opens and holds (about 5x what the server can accept).
const FLOOD: usize = 300;
/// Most CPU the server may use, in fractions of one core, while it waits for descriptors.
const MAX_CPU: f64 = 0.30;
/// What the accept loop logs when it backs off (see `net::Listener::accept`).
const BACKOFF_LOG: &str = "accept failed; retrying after backoff";

/// `nethttp serve` under a low fd limit. `exec` keeps the pid: the shell becomes the server,
/// so /proc/PID is the server's.
fn start() -> Served {
    let script =
        format!("ulimit -n {FD_LIMIT} && exec \"$0\" serve --addr 127.0.0.1:0 --threads 1");
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(script).arg(env!("CARGO_BIN_EXE_nethttp"));
    Served::spawn(cmd)
}

/// One `GET /` on a fresh connection; `Ok` with the raw response if it came back whole
/// within `within`.
async fn get_root(addr: SocketAddr, within: Duration) -> Result<String, String> {
    let exchange = async {
        let mut s = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        s.write_all(b"GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
            .await
            .map_err(|e| format!("write: {e}"))?;
        let mut resp = Vec::new();
        s.read_to_end(&mut resp)
            .await
            .map_err(|e| format!("read: {e}"))?;
        Ok(String::from_utf8_lossy(&resp).into_owned())
    };
    tokio::time::timeout(within, exchange)
        .await
        .map_err(|_| format!("no answer within {within:?}"))?
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backs_off_on_emfile_and_recovers_when_descriptors_free_up() {
    let server = start();
    let addr = server.addr;
    let resp = get_root(addr, Duration::from_secs(5))
        .await
        .expect("GET / before the flood");
    assert!(resp.starts_with("HTTP/1.1 200 OK\r\n"), "{resp}");

    // The flood: connections opened at once and held; the kernel completes the handshakes
    // (the backlog is 1024) whether or not the server can accept them.
    let connects: Vec<_> = (0..FLOOD)
        .map(|_| {
            tokio::spawn(tokio::time::timeout(
                Duration::from_secs(3),
                TcpStream::connect(addr),
            ))
        })
        .collect();
    let mut flood = Vec::new();
    for c in connects {
        if let Ok(Ok(Ok(stream))) = c.await {
            flood.push(stream);
        }
    }
    assert!(
        flood.len() > 2 * FD_LIMIT,
        "only {} of {FLOOD} flood connections opened; not enough to exhaust {FD_LIMIT} descriptors",
        flood.len()
    );

    // The server runs out of descriptors and says it backs off.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !server.log().contains(BACKOFF_LOG) {
        assert!(
            Instant::now() < deadline,
            "no accept backoff logged; log:\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let log = server.log();
    assert!(
        log.contains("Too many open files"),
        "backoff for another reason than EMFILE:\n{log}"
    );

    // While flooded it waits rather than spins.
    let window = Duration::from_secs(1);
    let (cpu0, t0) = (server.cpu_time(), Instant::now());
    tokio::time::sleep(window).await;
    let (cpu1, t1) = (server.cpu_time(), Instant::now());
    let share = (cpu1 - cpu0).as_secs_f64() / (t1 - t0).as_secs_f64();
    assert!(
        share < MAX_CPU,
        "the server used {:.0}% of a core while out of descriptors (limit {:.0}%)",
        share * 100.0,
        MAX_CPU * 100.0
    );

    // The flood leaves; the server serves again within a couple of seconds.
    drop(flood);
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let last = match get_root(addr, Duration::from_millis(1500)).await {
            Ok(resp)
                if resp.starts_with("HTTP/1.1 200 OK\r\n") && resp.ends_with("Hello, World!") =>
            {
                break
            }
            Ok(resp) => format!("unexpected response {resp:?}"),
            Err(e) => e,
        };
        assert!(
            Instant::now() < deadline,
            "GET / still failing 3 s after the flood closed: {last}; log:\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
