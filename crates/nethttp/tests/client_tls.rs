//! Our client over TLS against hyper behind tokio-rustls (servers nobody here wrote): ALPN
//! `h2` gives HTTP/2 and one shared connection; a server offering only `http/1.1` gives
//! HTTP/1.1 with keep-alive reuse, also after an idle pause (TLS 1.3 session tickets must not
//! look like a stale connection); certificate failures (unknown issuer, wrong name) are
//! `Error::is_certificate`; `danger_accept_invalid_certs` connects anyway; the trace hooks
//! report the handshake and its ALPN. And nginx with `http2` over TLS serving a static file.
//!
//! nginx is found on `PATH` (also in /usr/sbin); when it is missing the test fails if
//! `CI=true` and is skipped with a note otherwise. Every server listens on loopback; every
//! wait is bounded.

mod common;
#[path = "common/hyper_h2.rs"]
mod hyper_h2;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use common::peers::peer;
use hyper_h2::{
    assert_same_bytes, eventually, payload, rustls_server_config, within, HyperPeer, PeerOptions,
    Proto,
};
use nethttp::client::{GotConn, Trace, TraceHook};
use nethttp::http::{self, Request, StatusCode, Version};
use nethttp::{Body, ClientTls, Transport};

/// What the trace hooks saw, in order.
#[derive(Default)]
struct Rec(Mutex<Vec<String>>);

impl Rec {
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

impl Trace for Rec {
    fn tls_handshake_start(&self) {
        self.0.lock().unwrap().push("tls start".into());
    }
    fn tls_handshake_done(&self, alpn: Option<&[u8]>, err: Option<&nethttp::Error>) {
        self.0.lock().unwrap().push(match err {
            Some(e) => format!("tls error {e}"),
            None => format!(
                "tls done {}",
                alpn.map_or("none".into(), |a| String::from_utf8_lossy(a).into_owned())
            ),
        });
    }
    fn got_conn(&self, info: &GotConn) {
        self.0.lock().unwrap().push(format!(
            "got conn reused={} http2={}",
            info.reused, info.http2
        ));
    }
}

fn get(url: &str, trace: Option<&Arc<Rec>>) -> Request<Body> {
    let mut req = Request::get(url).body(Body::empty()).unwrap();
    if let Some(t) = trace {
        req.extensions_mut()
            .insert(TraceHook(t.clone() as Arc<dyn Trace>));
    }
    req
}

async fn fetch(t: &Transport, req: Request<Body>, what: &str) -> (http::response::Parts, Bytes) {
    within(what, async {
        let res = t
            .round_trip(req)
            .await
            .unwrap_or_else(|e| panic!("{what}: {e:?}"));
        let (parts, body) = res.into_parts();
        let body = body
            .to_bytes(16 << 20)
            .await
            .unwrap_or_else(|e| panic!("{what}: reading the body: {e:?}"));
        (parts, body)
    })
    .await
}

/// hyper over TLS for `cert`, offering `alpn`, serving `proto`.
async fn tls_peer(cert_pem: &str, key_pem: &str, alpn: &[&[u8]], proto: Proto) -> HyperPeer {
    HyperPeer::start(PeerOptions {
        proto,
        max_concurrent_streams: None,
        tls: Some(rustls_server_config(cert_pem, key_pem, alpn)),
    })
    .await
}

/// A certificate naming only `example.com` (not localhost, not 127.0.0.1).
fn example_com_cert() -> (String, String) {
    let key = rcgen::generate_simple_self_signed(vec!["example.com".into()]).expect("rcgen");
    (key.cert.pem(), key.signing_key.serialize_pem())
}

/// ALPN `h2`: the response is HTTP/2 end to end (hyper saw HTTP/2 too), the trace reports the
/// handshake with ALPN `h2` once, and later requests reuse the connection without one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_alpn_h2_to_hyper_gives_http2_and_trace_reports_h2() {
    let cert = common::certs::self_signed();
    let peer = tls_peer(&cert.cert_pem, &cert.key_pem, &[b"h2"], Proto::H2).await;
    let t = Transport::builder().tls(cert.client_tls()).build().unwrap();
    let rec = Arc::new(Rec::default());
    let (parts, body) = fetch(&t, get(&peer.url("/version"), Some(&rec)), "GET /version").await;
    assert_eq!(parts.status, StatusCode::OK);
    assert_eq!(parts.version, Version::HTTP_2);
    assert_eq!(&body[..], b"HTTP/2.0", "the version hyper saw");
    assert_eq!(
        rec.take(),
        vec![
            "tls start",
            "tls done h2",
            "got conn reused=false http2=true"
        ]
    );
    let (parts, _) = fetch(&t, get(&peer.url("/version"), Some(&rec)), "second GET").await;
    assert_eq!(parts.version, Version::HTTP_2);
    assert_eq!(rec.take(), vec!["got conn reused=true http2=true"]);
    assert_eq!(peer.accepted(), 1);
}

/// 50 concurrent requests over https with ALPN h2 share one TLS connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_alpn_h2_concurrent_requests_share_one_connection() {
    let cert = common::certs::self_signed();
    let peer = tls_peer(
        &cert.cert_pem,
        &cert.key_pem,
        &[b"h2", b"http/1.1"],
        Proto::H2,
    )
    .await;
    let t = Transport::builder().tls(cert.client_tls()).build().unwrap();
    let mut tasks = Vec::new();
    for i in 0..50 {
        let t = t.clone();
        let url = peer.url("/hello");
        tasks.push(tokio::spawn(async move {
            fetch(&t, get(&url, None), &format!("GET #{i}")).await
        }));
    }
    for task in tasks {
        let (parts, body) = within("concurrent GET", task).await.unwrap();
        assert_eq!(parts.version, Version::HTTP_2);
        assert_eq!(&body[..], b"hello");
    }
    assert_eq!(peer.accepted(), 1);
    assert_eq!(t.pool_stats().dials, 1);
}

/// A TLS server offering only `http/1.1` (and one offering no ALPN at all): HTTP/1.1, one
/// connection for every sequential request, including after ~300 ms idle — the TLS 1.3
/// session tickets the server sent must not make the idle connection look stale.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_http11_only_server_keeps_alive_across_idle_pause() {
    let cert = common::certs::self_signed();
    for alpn in [&[&b"http/1.1"[..]][..], &[]] {
        let peer = tls_peer(&cert.cert_pem, &cert.key_pem, alpn, Proto::H1).await;
        let t = Transport::builder().tls(cert.client_tls()).build().unwrap();
        let rec = Arc::new(Rec::default());
        let mut n = 0;
        for pause in [0, 0, 300, 0, 300, 300] {
            tokio::time::sleep(Duration::from_millis(pause)).await;
            let (parts, body) = fetch(
                &t,
                get(&peer.url("/version"), Some(&rec)),
                &format!("GET after {pause} ms, ALPN {alpn:?}"),
            )
            .await;
            n += 1;
            assert_eq!(parts.version, Version::HTTP_11);
            assert_eq!(&body[..], b"HTTP/1.1");
        }
        let events = rec.take();
        let want_alpn = if alpn.is_empty() {
            "tls done none"
        } else {
            "tls done http/1.1"
        };
        assert_eq!(
            events[..3],
            ["tls start", want_alpn, "got conn reused=false http2=false"]
        );
        let stats = t.pool_stats();
        assert_eq!(
            (peer.accepted(), stats.dials, stats.reuses, stats.stale),
            (1, 1, n - 1, 0),
            "ALPN {alpn:?}: (accepted, dials, reuses, stale); {stats:?}, trace {events:?}"
        );
    }
}

/// Our self-signed certificate against the Mozilla roots: a certificate error naming the
/// reason, reported to the trace as the handshake's failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_self_signed_certificate_is_a_certificate_error() {
    let cert = common::certs::self_signed();
    let peer = tls_peer(&cert.cert_pem, &cert.key_pem, &[b"h2"], Proto::H2).await;
    let t = Transport::builder().tls(ClientTls::new()).build().unwrap();
    let rec = Arc::new(Rec::default());
    let err = within(
        "GET untrusted",
        t.round_trip(get(&peer.url("/hello"), Some(&rec))),
    )
    .await
    .expect_err("an untrusted certificate fails");
    assert!(err.is_certificate(), "{err:?}");
    assert!(err.is_tls(), "{err:?}");
    assert_eq!(
        err.certificate_problem(),
        Some(nethttp::CertificateProblem::NotTrusted)
    );
    assert_eq!(
        err.to_string(),
        "the server's certificate is not trusted: it is not signed by a trusted root \
         (unknown issuer)"
    );
    let events = rec.take();
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0], "tls start");
    assert!(
        events[1].starts_with("tls error") && events[1].contains("not trusted"),
        "{events:?}"
    );
}

/// A trusted certificate for `example.com` only, reached as `localhost` and as `127.0.0.1`:
/// a certificate error (the name does not match), not another kind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_for_another_name_is_a_certificate_error() {
    let (cert_pem, key_pem) = example_com_cert();
    let peer = tls_peer(&cert_pem, &key_pem, &[b"h2"], Proto::H2).await;
    let tls = ClientTls::with_only_roots_pem(cert_pem.as_bytes()).unwrap();
    let t = Transport::builder().tls(tls).build().unwrap();
    let port = peer.addr.port();
    for host in ["localhost", "127.0.0.1"] {
        let url = format!("https://{host}:{port}/hello");
        let err = within(&url, t.round_trip(get(&url, None)))
            .await
            .expect_err("a certificate for another name fails");
        assert!(err.is_certificate(), "{host}: {err:?}");
        assert_eq!(
            err.to_string(),
            format!(
                "the server's certificate is for other names: it names example.com; \
                 the URL's host is {host}"
            )
        );
    }
    assert_eq!(
        peer.gauges
            .requests
            .load(std::sync::atomic::Ordering::SeqCst),
        0
    );
}

/// `danger_accept_invalid_certs` connects to a self-signed certificate for another name, and
/// still negotiates h2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn danger_accept_invalid_certs_connects() {
    let (cert_pem, key_pem) = example_com_cert();
    let peer = tls_peer(&cert_pem, &key_pem, &[b"h2", b"http/1.1"], Proto::H2).await;
    let t = Transport::builder()
        .tls(ClientTls::danger_accept_invalid_certs())
        .build()
        .unwrap();
    let rec = Arc::new(Rec::default());
    let url = format!("https://127.0.0.1:{}/version", peer.addr.port());
    let (parts, body) = fetch(&t, get(&url, Some(&rec)), "GET, any certificate").await;
    assert_eq!(parts.status, StatusCode::OK);
    assert_eq!(parts.version, Version::HTTP_2);
    assert_eq!(&body[..], b"HTTP/2.0");
    assert_eq!(rec.take()[..2], ["tls start", "tls done h2"]);
}

// ---------------------------------------------------------------------------------------------
// Self-signed certificates as people make them: `openssl req -x509` marks the certificate
// CA:TRUE, which webpki refuses as a server's own ("CaUsedAsEndEntity"); curl and Go accept
// it when it is the trusted certificate. So does the client, with names and dates checked.

/// A self-signed certificate and key made by the real `openssl` binary, as a tutorial
/// would, for `localhost`; `None` (a skip) if openssl is missing outside CI.
fn openssl_self_signed(dir: &Path) -> Option<(String, String)> {
    let bin = peer("openssl", "version", &[])?;
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let out = std::process::Command::new(&bin)
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args([
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("run openssl");
    assert!(out.status.success(), "openssl req: {out:?}");
    let text = std::process::Command::new(&bin)
        .args(["x509", "-noout", "-text", "-in"])
        .arg(&cert)
        .output()
        .expect("run openssl x509");
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("CA:TRUE"),
        "openssl made no CA certificate:\n{text}"
    );
    Some((
        std::fs::read_to_string(cert).unwrap(),
        std::fs::read_to_string(key).unwrap(),
    ))
}

/// A self-signed certificate with `is_ca` set, for `names`, valid from `from` to `to`.
fn rcgen_ca_cert(names: &[&str], from: (i32, u8, u8), to: (i32, u8, u8)) -> (String, String) {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let mut params = rcgen::CertificateParams::new(names).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.not_before = rcgen::date_time_ymd(from.0, from.1, from.2);
    params.not_after = rcgen::date_time_ymd(to.0, to.1, to.2);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), key.serialize_pem())
}

/// GET /hello from a TLS hyper peer serving `cert_pem`, trusting only `trusted_pem`.
async fn get_trusting(
    cert_pem: &str,
    key_pem: &str,
    trusted_pem: &str,
) -> Result<Bytes, nethttp::Error> {
    let peer = tls_peer(cert_pem, key_pem, &[b"h2", b"http/1.1"], Proto::H2).await;
    let tls = ClientTls::with_only_roots_pem(trusted_pem.as_bytes()).unwrap();
    let t = Transport::builder().tls(tls).build().unwrap();
    let res = within("GET", t.round_trip(get(&peer.url("/hello"), None))).await?;
    within("body", res.into_body().to_bytes(1 << 20)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_openssl_self_signed_certificate_is_accepted_when_trusted() {
    let dir = common::certs::TempDir(
        std::env::temp_dir().join(format!("nethttp-openssl-{}", std::process::id())),
    );
    std::fs::create_dir_all(&dir.0).unwrap();
    let Some((cert, key)) = openssl_self_signed(&dir.0) else {
        return;
    };
    let body = get_trusting(&cert, &key, &cert)
        .await
        .expect("trusted openssl cert");
    assert!(!body.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rcgen_ca_certificate_is_accepted_when_it_is_the_trusted_one() {
    let (cert, key) = rcgen_ca_cert(&["localhost"], (2020, 1, 1), (2090, 1, 1));
    get_trusting(&cert, &key, &cert)
        .await
        .expect("trusted CA:TRUE cert");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_ca_certificate_for_another_name_is_still_refused() {
    let (cert, key) = rcgen_ca_cert(&["example.com"], (2020, 1, 1), (2090, 1, 1));
    let err = get_trusting(&cert, &key, &cert).await.unwrap_err();
    assert_eq!(
        err.certificate_problem(),
        Some(nethttp::CertificateProblem::OtherNames),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "the server's certificate is for other names: it names example.com; the URL's host \
         is localhost"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_ca_certificate_out_of_its_dates_is_still_refused() {
    let (cert, key) = rcgen_ca_cert(&["localhost"], (2015, 1, 1), (2020, 1, 1));
    let err = get_trusting(&cert, &key, &cert).await.unwrap_err();
    assert_eq!(
        err.certificate_problem(),
        Some(nethttp::CertificateProblem::Expired),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.starts_with(
            "the server's certificate has expired: it expired 2020-01-01 00:00:00 UTC (now 20"
        ),
        "{msg}"
    );
    let (cert, key) = rcgen_ca_cert(&["localhost"], (2080, 1, 1), (2090, 1, 1));
    let err = get_trusting(&cert, &key, &cert).await.unwrap_err();
    assert_eq!(
        err.certificate_problem(),
        Some(nethttp::CertificateProblem::NotYetValid),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ca_certificate_that_is_not_the_trusted_one_is_refused() {
    let (cert, key) = rcgen_ca_cert(&["localhost"], (2020, 1, 1), (2090, 1, 1));
    let (other, _) = rcgen_ca_cert(&["localhost"], (2020, 1, 1), (2090, 1, 1));
    let err = get_trusting(&cert, &key, &other).await.unwrap_err();
    assert_eq!(
        err.certificate_problem(),
        Some(nethttp::CertificateProblem::NotTrusted),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------
// nginx with `http2` over TLS.

const NGINX_FILE: usize = 300 * 1024;

/// One nginx process (`master_process off`) serving a scratch directory over TLS with
/// HTTP/2, with an access log of connection numbers.
struct Nginx {
    _child: tokio::process::Child,
    port: u16,
    dir: PathBuf,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Nginx {
    async fn start(bin: &Path, cert: &common::certs::TestCert) -> Nginx {
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "nethttp-h2-nginx-{}-{}",
            std::process::id(),
            N.fetch_add(1, SeqCst)
        ));
        std::fs::create_dir_all(dir.join("www")).unwrap();
        std::fs::write(dir.join("www/file.bin"), payload(NGINX_FILE, 21)).unwrap();
        std::fs::create_dir_all(dir.join("www/gz")).unwrap();
        std::fs::write(dir.join("www/gz/page.txt"), gz_page()).unwrap();
        let (listen_h2, http2_on) = common::peers::nginx_http2_syntax(bin);
        let d = dir.display();
        let (cert, key) = (cert.cert_path(), cert.key_path());
        let (child, port) = common::peers::nginx_on_free_port(bin, &dir, |port| {
            format!(
                r#"
    log_format conns '$connection $server_protocol $request_method $uri $status';
    access_log {d}/access.log conns;
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{port} ssl{listen_h2};
        {http2_on}
        ssl_certificate {cert};
        ssl_certificate_key {key};
        root {d}/www;
        location /gz/ {{ gzip on; gzip_types *; gzip_min_length 0; }}
    }}
"#,
                cert = cert.display(),
                key = key.display(),
            )
        })
        .await;
        Nginx {
            _child: child,
            port,
            dir,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.port)
    }

    /// (connection number, protocol) of each logged request, once there are `n`.
    async fn log(&self, n: usize) -> Vec<(u64, String)> {
        let path = self.dir.join("access.log");
        let read = || -> Vec<(u64, String)> {
            std::fs::read_to_string(&path)
                .unwrap_or_default()
                .lines()
                .map(|l| {
                    let f: Vec<&str> = l.split(' ').collect();
                    (f[0].parse().unwrap(), f[1].to_owned())
                })
                .collect()
        };
        eventually(Duration::from_secs(5), || read().len() >= n).await;
        let lines = read();
        assert_eq!(lines.len(), n, "access log: {lines:?}");
        lines
    }
}

/// nginx with http2 over TLS, and a transport trusting its certificate; `None` (the test
/// skips, or fails under CI) when nginx is not installed.
async fn nginx_and_client() -> Option<(Nginx, Transport)> {
    let bin = peer(
        "nginx",
        "-v",
        &["/usr/sbin", "/usr/local/sbin", "/usr/local/nginx/sbin"],
    )?;
    let cert = common::certs::self_signed();
    let nginx = Nginx::start(&bin, &cert).await;
    let t = Transport::builder().tls(cert.client_tls()).build().unwrap();
    Some((nginx, t))
}

/// The text nginx serves gzipped under `/gz/`.
fn gz_page() -> String {
    (0..4000)
        .map(|i| format!("line {i} of a page nginx gzips\n"))
        .collect()
}

/// nginx gzips the page (it asked for gzip itself); over HTTP/2 the client inflates it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_h2_gzip_is_inflated() {
    let Some((nginx, t)) = nginx_and_client().await else {
        return;
    };
    let (parts, body) = fetch(&t, get(&nginx.url("/gz/page.txt"), None), "GET gz").await;
    assert_eq!(parts.status, StatusCode::OK);
    assert_eq!(parts.version, Version::HTTP_2);
    assert!(parts
        .extensions
        .get::<nethttp::client::Decompressed>()
        .is_some());
    assert!(parts.headers.get("content-encoding").is_none(), "{parts:?}");
    assert_same_bytes(&body, gz_page().as_bytes(), "nginx /gz/page.txt");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_h2_over_tls_serves_exact_file_on_one_connection() {
    let Some((nginx, t)) = nginx_and_client().await else {
        return;
    };
    let want = payload(NGINX_FILE, 21);
    let (parts, body) = fetch(&t, get(&nginx.url("/file.bin"), None), "GET /file.bin").await;
    assert_eq!(parts.status, StatusCode::OK);
    assert_eq!(parts.version, Version::HTTP_2);
    assert_same_bytes(&body, &want, "nginx /file.bin");
    let mut tasks = Vec::new();
    for i in 0..50 {
        let t = t.clone();
        let url = nginx.url("/file.bin");
        tasks.push(tokio::spawn(async move {
            fetch(&t, get(&url, None), &format!("GET /file.bin #{i}")).await
        }));
    }
    for task in tasks {
        let (parts, body) = within("concurrent GET", task).await.unwrap();
        assert_eq!(parts.status, StatusCode::OK);
        assert_eq!(parts.version, Version::HTTP_2);
        assert_same_bytes(&body, &want, "nginx /file.bin, concurrent");
    }
    let log = nginx.log(51).await;
    let conns: std::collections::BTreeSet<u64> = log.iter().map(|l| l.0).collect();
    assert_eq!(
        conns.len(),
        1,
        "51 requests over {} connections",
        conns.len()
    );
    assert!(log.iter().all(|l| l.1 == "HTTP/2.0"), "{log:?}");
    let stats = t.pool_stats();
    assert_eq!(stats.dials, 1, "{stats:?}");
    assert_eq!(stats.reuses, 50, "{stats:?}");
}
