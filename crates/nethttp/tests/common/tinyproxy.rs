//! tinyproxy (a forward proxy nobody here wrote) on a loopback port, for the client's proxy
//! tests and for comparing our forward proxy with it: started with a config of our own,
//! stopped and its files removed on drop, its request log readable.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::certs::TempDir;
use super::peers::peer;

/// A tinyproxy on a loopback port, stopped (and its files removed) on drop.
pub struct Tinyproxy {
    child: std::process::Child,
    pub port: u16,
    dir: TempDir,
}

impl Tinyproxy {
    /// Starts tinyproxy; `connect_ports` limits the ports it tunnels to (empty: any), and
    /// `basic_auth` makes it demand those credentials.
    pub async fn start(
        bin: &Path,
        connect_ports: &[u16],
        basic_auth: Option<(&str, &str)>,
    ) -> Tinyproxy {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = TempDir(std::env::temp_dir().join(format!(
            "nethttp-tinyproxy-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        )));
        std::fs::create_dir_all(&dir.0).expect("temp dir");
        // A free port: tinyproxy cannot pick one itself and report it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let mut conf = format!(
            "Port {port}\nListen 127.0.0.1\nTimeout 30\nMaxClients 50\nAllow 127.0.0.1\n\
             LogFile \"{}\"\nLogLevel Connect\n",
            dir.0.join("tinyproxy.log").display()
        );
        for p in connect_ports {
            conf.push_str(&format!("ConnectPort {p}\n"));
        }
        if let Some((user, password)) = basic_auth {
            conf.push_str(&format!("BasicAuth {user} {password}\n"));
        }
        let conf_path = dir.0.join("tinyproxy.conf");
        std::fs::write(&conf_path, conf).expect("writing tinyproxy.conf");
        let child = std::process::Command::new(bin)
            .arg("-d")
            .arg("-c")
            .arg(&conf_path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("starting tinyproxy");
        let mut proxy = Tinyproxy { child, port, dir };
        let start = Instant::now();
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            if let Ok(Some(status)) = proxy.child.try_wait() {
                panic!("tinyproxy exited ({status}); is its config valid?");
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "tinyproxy not listening within 10 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        proxy
    }

    pub fn authority(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The requests tinyproxy logged (`CONNECT host:port HTTP/1.1`, `GET http://... HTTP/1.1`).
    pub fn requests(&self) -> Vec<String> {
        let log = std::fs::read_to_string(self.dir.0.join("tinyproxy.log")).unwrap_or_default();
        log.lines()
            .filter_map(|l| l.split_once("]: Request (file descriptor "))
            .filter_map(|(_, rest)| rest.split_once("): "))
            .map(|(_, req)| req.to_string())
            .collect()
    }
}

impl Drop for Tinyproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// tinyproxy, by the CI rule of [`peer`].
pub fn tinyproxy() -> Option<PathBuf> {
    peer("tinyproxy", "-v", &["/usr/sbin", "/usr/bin"])
}
