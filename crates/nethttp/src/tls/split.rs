//! One server TLS stream over TCP split into a read half and a write half, so the HTTP/1.1
//! codec can lend the read half to a request body while the connection keeps the write half
//! (as it does with a TCP socket). Unlike `tokio::io::split`, the read half has the TCP
//! capabilities of `proto::io` (the connection IO traits are implemented here, in the layer
//! that knows TLS): it can wait for input without a buffer — first checking rustls's own
//! buffer of decrypted bytes — which is how an idle keep-alive connection waits, and it sees a
//! client's close_notify, FIN or RST while a handler runs.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::handshake::ServerStream;
use crate::proto::h1::io::{InputProbe, ReadIo, WriteIo};
use crate::proto::io::ConnIo;

type Shared = Arc<Mutex<ServerStream>>;

/// The read half of a server-side TLS connection.
pub(crate) struct TlsRead(Shared);
/// The write half of a server-side TLS connection.
pub(crate) struct TlsWrite(Shared);

impl ConnIo for ServerStream {
    type Read = TlsRead;
    type Write = TlsWrite;

    fn split(self) -> (TlsRead, TlsWrite) {
        let shared = Arc::new(Mutex::new(self));
        (TlsRead(shared.clone()), TlsWrite(shared))
    }
}

/// TLS encrypts in user space: a file is read and written through rustls.
impl WriteIo for TlsWrite {}

impl ReadIo for TlsRead {
    fn wait_input<'a>(
        &'a mut self,
        _buf: &'a mut BytesMut,
    ) -> impl std::future::Future<Output = io::Result<()>> + Send + 'a {
        std::future::poll_fn(|cx| self.poll_input(cx))
    }

    fn has_pending_input(&self) -> bool {
        TlsRead::has_pending_input(self)
    }

    fn input_probe(&self) -> InputProbe {
        InputProbe::socket(self.raw_fd())
    }

    fn poll_peer_gone(&mut self, _buf: &mut BytesMut, cx: &mut Context<'_>) -> Poll<bool> {
        TlsRead::poll_peer_gone(self, cx)
    }
}

fn lock(s: &Shared) -> MutexGuard<'_, ServerStream> {
    // A poisoned lock means a panic mid-I/O; the stream state is still memory-safe to use
    // and the next I/O call reports whatever went wrong.
    s.lock().unwrap_or_else(|p| p.into_inner())
}

impl TlsRead {
    /// Ready when decrypted bytes are buffered, the peer closed, or the socket is readable.
    pub(crate) fn poll_input(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut s = lock(&self.0);
        if buffered(&mut s) {
            return Poll::Ready(Ok(()));
        }
        s.get_ref().0.get_ref().poll_read_ready(cx)
    }

    /// While a handler runs: `Ready(true)` once the client closed (close_notify, FIN or
    /// RST), `Ready(false)` once it sent application data (a pipelined request, left in
    /// rustls's buffer for the next read), `Pending` until either. Records that arrive are
    /// taken into rustls as they come, so a close_notify is told apart from a request.
    pub(crate) fn poll_peer_gone(&self, cx: &mut Context<'_>) -> Poll<bool> {
        let mut s = lock(&self.0);
        loop {
            let (io, session) = s.get_mut();
            match session.process_new_packets() {
                Ok(state) if state.peer_has_closed() => return Poll::Ready(true),
                Ok(state) if state.plaintext_bytes_to_read() > 0 => return Poll::Ready(false),
                Ok(_) => {}
                Err(_) => return Poll::Ready(true),
            }
            let tcp = io.get_ref();
            match tcp.poll_read_ready(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(_)) => return Poll::Ready(true),
                Poll::Ready(Ok(())) => {}
            }
            // `try_read` clears stale readiness when it finds nothing, so the next
            // `poll_read_ready` registers for a real wake-up.
            match session.read_tls(&mut TryRead(tcp)) {
                Ok(0) => return Poll::Ready(true),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => return Poll::Ready(true),
            }
        }
    }

    /// Whether input is waiting, decrypted or still in the kernel.
    pub(crate) fn has_pending_input(&self) -> bool {
        let mut s = lock(&self.0);
        buffered(&mut s) || crate::net::has_pending_input(s.get_ref().0.get_ref().as_raw_fd())
    }

    /// The socket's descriptor.
    pub(crate) fn raw_fd(&self) -> RawFd {
        lock(&self.0).get_ref().0.get_ref().as_raw_fd()
    }
}

/// A socket's non-blocking read as `std::io::Read`, for rustls to take records from.
struct TryRead<'a>(&'a tokio::net::TcpStream);

impl io::Read for TryRead<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.try_read(buf)
    }
}

/// Whether rustls holds decrypted bytes not yet read (or has seen the peer close).
fn buffered(s: &mut ServerStream) -> bool {
    match s.get_mut().1.process_new_packets() {
        Ok(state) => state.plaintext_bytes_to_read() > 0 || state.peer_has_closed(),
        Err(_) => true,
    }
}

impl AsyncRead for TlsRead {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut *lock(&self.0)).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsWrite {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *lock(&self.0)).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *lock(&self.0)).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *lock(&self.0)).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *lock(&self.0)).poll_shutdown(cx)
    }
}
