//! Choosing the proxy per request (`TransportBuilder::proxy_fn`, Go's `Transport.Proxy`):
//! requests to one host through different proxies — two microsocks, and direct — each get
//! connections of their own, reused only by requests through the same proxy; the same proxy
//! with other credentials is another proxy to the pool; and the function's error fails the
//! request before anything is dialed.
//!
//! microsocks is found on `PATH`; when it is missing the test fails if `CI=true` and is
//! skipped with a note otherwise. Everything listens on loopback; every wait is bounded.

mod common;
#[path = "common/hyper_h2.rs"]
mod hyper_h2;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::microsocks::{microsocks, Microsocks};
use hyper_h2::{within, HyperPeer, PeerOptions, Proto};
use nethttp::client::ProxyUrl;
use nethttp::http::{Request, StatusCode};
use nethttp::{Body, ErrorKind, Transport};

/// GET `url` with `x-proxy: which` (empty: no header); the body.
async fn get(t: &Transport, url: &str, which: &str) -> String {
    within(url, async {
        let mut req = Request::get(url);
        if !which.is_empty() {
            req = req.header("x-proxy", which);
        }
        let res = t
            .round_trip(req.body(Body::empty()).unwrap())
            .await
            .unwrap_or_else(|e| panic!("GET {url} via {which:?}: {e:?}"));
        assert_eq!(res.status(), StatusCode::OK);
        let body = res.into_body().to_bytes(1 << 16).await.expect("body");
        String::from_utf8(body.to_vec()).unwrap()
    })
    .await
}

/// Interleaved requests to one hyper through proxy A, proxy B and direct: three connections
/// (one each), each reused by its own kind only; then the same proxy A with two users is two
/// more connections through A.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_through_different_proxies_never_share_a_connection() {
    let Some(bin) = microsocks() else { return };
    let peer = HyperPeer::start(PeerOptions {
        proto: Proto::H1,
        max_concurrent_streams: None,
        tls: None,
    })
    .await;
    let a = Microsocks::start(&bin, None).await;
    let b = Microsocks::start(&bin, None).await;
    let via_a = ProxyUrl::parse(&format!("socks5://{}", a.authority())).unwrap();
    let via_b = ProxyUrl::parse(&format!("socks5h://{}", b.authority())).unwrap();
    // microsocks without `-u` accepts any client, so these differ only in what they send.
    let alice = ProxyUrl::parse(&format!("socks5://alice:1@{}", a.authority())).unwrap();
    let bob = ProxyUrl::parse(&format!("socks5://bob:1@{}", a.authority())).unwrap();
    let asked = Arc::new(AtomicUsize::new(0));
    let counted = asked.clone();
    let t = Transport::builder()
        .proxy_fn(move |req| {
            counted.fetch_add(1, Ordering::Relaxed);
            Ok(match req.headers.get("x-proxy").map(|v| v.as_bytes()) {
                Some(b"a") => Some(via_a.clone()),
                Some(b"b") => Some(via_b.clone()),
                Some(b"alice") => Some(alice.clone()),
                Some(b"bob") => Some(bob.clone()),
                _ => None,
            })
        })
        .build()
        .unwrap();
    let url = peer.url("/version");
    for which in ["a", "b", "", "a", "b", "", "a"] {
        assert_eq!(get(&t, &url, which).await, "HTTP/1.1");
    }
    assert_eq!(asked.load(Ordering::Relaxed), 7, "asked once per request");
    assert_eq!(peer.accepted(), 3, "one connection per route");
    let target = peer.addr.to_string();
    assert_eq!(a.targets(), std::slice::from_ref(&target));
    assert_eq!(b.targets(), std::slice::from_ref(&target));
    let stats = t.pool_stats();
    assert_eq!((stats.dials, stats.reuses), (3, 4), "{stats:?}");
    let mut keys: Vec<String> = stats.hosts.iter().map(|h| h.key.clone()).collect();
    keys.sort();
    let direct = format!("http://{target}");
    let mut want = vec![
        direct.clone(),
        format!("{direct} via socks5://{}", a.authority()),
        format!("{direct} via socks5h://{}", b.authority()),
    ];
    want.sort();
    assert_eq!(keys, want);

    for which in ["alice", "bob", "alice", "bob"] {
        assert_eq!(get(&t, &url, which).await, "HTTP/1.1");
    }
    assert_eq!(peer.accepted(), 5, "a connection per set of credentials");
    assert_eq!(a.targets().len(), 3);
    let keys: Vec<String> = t.pool_stats().hosts.iter().map(|h| h.key.clone()).collect();
    assert!(
        keys.iter()
            .all(|k| !k.contains("alice") && !k.contains("bob")),
        "{keys:?}"
    );
    assert_eq!(keys.len(), 5, "{keys:?}");
}

/// The function's errors fail the request and dial nothing: a `ProxyUrl` that did not parse
/// keeps its usage error, any other error is a usage error that names it.
#[tokio::test]
async fn the_functions_error_fails_the_request_before_any_dial() {
    let t = Transport::builder()
        .proxy_fn(|req| match req.uri.path() {
            "/bad-url" => Ok(Some(ProxyUrl::parse("socks4://127.0.0.1:1")?)),
            _ => Err("no proxy for this path".into()),
        })
        .build()
        .unwrap();
    for (path, want) in [
        (
            "/bad-url",
            "the proxy's scheme is none of http://, https://, socks5://, socks5h://",
        ),
        (
            "/other",
            "the proxy function failed: no proxy for this path",
        ),
    ] {
        let req = Request::get(format!("http://127.0.0.1:9{path}"))
            .body(Body::empty())
            .unwrap();
        let err = within(path, t.round_trip(req)).await.expect_err(path);
        assert_eq!(err.kind(), ErrorKind::Usage, "{err:?}");
        assert_eq!(err.to_string(), want);
    }
    assert_eq!(t.pool_stats().dials, 0);
}
