//! What a handler can learn of a request's TLS connection (Go's `Request.TLS`, a
//! `tls.ConnectionState`): the client's certificate chain under mutual TLS, the server name
//! it asked for, the protocol ALPN chose, the TLS version and cipher suite.

use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::{CipherSuite, ProtocolVersion};

/// A request's TLS connection, in its extensions when [`crate::Server::conn_info`] is on and
/// the server has a [`crate::ServerTls`]: `req.extensions().get::<TlsInfo>()`. Shared by
/// every request of the connection (cloning it is a reference count).
///
/// The certificates are as the client sent them, DER, leaf first; with
/// [`crate::ServerTls::require_client_cert`] the chain was verified against the configured
/// CA before any request could arrive. Parse them with an X.509 crate of your choice
/// (`x509-parser`, `x509-cert`) to read the subject or extensions.
#[derive(Clone)]
pub struct TlsInfo(Arc<Inner>);

struct Inner {
    peer_certificates: Vec<CertificateDer<'static>>,
    server_name: Option<Box<str>>,
    alpn: Option<Box<[u8]>>,
    version: Option<ProtocolVersion>,
    cipher_suite: Option<CipherSuite>,
}

impl TlsInfo {
    /// Reads it off a finished server handshake.
    pub(crate) fn of(conn: &rustls::ServerConnection) -> TlsInfo {
        TlsInfo(Arc::new(Inner {
            peer_certificates: conn
                .peer_certificates()
                .map(|chain| chain.iter().map(|c| c.clone().into_owned()).collect())
                .unwrap_or_default(),
            server_name: conn.server_name().map(Box::from),
            alpn: conn.alpn_protocol().map(Box::from),
            version: conn.protocol_version(),
            cipher_suite: conn.negotiated_cipher_suite().map(|s| s.suite()),
        }))
    }

    /// The client's certificate chain (DER, leaf first); empty when it sent none (no mutual
    /// TLS). Go's `ConnectionState.PeerCertificates`.
    pub fn peer_certificates(&self) -> &[CertificateDer<'static>] {
        &self.0.peer_certificates
    }

    /// The host name the client asked for by SNI, if it sent one (clients send none for an
    /// IP address). Go's `ConnectionState.ServerName`.
    pub fn server_name(&self) -> Option<&str> {
        self.0.server_name.as_deref()
    }

    /// The protocol ALPN chose (`h2`, `http/1.1`), if the client offered any.
    pub fn alpn(&self) -> Option<&[u8]> {
        self.0.alpn.as_deref()
    }

    /// The TLS version (`TLSv1_3`, `TLSv1_2`).
    pub fn version(&self) -> Option<ProtocolVersion> {
        self.0.version
    }

    /// The cipher suite the handshake agreed on.
    pub fn cipher_suite(&self) -> Option<CipherSuite> {
        self.0.cipher_suite
    }
}

impl std::fmt::Debug for TlsInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsInfo")
            .field("peer_certificates", &self.0.peer_certificates.len())
            .field("server_name", &self.0.server_name)
            .field("alpn", &self.0.alpn.as_deref().map(String::from_utf8_lossy))
            .field("version", &self.0.version)
            .field("cipher_suite", &self.0.cipher_suite)
            .finish()
    }
}
