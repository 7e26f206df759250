//! The client over a Unix domain socket (`TransportBuilder::unix_socket`): against our own
//! server serving the accepted streams (HTTP/1.1 keep-alive, h2c by prior knowledge, TLS with
//! ALPN h2 checked against the URL's host), against nginx listening on `unix:` paths, and
//! against a raw socket that records the exact request bytes. The URL keeps the Host, the
//! scheme and the pool key; no proxy is used.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::certs::{self_signed, TempDir};
use common::dial::{get, LIMIT};
use common::unix_peers::{read_head, socket_path, within, UnixServer};
use nethttp::client::TransportBuilder;
use nethttp::http::{StatusCode, Version};
use nethttp::{Client, ErrorKind, Server};
use tokio::io::AsyncWriteExt;

/// A client whose every connection goes to the socket at `path`.
fn client(path: &Path, more: impl FnOnce(TransportBuilder) -> TransportBuilder) -> Client {
    let path = path.to_owned();
    common::dial::client(move |t| more(t.unix_socket(path)))
}

#[tokio::test]
async fn http11_over_a_unix_socket_keeps_one_connection_alive() {
    let server = UnixServer::ours(Server::new());
    let c = client(&server.path, |t| t);
    for path in ["/a", "/b", "/c"] {
        let (status, version, body) = get(&c, &format!("http://example.test{path}")).await;
        assert_eq!((status, version), (StatusCode::OK, Version::HTTP_11));
        assert_eq!(body, format!("example.test {path} HTTP/1.1"));
    }
    assert_eq!(server.accepted(), 1, "one connection served every request");
    let stats = c.pool_stats();
    assert_eq!((stats.dials, stats.reuses), (1, 2), "{stats:?}");
    assert_eq!(stats.hosts[0].key, "http://example.test:80");
}

#[tokio::test]
async fn h2_prior_knowledge_over_a_unix_socket_shares_one_connection() {
    let server = UnixServer::ours(Server::new());
    let c = client(&server.path, |t| t.http2_prior_knowledge(true));
    let first = get(&c, "http://example.test:8080/first").await;
    assert_eq!(first.1, Version::HTTP_2);
    assert_eq!(first.2, "example.test:8080 /first HTTP/2.0");
    let answers = futures_join(&c, 8).await;
    for (i, (status, version, body)) in answers.into_iter().enumerate() {
        assert_eq!((status, version), (StatusCode::OK, Version::HTTP_2));
        assert_eq!(body, format!("example.test:8080 /{i} HTTP/2.0"));
    }
    assert_eq!(
        server.accepted(),
        1,
        "one HTTP/2 connection carried every stream"
    );
}

/// `n` concurrent GETs of `/0` .. `/n-1`.
async fn futures_join(c: &Client, n: usize) -> Vec<(StatusCode, Version, String)> {
    let mut set = tokio::task::JoinSet::new();
    for i in 0..n {
        let c = c.clone();
        set.spawn(async move { (i, get(&c, &format!("http://example.test:8080/{i}")).await) });
    }
    let mut out: Vec<_> = set.join_all().await;
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, a)| a).collect()
}

#[tokio::test]
async fn tls_over_a_unix_socket_picks_h2_by_alpn_and_checks_the_urls_host() {
    let cert = self_signed();
    let server = UnixServer::ours(Server::new().tls(cert.server_tls()));
    let c = client(&server.path, |t| t.tls(cert.client_tls()));
    for path in ["/x", "/y"] {
        let (status, version, body) = get(&c, &format!("https://localhost{path}")).await;
        assert_eq!((status, version), (StatusCode::OK, Version::HTTP_2));
        assert_eq!(body, format!("localhost {path} HTTP/2.0"));
    }
    assert_eq!(server.accepted(), 1);

    // HTTP/1.1 by ALPN when h2 is not offered.
    let h1 = client(&server.path, |t| t.tls(cert.client_tls()).http2(false));
    let (_, version, body) = get(&h1, "https://localhost/z").await;
    assert_eq!(version, Version::HTTP_11);
    assert_eq!(body, "localhost /z HTTP/1.1");

    // The certificate is checked against the URL's host, not the socket: it names
    // localhost, so another host in the URL is refused.
    let err = within(
        "GET other name",
        LIMIT,
        c.get("https://example.test/").send(),
    )
    .await
    .expect_err("the certificate does not name example.test");
    assert_eq!(err.kind(), ErrorKind::Certificate, "{err}");
}

#[tokio::test]
async fn no_proxy_is_used_with_a_unix_socket() {
    let server = UnixServer::ours(Server::new());
    // A proxy nobody listens on: were it used, the request would fail.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy = dead.local_addr().unwrap().to_string();
    drop(dead);
    let c = client(&server.path, |t| t.proxy(proxy));
    let (status, _, body) = get(&c, "http://example.test/via").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body, "example.test /via HTTP/1.1",
        "origin form, not a proxy's"
    );
}

#[tokio::test]
async fn the_request_bytes_on_the_socket_name_the_urls_host() {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let server = UnixServer::raw(move |mut stream, _| {
        let tx = tx.clone();
        async move {
            let mut buf = Vec::new();
            while let Some(head) = read_head(&mut stream, &mut buf).await {
                let _ = tx.send(head);
                let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                if stream.write_all(answer).await.is_err() {
                    return;
                }
            }
        }
    });
    let c = client(&server.path, |t| t);
    let ua = concat!(
        "user-agent: nethttp/",
        env!("CARGO_PKG_VERSION"),
        "\r\naccept-encoding: gzip, br, zstd, deflate\r\n"
    );
    let (_, _, body) = get(&c, "http://example.test:8080/p?q=1").await;
    assert_eq!(body, "ok");
    assert_eq!(
        rx.recv().await.unwrap(),
        format!("GET /p?q=1 HTTP/1.1\r\nhost: example.test:8080\r\n{ua}\r\n")
    );
    // The scheme's default port is left out of Host, as on TCP.
    let res = within(
        "POST",
        LIMIT,
        c.post("http://Example.Test/upload").body("hi").send(),
    )
    .await
    .expect("POST");
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        rx.recv().await.unwrap(),
        format!("POST /upload HTTP/1.1\r\nhost: Example.Test\r\n{ua}content-length: 2\r\n\r\n")
    );
    // Both hosts share the one socket, but not a connection: the pool keys by URL host.
    assert_eq!(server.accepted(), 2);
}

#[tokio::test]
async fn a_missing_socket_is_a_connect_error_naming_the_path() {
    let (_dir, path) = socket_path();
    let c = client(&path, |t| t);
    let err = within("GET", LIMIT, c.get("http://example.test/").send())
        .await
        .expect_err("nothing is there");
    assert_eq!(err.kind(), ErrorKind::Connect, "{err}");
    let msg = format!("{err} {:?}", std::error::Error::source(&err));
    assert!(msg.contains(&path.display().to_string()), "{msg}");
}

// ---------------------------------------------------------------------------------------------
// nginx on `unix:` paths.

/// nginx serving a keep-alive HTTP/1.1 socket and an h2c socket, with an access log of
/// connection numbers.
struct Nginx {
    _child: tokio::process::Child,
    dir: TempDir,
}

impl Nginx {
    async fn start(bin: &Path) -> Nginx {
        let (dir, _) = socket_path();
        let d = dir.0.display();
        for t in ["body", "proxy", "fastcgi", "uwsgi", "scgi"] {
            std::fs::create_dir_all(dir.0.join(format!("tmp/{t}"))).unwrap();
        }
        let conf = format!(
            r#"
master_process off;
error_log {d}/error.log warn;
pid {d}/nginx.pid;
events {{ worker_connections 64; }}
http {{
    log_format conns '$connection $connection_requests $server_protocol $host $uri $status';
    access_log {d}/access.log conns;
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    keepalive_timeout 10;
    server {{
        listen unix:{d}/h1.sock;
        listen unix:{d}/h2.sock http2;
        location = /hello {{ return 200 "hello $host"; }}
    }}
}}
"#
        );
        std::fs::write(dir.0.join("nginx.conf"), conf).unwrap();
        let Some(child) = common::peers::start_nginx(bin, &dir.0).await else {
            let err = std::fs::read_to_string(dir.0.join("error.log")).unwrap_or_default();
            panic!("nginx exited at start:\n{err}");
        };
        Nginx { _child: child, dir }
    }

    fn socket(&self, name: &str) -> PathBuf {
        self.dir.0.join(name)
    }

    /// The access log lines, once there are `n` (nginx writes each as its request ends).
    async fn log(&self, n: usize) -> Vec<String> {
        let path = self.dir.0.join("access.log");
        let read = || -> Vec<String> {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            text.lines().map(str::to_owned).collect()
        };
        let t0 = std::time::Instant::now();
        while read().len() < n && t0.elapsed() < Duration::from_secs(5) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        read()
    }
}

fn nginx() -> Option<PathBuf> {
    common::peers::peer(
        "nginx",
        "-v",
        &["/usr/sbin", "/usr/local/sbin", "/usr/local/nginx/sbin"],
    )
}

#[tokio::test]
async fn nginx_on_a_unix_socket_serves_keep_alive_requests_on_one_connection() {
    let Some(bin) = nginx() else { return };
    let nginx = Nginx::start(&bin).await;
    let c = client(&nginx.socket("h1.sock"), |t| t);
    for _ in 0..3 {
        let (status, version, body) = get(&c, "http://example.test/hello").await;
        assert_eq!((status, version), (StatusCode::OK, Version::HTTP_11));
        assert_eq!(body, "hello example.test");
    }
    let log = nginx.log(3).await;
    assert_eq!(
        log.iter()
            .map(|l| l.split(' ').skip(1).collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>(),
        [
            "1 HTTP/1.1 example.test /hello 200",
            "2 HTTP/1.1 example.test /hello 200",
            "3 HTTP/1.1 example.test /hello 200"
        ],
        "one connection, its requests numbered 1 to 3: {log:?}"
    );
    let conns: std::collections::HashSet<&str> =
        log.iter().filter_map(|l| l.split(' ').next()).collect();
    assert_eq!(conns.len(), 1, "{log:?}");
}

#[tokio::test]
async fn nginx_on_a_unix_socket_speaks_h2_by_prior_knowledge() {
    let Some(bin) = nginx() else { return };
    let nginx = Nginx::start(&bin).await;
    let c = client(&nginx.socket("h2.sock"), |t| t.http2_prior_knowledge(true));
    for _ in 0..2 {
        let (status, version, body) = get(&c, "http://example.test/hello").await;
        assert_eq!((status, version), (StatusCode::OK, Version::HTTP_2));
        assert_eq!(body, "hello example.test");
    }
    let log = nginx.log(2).await;
    assert_eq!(log.len(), 2, "{log:?}");
    assert!(
        log.iter()
            .all(|l| l.contains("HTTP/2.0 example.test /hello 200")),
        "{log:?}"
    );
    assert_eq!(c.pool_stats().dials, 1);
}
