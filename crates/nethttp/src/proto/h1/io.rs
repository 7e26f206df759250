//! The read side of a connection as the codec sees it: the socket half plus its buffer, which
//! travel together — from the connection to a request body and back — so bytes of a pipelined
//! request that arrived with a body are never lost.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::BytesMut;
use tokio::io::{AsyncRead, ReadBuf};
use tokio::net::tcp::OwnedReadHalf;
use tokio::time::Instant;

use crate::proto::timeout::with_deadline;

/// First allocation of a read buffer. Requests larger than this grow it, up to the head limit.
pub(crate) const INITIAL_READ_BUF: usize = 8 * 1024;
/// Reads of body data ask for at least this much room, so big uploads take few syscalls.
pub(crate) const BODY_READ_CHUNK: usize = 32 * 1024;

/// A readable half of a connection.
pub(crate) trait ReadIo: AsyncRead + Unpin + Send + 'static {
    /// Waits until the socket has something to read, without holding a buffer: this is how
    /// an idle keep-alive connection waits, so it costs only a few hundred bytes.
    fn ready(&self) -> impl Future<Output = io::Result<()>> + Send + '_;

    /// Whether unread bytes are already waiting in the kernel (checked without reading).
    fn has_pending_input(&self) -> bool;

    /// While a handler runs with the read half at home: `Ready(true)` once the client has
    /// closed or reset the connection, `Ready(false)` once it sent more instead (a pipelined
    /// request; watching stops there, as the bytes are left for the next read), `Pending`
    /// until either. Consumes nothing.
    fn poll_peer_gone(&self, cx: &mut Context<'_>) -> Poll<bool>;
}

/// [`ReadIo::poll_peer_gone`] for the socket `tcp` (under TLS, if any).
///
/// The runtime's readiness can be stale: set by the request just read, and only cleared by a
/// read that finds nothing. So a readable socket is asked what it holds: a hang-up means the
/// client left, bytes mean it sent more; neither means the readiness was stale, and it is
/// cleared (safe: nothing is waiting to be read, and readiness that newer input set is kept)
/// so that the next wake-up is a real one.
fn peer_gone(tcp: &tokio::net::TcpStream, cx: &mut Context<'_>) -> Poll<bool> {
    use std::os::fd::AsRawFd;
    let fd = tcp.as_raw_fd();
    // Twice at most: once with the readiness found, once after clearing it.
    for _ in 0..2 {
        match tcp.poll_read_ready(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Err(_)) => return Poll::Ready(true),
            Poll::Ready(Ok(())) => {}
        }
        if crate::net::peer_hung_up(fd) {
            return Poll::Ready(true);
        }
        if crate::net::has_pending_input(fd) {
            return Poll::Ready(false);
        }
        let _ = tcp.try_io(tokio::io::Interest::READABLE, || {
            Err::<(), _>(io::ErrorKind::WouldBlock.into())
        });
    }
    Poll::Pending
}

impl ReadIo for OwnedReadHalf {
    fn ready(&self) -> impl Future<Output = io::Result<()>> + Send + '_ {
        self.readable()
    }

    fn has_pending_input(&self) -> bool {
        use std::os::fd::AsRawFd;
        crate::net::has_pending_input(self.as_ref().as_raw_fd())
    }

    fn poll_peer_gone(&self, cx: &mut Context<'_>) -> Poll<bool> {
        peer_gone(self.as_ref(), cx)
    }
}

impl ReadIo for crate::tls::split::TlsRead {
    fn ready(&self) -> impl Future<Output = io::Result<()>> + Send + '_ {
        std::future::poll_fn(|cx| self.poll_input(cx))
    }

    fn has_pending_input(&self) -> bool {
        crate::tls::split::TlsRead::has_pending_input(self)
    }

    fn poll_peer_gone(&self, cx: &mut Context<'_>) -> Poll<bool> {
        crate::tls::split::TlsRead::poll_peer_gone(self, cx)
    }
}

/// A socket's read half with its buffer of received, unconsumed bytes.
#[derive(Debug)]
pub(crate) struct Reader<R> {
    pub io: R,
    pub buf: BytesMut,
}

impl<R: AsyncRead + Unpin> Reader<R> {
    /// Reads once into `buf`, making room for at least `want` more bytes first.
    /// `Ok(0)` is end of stream.
    pub(crate) fn poll_read_more(
        &mut self,
        cx: &mut Context<'_>,
        want: usize,
    ) -> Poll<io::Result<usize>> {
        if self.buf.capacity() == 0 {
            self.buf = super::recycle::read_buf();
        }
        if self.buf.capacity() - self.buf.len() < want.clamp(1, 1024) {
            self.buf.reserve(want);
        }
        let spare = self.buf.spare_capacity_mut();
        let mut rb = ReadBuf::uninit(spare);
        ready!(Pin::new(&mut self.io).poll_read(cx, &mut rb))?;
        let n = rb.filled().len();
        // SAFETY: `poll_read` initialised the first `n` bytes of the spare capacity.
        unsafe { self.buf.set_len(self.buf.len() + n) };
        Poll::Ready(Ok(n))
    }

    /// Async form of [`Reader::poll_read_more`], failing with `TimedOut` at `deadline`.
    pub(crate) async fn read_more(&mut self, want: usize, deadline: Instant) -> io::Result<usize> {
        let read = std::future::poll_fn(|cx| self.poll_read_more(cx, want));
        with_deadline(read, || deadline, "read deadline passed").await
    }
}
