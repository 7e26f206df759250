//! The connection IO every protocol engine takes: any `AsyncRead + AsyncWrite + Unpin + Send +
//! 'static`. HTTP/2 needs nothing more. HTTP/1.1 splits a server connection into halves (the
//! read half is lent to a request body) and asks a few things of them that only some IO can
//! answer; those are capabilities with defaults that work on any IO ([`ConnIo`] here, the
//! halves' [`ReadIo`] and the client's [`ClientIo`](super::h1::io::ClientIo) in `h1::io`):
//!
//! | capability | TCP and Unix sockets (and TLS over TCP) | any other IO |
//! |---|---|---|
//! | h2c preface sniff | peeks, consumes nothing | reads the first bytes, replays them ([`Rewind`]) |
//! | idle keep-alive wait | readiness, no buffer | a read into the connection's buffer |
//! | input already waiting? (shutdown) | asks the kernel | no |
//! | client left while a handler runs | peeks and polls for a hang-up | an end of stream read |
//! | stale pooled connection (client) | peeks | read through to the buffer |
//!
//! `socket` implements them for `TcpStream` and `UnixStream`, `any` wraps any other IO with the defaults (split
//! by `tokio::io::split`), and the `tls` layer implements them for its streams over TCP.

mod any;
mod rewind;
mod socket;

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::h1::io::{ReadIo, WriteIo};

pub(crate) use any::{AnyIo, Exclusive};
pub(crate) use rewind::Rewind;

/// A byte stream of any kind, as the engines hold it: `Sync` too, since their futures keep
/// shared borrows of a connection across waits ([`Exclusive`] makes any `Send` IO `Sync`).
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send + Sync {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + Sync> Io for T {}

/// Any IO behind one pointer: the engines are compiled once for every IO that is not TCP. A
/// struct rather than a bare `Box<dyn Io>`, whose implied `'static` the compiler loses when
/// it proves an engine's future `Send` for every lifetime.
pub(crate) struct BoxedIo(Box<dyn Io>);

impl BoxedIo {
    pub(crate) fn new(io: impl Io + 'static) -> Self {
        BoxedIo(Box::new(io))
    }
}

impl AsyncRead for BoxedIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for BoxedIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_shutdown(cx)
    }
}

/// A whole server connection, before a protocol is chosen.
pub(crate) trait ConnIo: AsyncRead + AsyncWrite + Unpin + Send + 'static {
    /// The read half HTTP/1.1 lends to request bodies.
    type Read: ReadIo;
    /// The write half the HTTP/1.1 connection keeps.
    type Write: WriteIo;

    /// Splits the connection for HTTP/1.1.
    fn split(self) -> (Self::Read, Self::Write);

    /// Whether [`ConnIo::poll_peek`] works: waiting bytes can be looked at without consuming
    /// them. Without it, the preface sniff reads and replays what it read.
    const PEEK: bool = false;

    /// Waits until bytes (or a close) arrive that were not there at the last look, `seen`
    /// bytes, then copies what is waiting into `buf` without consuming it: `Ok(0)` is a
    /// close. Only called when [`ConnIo::PEEK`] is true.
    fn poll_peek(
        &self,
        _cx: &mut Context<'_>,
        _buf: &mut [u8],
        _seen: usize,
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Err(io::ErrorKind::Unsupported.into()))
    }

    /// Whether unread bytes are already waiting (checked without reading). `false` when the
    /// IO cannot tell.
    fn has_pending_input(&self) -> bool {
        false
    }
}
