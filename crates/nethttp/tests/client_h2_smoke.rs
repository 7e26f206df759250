//! The client over TLS and HTTP/2 against our own server: ALPN picks h2 and concurrent
//! requests share one connection; h2c by prior knowledge; HTTP/1.1 over TLS; certificate
//! errors are their own kind.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use nethttp::{ClientTls, HttpRequest, Server, Transport};

async fn echo_version(req: HttpRequest) -> nethttp::HttpResponse {
    let v = format!("{:?}", req.version());
    let body = req.into_body().to_bytes(1 << 20).await.unwrap_or_default();
    nethttp::text_response(http::StatusCode::OK, format!("{v} {}", body.len()))
}

fn counting_server(server: Server) -> (nethttp::ServerHandle, Arc<AtomicUsize>) {
    let conns = Arc::new(AtomicUsize::new(0));
    let c = conns.clone();
    let server = server.conn_state_hook(move |_, s| {
        if s == nethttp::ConnState::New {
            c.fetch_add(1, Ordering::SeqCst);
        }
    });
    let listener = server.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    (server.serve(listener, echo_version), conns)
}

#[tokio::test]
async fn https_negotiates_h2_and_shares_one_connection() {
    let cert = common::certs::self_signed();
    let (handle, conns) = counting_server(Server::new().tls(cert.server_tls()));
    let t = Transport::builder().tls(cert.client_tls()).build().unwrap();
    let url = format!("https://localhost:{}/", handle.local_addr().port());
    let mut tasks = Vec::new();
    for i in 0..50 {
        let t = t.clone();
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let req = http::Request::post(&url)
                .body(nethttp::Body::from(vec![b'x'; i]))
                .unwrap();
            let res = t.round_trip(req).await.unwrap();
            assert_eq!(res.version(), http::Version::HTTP_2);
            res.into_body().to_bytes(1024).await.unwrap()
        }));
    }
    for (i, task) in tasks.into_iter().enumerate() {
        let body = tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(body, format!("HTTP/2.0 {i}").as_bytes());
    }
    assert_eq!(
        conns.load(Ordering::SeqCst),
        1,
        "one TCP connection for 50 requests"
    );
    let stats = t.pool_stats();
    assert_eq!(stats.dials, 1);
    assert_eq!(stats.hosts.len(), 1);
    assert_eq!(stats.hosts[0].http2_streams, vec![0]);
}

#[tokio::test]
async fn h2c_prior_knowledge() {
    let (handle, conns) = counting_server(Server::new());
    let t = Transport::builder()
        .http2_prior_knowledge(true)
        .build()
        .unwrap();
    let url = format!("http://127.0.0.1:{}/", handle.local_addr().port());
    for _ in 0..3 {
        let res = t
            .round_trip(
                http::Request::get(&url)
                    .body(nethttp::Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(res.version(), http::Version::HTTP_2);
        assert_eq!(res.into_body().to_bytes(1024).await.unwrap(), "HTTP/2.0 0");
    }
    assert_eq!(conns.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn https_http1_when_h2_is_off() {
    let cert = common::certs::self_signed();
    let (handle, conns) = counting_server(Server::new().tls(cert.server_tls()));
    let t = Transport::builder()
        .tls(cert.client_tls())
        .http2(false)
        .build()
        .unwrap();
    let url = format!("https://localhost:{}/", handle.local_addr().port());
    for _ in 0..3 {
        let res = t
            .round_trip(
                http::Request::get(&url)
                    .body(nethttp::Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(res.version(), http::Version::HTTP_11);
        assert_eq!(res.into_body().to_bytes(1024).await.unwrap(), "HTTP/1.1 0");
    }
    assert_eq!(
        conns.load(Ordering::SeqCst),
        1,
        "keep-alive over TLS reuses the connection"
    );
}

#[tokio::test]
async fn untrusted_certificate_is_a_certificate_error() {
    let cert = common::certs::self_signed();
    let (handle, _) = counting_server(Server::new().tls(cert.server_tls()));
    let t = Transport::builder().tls(ClientTls::new()).build().unwrap();
    let url = format!("https://localhost:{}/", handle.local_addr().port());
    let err = t
        .round_trip(
            http::Request::get(&url)
                .body(nethttp::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap_err();
    assert!(err.is_certificate(), "{err:?}");
    assert!(err.to_string().contains("certificate"), "{err}");
}
