//! The reverse proxy between other implementations: curl as the client, nginx as the
//! upstream (its keep-alive connections pooled by our transport). Under `CI=true` a missing
//! peer fails; elsewhere the test is skipped with a note.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::peers::peer;
use nethttp::proxy::ReverseProxy;
use nethttp::test::TestServer;
use nethttp::Server;

/// nginx on a free loopback port, answering with what it received.
struct Nginx {
    _child: tokio::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

async fn nginx(bin: &Path) -> Nginx {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    std::fs::create_dir_all(dir.path().join("www")).unwrap();
    let big: String = (0..20000).map(|i| format!("line {i}\n")).collect();
    std::fs::write(dir.path().join("www/big.txt"), &big).unwrap();
    let (child, port) = common::peers::nginx_on_free_port(bin, dir.path(), |port| {
        format!(
            r#"
    access_log {d}/access.log;
    keepalive_requests 1000;
    server {{
        listen 127.0.0.1:{port};
        root {d}/www;
        location = /who {{
            default_type text/plain;
            return 200 "host=$host xff=$http_x_forwarded_for proto=$http_x_forwarded_proto fwdhost=$http_x_forwarded_host secret=$http_x_secret conn=$connection n=$connection_requests\n";
        }}
        location /big.txt {{ }}
    }}
"#
        )
    })
    .await;
    Nginx {
        _child: child,
        port,
        _dir: dir,
    }
}

fn nginx_bin() -> Option<PathBuf> {
    peer(
        "nginx",
        "-v",
        &["/usr/sbin", "/usr/local/sbin", "/usr/local/nginx/sbin"],
    )
}

async fn curl(bin: &Path, args: &[&str]) -> String {
    let out = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::process::Command::new(bin)
            .args(["-sS", "--max-time", "8"])
            .args(args)
            .stdin(Stdio::null())
            .output(),
    )
    .await
    .expect("curl finished")
    .expect("curl ran");
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// curl → nethttp proxy → nginx, over HTTP/1.1 and h2c: nginx sees its own Host, our
/// forwarding fields and no Connection-named field; the upstream connection is reused.
#[tokio::test]
async fn curl_through_the_proxy_to_nginx() {
    let (Some(curl_bin), Some(nginx_bin)) = (peer("curl", "--version", &[]), nginx_bin()) else {
        return;
    };
    let up = nginx(&nginx_bin).await;
    let proxy = ReverseProxy::new(&format!("http://127.0.0.1:{}", up.port)).unwrap();
    let front = TestServer::start_with(Server::new().conn_info(true), proxy).await;
    let url = front.url("/who");
    let got = curl(
        &curl_bin,
        &[
            "--http1.1",
            "-H",
            "Connection: X-Secret",
            "-H",
            "X-Secret: 1",
            &url,
        ],
    )
    .await;
    let want_prefix = format!(
        "host=127.0.0.1 xff=127.0.0.1 proto=http fwdhost={} secret= conn=",
        front.addr()
    );
    assert!(got.starts_with(&want_prefix), "{got}");
    assert!(got.ends_with(" n=1\n"), "{got}");
    let again = curl(&curl_bin, &["--http2-prior-knowledge", &url]).await;
    assert!(
        again.ends_with(" n=2\n"),
        "the upstream connection was not reused: {again}"
    );
    let conn = |s: &str| {
        s.split(" conn=")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .to_owned()
    };
    assert_eq!(conn(&got), conn(&again));

    let big = curl(&curl_bin, &[&front.url("/big.txt")]).await;
    assert_eq!(big.lines().count(), 20000);
    assert!(big.ends_with("line 19999\n"));
}
