//! A client connection's byte stream: plain TCP, TLS over TCP, or any other stream (a Unix
//! socket, a connector's transport, TLS over either) boxed once, one type for the HTTP/1.1
//! client codec to read and write. TCP and TLS over TCP stay unboxed and keep the TCP
//! capabilities the codec's `ClientIo` asks for (implemented here, in the layer that knows
//! TLS): peeks that tell a stale pooled connection without consuming anything. Other IO
//! takes the defaults: the staleness check reads through to the buffer, and the thorough
//! check asks the kernel only when the stream is a socket whose descriptor is known.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::handshake::ClientStream;
use crate::net::PeerState;
use crate::proto::h1::io::{poll_read_into, ClientIo};
use crate::proto::io::BoxedIo;

/// Plain TCP, TLS over TCP, or any other stream.
pub(crate) enum MaybeTls {
    Tcp(TcpStream),
    Tls(Box<ClientStream>),
    /// Any other stream, TLS over it included, behind one pointer so the TCP paths carry none
    /// of it; with the descriptor of the socket underneath when there is one (a Unix socket),
    /// owned by the stream and so open as long as it is.
    Other(BoxedIo, Option<RawFd>),
}

impl std::fmt::Debug for MaybeTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MaybeTls::Tcp(s) => f.debug_tuple("Tcp").field(s).finish(),
            MaybeTls::Tls(s) => f.debug_tuple("Tls").field(s).finish(),
            MaybeTls::Other(_, fd) => f.debug_tuple("Other").field(fd).finish(),
        }
    }
}

impl MaybeTls {
    /// The descriptor of the socket underneath, when known.
    fn fd(&self) -> Option<RawFd> {
        match self {
            MaybeTls::Tcp(s) => Some(s.as_raw_fd()),
            MaybeTls::Tls(s) => Some(s.get_ref().0.as_raw_fd()),
            MaybeTls::Other(_, fd) => *fd,
        }
    }
}

impl ClientIo for MaybeTls {
    /// TCP peeks, consuming nothing. Under TLS the bytes on the socket may be no answer at
    /// all (a TLS 1.3 session ticket arrives after the handshake), so they are read through
    /// TLS: what decrypts to data stays in `buf` for the response parser. Any other stream
    /// cannot be peeked, and is read the same way.
    fn poll_spoke(&mut self, buf: &mut BytesMut, cx: &mut Context<'_>) -> Poll<()> {
        if let MaybeTls::Tcp(tcp) = self {
            let mut byte = [MaybeUninit::<u8>::uninit(); 1];
            let mut rb = ReadBuf::uninit(&mut byte);
            return tcp.poll_peek(cx, &mut rb).map(|_| ());
        }
        poll_read_into(self, buf, cx, 1).map(|_| ())
    }

    /// One non-blocking peek at the socket. On TLS, bytes the reactor has not reported yet
    /// cannot be read through TLS here (they may be a session ticket, or the server's
    /// close_notify): they count against the connection. A stream without a known socket
    /// cannot be asked, and passes.
    fn peer_silent(&self) -> bool {
        self.fd()
            .is_none_or(|fd| crate::net::peer_state(fd) == PeerState::Silent)
    }

    fn local_addr(&self) -> Option<std::net::SocketAddr> {
        match self {
            MaybeTls::Tcp(s) => s.local_addr().ok(),
            MaybeTls::Tls(s) => s.get_ref().0.local_addr().ok(),
            MaybeTls::Other(..) => None,
        }
    }
}

impl AsyncRead for MaybeTls {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            MaybeTls::Tls(s) => Pin::new(&mut **s).poll_read(cx, buf),
            MaybeTls::Other(s, _) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for MaybeTls {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            MaybeTls::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            MaybeTls::Tls(s) => Pin::new(&mut **s).poll_write(cx, buf),
            MaybeTls::Other(s, _) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Tcp(s) => Pin::new(s).poll_flush(cx),
            MaybeTls::Tls(s) => Pin::new(&mut **s).poll_flush(cx),
            MaybeTls::Other(s, _) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            MaybeTls::Tls(s) => Pin::new(&mut **s).poll_shutdown(cx),
            MaybeTls::Other(s, _) => Pin::new(s).poll_shutdown(cx),
        }
    }
}
