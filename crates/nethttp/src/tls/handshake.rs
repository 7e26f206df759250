//! The TLS handshake on both sides, bounded by its timeout, with failures sorted into the
//! error kinds callers act on: a rejected certificate, another TLS failure, or a timeout.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::reject::Peer;
use super::ServerTls;
use crate::error::{Error, Kind};
use crate::net::stall::WatchWrites;

/// A server's TLS stream, over a socket whose writes are watched for a stalled peer.
pub(crate) type ServerStream = tokio_rustls::server::TlsStream<WatchWrites<TcpStream>>;
pub(crate) type ClientStream = tokio_rustls::client::TlsStream<TcpStream>;

/// Accepts a TLS connection within the handshake timeout, over any IO (a TCP socket whose
/// writes are watched, as a rule).
pub(crate) async fn accept<T: AsyncRead + AsyncWrite + Unpin>(
    tls: &ServerTls,
    io: T,
) -> io::Result<tokio_rustls::server::TlsStream<T>> {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls.config.clone());
    match tokio::time::timeout(tls.handshake_timeout, acceptor.accept(io)).await {
        Ok(r) => r,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "TLS handshake timed out",
        )),
    }
}

/// Whether the client chose HTTP/2 by ALPN during the server handshake.
pub(crate) fn chose_h2<T>(stream: &tokio_rustls::server::TlsStream<T>) -> bool {
    stream.get_ref().1.alpn_protocol() == Some(super::ALPN_H2)
}

/// Connects TLS to `host` (sent as SNI and checked against the certificate) over `io`: a TCP
/// socket as a rule, or any other stream the client dialed (the host is the URL's either way,
/// never the address the stream reached; for an `https://` proxy, `peer` is `Proxy` and the
/// host is the proxy's).
pub(crate) async fn connect<T: AsyncRead + AsyncWrite + Unpin>(
    config: Arc<rustls::ClientConfig>,
    timeout: Duration,
    host: &str,
    io: T,
    peer: Peer,
) -> Result<tokio_rustls::client::TlsStream<T>, Error> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let name = ServerName::try_from(host.to_owned())
        .map_err(|e| Error::with_cause(Kind::Tls, "host is not a valid TLS server name", e))?;
    let connector = tokio_rustls::TlsConnector::from(config);
    match tokio::time::timeout(timeout, connector.connect(name, io)).await {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(e)) => Err(classify(e, peer)),
        Err(_) => Err(Error::new(
            Kind::TlsHandshakeTimeout,
            "TLS handshake timed out",
        )),
    }
}

/// Sorts a handshake failure: certificate problems are their own kind.
fn classify(e: io::Error, peer: Peer) -> Error {
    let tls_err = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .cloned();
    match tls_err {
        Some(
            err @ (rustls::Error::InvalidCertificate(_)
            | rustls::Error::NoCertificatesPresented
            | rustls::Error::InvalidCertRevocationList(_)),
        ) => super::reject::certificate_error(&err, peer),
        Some(err) => Error::with_cause(Kind::Tls, "TLS handshake failed", err),
        None => Error::with_cause(Kind::Tls, "TLS handshake failed", e),
    }
}
