//! Reading certificates and private keys from PEM text, with errors that name the file's
//! problem instead of a bare parse failure.

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::{Error, Kind};

/// Every certificate in `pem`, in order (leaf first for a chain). At least one is required.
pub(crate) fn certs(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::with_cause(Kind::Usage, "invalid PEM certificate", e.to_string()))?;
    if certs.is_empty() {
        return Err(Error::new(
            Kind::Usage,
            "no certificate found in the PEM text",
        ));
    }
    Ok(certs)
}

/// The first private key in `pem` (PKCS#8, PKCS#1 or SEC1).
pub(crate) fn private_key(pem: &[u8]) -> Result<PrivateKeyDer<'static>, Error> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| {
        Error::with_cause(
            Kind::Usage,
            "no usable private key in the PEM text",
            e.to_string(),
        )
    })
}

/// Reads a file for a TLS config, naming the file in the error.
pub(crate) fn read_file(path: &std::path::Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|e| {
        Error::with_cause(
            Kind::Usage,
            "cannot read TLS file",
            format!("{}: {e}", path.display()),
        )
    })
}
