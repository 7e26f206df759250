//! TLS for both paths, through rustls: the server's certificate and ALPN offer
//! ([`ServerTls`]), the client's trust roots, SNI and ALPN ([`ClientTls`]), and the handshake
//! with its timeout. Which protocol a connection then speaks (`h2` or `http/1.1`) is decided
//! by ALPN here and acted on by the server and client layers above.

mod client;
mod handshake;
mod identity;
mod info;
mod pem;
mod reject;
mod server;
pub(crate) mod split;
mod stream;
mod validity;
mod verify;

pub use client::ClientTls;
pub use identity::Identity;
pub use info::TlsInfo;
pub use server::ServerTls;

/// The rustls this crate is built with, for configs passed to [`ClientTls::from_config`] and
/// [`ServerTls::from_config`], so a caller never has to depend on a matching version of
/// their own.
pub use rustls;

pub(crate) use handshake::{accept, chose_h2, connect};
pub(crate) use reject::Peer;
pub(crate) use stream::MaybeTls;

/// ALPN protocol id of HTTP/2 over TLS (RFC 9113 §3.2).
pub(crate) const ALPN_H2: &[u8] = b"h2";
/// ALPN protocol id of HTTP/1.1.
pub(crate) const ALPN_HTTP11: &[u8] = b"http/1.1";

/// The crypto provider every TLS config this crate builds uses, in rustls's order: the
/// process default if one was installed (`CryptoProvider::install_default`), else the one
/// this crate was built with (feature `aws-lc-rs` if on, else `ring`). Never installs
/// anything process-wide. Hand it to configs built for [`ClientTls::from_config`] or
/// [`ServerTls::from_config`] to keep one backend in the process.
///
/// Fails with [`ErrorKind::Tls`](crate::ErrorKind::Tls) only in a build with neither feature
/// and no process default.
pub fn crypto_provider() -> Result<Arc<CryptoProvider>, crate::Error> {
    if let Some(installed) = CryptoProvider::get_default() {
        return Ok(installed.clone());
    }
    built_in().ok_or_else(|| {
        crate::Error::new(
            crate::ErrorKind::Tls,
            "no TLS crypto provider: build nethttp with feature `ring` or `aws-lc-rs`, or \
             install a process default with CryptoProvider::install_default",
        )
    })
}

use rustls::crypto::CryptoProvider;
use std::sync::Arc;

/// The provider compiled in by feature, built once.
fn built_in() -> Option<Arc<CryptoProvider>> {
    static BUILT: std::sync::OnceLock<Option<Arc<CryptoProvider>>> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            #[cfg(feature = "aws-lc-rs")]
            let chosen = Some(rustls::crypto::aws_lc_rs::default_provider());
            #[cfg(all(feature = "ring", not(feature = "aws-lc-rs")))]
            let chosen = Some(rustls::crypto::ring::default_provider());
            #[cfg(not(any(feature = "ring", feature = "aws-lc-rs")))]
            let chosen: Option<CryptoProvider> = None;
            chosen.map(Arc::new)
        })
        .clone()
}
