//! The TLS crypto backend chosen by feature: the provider the crate reports is the one its
//! server handshakes with (seen from a plain rustls client by what it negotiates), and curl
//! completes a handshake and a request on it. CI runs this file twice: as built by default
//! (ring) and with `--features aws-lc-rs`.

mod common;

use std::io::{Read, Write};
use std::sync::Arc;

use http::Version;
use nethttp::test::TestServer;
use nethttp::tls::rustls::{self, pki_types::ServerName, NamedGroup};
use nethttp::HttpRequest;

/// Whether the crate was built to use AWS-LC.
const AWS_LC: bool = cfg!(feature = "aws-lc-rs");

async fn hello(req: HttpRequest) -> String {
    format!("{:?} {}", req.version(), req.uri().path())
}

/// Handshakes with `addr` from a rustls client that offers every group both backends know
/// (post-quantum hybrid first) and trusts `ca_pem`; sends one HTTP/1.1 request. Returns the
/// negotiated key-exchange group and the response text.
fn handshake(addr: std::net::SocketAddr, ca_pem: &str) -> (NamedGroup, String) {
    let provider = nethttp::tls::crypto_provider().expect("a provider is built in");
    let config = common::certs::rustls_client_config(provider, ca_pem, &[]);
    let name = ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(config, name).unwrap();
    let tcp = std::net::TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(b"GET /pq HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    tls.read_to_string(&mut text).unwrap();
    let group = tls
        .conn
        .negotiated_key_exchange_group()
        .expect("a TLS 1.3 handshake names its group")
        .name();
    (group, text)
}

#[test]
fn the_reported_provider_is_the_features_backend() {
    let provider = nethttp::tls::crypto_provider().unwrap();
    let groups: Vec<NamedGroup> = provider.kx_groups.iter().map(|g| g.name()).collect();
    // AWS-LC offers the X25519 + ML-KEM-768 hybrid (rustls's default there); ring has no
    // ML-KEM at all.
    assert_eq!(
        groups.contains(&NamedGroup::X25519MLKEM768),
        AWS_LC,
        "aws-lc-rs on: {AWS_LC}; groups {groups:?}"
    );
    assert!(groups.contains(&NamedGroup::X25519), "{groups:?}");
    // The same Arc each time: built once, not per config.
    assert!(Arc::ptr_eq(
        &provider,
        &nethttp::tls::crypto_provider().unwrap()
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_handshakes_on_that_backend() {
    let server = TestServer::start_tls(hello).await;
    let addr = server.addr();
    let ca = server.certificate().unwrap().cert_pem().to_owned();
    let (group, text) = tokio::task::spawn_blocking(move || handshake(addr, &ca))
        .await
        .unwrap();
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.ends_with("HTTP/1.1 /pq"), "{text}");
    // The client offers the hybrid first; only a server on AWS-LC can take it.
    let expected = if AWS_LC {
        NamedGroup::X25519MLKEM768
    } else {
        NamedGroup::X25519
    };
    assert_eq!(group, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_and_our_client_complete_requests_on_it() {
    let server = TestServer::start_tls(hello).await;
    // Our client, over HTTP/2 by ALPN, on the same backend.
    let res = server
        .client()
        .get(server.url("/ours"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.version(), Version::HTTP_2);
    assert_eq!(
        res.into_body().to_bytes(1024).await.unwrap(),
        "HTTP/2.0 /ours"
    );
    let Some(curl) = common::peers::peer("curl", "--version", &[]) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, server.certificate().unwrap().cert_pem()).unwrap();
    let ca = ca.to_str().unwrap();
    let url = server.url("/curl");
    for (flag, expected) in [
        ("--http1.1", "HTTP/1.1 /curl"),
        ("--http2", "HTTP/2.0 /curl"),
    ] {
        let (status, body) =
            common::curl::status_and_body(&curl, &[flag, "--cacert", ca, &url]).await;
        assert_eq!((status, body.as_str()), (200, expected), "curl {flag}");
    }
}
