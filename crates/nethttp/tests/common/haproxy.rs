//! HAProxy (a load balancer nobody here wrote) on loopback ports, in front of our server for
//! the PROXY protocol tests: started in the foreground (`-db`) on a config written to a
//! temporary directory, every frontend port waited for, killed and its files removed on drop.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::certs::TempDir;
use super::peers::peer;

/// `haproxy`, by the CI rule of [`peer`] (Debian installs it in /usr/sbin).
pub fn haproxy() -> Option<PathBuf> {
    peer("haproxy", "-v", &["/usr/sbin"])
}

/// A free loopback port (bound and released: HAProxy cannot report a port it picked).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// A running HAProxy, killed on drop.
pub struct Haproxy {
    child: std::process::Child,
    dir: TempDir,
}

impl Haproxy {
    /// Starts HAProxy on `config` (global and defaults sections are added) and waits up to
    /// 10 s until every port in `ports` accepts connections.
    pub async fn start(bin: &Path, config: &str, ports: &[u16]) -> Haproxy {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = TempDir(std::env::temp_dir().join(format!(
            "nethttp-haproxy-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        )));
        std::fs::create_dir_all(&dir.0).expect("temp dir");
        let full = format!(
            "global\n    maxconn 200\n\n\
             defaults\n    timeout connect 5s\n    timeout client 10s\n    timeout server 10s\n\n\
             {config}"
        );
        let path = dir.0.join("haproxy.cfg");
        std::fs::write(&path, full).expect("writing haproxy.cfg");
        let log = std::fs::File::create(dir.0.join("haproxy.log")).expect("log file");
        let child = std::process::Command::new(bin)
            .arg("-db")
            .arg("-f")
            .arg(&path)
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .expect("starting haproxy");
        let mut proxy = Haproxy { child, dir };
        let start = Instant::now();
        for &port in ports {
            while tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_err()
            {
                if let Ok(Some(status)) = proxy.child.try_wait() {
                    panic!("haproxy exited ({status}): {}", proxy.log());
                }
                assert!(
                    start.elapsed() < Duration::from_secs(10),
                    "haproxy not listening on {port} within 10 s: {}",
                    proxy.log()
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        proxy
    }

    /// What HAProxy printed (warnings, alerts).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.0.join("haproxy.log")).unwrap_or_default()
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
