//! The trace hooks of the proxy phases, through proxies nobody here wrote: microsocks
//! (SOCKS5) and tinyproxy behind nginx's `stream` TLS (an `https://` proxy). Each phase is
//! reported in the order it happens (proxy TLS, then the tunnel, then the target's TLS), a
//! refused tunnel or an untrusted proxy certificate ends its phase with the error, and a
//! pooled connection reports none of them again.

mod common;
#[path = "common/hyper_h2.rs"]
mod hyper_h2;

use std::sync::{Arc, Mutex};

use common::certs;
use common::https_proxy::{peers, HttpsProxy};
use common::microsocks::{microsocks, Microsocks};
use hyper_h2::{rustls_server_config, within, HyperPeer, PeerOptions, Proto};
use nethttp::client::{Trace, TraceHook, Tunnel};
use nethttp::http::Request;
use nethttp::{Body, Transport};

/// Records the phases as short lines.
#[derive(Default)]
struct Record(Mutex<Vec<String>>);

impl Record {
    fn push(&self, s: String) {
        self.0.lock().unwrap().push(s);
    }
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

fn outcome(err: Option<&nethttp::Error>) -> &'static str {
    match err {
        None => "ok",
        Some(e) if e.is_proxy() => "proxy error",
        Some(_) => "error",
    }
}

impl Trace for Record {
    fn connect_done(&self, _addr: std::net::SocketAddr, err: Option<&std::io::Error>) {
        self.push(format!(
            "connect {}",
            if err.is_none() { "ok" } else { "error" }
        ));
    }
    fn proxy_tls_handshake_start(&self, host: &str) {
        self.push(format!("proxy tls start {host}"));
    }
    fn proxy_tls_handshake_done(&self, err: Option<&nethttp::Error>) {
        self.push(format!("proxy tls {}", outcome(err)));
    }
    fn proxy_tunnel_start(&self, how: Tunnel, target: &str) {
        self.push(format!("tunnel start {how:?} {target}"));
    }
    fn proxy_tunnel_done(&self, err: Option<&nethttp::Error>) {
        self.push(format!("tunnel {}", outcome(err)));
    }
    fn tls_handshake_start(&self) {
        self.push("tls start".into());
    }
    fn tls_handshake_done(&self, alpn: Option<&[u8]>, err: Option<&nethttp::Error>) {
        let alpn = alpn.map_or("-".into(), String::from_utf8_lossy);
        self.push(format!("tls {} {alpn}", outcome(err)));
    }
    fn got_first_response_byte(&self) {
        self.push("first byte".into());
    }
}

async fn tls_peer(cert: &certs::TestCert) -> HyperPeer {
    HyperPeer::start(PeerOptions {
        proto: Proto::H2,
        max_concurrent_streams: None,
        tls: Some(rustls_server_config(
            &cert.cert_pem,
            &cert.key_pem,
            &[b"h2"],
        )),
    })
    .await
}

/// One GET with `record` as its trace; whether it succeeded.
async fn traced_get(t: &Transport, url: &str, record: &Arc<Record>) -> bool {
    let mut req = Request::get(url).body(Body::empty()).unwrap();
    req.extensions_mut()
        .insert(TraceHook(record.clone() as Arc<dyn Trace>));
    match within(url, t.round_trip(req)).await {
        Ok(resp) => {
            resp.into_body().to_bytes(1 << 16).await.unwrap();
            true
        }
        Err(_) => false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socks5_phases_come_between_the_connect_and_the_targets_tls() {
    let Some(bin) = microsocks() else { return };
    let cert = certs::self_signed();
    let peer = tls_peer(&cert).await;
    let url = peer.url("/version");
    let target = format!("localhost:{}", peer.addr.port());
    let proxy = Microsocks::start(&bin, Some(("user", "secret"))).await;
    let record = Arc::new(Record::default());
    let t = Transport::builder()
        .proxy(format!("socks5h://user:secret@{}", proxy.authority()))
        .tls(cert.client_tls())
        .build()
        .unwrap();
    assert!(traced_get(&t, &url, &record).await);
    assert_eq!(
        record.take(),
        [
            "connect ok".to_owned(),
            format!("tunnel start Socks5 {target}"),
            "tunnel ok".into(),
            "tls start".into(),
            "tls ok h2".into(),
            "first byte".into(),
        ]
    );
    // The pooled connection: no phase but the response.
    assert!(traced_get(&t, &url, &record).await);
    assert_eq!(record.take(), ["first byte"]);

    // Wrong credentials: the tunnel phase ends with the proxy's error; no TLS follows.
    let t = Transport::builder()
        .proxy(format!("socks5h://user:wrong@{}", proxy.authority()))
        .tls(cert.client_tls())
        .build()
        .unwrap();
    assert!(!traced_get(&t, &url, &record).await);
    assert_eq!(
        record.take(),
        [
            "connect ok".to_owned(),
            format!("tunnel start Socks5 {target}"),
            "tunnel proxy error".into(),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_proxy_phases_are_its_tls_then_connect_then_the_targets_tls() {
    let Some(peers) = peers() else { return };
    let target_cert = certs::self_signed();
    let proxy_cert = certs::self_signed();
    let peer = tls_peer(&target_cert).await;
    let url = peer.url("/version");
    let target = format!("localhost:{}", peer.addr.port());
    let proxy = HttpsProxy::start(&peers, &proxy_cert, None).await;
    let record = Arc::new(Record::default());
    let t = Transport::builder()
        .proxy(proxy.url())
        .tls(target_cert.client_tls())
        .proxy_tls(proxy_cert.client_tls())
        .build()
        .unwrap();
    assert!(traced_get(&t, &url, &record).await);
    assert_eq!(
        record.take(),
        [
            "connect ok".to_owned(),
            "proxy tls start localhost".into(),
            "proxy tls ok".into(),
            format!("tunnel start Connect {target}"),
            "tunnel ok".into(),
            "tls start".into(),
            "tls ok h2".into(),
            "first byte".into(),
        ]
    );

    // A proxy certificate nobody trusts: the proxy's TLS phase fails, nothing follows.
    let t = Transport::builder()
        .proxy(proxy.url())
        .tls(target_cert.client_tls())
        .proxy_tls(target_cert.client_tls())
        .build()
        .unwrap();
    assert!(!traced_get(&t, &url, &record).await);
    assert_eq!(
        record.take(),
        [
            "connect ok",
            "proxy tls start localhost",
            "proxy tls proxy error"
        ]
    );
}
