//! Server certificate verification for a client given roots of its own (`--cacert`,
//! [`ClientTls::add_root_pem`](super::ClientTls::add_root_pem)): webpki's chain check, and
//! one case it refuses that curl and Go accept — a self-signed certificate made as people
//! make them (`openssl req -x509` marks it `CA:TRUE`), presented by the server and configured
//! as trusted. webpki says `CaUsedAsEndEntity` for it; when the certificate is byte for byte
//! one of the configured roots, trust in it is explicit, so its names and validity window are
//! checked here and it is accepted. Everything else is webpki's verdict.

use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};

use super::reject::is_ca_used_as_end_entity;
use super::validity::validity;

/// webpki's verifier, plus the configured roots that may also be presented as the server's
/// own certificate.
#[derive(Debug)]
pub(crate) struct RootsVerifier {
    webpki: Arc<WebPkiServerVerifier>,
    own: Arc<Vec<CertificateDer<'static>>>,
}

impl RootsVerifier {
    pub(crate) fn new(
        webpki: Arc<WebPkiServerVerifier>,
        own: Arc<Vec<CertificateDer<'static>>>,
    ) -> RootsVerifier {
        RootsVerifier { webpki, own }
    }
}

impl ServerCertVerifier for RootsVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verdict =
            self.webpki
                .verify_server_cert(end_entity, intermediates, server_name, ocsp, now);
        match verdict {
            Err(rustls::Error::InvalidCertificate(CertificateError::Other(e)))
                if is_ca_used_as_end_entity(&e)
                    && self.own.iter().any(|c| c.as_ref() == end_entity.as_ref()) =>
            {
                trusted_as_is(end_entity, server_name, now)
            }
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }

    fn root_hint_subjects(&self) -> Option<&[rustls::DistinguishedName]> {
        self.webpki.root_hint_subjects()
    }
}

/// A certificate the caller trusts as it is (it is one of the configured roots): the checks
/// that remain are the ones webpki would make of a server's certificate, its validity window
/// (RFC 5280 §4.1.2.5, inclusive at both ends as webpki's) and the URL's host among its names.
/// That the server holds its key is the handshake signature's check, made as for any other.
fn trusted_as_is(
    cert: &CertificateDer<'_>,
    server_name: &ServerName<'_>,
    now: UnixTime,
) -> Result<ServerCertVerified, rustls::Error> {
    let window = validity(cert).ok_or(CertificateError::BadEncoding)?;
    let at = |secs| UnixTime::since_unix_epoch(Duration::from_secs(secs));
    if now.as_secs() < window.not_before {
        return Err(CertificateError::NotValidYetContext {
            time: now,
            not_before: at(window.not_before),
        }
        .into());
    }
    if now.as_secs() > window.not_after {
        return Err(CertificateError::ExpiredContext {
            time: now,
            not_after: at(window.not_after),
        }
        .into());
    }
    let parsed = ParsedCertificate::try_from(cert)?;
    rustls::client::verify_server_name(&parsed, server_name)?;
    Ok(ServerCertVerified::assertion())
}
