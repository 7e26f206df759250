//! Any IO that is not a TCP socket (an in-memory pipe, a TLS stream over such IO, a transport
//! the caller brings), served with the capability defaults: the preface sniff reads and
//! replays, an idle connection waits in a read, and the client leaving shows as an end of
//! stream. HTTP/1.1 splits it with `tokio::io::split`, which takes a lock per read or write
//! (TCP avoids it with owned halves).

use std::io;
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf, ReadHalf, WriteHalf};

use super::ConnIo;
use crate::proto::h1::io::{ClientIo, ReadIo, WriteIo};

/// Any IO, with the default capabilities.
#[derive(Debug)]
pub(crate) struct AnyIo<T>(pub T);

impl<T> ConnIo for AnyIo<T>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Read = ReadHalf<T>;
    type Write = WriteHalf<T>;

    fn split(self) -> (ReadHalf<T>, WriteHalf<T>) {
        tokio::io::split(self.0)
    }
}

impl<T: AsyncRead + Send + 'static> ReadIo for ReadHalf<T> {}

impl<T: AsyncWrite + Send + 'static> WriteIo for WriteHalf<T> {}

impl<T> ClientIo for AnyIo<T> where T: AsyncRead + AsyncWrite + Unpin + Send + 'static {}

impl<T: AsyncRead + Unpin> AsyncRead for AnyIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for AnyIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// An IO used only through `&mut` (every read and write is), hence `Sync` whatever it is: the
/// caller's IO need only be `Send`. The mutex is never locked: `get_mut` proves exclusive
/// access at compile time.
#[derive(Debug)]
pub(crate) struct Exclusive<T> {
    io: Mutex<T>,
    vectored: bool,
}

impl<T: AsyncWrite> Exclusive<T> {
    pub(crate) fn new(io: T) -> Self {
        let vectored = io.is_write_vectored();
        Exclusive {
            io: Mutex::new(io),
            vectored,
        }
    }
}

impl<T> Exclusive<T> {
    fn get(&mut self) -> &mut T {
        self.io.get_mut().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Exclusive<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(self.get()).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Exclusive<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(self.get()).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(self.get()).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.vectored
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(self.get()).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(self.get()).poll_shutdown(cx)
    }
}
