//! Our client through tinyproxy (a real forward proxy nobody here wrote) to hyper: https
//! goes through a CONNECT tunnel, with TLS and HTTP/2 (ALPN) end to end and the tunnel kept
//! in the pool; plain http goes to the proxy in absolute form; Basic proxy credentials open
//! both; a tunnel the proxy refuses is a connect error naming the proxy's status. A raw proxy
//! checks the exact CONNECT bytes and the answers that must not become a tunnel.
//!
//! tinyproxy is found on `PATH` (also /usr/sbin, /usr/bin); when it is missing the test
//! fails if `CI=true` and is skipped with a note otherwise. Everything listens on loopback;
//! every wait is bounded.

mod common;
#[path = "common/hyper_h2.rs"]
mod hyper_h2;

use std::time::Duration;

use bytes::Bytes;
use common::certs;
use common::tinyproxy::{tinyproxy, Tinyproxy};
use hyper_h2::{rustls_server_config, within, HyperPeer, PeerOptions, Proto};
use nethttp::http::{Request, StatusCode, Version};
use nethttp::{Body, Transport};

/// hyper behind TLS with `cert`, offering `alpn`.
async fn tls_peer(cert: &certs::TestCert, proto: Proto, alpn: &[u8]) -> HyperPeer {
    HyperPeer::start(PeerOptions {
        proto,
        max_concurrent_streams: None,
        tls: Some(rustls_server_config(&cert.cert_pem, &cert.key_pem, &[alpn])),
    })
    .await
}

/// hyper speaking plain HTTP/1.1.
async fn plain_peer() -> HyperPeer {
    HyperPeer::start(PeerOptions {
        proto: Proto::H1,
        max_concurrent_streams: None,
        tls: None,
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

/// https through the proxy: one CONNECT, then TLS with ALPN h2 to hyper; the tunnel is a
/// pooled connection, so the second request goes over it without a new CONNECT.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_goes_through_a_connect_tunnel_with_http2_end_to_end() {
    let Some(bin) = tinyproxy() else { return };
    let cert = certs::self_signed();
    let peer = tls_peer(&cert, Proto::H2, b"h2").await;
    let proxy = Tinyproxy::start(&bin, &[], None).await;
    let t = Transport::builder()
        .proxy(proxy.authority())
        .tls(cert.client_tls())
        .build()
        .unwrap();
    for _ in 0..2 {
        let (status, version, body) = fetch(&t, &peer.url("/version")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(version, Version::HTTP_2);
        assert_eq!(&body[..], b"HTTP/2.0", "the version hyper saw");
    }
    assert_eq!(peer.accepted(), 1, "one tunnel, reused");
    assert_eq!(t.pool_stats().dials, 1);
    assert_eq!(
        proxy.requests(),
        vec![format!("CONNECT localhost:{} HTTP/1.1", peer.addr.port())]
    );
}

/// A target that offers only HTTP/1.1: requests in the tunnel are ordinary origin-form
/// requests to hyper, and keep-alive reuses the tunnel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_to_an_http11_target_reuses_the_tunnel() {
    let Some(bin) = tinyproxy() else { return };
    let cert = certs::self_signed();
    let peer = tls_peer(&cert, Proto::H1, b"http/1.1").await;
    let proxy = Tinyproxy::start(&bin, &[], None).await;
    let t = Transport::builder()
        .proxy(proxy.authority())
        .tls(cert.client_tls())
        .build()
        .unwrap();
    for _ in 0..3 {
        let (status, version, body) = fetch(&t, &peer.url("/version")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(version, Version::HTTP_11);
        assert_eq!(&body[..], b"HTTP/1.1");
    }
    assert_eq!(peer.accepted(), 1);
    assert_eq!(proxy.requests().len(), 1, "{:?}", proxy.requests());
}

/// Plain http is not tunnelled: the proxy gets absolute-form requests and forwards them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_goes_to_the_proxy_in_absolute_form() {
    let Some(bin) = tinyproxy() else { return };
    let peer = plain_peer().await;
    let proxy = Tinyproxy::start(&bin, &[], None).await;
    let t = Transport::builder()
        .proxy(proxy.authority())
        .build()
        .unwrap();
    let url = peer.url("/version");
    let (status, _, body) = fetch(&t, &url).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(&body[..], b"HTTP/1.1");
    assert_eq!(proxy.requests(), vec![format!("GET {url} HTTP/1.1")]);
}

/// Hosts in the bypass list (NO_PROXY syntax) go direct; the rest still use the proxy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bypassed_hosts_go_direct() {
    let Some(bin) = tinyproxy() else { return };
    let peer = plain_peer().await;
    let proxy = Tinyproxy::start(&bin, &[], None).await;
    let t = Transport::builder()
        .proxy(proxy.authority())
        .proxy_bypass("internal.test, 127.0.0.0/8")
        .build()
        .unwrap();
    let (status, _, _) = fetch(&t, &peer.url("/version")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(proxy.requests().is_empty(), "{:?}", proxy.requests());
    assert_eq!(peer.accepted(), 1);

    // A bypass entry for another port leaves this one proxied.
    let t = Transport::builder()
        .proxy(proxy.authority())
        .proxy_bypass("127.0.0.1:1")
        .build()
        .unwrap();
    let url = peer.url("/version");
    let (status, _, _) = fetch(&t, &url).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(proxy.requests(), vec![format!("GET {url} HTTP/1.1")]);
}

/// A proxy that will not tunnel to the port answers 403: the request fails as a connect
/// error that names the status, and nothing reaches the target.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_tunnel_is_a_connect_error_naming_the_status() {
    let Some(bin) = tinyproxy() else { return };
    let cert = certs::self_signed();
    let peer = tls_peer(&cert, Proto::H2, b"h2").await;
    // Tunnels only to port 1: not the target's.
    let proxy = Tinyproxy::start(&bin, &[1], None).await;
    let t = Transport::builder()
        .proxy(proxy.authority())
        .tls(cert.client_tls())
        .build()
        .unwrap();
    let req = Request::get(peer.url("/version"))
        .body(Body::empty())
        .unwrap();
    let err = within("refused tunnel", t.round_trip(req))
        .await
        .expect_err("the proxy refuses the tunnel");
    assert!(err.is_connect(), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("refused the CONNECT tunnel") && msg.contains("403"),
        "{msg}"
    );
    assert_eq!(peer.accepted(), 0);
}

/// A raw proxy that reads one CONNECT request head (sent back on the returned channel),
/// then answers `answer` and holds the connection for a while; an empty answer closes it
/// at once, and `None` stays silent.
async fn raw_proxy(
    answer: Option<&'static [u8]>,
) -> (
    std::net::SocketAddr,
    tokio::sync::oneshot::Receiver<Vec<u8>>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.ends_with(b"\r\n\r\n") {
            let n = s.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
        }
        let _ = tx.send(head);
        match answer {
            Some(b"") => return,
            Some(a) => s.write_all(a).await.unwrap(),
            None => {}
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    });
    (addr, rx)
}

/// The exact CONNECT request, and the proxy answers that must not become a tunnel: bytes
/// after a 200 (they would corrupt the TLS handshake), a close before any answer, silence
/// past the connect timeout, and a 407.
#[tokio::test]
async fn connect_answers_that_are_not_a_tunnel_fail_with_typed_errors() {
    let ua = format!("nethttp/{}", env!("CARGO_PKG_VERSION"));
    let cases: [(Option<&'static [u8]>, &str); 4] = [
        (
            Some(b"HTTP/1.1 200 OK\r\n\r\nunexpected"),
            "the proxy sent bytes after its CONNECT answer",
        ),
        (Some(b""), "the proxy closed the connection before answering CONNECT"),
        (None, "the proxy did not answer CONNECT within the connect timeout"),
        (
            Some(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n"),
            "the proxy refused the CONNECT tunnel: 407 Proxy Authentication Required for example.test:8443",
        ),
    ];
    for (answer, want) in cases {
        let (addr, proxy) = raw_proxy(answer).await;
        let t = Transport::builder()
            .proxy(addr.to_string())
            .connect_timeout(Duration::from_millis(300))
            .build()
            .unwrap();
        let req = Request::get("https://example.test:8443/")
            .body(Body::empty())
            .unwrap();
        let err = within(want, t.round_trip(req))
            .await
            .expect_err("not a tunnel");
        assert_eq!(err.to_string(), want, "{err:?}");
        if want.contains("timeout") {
            assert!(err.is_timeout(), "{err:?}");
        }
        let head = within("the proxy's request", proxy)
            .await
            .expect("a request");
        assert_eq!(
            String::from_utf8_lossy(&head),
            format!(
                "CONNECT example.test:8443 HTTP/1.1\r\nHost: example.test:8443\r\n\
                 User-Agent: {ua}\r\n\r\n"
            )
        );
    }
}

/// A proxy that demands Basic credentials: given in the proxy address (percent-encoded),
/// they open the tunnel and pass plain requests; without them the tunnel is refused with
/// 407 and a plain request gets the proxy's 407 response.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_credentials_open_the_tunnel_and_pass_plain_requests() {
    let Some(bin) = tinyproxy() else { return };
    let cert = certs::self_signed();
    let tls_peer = tls_peer(&cert, Proto::H2, b"h2").await;
    let plain_peer = plain_peer().await;
    let proxy = Tinyproxy::start(&bin, &[], Some(("nethttp", "s3cr.t"))).await;

    let with_creds = Transport::builder()
        .proxy(format!("http://nethttp:s3cr%2Et@{}", proxy.authority()))
        .tls(cert.client_tls())
        .build()
        .unwrap();
    let (status, version, _) = fetch(&with_creds, &tls_peer.url("/version")).await;
    assert_eq!((status, version), (StatusCode::OK, Version::HTTP_2));
    let (status, _, body) = fetch(&with_creds, &plain_peer.url("/version")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(&body[..], b"HTTP/1.1");
    let key = &with_creds.pool_stats().hosts[0].key;
    assert!(
        !key.contains("s3cr"),
        "credentials leaked into pool stats: {key}"
    );

    let without = Transport::builder()
        .proxy(proxy.authority())
        .tls(cert.client_tls())
        .build()
        .unwrap();
    let req = Request::get(tls_peer.url("/version"))
        .body(Body::empty())
        .unwrap();
    let err = within("tunnel without credentials", without.round_trip(req))
        .await
        .expect_err("407");
    assert!(err.is_connect() && err.to_string().contains("407"), "{err}");
    let (status, _, _) = fetch(&without, &plain_peer.url("/version")).await;
    assert_eq!(status, StatusCode::PROXY_AUTHENTICATION_REQUIRED);
    assert_eq!(tls_peer.accepted(), 1);
}

/// The credentials go on the CONNECT request as `Proxy-Authorization: Basic`.
#[tokio::test]
async fn connect_carries_proxy_authorization() {
    let (addr, proxy) = raw_proxy(Some(b"HTTP/1.1 403 Forbidden\r\n\r\n")).await;
    let t = Transport::builder()
        .proxy(format!("user:pa%20ss@{addr}"))
        .build()
        .unwrap();
    let req = Request::get("https://example.test/")
        .body(Body::empty())
        .unwrap();
    let err = within("refused", t.round_trip(req)).await.expect_err("403");
    assert!(err.to_string().contains("403"), "{err}");
    let head = within("the proxy's request", proxy)
        .await
        .expect("a request");
    let head = String::from_utf8_lossy(&head).into_owned();
    assert!(
        head.starts_with("CONNECT example.test:443 HTTP/1.1\r\n")
            && head.ends_with("\r\nProxy-Authorization: Basic dXNlcjpwYSBzcw==\r\n\r\n"),
        "{head:?}"
    );
}
