//! HAProxy (Debian's, a balancer nobody here wrote) in front of `nethttp serve` backends for
//! the scale-out tests: an HTTP frontend on a free loopback port, a round-robin backend with
//! active health checks (`option httpchk`) and retries; foreground (`-db`), its output kept,
//! killed on drop. Found on `PATH` or in /usr/sbin, by the CI rule of `peers`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The haproxy binary, if one runs (else skipped, or a failure under `CI=true`).
pub fn bin() -> Option<PathBuf> {
    let sbin = Path::new("/usr/sbin/haproxy");
    let runs = Command::new(sbin)
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if runs {
        return Some(sbin.to_path_buf());
    }
    super::peers::peer("haproxy", "-v")
}

/// A running HAProxy, killed when dropped.
pub struct Haproxy {
    child: Child,
    pub addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl Haproxy {
    /// Balances over `backends` (round robin), checking each with `GET /` every 200 ms (down
    /// after 2 failures), and resending a request whose backend failed before answering to
    /// another one (`retry-on conn-failure empty-response`, `option redispatch`).
    pub fn start(bin: &Path, backends: &[SocketAddr]) -> Haproxy {
        let dir = tempfile::tempdir().expect("tempdir");
        let servers: String = backends
            .iter()
            .enumerate()
            .map(|(i, b)| format!("    server s{i} {b} check inter 200ms fall 2 rise 2\n"))
            .collect();
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("free port")
                .port();
            let conf = format!(
                "global\n    maxconn 1000\n\n\
                 defaults\n    mode http\n    timeout connect 2s\n    timeout client 10s\n    \
                 timeout server 10s\n    retries 3\n    option redispatch 1\n    \
                 retry-on conn-failure empty-response response-timeout\n\n\
                 frontend web\n    bind 127.0.0.1:{port}\n    default_backend app\n\n\
                 backend app\n    balance roundrobin\n    option httpchk GET /\n{servers}"
            );
            std::fs::write(dir.path().join("haproxy.cfg"), conf).expect("haproxy.cfg");
            let log = std::fs::File::create(dir.path().join("haproxy.log")).expect("log");
            let mut child = Command::new(bin)
                .arg("-db")
                .arg("-f")
                .arg(dir.path().join("haproxy.cfg"))
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log"))
                .stderr(log)
                .spawn()
                .expect("spawn haproxy");
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let started = Instant::now();
            loop {
                if let Ok(Some(_)) = child.try_wait() {
                    break; // the port was taken meanwhile: another one
                }
                if std::net::TcpStream::connect(addr).is_ok() {
                    return Haproxy { child, addr, dir };
                }
                assert!(
                    started.elapsed() < Duration::from_secs(10),
                    "haproxy did not start"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        panic!("haproxy found no free port in 5 tries");
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// What HAProxy printed: its alerts and server state changes (`Server app/s0 is DOWN`).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("haproxy.log")).unwrap_or_default()
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
