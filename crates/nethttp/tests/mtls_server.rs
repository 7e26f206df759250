//! The server's side of mutual TLS: handlers see the client's verified chain, SNI, ALPN and
//! version in `TlsInfo` (over HTTP/1.1 and HTTP/2, from our client and from curl), and a
//! server that requires client certificates stays bounded against peers that flood it with
//! an oversized chain, trickle the handshake or never read it.

mod common;

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use common::certs::{client_pki, self_signed, ClientPki, TestCert};
use nethttp::tls::{rustls, Identity, TlsInfo};
use nethttp::{Client, ConnInfo, HttpRequest, Server, ServerHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Answers with what the request knows of its TLS connection: `chain=<count> leaf=<hex DER>
/// sni=<name> alpn=<proto> version=<v>`, or `no-tls-info`.
async fn whoami(req: HttpRequest) -> String {
    let Some(tls) = req.extensions().get::<TlsInfo>() else {
        return "no-tls-info".into();
    };
    assert!(req.extensions().get::<ConnInfo>().is_some_and(|c| c.tls));
    let mut leaf = String::new();
    if let Some(cert) = tls.peer_certificates().first() {
        for b in cert.as_ref() {
            write!(leaf, "{b:02x}").unwrap();
        }
    }
    format!(
        "chain={} leaf={leaf} sni={} alpn={} version={:?}",
        tls.peer_certificates().len(),
        tls.server_name().unwrap_or("-"),
        tls.alpn().map_or("-".into(), String::from_utf8_lossy),
        tls.version().unwrap(),
    )
}

/// The hex of the first certificate in `pem`.
fn leaf_hex(pem: &str) -> String {
    let der = rustls::pki_types::pem::PemObject::pem_slice_iter(pem.as_bytes())
        .next()
        .unwrap()
        .map(|c: rustls::pki_types::CertificateDer<'static>| c.as_ref().to_vec())
        .unwrap();
    der.iter().map(|b| format!("{b:02x}")).collect()
}

/// A server on `cert` that requires a client certificate from `pki`'s CA.
fn mtls_server(cert: &TestCert, pki: &ClientPki, handshake_timeout: Duration) -> ServerHandle {
    let tls = cert
        .server_tls()
        .handshake_timeout(handshake_timeout)
        .require_client_cert(pki.ca_pem.as_bytes())
        .unwrap();
    let server = Server::new().tls(tls).conn_info(true);
    let listener = server.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    server.serve(listener, whoami)
}

fn client(cert: &TestCert, pki: &ClientPki, http2: bool) -> Client {
    let identity = Identity::from_pem(pki.cert_pem.as_bytes(), pki.key_pem.as_bytes()).unwrap();
    let tls = cert.client_tls().identity(identity);
    Client::builder()
        .timeout(Duration::from_secs(10))
        .transport(|t| t.tls(tls).http2(http2).no_proxy())
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handlers_see_the_verified_client_chain_from_our_client() {
    let cert = self_signed();
    let pki = client_pki("alice");
    let handle = mtls_server(&cert, &pki, Duration::from_secs(10));
    let url = format!("https://localhost:{}/", handle.local_addr().port());
    let leaf = leaf_hex(&pki.cert_pem);
    for (http2, alpn) in [(false, "http/1.1"), (true, "h2")] {
        let res = client(&cert, &pki, http2).get(&url).send().await.unwrap();
        let body = res.into_body().to_bytes(1 << 16).await.unwrap();
        let body = std::str::from_utf8(&body).unwrap();
        assert_eq!(
            body,
            format!("chain=1 leaf={leaf} sni=localhost alpn={alpn} version=TLSv1_3"),
            "http2: {http2}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_with_a_client_certificate_is_seen_over_both_protocols() {
    let Some(curl) = common::peers::peer("curl", "--version", &[]) else {
        return;
    };
    let cert = self_signed();
    let pki = client_pki("bob");
    let handle = mtls_server(&cert, &pki, Duration::from_secs(10));
    let dir = tempfile::tempdir().unwrap();
    let (crt, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
    std::fs::write(&crt, &pki.cert_pem).unwrap();
    std::fs::write(&key, &pki.key_pem).unwrap();
    let url = format!("https://localhost:{}/", handle.local_addr().port());
    let leaf = leaf_hex(&pki.cert_pem);
    let files = [
        "--cacert",
        cert.cert_path().to_str().unwrap().to_owned().leak(),
        "--cert",
        crt.to_str().unwrap().to_owned().leak(),
        "--key",
        key.to_str().unwrap().to_owned().leak(),
    ];
    for (flag, alpn) in [("--http1.1", "http/1.1"), ("--http2", "h2")] {
        let mut args = files.to_vec();
        args.extend([flag, url.as_str()]);
        let (status, body) = common::curl::status_and_body(&curl, &args).await;
        assert_eq!(status, 200, "curl {flag}");
        assert_eq!(
            body,
            format!("chain=1 leaf={leaf} sni=localhost alpn={alpn} version=TLSv1_3"),
            "curl {flag}"
        );
    }
    // Without a certificate curl never gets an answer from a handler.
    let mut cmd = common::curl::curl(&curl);
    cmd.args(["--http1.1", "--cacert", files[1], &url]);
    let out = cmd.output().await.unwrap();
    assert!(!out.status.success(), "refused without a certificate");
    assert!(out.stdout.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_info_is_there_only_with_conn_info_and_tls() {
    let cert = self_signed();
    // TLS without client authentication: the info is there, with an empty chain.
    let server = Server::new().tls(cert.server_tls()).conn_info(true);
    let listener = server.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let handle = server.serve(listener, whoami);
    let plain_client = Client::builder()
        .transport(|t| t.tls(cert.client_tls()).no_proxy())
        .build()
        .unwrap();
    let url = format!("https://localhost:{}/", handle.local_addr().port());
    let res = plain_client.get(&url).send().await.unwrap();
    let body = res.into_body().to_bytes(1 << 16).await.unwrap();
    assert_eq!(body, "chain=0 leaf= sni=localhost alpn=h2 version=TLSv1_3");
    // conn_info off: nothing attached (as for ConnInfo).
    let server = Server::new().tls(cert.server_tls());
    let listener = server.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let handle = server.serve(listener, whoami);
    let url = format!("https://localhost:{}/", handle.local_addr().port());
    let res = plain_client.get(&url).send().await.unwrap();
    assert_eq!(res.into_body().to_bytes(64).await.unwrap(), "no-tls-info");
    // Plain TCP with conn_info on: no TlsInfo.
    let server = Server::new().conn_info(true);
    let listener = server.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let handle = server.serve(listener, whoami);
    let url = format!("http://127.0.0.1:{}/", handle.local_addr().port());
    let res = plain_client.get(&url).send().await.unwrap();
    assert_eq!(res.into_body().to_bytes(64).await.unwrap(), "no-tls-info");
}

/// The server's resident memory (kB) from /proc/self/status.
fn rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_client_chain_is_refused_and_the_server_goes_on() {
    let cert = self_signed();
    let pki = client_pki("flood");
    let handle = mtls_server(&cert, &pki, Duration::from_secs(10));
    let url = format!("https://localhost:{}/", handle.local_addr().port());
    // The leaf, then the CA 400 times: a Certificate message of ~160 KB, past the 64 KiB
    // rustls takes for one handshake message.
    let with_ca = |copies: usize| {
        let chain = pki.cert_pem.clone() + &pki.ca_pem.repeat(copies);
        Identity::from_pem(chain.as_bytes(), pki.key_pem.as_bytes()).unwrap()
    };
    // The control: the same chain with the CA once is accepted, so what is refused below is
    // the size, not the extra certificates.
    let control = Client::builder()
        .timeout(Duration::from_secs(10))
        .transport(|t| t.tls(cert.client_tls().identity(with_ca(1))).no_proxy())
        .build()
        .unwrap();
    let res = control.get(&url).send().await.unwrap();
    assert!(res
        .into_body()
        .to_bytes(1 << 16)
        .await
        .unwrap()
        .starts_with(b"chain=2 "));
    drop(control);
    let identity = with_ca(400);
    let before = rss_kb();
    for _ in 0..10 {
        let flood = Client::builder()
            .timeout(Duration::from_secs(10))
            .transport(|t| {
                t.tls(cert.client_tls().identity(identity.clone()))
                    .no_proxy()
            })
            .build()
            .unwrap();
        let started = Instant::now();
        let err = flood.get(&url).send().await.unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "refused at once, not by a timeout: {err}"
        );
    }
    let grown = rss_kb().saturating_sub(before);
    assert!(grown < 8 * 1024, "10 refused floods grew RSS by {grown} kB");
    // The server goes on serving a proper client.
    let res = client(&cert, &pki, true).get(&url).send().await.unwrap();
    assert_eq!(res.status(), 200);
}

/// A ClientHello from a real rustls client, captured by running its handshake into a buffer.
fn client_hello() -> Vec<u8> {
    let config =
        rustls::ClientConfig::builder_with_provider(nethttp::tls::crypto_provider().unwrap())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut conn = rustls::ClientConnection::new(config.into(), name).unwrap();
    let mut hello = Vec::new();
    conn.write_tls(&mut hello).unwrap();
    hello
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_or_unread_handshake_is_closed_at_the_handshake_timeout() {
    let cert = self_signed();
    let pki = client_pki("slow");
    let timeout = Duration::from_millis(800);
    let handle = mtls_server(&cert, &pki, timeout);
    let hello = client_hello();
    // Trickler: one byte of the ClientHello every 50 ms (its ~250 bytes would take over
    // 12 s); never-reader: the whole ClientHello, then silence, the server's flight unread.
    let trickle = async {
        let mut tcp = tokio::net::TcpStream::connect(handle.local_addr())
            .await
            .unwrap();
        let started = Instant::now();
        for b in &hello {
            if tcp.write_all(&[*b]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            if started.elapsed() > Duration::from_secs(6) {
                panic!("the trickled handshake was never cut");
            }
            // The server closing shows as a read of 0 (or a reset).
            let mut probe = [0u8; 1];
            if let Ok(r) =
                tokio::time::timeout(Duration::from_millis(1), tcp.read(&mut probe)).await
            {
                if matches!(r, Ok(0) | Err(_)) {
                    break;
                }
            }
        }
        started.elapsed()
    };
    let silent = async {
        let mut tcp = tokio::net::TcpStream::connect(handle.local_addr())
            .await
            .unwrap();
        tcp.write_all(&hello).await.unwrap();
        let started = Instant::now();
        // Wait without reading until the server gives up, then see it closed.
        tokio::time::sleep(timeout + Duration::from_millis(400)).await;
        let mut all = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut all)).await;
        assert!(read.is_ok(), "the unread handshake was never closed");
        (started.elapsed(), all.len())
    };
    let (trickled, (silent_for, flight)) = tokio::join!(trickle, silent);
    assert!(
        trickled >= timeout - Duration::from_millis(100) && trickled < timeout * 4,
        "trickler cut after {trickled:?}"
    );
    assert!(
        silent_for < timeout * 4,
        "never-reader closed after {silent_for:?}"
    );
    // The server's flight (ServerHello .. CertificateRequest) was sent once, and is small.
    assert!(flight > 0 && flight < 16 * 1024, "flight of {flight} bytes");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(handle.live_connections(), 0);
}
