//! A self-signed certificate made on the spot for `localhost`, `127.0.0.1` and `::1`, for
//! [`TestServer::start_tls`](super::TestServer::start_tls) and for tests that need one of
//! their own (rcgen makes it; nothing touches the disk).

use crate::error::{Error, Kind};
use crate::{ClientTls, ServerTls};

/// A fresh self-signed certificate and its private key, as PEM text.
#[derive(Clone)]
pub struct TestCertificate {
    cert_pem: String,
    key_pem: String,
}

impl std::fmt::Debug for TestCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The private key stays out of logs.
        f.debug_struct("TestCertificate").finish_non_exhaustive()
    }
}

impl TestCertificate {
    /// Makes a certificate valid for `localhost`, `127.0.0.1` and `::1`.
    pub fn new() -> Result<TestCertificate, Error> {
        let names = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
        let made = rcgen::generate_simple_self_signed(names)
            .map_err(|e| Error::with_cause(Kind::Tls, "making a test certificate failed", e))?;
        Ok(TestCertificate {
            cert_pem: made.cert.pem(),
            key_pem: made.signing_key.serialize_pem(),
        })
    }

    /// The certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The private key, PEM.
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// A server config presenting this certificate (ALPN `h2` and `http/1.1`).
    pub fn server_tls(&self) -> Result<ServerTls, Error> {
        ServerTls::from_pem(self.cert_pem.as_bytes(), self.key_pem.as_bytes())
    }

    /// A client config that trusts this certificate and nothing else.
    pub fn client_tls(&self) -> Result<ClientTls, Error> {
        ClientTls::with_only_roots_pem(self.cert_pem.as_bytes())
    }
}
