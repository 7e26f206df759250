//! Robustness when file descriptors run out: `nethttp serve` under `ulimit -n 64` is flooded
//! with 300 held-open connections. While it cannot accept (EMFILE) it must back off — logging
//! it, using little CPU — instead of spinning on `accept`, and once the flood closes its
//! connections it must serve `GET /` again within a couple of seconds.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

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

/// `nethttp serve` under a low fd limit, killed when the test ends.
struct Served {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<String>>,
}

impl Served {
    fn start() -> Served {
        // `exec` keeps the pid: the shell becomes the server, so /proc/PID is the server's.
        let script =
            format!("ulimit -n {FD_LIMIT} && exec \"$0\" serve --addr 127.0.0.1:0 --threads 1");
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg(env!("CARGO_BIN_EXE_nethttp"))
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sh -c 'ulimit -n 64; exec nethttp serve'");
        let stderr = child.stderr.take().expect("piped stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        std::thread::spawn({
            let log = log.clone();
            // Drains stderr until the process exits, so logging never blocks the server.
            move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    log.lock().unwrap().push_str(&format!("{line}\n"));
                    let _ = tx.send(line);
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        let addr = loop {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => {
                    if let Some(addr) = listening_addr(&line) {
                        break addr;
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    panic!("no `listening on` line; log:\n{}", log.lock().unwrap());
                }
            }
        };
        Served { child, addr, log }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// User plus system CPU time the process has used so far.
    fn cpu_time(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))
            .expect("read /proc/PID/stat");
        // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
        let rest = &stat[stat.rfind(')').expect("comm in stat") + 2..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        // SAFETY: sysconf reads a constant of the system configuration.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        assert!(hz > 0, "sysconf(_SC_CLK_TCK) failed");
        Duration::from_secs_f64(ticks as f64 / hz as f64)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn listening_addr(line: &str) -> Option<SocketAddr> {
    let rest = &line[line.find("listening on ")? + "listening on ".len()..];
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ':'))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
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
    let server = Served::start();
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
