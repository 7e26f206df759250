//! Our client through an HTTPS proxy — tinyproxy behind nginx's `stream` TLS terminator,
//! programs nobody here wrote — to hyper: TLS to the proxy (SNI and certificate for the
//! proxy's host), then a CONNECT tunnel inside it for https, whose TLS and HTTP/2 run inside
//! the proxy's TLS, or absolute-form requests for http; Basic credentials on both; a proxy
//! certificate that is not trusted, or is for other names, is a certificate error of the proxy
//! that reaches nothing; and curl's `--proxy https://` reaches the same target through the
//! same proxy.
//!
//! nginx (with its stream module: `libnginx-mod-stream` on Debian), tinyproxy and curl are
//! found on `PATH`; when one is missing the test fails if `CI=true` and is skipped with a note
//! otherwise. Everything listens on loopback; every wait is bounded.

mod common;
#[path = "common/hyper_h2.rs"]
mod hyper_h2;

use bytes::Bytes;
use common::certs;
use common::https_proxy::{peers, HttpsProxy};
use common::peers::peer;
use hyper_h2::{rustls_server_config, within, HyperPeer, PeerOptions, Proto};
use nethttp::http::{Request, StatusCode, Version};
use nethttp::{Body, CertificateProblem, ClientTls, ErrorKind, Transport};

async fn tls_peer(cert: &certs::TestCert, proto: Proto, alpn: &[u8]) -> HyperPeer {
    HyperPeer::start(PeerOptions {
        proto,
        max_concurrent_streams: None,
        tls: Some(rustls_server_config(&cert.cert_pem, &cert.key_pem, &[alpn])),
    })
    .await
}

async fn fetch(t: &Transport, url: &str) -> (StatusCode, Version, Bytes) {
    within(url, async {
        let req = Request::get(url).body(Body::empty()).unwrap();
        let resp = t
            .round_trip(req)
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e:?}"));
        let (parts, body) = resp.into_parts();
        let body = body.to_bytes(1 << 20).await.expect("body");
        (parts.status, parts.version, body)
    })
    .await
}

/// https through the HTTPS proxy: TLS to nginx, CONNECT to tinyproxy inside it, then TLS
/// with ALPN h2 to hyper inside the tunnel. The proxy's certificate and the target's come from
/// different CAs (each trusted by its own setting); the tunnel is pooled and reused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_runs_http2_inside_the_proxys_tls() {
    let Some(peers) = peers() else { return };
    let target_cert = certs::self_signed();
    let proxy_cert = certs::self_signed();
    let peer = tls_peer(&target_cert, Proto::H2, b"h2").await;
    let proxy = HttpsProxy::start(&peers, &proxy_cert, None).await;
    let t = Transport::builder()
        .proxy(proxy.url())
        .tls(target_cert.client_tls())
        .proxy_tls(proxy_cert.client_tls())
        .build()
        .unwrap();
    for _ in 0..2 {
        let (status, version, body) = fetch(&t, &peer.url("/version")).await;
        assert_eq!((status, version), (StatusCode::OK, Version::HTTP_2));
        assert_eq!(&body[..], b"HTTP/2.0");
    }
    assert_eq!(peer.accepted(), 1, "one tunnel, reused");
    assert_eq!(
        proxy.tinyproxy.requests(),
        [format!("CONNECT localhost:{} HTTP/1.1", peer.addr.port())]
    );
    assert_eq!(
        t.pool_stats().hosts[0].key,
        format!(
            "https://localhost:{} via https://localhost:{}",
            peer.addr.port(),
            proxy.port
        )
    );
}

/// http through the HTTPS proxy: absolute-form requests inside the proxy's TLS, with Basic
/// credentials the proxy demands; without them the proxy's 407 comes back as its answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_goes_in_absolute_form_inside_the_proxys_tls_with_credentials() {
    let Some(peers) = peers() else { return };
    let cert = certs::self_signed();
    let peer = HyperPeer::start(PeerOptions {
        proto: Proto::H1,
        max_concurrent_streams: None,
        tls: None,
    })
    .await;
    let proxy = HttpsProxy::start(&peers, &cert, Some(("nethttp", "s3cret"))).await;
    let url = peer.url("/target");
    let with = Transport::builder()
        .proxy(format!("https://nethttp:s3cret@localhost:{}", proxy.port))
        .proxy_tls(cert.client_tls())
        .build()
        .unwrap();
    for _ in 0..2 {
        let (status, _, body) = fetch(&with, &url).await;
        assert_eq!(status, StatusCode::OK);
        // tinyproxy forwards in origin form, with the URL's Host.
        assert_eq!(body, format!("/target {}", peer.addr));
    }
    assert_eq!(
        proxy.tinyproxy.requests(),
        [format!("GET {url} HTTP/1.1"), format!("GET {url} HTTP/1.1")]
    );
    // (tinyproxy closes its client's connection after each forwarded response, so each
    // request has a TLS connection of its own; the https test shows reuse inside the tunnel.)

    let without = Transport::builder()
        .proxy(proxy.url())
        .proxy_tls(cert.client_tls())
        .build()
        .unwrap();
    let (status, _, _) = fetch(&without, &url).await;
    assert_eq!(status, StatusCode::PROXY_AUTHENTICATION_REQUIRED);
}

/// The proxy's certificate is checked against the proxy's host with the proxy's roots: not
/// trusted (the default roots, which do not hold the test CA), or for other names (the proxy
/// reached as `proxy.test`), it fails as the proxy's certificate, and nothing is sent on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_certificate_that_is_refused_is_the_proxys_error() {
    let Some(peers) = peers() else { return };
    let cert = certs::self_signed();
    let peer = tls_peer(&cert, Proto::H1, b"http/1.1").await;
    let proxy = HttpsProxy::start(&peers, &cert, None).await;
    let url = peer.url("/version");
    let get = |t: Transport| {
        let req = Request::get(&url).body(Body::empty()).unwrap();
        async move {
            within("refused proxy", t.round_trip(req))
                .await
                .expect_err("the proxy's certificate is refused")
        }
    };

    // The target's roots trust the certificate, but the proxy's (the Mozilla set) do not.
    let t = Transport::builder()
        .proxy(proxy.url())
        .tls(cert.client_tls())
        .proxy_tls(ClientTls::new())
        .build()
        .unwrap();
    let err = get(t).await;
    assert_eq!(err.kind(), ErrorKind::Certificate, "{err:?}");
    assert!(err.is_proxy(), "{err:?}");
    assert_eq!(
        err.certificate_problem(),
        Some(CertificateProblem::NotTrusted)
    );
    assert_eq!(
        err.to_string(),
        "the proxy's certificate is not trusted: it is not signed by a trusted root (unknown \
         issuer)"
    );

    let t = Transport::builder()
        .proxy(format!("https://proxy.test:{}", proxy.port))
        .resolve("proxy.test", ([127, 0, 0, 1], proxy.port).into())
        .proxy_tls(cert.client_tls())
        .build()
        .unwrap();
    let err = get(t).await;
    assert_eq!(
        err.certificate_problem(),
        Some(CertificateProblem::OtherNames)
    );
    assert!(err.is_proxy());
    assert!(
        err.to_string()
            .starts_with("the proxy's certificate is for other names: it names ")
            && err
                .to_string()
                .ends_with("; the proxy's host is proxy.test"),
        "{err}"
    );
    assert!(proxy.tinyproxy.requests().is_empty());
    assert_eq!(peer.accepted(), 0);
}

/// curl with `--proxy https://... --proxy-cacert` through the same proxy gets what our
/// client gets from the same https target.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_reaches_the_same_target_through_the_same_https_proxy() {
    let Some(peers) = peers() else { return };
    let Some(curl) = peer("curl", "--version", &[]) else {
        return;
    };
    let cert = certs::self_signed();
    let peer = tls_peer(&cert, Proto::H1, b"http/1.1").await;
    let proxy = HttpsProxy::start(&peers, &cert, None).await;
    let url = peer.url("/target");
    let t = Transport::builder()
        .proxy(proxy.url())
        .tls(cert.client_tls())
        .build()
        .unwrap();
    let (_, _, ours) = fetch(&t, &url).await;
    // Not `common::curl::curl`: its `--noproxy '*'` would send curl direct.
    let mut cmd = tokio::process::Command::new(&curl);
    cmd.args(["-sS", "--max-time", "12", "--proxy"])
        .arg(proxy.url())
        .arg("--proxy-cacert")
        .arg(cert.cert_path())
        .arg("--cacert")
        .arg(cert.cert_path())
        .arg(&url);
    let out = common::curl::run(cmd, "curl --proxy https://").await;
    assert_eq!(out.stdout, ours);
    assert_eq!(
        String::from_utf8_lossy(&ours),
        format!("/target localhost:{}", peer.addr.port())
    );
    let connect = format!("CONNECT localhost:{} HTTP/1.1", peer.addr.port());
    assert_eq!(proxy.tinyproxy.requests(), [connect.clone(), connect]);
}
