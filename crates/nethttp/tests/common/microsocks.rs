//! microsocks (a SOCKS5 server nobody here wrote) on a loopback port, for the client's SOCKS5
//! tests: optionally demanding a user name and password (RFC 1929), its log of the targets it
//! connected to readable (`connected to HOST:PORT`, the host as the client named it), stopped
//! and its files removed on drop.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::certs::TempDir;
use super::peers::peer_checked;

/// A microsocks on a loopback port, stopped (and its log removed) on drop.
pub struct Microsocks {
    child: std::process::Child,
    pub port: u16,
    dir: TempDir,
}

impl Microsocks {
    /// Starts microsocks on 127.0.0.1; `auth` makes it demand those credentials.
    pub async fn start(bin: &Path, auth: Option<(&str, &str)>) -> Microsocks {
        static N: AtomicUsize = AtomicUsize::new(0);
        let mut dir = TempDir(std::env::temp_dir().join(format!(
            "nethttp-microsocks-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        )));
        std::fs::create_dir_all(&dir.0).expect("temp dir");
        for _ in 0..5 {
            // A free port: microsocks cannot pick one itself and report it.
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free loopback port")
                .port();
            let log = std::fs::File::create(dir.0.join("microsocks.log")).expect("log file");
            let mut cmd = std::process::Command::new(bin);
            cmd.args(["-i", "127.0.0.1", "-p", &port.to_string()]);
            if let Some((user, password)) = auth {
                cmd.args(["-u", user, "-P", password]);
            }
            let child = cmd
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log file"))
                .stderr(log)
                .spawn()
                .expect("starting microsocks");
            let mut proxy = Microsocks { child, port, dir };
            let start = Instant::now();
            loop {
                if tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .is_ok()
                {
                    return proxy;
                }
                if let Ok(Some(_)) = proxy.child.try_wait() {
                    // Its port was taken meanwhile: try another.
                    break;
                }
                assert!(
                    start.elapsed() < Duration::from_secs(10),
                    "microsocks not listening within 10 s"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            dir = std::mem::replace(&mut proxy.dir, TempDir(PathBuf::new()));
        }
        panic!("microsocks found no free port in 5 tries");
    }

    /// `127.0.0.1:PORT`.
    pub fn authority(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The targets it connected to, as the client named them (`localhost:8443`,
    /// `127.0.0.1:8443`), in order.
    pub fn targets(&self) -> Vec<String> {
        let log = std::fs::read_to_string(self.dir.0.join("microsocks.log")).unwrap_or_default();
        log.lines()
            .filter_map(|l| l.split_once(": connected to "))
            .map(|(_, target)| target.trim().to_owned())
            .collect()
    }
}

impl Drop for Microsocks {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// microsocks, by the CI rule of [`super::peers::peer`]. It has no option that exits 0, so
/// `-h` (usage, exit 1) is checked for its banner.
pub fn microsocks() -> Option<PathBuf> {
    peer_checked(
        "microsocks",
        &["/usr/bin", "/usr/local/bin"],
        "`-h` did not print its usage",
        |p| {
            std::process::Command::new(p)
                .arg("-h")
                .stdin(Stdio::null())
                .output()
                .is_ok_and(|o| {
                    let text = [o.stdout, o.stderr].concat();
                    String::from_utf8_lossy(&text).contains("MicroSocks")
                })
        },
    )
}
