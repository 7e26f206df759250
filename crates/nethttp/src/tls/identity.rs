//! A client's own certificate chain and private key, presented when a server asks for one
//! (mutual TLS): read from PEM, checked to fit each other once, shared cheaply between the
//! configs built from it.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;

use crate::error::{Error, Kind};

/// A certificate chain (leaf first) and its private key, for [`crate::ClientTls::identity`].
/// Cheap to clone.
///
/// ```no_run
/// # fn run() -> Result<(), nethttp::Error> {
/// use nethttp::tls::Identity;
/// let id = Identity::from_pem_files("client.pem", "client.key")?;
/// let tls = nethttp::ClientTls::new().identity(id);
/// # let _ = tls; Ok(()) }
/// ```
#[derive(Clone)]
pub struct Identity {
    pub(crate) key: Arc<CertifiedKey>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("certificates", &self.key.cert.len())
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// From PEM text: the certificate chain (leaf first, intermediates after it) and the
    /// private key (PKCS#8, PKCS#1 or SEC1). Fails if either is unreadable or the key is not
    /// the leaf certificate's.
    pub fn from_pem(cert_chain: &[u8], key: &[u8]) -> Result<Identity, Error> {
        let chain: Vec<CertificateDer<'static>> = super::pem::certs(cert_chain)?;
        let key: PrivateKeyDer<'static> = super::pem::private_key(key)?;
        let provider = super::crypto_provider()?;
        let certified = CertifiedKey::from_der(chain, key, &provider).map_err(|e| {
            Error::with_cause(Kind::Usage, "client certificate and key do not fit", e)
        })?;
        Ok(Identity {
            key: Arc::new(certified),
        })
    }

    /// [`Identity::from_pem`] with both read from files.
    pub fn from_pem_files(
        cert_chain: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<Identity, Error> {
        let chain = super::pem::read_file(cert_chain.as_ref())?;
        let key = super::pem::read_file(key.as_ref())?;
        Identity::from_pem(&chain, &key)
    }
}
