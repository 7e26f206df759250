//! microsocks (a SOCKS5 server nobody here wrote) on a loopback port for the CLI's proxy
//! tests: its log of the targets it connected to readable (`connected to HOST:PORT`, the host
//! as the client named it), killed and its log removed on drop.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::peers::peer_checked;

pub struct Microsocks {
    child: Child,
    pub port: u16,
    log: PathBuf,
}

impl Microsocks {
    /// Starts microsocks on 127.0.0.1 and waits (bounded) until it accepts.
    pub fn start() -> Option<Microsocks> {
        let bin = peer_checked("microsocks", "`-h` did not print its usage", |p| {
            Command::new(p)
                .arg("-h")
                .stdin(Stdio::null())
                .output()
                .is_ok_and(|o| {
                    String::from_utf8_lossy(&[o.stdout, o.stderr].concat()).contains("MicroSocks")
                })
        })?;
        static N: AtomicUsize = AtomicUsize::new(0);
        let log = std::env::temp_dir().join(format!(
            "nethttp-cli-microsocks-{}-{}.log",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(bin)
            .args(["-i", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log file"))
            .stderr(file)
            .spawn()
            .expect("starting microsocks");
        let mut proxy = Microsocks { child, port, log };
        let t0 = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = proxy.child.try_wait() {
                panic!("microsocks exited ({status})");
            }
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "microsocks not listening within 10 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(proxy)
    }

    /// `127.0.0.1:PORT`.
    pub fn authority(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The targets it connected to, as the client named them, in order.
    pub fn targets(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_once(": connected to "))
            .map(|(_, t)| t.trim().to_owned())
            .collect()
    }
}

impl Drop for Microsocks {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}
