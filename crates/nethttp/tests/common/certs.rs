//! Test certificates as files too: `nethttp::test::TestCertificate` (made fresh at test time
//! for `localhost`, `127.0.0.1` and `::1`) written out for curl, nginx and the CLI.
#![allow(dead_code)]

use std::path::PathBuf;

/// A self-signed certificate and its key.
pub struct TestCert {
    pub cert_pem: String,
    pub key_pem: String,
    /// Holds `cert.pem` and `key.pem`; removed on drop.
    pub dir: TempDir,
}

impl TestCert {
    pub fn cert_path(&self) -> PathBuf {
        self.dir.0.join("cert.pem")
    }
    pub fn key_path(&self) -> PathBuf {
        self.dir.0.join("key.pem")
    }
    /// A server TLS config for this certificate (ALPN h2 + http/1.1).
    pub fn server_tls(&self) -> nethttp::ServerTls {
        nethttp::ServerTls::from_pem(self.cert_pem.as_bytes(), self.key_pem.as_bytes())
            .expect("test certificate loads")
    }
    /// A client TLS config trusting only this certificate.
    pub fn client_tls(&self) -> nethttp::ClientTls {
        nethttp::ClientTls::with_only_roots_pem(self.cert_pem.as_bytes())
            .expect("test certificate is a usable root")
    }
}

/// A directory removed when dropped.
pub struct TempDir(pub PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A new self-signed certificate for `localhost`, `127.0.0.1` and `::1`, with its files.
pub fn self_signed() -> TestCert {
    let made = nethttp::test::TestCertificate::new().expect("a test certificate");
    let cert_pem = made.cert_pem().to_owned();
    let key_pem = made.key_pem().to_owned();
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "nethttp-cert-{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(dir.join("cert.pem"), &cert_pem).expect("write cert");
    std::fs::write(dir.join("key.pem"), &key_pem).expect("write key");
    TestCert {
        cert_pem,
        key_pem,
        dir: TempDir(dir),
    }
}

/// A CA and a client certificate it signed, as PEM.
pub struct ClientPki {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

pub fn client_pki(cn: &str) -> ClientPki {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, format!("{cn} CA"));
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let cert = params.signed_by(&key, &issuer).unwrap();
    ClientPki {
        ca_pem: ca.pem(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    }
}

/// A plain rustls client config (a peer of our server's TLS, nothing of our client) on
/// `provider`, trusting only the certificates in `ca_pem`, offering `alpn`.
pub fn rustls_client_config(
    provider: std::sync::Arc<nethttp::tls::rustls::crypto::CryptoProvider>,
    ca_pem: &str,
    alpn: &[&[u8]],
) -> std::sync::Arc<nethttp::tls::rustls::ClientConfig> {
    use nethttp::tls::rustls;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.expect("PEM certificate")).expect("root");
    }
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    std::sync::Arc::new(config)
}

/// A tokio-rustls connector on ring trusting `cert_pem`, offering `alpn`.
pub fn tls_connector(cert_pem: &str, alpn: &[&[u8]]) -> tokio_rustls::TlsConnector {
    let ring = std::sync::Arc::new(nethttp::tls::rustls::crypto::ring::default_provider());
    tokio_rustls::TlsConnector::from(rustls_client_config(ring, cert_pem, alpn))
}
