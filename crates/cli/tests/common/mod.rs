//! A running `nethttp serve` for the CLI's tests: spawned on an ephemeral loopback port, found
//! from its `listening on` log line, its log collected, killed when the test ends; `tls` makes
//! certificates and HTTPS servers, `peers` finds external programs such as curl, `microsocks`
//! runs the SOCKS5 server, `nginx` a reverse proxy in front of `serve`, `restart` follows a
//! server through hand-overs, `skips` names the tests skipped for a missing one, and `wire`
//! reads raw HTTP/1.1 responses and runs fake upstreams.
#![allow(dead_code)] // each test file uses part of it

pub mod browser;
pub mod h2raw;
pub mod haproxy;
pub mod microsocks;
pub mod nginx;
pub mod peers;
pub mod restart;
/// The note on skipped tests, one copy for both crates' tests.
#[path = "../../../nethttp/tests/common/skips.rs"]
pub mod skips;
pub mod tls;
pub mod wire;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// Bound on waiting for the server to start.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// A running `nethttp serve`, killed if the test ends while it still runs.
pub struct Served {
    pub child: Child,
    pub addr: SocketAddr,
    /// Everything it logged so far (stderr, colour codes stripped).
    log: Arc<Mutex<String>>,
}

impl Served {
    /// Runs `cmd` (which must exec `nethttp serve`, so its pid is the server's), collects
    /// its stderr, and waits (bounded) for the `listening on` line.
    pub fn spawn(mut cmd: Command) -> Served {
        let mut child = cmd
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

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits (bounded) for the log line `{what} on http://ADDR/...` (an operator listener:
    /// `metrics`, `debug page`) and returns ADDR.
    pub fn logged_addr(&self, what: &str) -> SocketAddr {
        let deadline = Instant::now() + TIMEOUT;
        let prefix = format!("{what} on http://");
        loop {
            let log = self.log();
            if let Some(rest) = log
                .lines()
                .find_map(|l| l.split_once(&prefix).map(|(_, r)| r))
            {
                let addr = rest.split('/').next().unwrap_or(rest);
                return addr.parse().expect("an address in the log line");
            }
            assert!(Instant::now() < deadline, "no `{prefix}` line in:\n{log}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn signal(&self, sig: libc::c_int) {
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

    /// User plus system CPU time the process has used so far.
    pub fn cpu_time(&self) -> Duration {
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

    /// Waits (polling, bounded) for the process to exit.
    pub fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
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

/// One `GET path` on a fresh connection with `Connection: close`, read to the end (10 s at
/// most): the whole response, head and body, as text.
pub fn http_get(addr: SocketAddr, path: &str) -> String {
    use std::io::{Read, Write};
    let mut tcp = std::net::TcpStream::connect(addr).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    write!(
        tcp,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut out = String::new();
    tcp.read_to_string(&mut out).expect("the response");
    out
}

/// `127.0.0.1:PORT` (or `[::]:PORT`) from a line containing `listening on ADDR`.
fn listening_addr(line: &str) -> Option<SocketAddr> {
    let rest = &line[line.find("listening on ")? + "listening on ".len()..];
    let end = rest
        .find(|c: char| !(c.is_ascii_hexdigit() || matches!(c, '.' | ':' | '[' | ']')))
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

/// A finished `nethttp` run: exit status and everything it wrote.
pub struct Ran {
    pub status: std::process::ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Ran {
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Fails the test, showing the exit status and stderr, unless the run succeeded.
    pub fn assert_success(&self) {
        assert!(
            self.status.success(),
            "exit status {}; stderr:\n{}",
            self.status,
            self.stderr
        );
    }
}

/// A loopback port free right now (bound and released): for flags that must name the same
/// port twice, where `:0` would give two.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind an ephemeral port")
        .port()
}

/// `nethttp serve` with its defaults on an ephemeral loopback port.
pub fn serve_plain() -> Served {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nethttp"));
    cmd.args(["serve", "--addr", "127.0.0.1:0"]);
    Served::spawn(cmd)
}

/// Runs `nethttp bench ARGS...` to completion within `within`.
pub fn run_bench(args: &[&str], within: Duration) -> Ran {
    let mut all = vec!["bench"];
    all.extend_from_slice(args);
    run_nethttp(&all, within)
}

/// Runs `nethttp ARGS...` to completion, killing it (and failing the test) if it runs
/// longer than `within`. Output is read on threads, so a full pipe never stalls it.
pub fn run_nethttp(args: &[&str], within: Duration) -> Ran {
    run_nethttp_env(args, &[], within)
}

/// The proxy variables `nethttp get` reads; cleared for every run so the machine's own
/// settings cannot change what a test sees.
const PROXY_VARS: [&str; 9] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
    "REQUEST_METHOD",
];

/// [`run_nethttp`] with these environment variables set (and the proxy ones cleared first).
pub fn run_nethttp_env(args: &[&str], vars: &[(&str, &str)], within: Duration) -> Ran {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nethttp"));
    for var in PROXY_VARS {
        cmd.env_remove(var);
    }
    cmd.envs(vars.iter().copied());
    let mut child = cmd
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn nethttp");
    let mut out = child.stdout.take().expect("piped stdout");
    let mut err = child.stderr.take().expect("piped stderr");
    let out = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = std::io::Read::read_to_end(&mut out, &mut buf);
        buf
    });
    let err = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = std::io::Read::read_to_end(&mut err, &mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    });
    let deadline = Instant::now() + within;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "nethttp {args:?} still running after {within:?}; stderr:\n{}",
                err.join().unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Ran {
        status,
        stdout: out.join().expect("stdout reader"),
        stderr: err.join().expect("stderr reader"),
    }
}
