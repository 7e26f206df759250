//! A process-wide rustls provider, installed before any config is built, is the one the
//! server and client use (rustls's own order), so a process can bring its own backend (a
//! FIPS module, a restricted suite list) without the crate overriding it. Its own binary:
//! the installed default is global to the process.

mod common;

use std::sync::Arc;

use nethttp::test::TestServer;
use nethttp::tls::rustls::{self, crypto::CryptoProvider, CipherSuite};
use nethttp::HttpRequest;

/// The built-in provider narrowed to one TLS 1.3 suite, which a handshake then has to
/// choose whatever the peer prefers.
fn chacha_only() -> CryptoProvider {
    let mut provider = (*nethttp::tls::crypto_provider().unwrap()).clone();
    provider
        .cipher_suites
        .retain(|s| s.suite() == CipherSuite::TLS13_CHACHA20_POLY1305_SHA256);
    assert_eq!(provider.cipher_suites.len(), 1);
    provider
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_installed_process_default_is_used_by_server_and_client() {
    // Before installing: the built-in provider, with every suite.
    let before = nethttp::tls::crypto_provider().unwrap();
    assert!(before.cipher_suites.len() > 1);
    chacha_only().install_default().unwrap();
    let now = nethttp::tls::crypto_provider().unwrap();
    assert_eq!(now.cipher_suites.len(), 1);
    assert!(Arc::ptr_eq(&now, CryptoProvider::get_default().unwrap()));

    let server =
        TestServer::start_tls(|req: HttpRequest| async move { format!("{:?}", req.version()) })
            .await;
    // Our client (its config built now, on the installed default) against our server
    // (likewise): both sides can only agree on the one suite.
    let res = server.client().get(server.url("/")).send().await.unwrap();
    assert_eq!(res.into_body().to_bytes(64).await.unwrap(), "HTTP/2.0");

    // A rustls client on the full built-in list, preferring AES-GCM, still gets ChaCha20:
    // the server's list is the installed one.
    let addr = server.addr();
    let ca = server.certificate().unwrap().cert_pem().to_owned();
    let suite = tokio::task::spawn_blocking(move || {
        let config = common::certs::rustls_client_config(before, &ca, &[]);
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let mut conn = rustls::ClientConnection::new(config, name).unwrap();
        let mut tcp = std::net::TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        while conn.is_handshaking() {
            conn.complete_io(&mut tcp).unwrap();
        }
        conn.negotiated_cipher_suite().unwrap().suite()
    })
    .await
    .unwrap();
    assert_eq!(suite, CipherSuite::TLS13_CHACHA20_POLY1305_SHA256);
}
