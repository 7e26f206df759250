//! The client's TLS settings: which certificates it trusts (the webpki roots by default,
//! plus extra roots, or a caller's rustls config), its own certificate for servers that ask
//! for one, the ALPN offer, and the handshake timeout.

use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::identity::Identity;
use super::verify::RootsVerifier;
use crate::error::{Error, Kind};

/// TLS for a [`crate::Transport`]. Cheap to clone.
///
/// By default the server's certificate must chain to a root of the Mozilla set
/// (`webpki-roots`), and name the host of the URL (SNI is sent). ALPN offers `h2` then
/// `http/1.1` (only `http/1.1` when the transport's HTTP/2 is off).
#[derive(Clone)]
pub struct ClientTls {
    verify: Verify,
    identity: Option<Identity>,
    pub(crate) handshake_timeout: Duration,
}

#[derive(Clone)]
enum Verify {
    /// The trusted roots, and those of them the caller added (a self-signed server
    /// certificate among them is also accepted as the server's own: see `verify`).
    Roots(Arc<RootCertStore>, Arc<Vec<CertificateDer<'static>>>),
    Insecure,
    Config(Arc<rustls::ClientConfig>),
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let verify = match &self.verify {
            Verify::Roots(r, _) => format!("{} roots", r.len()),
            Verify::Insecure => "none (insecure)".into(),
            Verify::Config(_) => "caller's config".into(),
        };
        f.debug_struct("ClientTls")
            .field("verify", &verify)
            .field("identity", &self.identity)
            .field("handshake_timeout", &self.handshake_timeout)
            .finish()
    }
}

impl Default for ClientTls {
    fn default() -> Self {
        ClientTls::new()
    }
}

impl ClientTls {
    /// Trusts the Mozilla root set. Handshake timeout 10 s.
    pub fn new() -> Self {
        let roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        ClientTls {
            verify: Verify::Roots(Arc::new(roots), Arc::default()),
            identity: None,
            handshake_timeout: Duration::from_secs(10),
        }
    }

    /// Trusts only the certificates in `pem` (e.g. a private CA), not the Mozilla set.
    pub fn with_only_roots_pem(pem: &[u8]) -> Result<Self, Error> {
        let mut tls = ClientTls::new();
        tls.verify = Verify::Roots(Arc::new(RootCertStore::empty()), Arc::default());
        tls.add_root_pem(pem)
    }

    /// Also trusts the certificates in `pem`: CA certificates, or a server's self-signed
    /// certificate. The latter is accepted when the server presents it even if it is marked
    /// as a CA (`openssl req -x509` makes it so; webpki alone refuses it, curl and Go accept
    /// it), with its names and validity still checked.
    pub fn add_root_pem(mut self, pem: &[u8]) -> Result<Self, Error> {
        let Verify::Roots(roots, own) = &mut self.verify else {
            return Err(Error::new(
                Kind::Usage,
                "roots cannot be added to an insecure or caller-supplied TLS config",
            ));
        };
        let (roots, own) = (Arc::make_mut(roots), Arc::make_mut(own));
        for cert in super::pem::certs(pem)? {
            roots
                .add(cert.clone())
                .map_err(|e| Error::with_cause(Kind::Usage, "unusable root certificate", e))?;
            own.push(cert);
        }
        Ok(self)
    }

    /// Accepts any certificate for any name. For tests against self-signed servers only:
    /// the connection is encrypted but not authenticated.
    pub fn danger_accept_invalid_certs() -> Self {
        ClientTls {
            verify: Verify::Insecure,
            ..ClientTls::new()
        }
    }

    /// Uses a rustls config as it is (its roots, client certificate, ALPN list). An empty
    /// ALPN list means HTTP/1.1 only.
    pub fn from_config(config: Arc<rustls::ClientConfig>) -> Self {
        ClientTls {
            verify: Verify::Config(config),
            ..ClientTls::new()
        }
    }

    /// Presents `identity` (a certificate chain and its key) to servers that ask for a client
    /// certificate (mutual TLS, nginx's `ssl_verify_client`). Without one, such a server
    /// ends the handshake and the request fails with a `Tls` error. Not combinable with
    /// [`ClientTls::from_config`], whose config carries its own.
    pub fn identity(mut self, identity: Identity) -> Self {
        self.identity = Some(identity);
        self
    }

    /// Time from TCP connect to a finished handshake. Default: 10 s.
    pub fn handshake_timeout(mut self, d: Duration) -> Self {
        self.handshake_timeout = d;
        self
    }

    /// The rustls config to connect with, offering `h2` only if `http2`.
    pub(crate) fn build(&self, http2: bool) -> Result<Arc<rustls::ClientConfig>, Error> {
        let provider = super::crypto_provider()?;
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::with_cause(Kind::Tls, "TLS config failed", e))?;
        let mut config = match &self.verify {
            Verify::Config(c) => return Ok(c.clone()),
            Verify::Roots(roots, own) if own.is_empty() => builder
                .with_root_certificates(roots.clone())
                .with_client_cert_resolver(self.client_cert()),
            Verify::Roots(roots, own) => {
                let webpki =
                    WebPkiServerVerifier::builder_with_provider(roots.clone(), provider.clone())
                        .build()
                        .map_err(|e| Error::with_cause(Kind::Tls, "TLS config failed", e))?;
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(RootsVerifier::new(
                        webpki,
                        own.clone(),
                    )))
                    .with_client_cert_resolver(self.client_cert())
            }
            Verify::Insecure => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
                .with_client_cert_resolver(self.client_cert()),
        };
        config.alpn_protocols = if http2 {
            vec![super::ALPN_H2.to_vec(), super::ALPN_HTTP11.to_vec()]
        } else {
            vec![super::ALPN_HTTP11.to_vec()]
        };
        Ok(Arc::new(config))
    }
}

impl ClientTls {
    /// What the handshake offers a server that asks for a client certificate: the identity,
    /// or nothing (rustls's own "no client auth" resolver answers the same).
    fn client_cert(&self) -> Arc<dyn rustls::client::ResolvesClientCert> {
        match &self.identity {
            Some(id) => Arc::new(rustls::sign::SingleCertAndKey::from(id.key.clone())),
            None => Arc::new(NoCert),
        }
    }
}

/// Offers no client certificate.
#[derive(Debug)]
struct NoCert;

impl rustls::client::ResolvesClientCert for NoCert {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        None
    }

    fn has_certs(&self) -> bool {
        false
    }
}

/// Accepts every certificate, but still checks that the handshake is signed by its key.
#[derive(Debug)]
struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
