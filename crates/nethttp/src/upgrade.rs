//! Protocol upgrades: the connection handed over after `101 Switching Protocols` or a `2xx`
//! answer to `CONNECT`, as an [`Upgraded`] byte stream, hyper-style.
//!
//! A request that asks for an upgrade (an `Upgrade` field listed in `Connection`, or the
//! `CONNECT` method) carries an [`OnUpgrade`] in its extensions. The handler takes it with
//! [`on`], answers `101` (or `2xx` to `CONNECT`), and spawns a task that awaits the
//! `OnUpgrade`: it resolves once the server has written that response, with the connection
//! and any bytes the client sent after its request head. A response the client receives
//! works the same way (`on(&mut response)` after a `101`).
//!
//! On HTTP/2 the same holds for `CONNECT` streams (RFC 9113 §8.5) and extended `CONNECT`
//! (RFC 8441, `:protocol`, read with [`protocol`]): a `2xx` answer turns the stream into the
//! [`Upgraded`] byte stream while the connection's other streams go on.
//!
//! Why hyper's shape and not Go's `Hijacker`: a hijack hands the handler a raw connection in
//! the middle of the exchange, and the handler must write the response itself, byte-exact,
//! past the server's framing and limits. Here the server writes the `101` as it writes every
//! response (its headers checked, the HTTP/1.1 rules applied) and hands over only what comes
//! after, so an upgrade cannot corrupt the stream; the same API serves HTTP/2's extended
//! CONNECT (RFC 8441), where there is no connection to hijack.
//!
//! Once upgraded, the connection is outside the server's timeouts, limits and graceful
//! shutdown: the code holding the [`Upgraded`] owns it and bounds it (the server's state hook
//! sees `ConnState::Upgraded`; [`crate::ShutdownReport::upgraded`] counts those still open).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use nethttp::http::{header, Response, StatusCode};
//! use nethttp::{Body, HttpRequest, Server};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! // A handler that switches to an "echo" protocol: every byte comes back.
//! let handler = |mut req: HttpRequest| async move {
//!     let on_upgrade = nethttp::upgrade::on(&mut req);
//!     tokio::spawn(async move {
//!         if let Ok(mut io) = on_upgrade.await {
//!             let mut buf = [0u8; 1024];
//!             while let Ok(n) = io.read(&mut buf).await {
//!                 if n == 0 || io.write_all(&buf[..n]).await.is_err() {
//!                     break;
//!                 }
//!             }
//!         }
//!     });
//!     Response::builder()
//!         .status(StatusCode::SWITCHING_PROTOCOLS)
//!         .header(header::CONNECTION, "upgrade")
//!         .header(header::UPGRADE, "echo")
//!         .body(Body::empty())
//!         .unwrap()
//! };
//! let server = Server::new();
//! let handle = server.serve(server.bind("127.0.0.1:0".parse()?)?, handler);
//!
//! let mut s = tokio::net::TcpStream::connect(handle.local_addr()).await?;
//! s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: upgrade\r\nUpgrade: echo\r\n\r\nping").await?;
//! let mut got = vec![0u8; 256];
//! let mut n = 0;
//! while !got[..n].ends_with(b"ping") {
//!     n += s.read(&mut got[n..]).await?;
//! }
//! let text = String::from_utf8_lossy(&got[..n]);
//! assert!(text.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
//! # Ok(()) }
//! ```

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::oneshot;

use crate::error::{Error, Kind};
use crate::token::has_token;

/// The read side of an upgraded connection.
pub(crate) type ReadSide = Box<dyn AsyncRead + Send + Unpin>;
/// The write side of an upgraded connection.
pub(crate) type WriteSide = Box<dyn AsyncWrite + Send + Unpin>;

/// A connection after a protocol upgrade: the bytes that came after the `101` (or the
/// `CONNECT` answer) in both directions. Reads first return what the peer sent after its
/// head and was already read, then the connection's. Dropping it closes the connection.
pub struct Upgraded {
    prefix: Bytes,
    read: ReadSide,
    write: WriteSide,
    _guard: Option<Box<dyn Send + Sync>>,
}

impl Upgraded {
    /// An upgraded connection of the halves `read` and `write`, `prefix` read ahead of it.
    /// `guard` is dropped with it (the server's count of upgraded connections).
    pub(crate) fn new(
        prefix: Bytes,
        read: ReadSide,
        write: WriteSide,
        guard: Option<Box<dyn Send + Sync>>,
    ) -> Upgraded {
        Upgraded {
            prefix,
            read,
            write,
            _guard: guard,
        }
    }

    /// An upgraded connection of one IO (split with a lock between its halves).
    pub(crate) fn whole<T>(prefix: Bytes, io: T) -> Upgraded
    where
        T: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let (read, write) = tokio::io::split(io);
        Upgraded::new(prefix, Box::new(read), Box::new(write), None)
    }

    /// Bytes read ahead of the connection and not yet returned by a read.
    pub fn read_ahead(&self) -> &[u8] {
        &self.prefix
    }
}

impl fmt::Debug for Upgraded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upgraded")
            .field("read_ahead", &self.prefix.len())
            .finish_non_exhaustive()
    }
}

impl AsyncRead for Upgraded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(buf.remaining());
            buf.put_slice(&self.prefix[..n]);
            self.prefix.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.read).poll_read(cx, buf)
    }
}

impl AsyncWrite for Upgraded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.write).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.write).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.write.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.write).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.write).poll_shutdown(cx)
    }
}

/// The upgraded connection to come, in a request's (or response's) extensions; take it with
/// [`on`]. Resolves once the upgrade response has been written (or read, on the client),
/// or fails with an [`Error`] of kind [`Kind::Upgrade`] if the upgrade did not happen.
#[must_use = "an upgrade is only received by awaiting it"]
pub struct OnUpgrade {
    rx: Option<oneshot::Receiver<Result<Upgraded, Error>>>,
}

impl OnUpgrade {
    fn none() -> OnUpgrade {
        OnUpgrade { rx: None }
    }
}

impl fmt::Debug for OnUpgrade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnUpgrade")
            .field("possible", &self.rx.is_some())
            .finish()
    }
}

impl Clone for OnUpgrade {
    /// Extensions must be `Clone`; a clone never resolves (only the original is connected),
    /// as a message's extensions copied elsewhere must not steal its connection.
    fn clone(&self) -> Self {
        OnUpgrade::none()
    }
}

impl Future for OnUpgrade {
    type Output = Result<Upgraded, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(rx) = self.rx.as_mut() else {
            return Poll::Ready(Err(Error::new(
                Kind::Upgrade,
                "not an upgrade: the message asked for no protocol upgrade",
            )));
        };
        match Pin::new(rx).poll(cx) {
            Poll::Ready(Ok(r)) => Poll::Ready(r),
            Poll::Ready(Err(_)) => Poll::Ready(Err(Error::new(
                Kind::Upgrade,
                "no upgrade: the connection answered or ended without one",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// The other end of an [`OnUpgrade`]: the engine that owns the connection fulfils it.
pub(crate) struct Pending {
    tx: oneshot::Sender<Result<Upgraded, Error>>,
}

impl Pending {
    /// A pending upgrade and the [`OnUpgrade`] to put in the message's extensions.
    pub(crate) fn new() -> (Pending, OnUpgrade) {
        let (tx, rx) = oneshot::channel();
        (Pending { tx }, OnUpgrade { rx: Some(rx) })
    }

    /// Hands the connection over; gives it back if nobody waits for it any more.
    pub(crate) fn fulfil(self, upgraded: Upgraded) -> Result<(), Upgraded> {
        self.tx.send(Ok(upgraded)).map_err(|r| match r {
            Ok(u) => u,
            Err(_) => unreachable!("only an upgrade was sent"),
        })
    }
}

/// Messages that may carry an [`OnUpgrade`]: requests (server side) and responses (client
/// side), owned or borrowed.
pub trait Upgradable: sealed::Sealed {
    #[doc(hidden)]
    fn take_on_upgrade(self) -> Option<OnUpgrade>;
}

mod sealed {
    pub trait Sealed {}
    impl<B> Sealed for http::Request<B> {}
    impl<B> Sealed for &mut http::Request<B> {}
    impl<B> Sealed for http::Response<B> {}
    impl<B> Sealed for &mut http::Response<B> {}
}

impl<B> Upgradable for http::Request<B> {
    fn take_on_upgrade(mut self) -> Option<OnUpgrade> {
        self.extensions_mut().remove::<OnUpgrade>()
    }
}

impl<B> Upgradable for &mut http::Request<B> {
    fn take_on_upgrade(self) -> Option<OnUpgrade> {
        self.extensions_mut().remove::<OnUpgrade>()
    }
}

impl<B> Upgradable for http::Response<B> {
    fn take_on_upgrade(mut self) -> Option<OnUpgrade> {
        self.extensions_mut().remove::<OnUpgrade>()
    }
}

impl<B> Upgradable for &mut http::Response<B> {
    fn take_on_upgrade(self) -> Option<OnUpgrade> {
        self.extensions_mut().remove::<OnUpgrade>()
    }
}

/// Takes the upgrade a message may lead to: on the server, from a request that asked for an
/// upgrade (answer it `101`, or `2xx` to `CONNECT`, then await this); on the client, from a
/// `101` response (or a `2xx` answer to `CONNECT`). A message that cannot be upgraded gives
/// an `OnUpgrade` that fails at once.
pub fn on<M: Upgradable>(msg: M) -> OnUpgrade {
    msg.take_on_upgrade().unwrap_or_else(OnUpgrade::none)
}

/// The protocol an HTTP/2 extended `CONNECT` asks for (RFC 8441's `:protocol`, such as
/// `websocket`), or `None` for any other request. On HTTP/1.1 the protocol is in the
/// `Upgrade` field instead.
pub fn protocol<B>(req: &http::Request<B>) -> Option<&str> {
    req.extensions()
        .get::<h2::ext::Protocol>()
        .map(|p| p.as_str())
}

/// Whether a request asks for an upgrade: `CONNECT`, or [`asks_upgrade`].
pub(crate) fn is_upgrade_request(method: &http::Method, headers: &http::HeaderMap) -> bool {
    method == http::Method::CONNECT || asks_upgrade(headers)
}

/// Whether HTTP/1.1 fields ask for an upgrade: an `Upgrade` field that `Connection` lists
/// (RFC 9110 §7.8: the option must be named in `Connection`, as it is hop-by-hop).
pub(crate) fn asks_upgrade(headers: &http::HeaderMap) -> bool {
    headers.contains_key(http::header::UPGRADE) && connection_names_upgrade(headers)
}

/// Whether a `Connection` field lists the `upgrade` option.
pub(crate) fn connection_names_upgrade(headers: &http::HeaderMap) -> bool {
    headers
        .get_all(http::header::CONNECTION)
        .iter()
        .any(|v| has_token(v.as_bytes(), b"upgrade"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn upgrade_requests_are_connect_or_an_upgrade_named_in_connection() {
        let mut h = http::HeaderMap::new();
        assert!(is_upgrade_request(&http::Method::CONNECT, &h));
        h.insert(http::header::UPGRADE, "websocket".parse().unwrap());
        assert!(
            !is_upgrade_request(&http::Method::GET, &h),
            "not in Connection"
        );
        h.insert(
            http::header::CONNECTION,
            "keep-alive, Upgrade".parse().unwrap(),
        );
        assert!(is_upgrade_request(&http::Method::GET, &h));
        h.remove(http::header::UPGRADE);
        assert!(!is_upgrade_request(&http::Method::GET, &h), "no Upgrade");
    }

    #[tokio::test]
    async fn an_upgraded_stream_reads_its_prefix_first() {
        let (a, mut b) = tokio::io::duplex(64);
        let mut up = Upgraded::whole(Bytes::from_static(b"early "), a);
        b.write_all(b"later").await.unwrap();
        drop(b);
        let mut all = String::new();
        up.read_to_string(&mut all).await.unwrap();
        assert_eq!(all, "early later");
    }

    #[tokio::test]
    async fn on_a_message_without_an_upgrade_fails_with_a_typed_error() {
        let mut req = http::Request::new(());
        let e = on(&mut req).await.unwrap_err();
        assert_eq!(e.kind(), Kind::Upgrade);
        let (pending, on_upgrade) = Pending::new();
        drop(pending);
        assert_eq!(on_upgrade.await.unwrap_err().kind(), Kind::Upgrade);
    }

    #[tokio::test]
    async fn a_clone_of_the_extension_never_steals_the_connection() {
        let (pending, on_upgrade) = Pending::new();
        let clone = on_upgrade.clone();
        assert!(clone.await.is_err());
        let (a, _b) = tokio::io::duplex(8);
        assert!(pending.fulfil(Upgraded::whole(Bytes::new(), a)).is_ok());
        assert!(on_upgrade.await.is_ok());
    }
}
