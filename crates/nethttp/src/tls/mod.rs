//! TLS for both paths, through rustls: the server's certificate and ALPN offer
//! ([`ServerTls`]), the client's trust roots, SNI and ALPN ([`ClientTls`]), and the handshake
//! with its timeout. Which protocol a connection then speaks (`h2` or `http/1.1`) is decided
//! by ALPN here and acted on by the server and client layers above.

mod client;
mod handshake;
mod identity;
mod pem;
mod reject;
mod server;
pub(crate) mod split;
mod stream;
mod validity;
mod verify;

pub use client::ClientTls;
pub use identity::Identity;
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

/// The crypto provider every config here is built with (ring), named explicitly so the
/// process-wide default never matters.
fn provider() -> std::sync::Arc<rustls::crypto::CryptoProvider> {
    std::sync::Arc::new(rustls::crypto::ring::default_provider())
}
