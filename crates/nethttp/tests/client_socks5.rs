//! Our client through microsocks (a SOCKS5 server nobody here wrote) to hyper: `socks5h://`
//! names the host for the proxy to resolve, `socks5://` resolves it here and names an
//! address (microsocks logs which it was given); after the handshake the connection is used
//! as a direct one — origin-form HTTP/1.1, TLS with HTTP/2 by ALPN, h2c by prior knowledge —
//! and kept in the pool; a user name and password (RFC 1929) open it, wrong or missing ones
//! are refusals that say so; a target nobody listens on comes back as the proxy's reply code;
//! and curl's `--socks5-hostname` through the same microsocks reaches the same target.
//!
//! microsocks (Debian's `microsocks`) and curl are found on `PATH`; when one is missing the
//! test fails if `CI=true` and is skipped with a note otherwise. Everything listens on
//! loopback; every wait is bounded.

mod common;
#[path = "common/hyper_h2.rs"]
mod hyper_h2;

use bytes::Bytes;
use common::certs;
use common::microsocks::{microsocks, Microsocks};
use common::peers::peer;
use hyper_h2::{rustls_server_config, within, HyperPeer, PeerOptions, Proto};
use nethttp::http::{Request, StatusCode, Version};
use nethttp::{Body, ErrorKind, Transport};

async fn tls_peer(cert: &certs::TestCert, proto: Proto, alpn: &[u8]) -> HyperPeer {
    HyperPeer::start(PeerOptions {
        proto,
        max_concurrent_streams: None,
        tls: Some(rustls_server_config(&cert.cert_pem, &cert.key_pem, &[alpn])),
    })
    .await
}

async fn plain_peer(proto: Proto) -> HyperPeer {
    HyperPeer::start(PeerOptions {
        proto,
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

async fn fetch_err(t: &Transport, url: &str) -> nethttp::Error {
    let req = Request::get(url).body(Body::empty()).unwrap();
    within(url, t.round_trip(req))
        .await
        .expect_err("the proxy does not carry it")
}

/// `socks5h://`: microsocks is given the name `localhost` and resolves it; TLS to hyper runs
/// over the connection with ALPN h2, and the second request rides the pooled connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socks5h_names_the_host_and_https_runs_http2_inside() {
    let Some(bin) = microsocks() else { return };
    let cert = certs::self_signed();
    let peer = tls_peer(&cert, Proto::H2, b"h2").await;
    let proxy = Microsocks::start(&bin, None).await;
    let t = Transport::builder()
        .proxy(format!("socks5h://{}", proxy.authority()))
        .tls(cert.client_tls())
        .build()
        .unwrap();
    for _ in 0..2 {
        let (status, version, body) = fetch(&t, &peer.url("/version")).await;
        assert_eq!((status, version), (StatusCode::OK, Version::HTTP_2));
        assert_eq!(&body[..], b"HTTP/2.0", "the version hyper saw");
    }
    assert_eq!(peer.accepted(), 1, "one connection, reused");
    assert_eq!(
        proxy.targets(),
        [format!("localhost:{}", peer.addr.port())],
        "the proxy got the name"
    );
    let stats = t.pool_stats();
    assert_eq!(
        stats.hosts[0].key,
        format!(
            "https://localhost:{} via socks5h://{}",
            peer.addr.port(),
            proxy.authority()
        )
    );
}

/// `socks5://`: the name is resolved here (by the transport's resolver, so an override
/// answers) and microsocks is given the address; requests are origin-form, as on a direct
/// connection, with the URL's Host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socks5_resolves_here_and_sends_origin_form_requests() {
    let Some(bin) = microsocks() else { return };
    let peer = plain_peer(Proto::H1).await;
    let proxy = Microsocks::start(&bin, None).await;
    let t = Transport::builder()
        .proxy(format!("socks5://{}", proxy.authority()))
        .resolve("target.test", peer.addr)
        .build()
        .unwrap();
    let port = peer.addr.port();
    for _ in 0..2 {
        let (status, version, body) =
            fetch(&t, &format!("http://target.test:{port}/target?q=1")).await;
        assert_eq!((status, version), (StatusCode::OK, Version::HTTP_11));
        assert_eq!(body, format!("/target?q=1 target.test:{port}"));
    }
    assert_eq!(peer.accepted(), 1);
    assert_eq!(proxy.targets(), [format!("127.0.0.1:{port}")]);
}

/// h2c by prior knowledge goes through SOCKS5 as over a direct connection (through an HTTP
/// proxy it could not: the proxy speaks HTTP/1.1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_prior_knowledge_runs_through_socks5() {
    let Some(bin) = microsocks() else { return };
    let peer = plain_peer(Proto::H2).await;
    let proxy = Microsocks::start(&bin, None).await;
    let t = Transport::builder()
        .proxy(format!("socks5h://{}", proxy.authority()))
        .http2_prior_knowledge(true)
        .build()
        .unwrap();
    let (status, version, body) = fetch(&t, &peer.url("/version")).await;
    assert_eq!((status, version), (StatusCode::OK, Version::HTTP_2));
    assert_eq!(&body[..], b"HTTP/2.0");
    assert_eq!(proxy.targets(), [peer.addr.to_string()]);
}

/// microsocks with `-u -P`: the right user name and password (percent-encoded in the URL)
/// open the connection; a wrong password, and no credentials at all, are refusals of the
/// proxy that say which, and reach nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn username_and_password_open_it_and_wrong_ones_are_refused() {
    let Some(bin) = microsocks() else { return };
    let peer = plain_peer(Proto::H1).await;
    let proxy = Microsocks::start(&bin, Some(("nethttp", "pa:ss"))).await;
    let url = peer.url("/version");

    let t = Transport::builder()
        .proxy(format!("socks5h://nethttp:pa%3Ass@{}", proxy.authority()))
        .build()
        .unwrap();
    let (status, _, body) = fetch(&t, &url).await;
    assert_eq!((status, &body[..]), (StatusCode::OK, &b"HTTP/1.1"[..]));
    let key = &t.pool_stats().hosts[0].key;
    assert!(
        key.contains("(credentials ") && !key.contains("pa:ss") && !key.contains("nethttp"),
        "{key}"
    );

    let wrong = Transport::builder()
        .proxy(format!("socks5h://nethttp:wrong@{}", proxy.authority()))
        .build()
        .unwrap();
    let err = fetch_err(&wrong, &url).await;
    assert_eq!(err.kind(), ErrorKind::Proxy, "{err:?}");
    assert!(err.is_proxy() && err.is_connect());
    assert!(
        err.to_string()
            .starts_with("the SOCKS5 proxy refused the user name and password: RFC 1929 status"),
        "{err}"
    );

    let none = Transport::builder()
        .proxy(format!("socks5h://{}", proxy.authority()))
        .build()
        .unwrap();
    let err = fetch_err(&none, &url).await;
    assert_eq!(err.kind(), ErrorKind::Proxy);
    assert_eq!(
        err.to_string(),
        "the SOCKS5 proxy accepts none of the offered authentication methods: offered: none \
         (give the proxy URL user:password@ for RFC 1929)"
    );
    assert_eq!(peer.accepted(), 1, "only the authenticated request arrived");
}

/// A target nobody listens on: microsocks answers with its reply code, which the error
/// names; the proxy itself was reached.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_target_comes_back_as_the_proxys_reply_code() {
    let Some(bin) = microsocks() else { return };
    let proxy = Microsocks::start(&bin, None).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap();
    let t = Transport::builder()
        .proxy(format!("socks5://{}", proxy.authority()))
        .build()
        .unwrap();
    let err = fetch_err(&t, &format!("http://{closed}/")).await;
    assert_eq!(err.kind(), ErrorKind::Proxy, "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "the SOCKS5 proxy could not connect to the target: connection refused (reply \
             0x05) for {closed}"
        )
    );
}

/// curl through the same microsocks (`--socks5-hostname`, with credentials) gets what our
/// client gets from the same target, and microsocks logs the same name for both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_reaches_the_same_target_through_the_same_proxy() {
    let Some(bin) = microsocks() else { return };
    let Some(curl) = peer("curl", "--version", &[]) else {
        return;
    };
    let cert = certs::self_signed();
    let peer = tls_peer(&cert, Proto::H1, b"http/1.1").await;
    let proxy = Microsocks::start(&bin, Some(("u", "p"))).await;
    let url = peer.url("/target");
    let t = Transport::builder()
        .proxy(format!("socks5h://u:p@{}", proxy.authority()))
        .tls(cert.client_tls())
        .build()
        .unwrap();
    let (_, _, ours) = fetch(&t, &url).await;
    // Not `common::curl::curl`: its `--noproxy '*'` would send curl direct.
    let mut cmd = tokio::process::Command::new(&curl);
    cmd.args(["-sS", "--max-time", "12", "--socks5-hostname"])
        .arg(proxy.authority())
        .args(["--proxy-user", "u:p", "--cacert"])
        .arg(cert.cert_path())
        .args(["-w", "\n%{http_code}", &url]);
    let out = common::curl::run(cmd, "curl --socks5-hostname").await;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (theirs, code) = text.rsplit_once('\n').expect("curl printed the status");
    let code: u16 = code.parse().expect("a status code");
    assert_eq!(code, 200);
    assert_eq!(theirs, String::from_utf8_lossy(&ours));
    assert_eq!(
        String::from_utf8_lossy(&ours),
        format!("/target localhost:{}", peer.addr.port())
    );
    let target = format!("localhost:{}", peer.addr.port());
    assert_eq!(proxy.targets(), [target.clone(), target]);
}
