//! The server's TLS settings: certificate chain and key (from PEM files, PEM text, or a
//! ready rustls config), client certificates required from a CA (mutual TLS), the ALPN
//! offer, and the handshake timeout.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Kind};

/// TLS for a [`crate::Server`]. Cheap to clone.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let cert = nethttp::test::TestCertificate::new()?;
/// # let (cert_pem, key_pem) = (cert.cert_pem().as_bytes().to_vec(), cert.key_pem().as_bytes().to_vec());
/// use nethttp::{text_response, HttpRequest, Server, ServerTls};
/// use nethttp::http::StatusCode;
///
/// // Or ServerTls::from_pem_files("cert.pem", "key.pem").
/// let tls = ServerTls::from_pem(&cert_pem, &key_pem)?;
/// let server = Server::new().tls(tls); // HTTP/2 and HTTP/1.1, by ALPN
/// let listener = server.bind("127.0.0.1:0".parse()?)?;
/// let handle = server.serve(listener, |_req: HttpRequest| async {
///     text_response(StatusCode::OK, "over TLS")
/// });
/// # handle.shutdown(std::time::Duration::from_secs(1)).await;
/// # Ok(()) }
/// ```
///
/// Built from PEM, the config offers ALPN `h2` then `http/1.1` (only `http/1.1` when the
/// server's HTTP/2 is off), TLS 1.2 and 1.3, and no client authentication unless
/// [`ServerTls::require_client_cert`] asks for it. A config passed to
/// [`ServerTls::from_config`] is used as given; its ALPN list decides which protocols clients
/// may pick (empty means HTTP/1.1 only).
#[derive(Clone)]
pub struct ServerTls {
    pub(crate) config: Arc<rustls::ServerConfig>,
    /// Whether the ALPN list is ours to set (built from PEM) or the caller's.
    own_alpn: bool,
    pub(crate) handshake_timeout: Duration,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls")
            .field("alpn", &self.config.alpn_protocols)
            .field("handshake_timeout", &self.handshake_timeout)
            .finish_non_exhaustive()
    }
}

/// Default time a client gets to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

impl ServerTls {
    /// Reads a PEM certificate chain (leaf first) and a PEM private key from files.
    pub fn from_pem_files(cert: impl AsRef<Path>, key: impl AsRef<Path>) -> Result<Self, Error> {
        let cert = super::pem::read_file(cert.as_ref())?;
        let key = super::pem::read_file(key.as_ref())?;
        Self::from_pem(&cert, &key)
    }

    /// Builds from PEM text: a certificate chain (leaf first) and a private key.
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<Self, Error> {
        let certs = super::pem::certs(cert_pem)?;
        let key = super::pem::private_key(key_pem)?;
        let mut config = rustls::ServerConfig::builder_with_provider(super::crypto_provider()?)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::with_cause(Kind::Tls, "TLS config failed", e))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| Error::with_cause(Kind::Usage, "certificate and key do not fit", e))?;
        config.alpn_protocols = vec![super::ALPN_H2.to_vec(), super::ALPN_HTTP11.to_vec()];
        Ok(ServerTls {
            config: Arc::new(config),
            own_alpn: true,
            handshake_timeout: HANDSHAKE_TIMEOUT,
        })
    }

    /// Uses a rustls config as it is, ALPN list included.
    pub fn from_config(config: Arc<rustls::ServerConfig>) -> Self {
        ServerTls {
            config,
            own_alpn: false,
            handshake_timeout: HANDSHAKE_TIMEOUT,
        }
    }

    /// Requires every client to present a certificate that chains to a root in `ca_pem`
    /// (Go's `tls.RequireAndVerifyClientCert` with `ClientCAs`, nginx's `ssl_verify_client
    /// on`): a client without one, or with another CA's, fails the handshake and never
    /// reaches a handler. Fails for a config from [`ServerTls::from_config`] (it carries its
    /// own client verifier) and for PEM without a usable certificate.
    pub fn require_client_cert(self, ca_pem: &[u8]) -> Result<Self, Error> {
        if !self.own_alpn {
            return Err(Error::new(
                Kind::Usage,
                "client authentication cannot be added to a caller-supplied TLS config",
            ));
        }
        let mut roots = rustls::RootCertStore::empty();
        for cert in super::pem::certs(ca_pem)? {
            roots
                .add(cert)
                .map_err(|e| Error::with_cause(Kind::Usage, "unusable client CA certificate", e))?;
        }
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            super::crypto_provider()?,
        )
        .build()
        .map_err(|e| Error::with_cause(Kind::Usage, "client CA unusable", e))?;
        let mut config = rustls::ServerConfig::builder_with_provider(super::crypto_provider()?)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::with_cause(Kind::Tls, "TLS config failed", e))?
            .with_client_cert_verifier(verifier)
            .with_cert_resolver(self.config.cert_resolver.clone());
        config.alpn_protocols = self.config.alpn_protocols.clone();
        Ok(ServerTls {
            config: Arc::new(config),
            ..self
        })
    }

    /// Time a client gets from accept to a finished handshake; past it the connection is
    /// closed. Default: 10 s.
    pub fn handshake_timeout(mut self, d: Duration) -> Self {
        self.handshake_timeout = d;
        self
    }

    /// The config with `h2` withdrawn from ALPN when the server does not speak HTTP/2.
    pub(crate) fn for_server(&self, http2: bool) -> ServerTls {
        if http2 || !self.own_alpn {
            return self.clone();
        }
        let mut config = (*self.config).clone();
        config.alpn_protocols = vec![super::ALPN_HTTP11.to_vec()];
        ServerTls {
            config: Arc::new(config),
            ..self.clone()
        }
    }
}
