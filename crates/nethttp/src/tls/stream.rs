//! A client connection's byte stream: plain TCP or TLS over TCP, one type for the HTTP/1.1
//! client codec to read and write, with the TCP capabilities the codec's `ClientIo` asks for
//! (implemented here, in the layer that knows TLS): peeks that tell a stale pooled connection
//! without consuming anything.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::handshake::ClientStream;
use crate::net::PeerState;
use crate::proto::h1::io::{poll_read_into, ClientIo};

/// Plain TCP or TLS.
#[derive(Debug)]
pub(crate) enum MaybeTls {
    Tcp(TcpStream),
    Tls(Box<ClientStream>),
}

impl MaybeTls {
    /// The TCP socket underneath.
    pub(crate) fn tcp(&self) -> &TcpStream {
        match self {
            MaybeTls::Tcp(s) => s,
            MaybeTls::Tls(s) => s.get_ref().0,
        }
    }
}

impl ClientIo for MaybeTls {
    /// TCP peeks, consuming nothing. Under TLS the bytes on the socket may be no answer at
    /// all (a TLS 1.3 session ticket arrives after the handshake), so they are read through
    /// TLS: what decrypts to data stays in `buf` for the response parser.
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
    /// close_notify): they count against the connection.
    fn peer_silent(&self) -> bool {
        crate::net::peer_state(self.tcp().as_raw_fd()) == PeerState::Silent
    }

    fn local_addr(&self) -> Option<std::net::SocketAddr> {
        self.tcp().local_addr().ok()
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
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Tcp(s) => Pin::new(s).poll_flush(cx),
            MaybeTls::Tls(s) => Pin::new(&mut **s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            MaybeTls::Tls(s) => Pin::new(&mut **s).poll_shutdown(cx),
        }
    }
}
