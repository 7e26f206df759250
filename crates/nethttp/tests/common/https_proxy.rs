//! An HTTPS proxy made of programs nobody here wrote: tinyproxy behind nginx's `stream` module
//! as the TLS terminator (`listen ... ssl`, then `proxy_pass` of the bytes to tinyproxy), with
//! a certificate made fresh by `common::certs`. The client speaks TLS to nginx and HTTP (CONNECT,
//! absolute-form requests) inside it to tinyproxy, whose request log is readable. nginx needs
//! its stream module with SSL: built in, or loaded from the `libnginx-mod-stream` package.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::certs::{TempDir, TestCert};
use super::peers::{peer, skip, start_nginx};
use super::tinyproxy::{tinyproxy, Tinyproxy};

/// What it takes to run the HTTPS proxy: nginx, the `load_module` line its stream module
/// needs (empty when built in), and tinyproxy.
pub struct Peers {
    nginx: PathBuf,
    load_module: String,
    tinyproxy: PathBuf,
}

/// nginx with `stream` and `stream_ssl`, and tinyproxy, by the CI rule of
/// [`super::peers::peer`].
pub fn peers() -> Option<Peers> {
    let tinyproxy = tinyproxy()?;
    let nginx = peer(
        "nginx",
        "-v",
        &["/usr/sbin", "/usr/local/sbin", "/usr/local/nginx/sbin"],
    )?;
    let out = std::process::Command::new(&nginx)
        .arg("-V")
        .output()
        .expect("nginx -V");
    let flags = String::from_utf8_lossy(&[out.stdout, out.stderr].concat()).into_owned();
    let has = |flag: &str| flags.split_whitespace().any(|f| f == flag);
    if !has("--with-stream_ssl_module") {
        return skip("nginx is built without --with-stream_ssl_module");
    }
    let load_module = if has("--with-stream") {
        String::new()
    } else if has("--with-stream=dynamic") {
        let dir = flags
            .split_whitespace()
            .find_map(|f| f.strip_prefix("--modules-path="))
            .unwrap_or("/usr/lib/nginx/modules");
        let so = Path::new(dir).join("ngx_stream_module.so");
        if !so.exists() {
            return skip(&format!(
                "nginx's stream module {} is missing (Debian: libnginx-mod-stream)",
                so.display()
            ));
        }
        format!("load_module {};", so.display())
    } else {
        return skip("nginx is built without its stream module");
    };
    Some(Peers {
        nginx,
        load_module,
        tinyproxy,
    })
}

/// nginx terminating TLS on a loopback port in front of a tinyproxy; both stopped and their
/// files removed on drop.
pub struct HttpsProxy {
    pub tinyproxy: Tinyproxy,
    pub port: u16,
    _nginx: tokio::process::Child,
    dir: TempDir,
}

impl HttpsProxy {
    /// Starts tinyproxy (`basic_auth` as [`Tinyproxy::start`]'s) and nginx in front of it
    /// with `cert` (for `localhost`, `127.0.0.1`, `::1`).
    pub async fn start(
        peers: &Peers,
        cert: &TestCert,
        basic_auth: Option<(&str, &str)>,
    ) -> HttpsProxy {
        let tinyproxy = Tinyproxy::start(&peers.tinyproxy, &[], basic_auth).await;
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = TempDir(std::env::temp_dir().join(format!(
            "nethttp-https-proxy-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        )));
        std::fs::create_dir_all(&dir.0).expect("temp dir");
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free loopback port")
                .port();
            let d = dir.0.display();
            let conf = format!(
                r#"
{load_module}
master_process off;
error_log {d}/error.log warn;
pid {d}/nginx.pid;
events {{ worker_connections 64; }}
stream {{
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        proxy_pass 127.0.0.1:{upstream};
    }}
}}
"#,
                load_module = peers.load_module,
                cert = cert.cert_path().display(),
                key = cert.key_path().display(),
                upstream = tinyproxy.port,
            );
            std::fs::write(dir.0.join("nginx.conf"), conf).expect("nginx.conf");
            if let Some(child) = start_nginx(&peers.nginx, &dir.0).await {
                return HttpsProxy {
                    tinyproxy,
                    port,
                    _nginx: child,
                    dir,
                };
            }
            let err = std::fs::read_to_string(dir.0.join("error.log")).unwrap_or_default();
            assert!(
                err.contains("Address already in use"),
                "nginx exited at start:\n{err}"
            );
        }
        panic!("nginx found no free port in 5 tries");
    }

    /// `https://localhost:PORT`, the name its certificate holds.
    pub fn url(&self) -> String {
        format!("https://localhost:{}", self.port)
    }
}
