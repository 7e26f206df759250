//! nginx as a reverse proxy in front of `nethttp serve` backends: an `upstream` block with
//! `keepalive` connections, its access log recording each response's status and the
//! upstream attempts behind it. Found on `PATH` or in the sbin directories packages install
//! it to, by the CI rule of `peers`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The nginx binary, if there is one that runs (else skipped, or a failure under `CI=true`).
pub fn bin() -> Option<PathBuf> {
    for dir in ["/usr/sbin", "/usr/local/sbin", "/usr/local/nginx/sbin"] {
        let p = Path::new(dir).join("nginx");
        let runs = Command::new(&p)
            .arg("-v")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if runs {
            return Some(p);
        }
    }
    super::peers::peer("nginx", "-v")
}

/// A running nginx, killed when dropped.
pub struct Nginx {
    child: Child,
    pub addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl Nginx {
    /// Starts nginx on a free loopback port, proxying to `backends` (round robin) over
    /// HTTP/1.1 with up to 32 idle keep-alive connections per worker, nginx's default passive
    /// checks on each (`max_fails=1 fail_timeout=10s`).
    pub fn start(bin: &Path, backends: &[SocketAddr]) -> Nginx {
        Nginx::start_with(bin, backends, "")
    }

    /// As [`Nginx::start`], with `params` after each `server` line's address (e.g.
    /// `max_fails=0`).
    pub fn start_with(bin: &Path, backends: &[SocketAddr], params: &str) -> Nginx {
        Nginx::start_with_location(bin, backends, params, "")
    }

    /// As [`Nginx::start_with`], with `directives` added to the proxying `location`
    /// (e.g. `gzip on;`).
    pub fn start_with_location(
        bin: &Path,
        backends: &[SocketAddr],
        params: &str,
        directives: &str,
    ) -> Nginx {
        Nginx::start_with_http(bin, backends, params, "", directives)
    }

    /// As [`Nginx::start_with_location`], with `http` directives added to the `http` block
    /// (e.g. a `limit_req_zone`).
    pub fn start_with_http(
        bin: &Path,
        backends: &[SocketAddr],
        params: &str,
        http: &str,
        directives: &str,
    ) -> Nginx {
        let servers: Vec<String> = backends.iter().map(|b| format!("{b} {params}")).collect();
        Nginx::start_with_servers(bin, &servers, http, directives)
    }

    /// As [`Nginx::start_with_http`], with each `server` line of the `upstream` block given
    /// whole (`"127.0.0.1:9000 weight=2"`).
    pub fn start_with_servers(
        bin: &Path,
        servers: &[String],
        http: &str,
        directives: &str,
    ) -> Nginx {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path().display().to_string();
        for t in ["body", "proxy", "fastcgi", "uwsgi", "scgi"] {
            std::fs::create_dir_all(dir.path().join(t)).expect("nginx temp dir");
        }
        let servers: String = servers
            .iter()
            .map(|s| format!("        server {s};\n"))
            .collect();
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("free port")
                .port();
            let conf = format!(
                r#"
master_process off;
error_log {d}/error.log warn;
pid {d}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    log_format st '$status $upstream_status';
    access_log {d}/access.log st;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    keepalive_requests 100000;
    {http}
    upstream backends {{
{servers}        keepalive 32;
    }}
    server {{
        listen 127.0.0.1:{port} backlog=1024;
        location / {{
            proxy_pass http://backends;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            {directives}
        }}
    }}
}}
"#
            );
            std::fs::write(dir.path().join("nginx.conf"), conf).expect("nginx.conf");
            let mut child = Command::new(bin)
                .arg("-p")
                .arg(format!("{d}/"))
                .arg("-c")
                .arg(dir.path().join("nginx.conf"))
                .args(["-g", "daemon off;"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn nginx");
            let started = Instant::now();
            loop {
                if let Ok(Some(_)) = child.try_wait() {
                    break; // the port was taken meanwhile: another one
                }
                if dir.path().join("nginx.pid").exists() {
                    return Nginx {
                        child,
                        addr: SocketAddr::from(([127, 0, 0, 1], port)),
                        dir,
                    };
                }
                assert!(
                    started.elapsed() < Duration::from_secs(10),
                    "nginx did not start: {}",
                    std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default()
                );
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        panic!("nginx found no free port in 5 tries");
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The access log: one `STATUS UPSTREAM_STATUSES` line per response.
    pub fn access_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default()
    }

    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// From an access log: (responses, responses with a 5xx status, upstream attempts that
/// failed and were retried on another backend).
pub fn tally(access_log: &str) -> (u64, u64, u64) {
    let (mut all, mut five, mut retried) = (0, 0, 0);
    for line in access_log.lines() {
        let mut fields = line.split_whitespace();
        let status = fields.next().unwrap_or("");
        all += 1;
        if status.starts_with('5') {
            five += 1;
        }
        // `$upstream_status` lists every attempt, `502, 200` for one retried.
        retried += line.matches(", ").count() as u64;
    }
    (all, five, retried)
}
