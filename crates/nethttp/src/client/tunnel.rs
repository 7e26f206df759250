//! CONNECT tunnels: how an https request goes through an HTTP proxy. On the connection to the
//! proxy the client asks for a tunnel to the target (RFC 9110 §9.3.6), and once the
//! proxy says 2xx the connection carries TLS to the target end to end, HTTP/2 included. The
//! stream to the proxy is TCP, or TLS to an `https://` proxy; every failure is the proxy's
//! ([`Error::is_proxy`](crate::Error::is_proxy)): `ErrorKind::Proxy`, or a timeout.

use std::time::Duration;

use bytes::BytesMut;
use http::{HeaderValue, Method};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::error::{Error, Kind};
use crate::proto::h1::parse_response::parse_response;

/// Largest CONNECT response head accepted from a proxy.
const MAX_HEAD: usize = 16 * 1024;

/// Asks the proxy on `tcp` (a TCP socket, TLS to the proxy, or whatever stream a connector
/// gave) for a tunnel to
/// `host:port` (sending `auth` as `Proxy-Authorization`), within `timeout`. On success the
/// stream is the tunnel, with nothing of the target's read yet.
pub(crate) async fn connect<T: AsyncRead + AsyncWrite + Unpin>(
    mut tcp: T,
    host: &str,
    port: u16,
    auth: Option<&HeaderValue>,
    timeout: Duration,
) -> Result<T, Error> {
    // RFC 9110 §9.3.6: the target is in authority form; an IPv6 literal takes brackets.
    let authority = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let exchange = async {
        let ua = super::transport::default_user_agent();
        let ua = ua.to_str().unwrap_or("nethttp");
        let mut request =
            format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: {ua}\r\n")
                .into_bytes();
        if let Some(auth) = auth {
            request.extend_from_slice(b"Proxy-Authorization: ");
            request.extend_from_slice(auth.as_bytes());
            request.extend_from_slice(b"\r\n");
        }
        request.extend_from_slice(b"\r\n");
        tcp.write_all(&request)
            .await
            .map_err(|e| Error::with_cause(Kind::Proxy, "writing CONNECT to the proxy", e))?;
        let mut buf = BytesMut::with_capacity(1024);
        loop {
            let n = tcp
                .read_buf(&mut buf)
                .await
                .map_err(|e| Error::with_cause(Kind::Proxy, "reading the proxy's answer", e))?;
            if n == 0 {
                return Err(Error::new(
                    Kind::Proxy,
                    "the proxy closed the connection before answering CONNECT",
                ));
            }
            let head = parse_response(&mut buf, &Method::CONNECT, MAX_HEAD).map_err(|e| {
                Error::with_cause(Kind::Proxy, "bad CONNECT answer from the proxy", e.0)
            })?;
            let Some(head) = head else { continue };
            if !head.status.is_success() {
                return Err(Error::with_cause(
                    Kind::Proxy,
                    "the proxy refused the CONNECT tunnel",
                    format!("{} for {authority}", head.status),
                ));
            }
            // The target says nothing before our TLS ClientHello: bytes here mean the proxy
            // sent a body or garbage, and passing them to TLS would corrupt the handshake.
            if !buf.is_empty() {
                return Err(Error::new(
                    Kind::Proxy,
                    "the proxy sent bytes after its CONNECT answer",
                ));
            }
            return Ok(());
        }
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(Ok(())) => Ok(tcp),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(Error::new(
            Kind::ConnectTimeout,
            "the proxy did not answer CONNECT within the connect timeout",
        )),
    }
}
