//! The connection as the HTTP/1.1 codec sees it: what it asks of a server connection's read
//! half ([`ReadIo`]) and of a client connection ([`ClientIo`]), with defaults that work on any
//! IO, and the read half plus its buffer ([`Reader`]), which travel together — from the
//! connection to a request body and back — so bytes of a pipelined request that arrived with a
//! body are never lost.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

use crate::proto::timeout::with_deadline;

/// First allocation of a read buffer. Requests larger than this grow it, up to the head limit.
pub(crate) const INITIAL_READ_BUF: usize = 8 * 1024;
/// Reads of body data ask for at least this much room, so big uploads take few syscalls.
pub(crate) const BODY_READ_CHUNK: usize = 32 * 1024;

/// The read half of a server connection as HTTP/1.1 uses it: lent to a request body and back,
/// waited on while the connection is idle, and watched for a client that leaves while a
/// handler runs. What only some IO can do (wait for input without a buffer, ask the kernel
/// what is waiting) has a default that works on any `AsyncRead`: read into the connection's
/// buffer, which then holds the bytes for the parser. TCP and TLS over TCP override them
/// (`proto::io`'s TCP file, the `tls` layer).
pub(crate) trait ReadIo: AsyncRead + Unpin + Send + 'static {
    /// Waits until the connection has input (or is closed), which may be left in `buf`. TCP
    /// waits for readability without a buffer, then reads into a recycled one: this is how an
    /// idle keep-alive connection waits, so it costs only a few hundred bytes. The default
    /// reads into `buf`, which holds a read buffer while it waits and the bytes after.
    fn wait_input<'a>(
        &'a mut self,
        buf: &'a mut BytesMut,
    ) -> impl Future<Output = io::Result<()>> + Send + 'a {
        ReadInto { io: self, buf }
    }

    /// Whether unread bytes are already waiting in the kernel (checked without reading).
    /// `false` when the IO cannot tell.
    fn has_pending_input(&self) -> bool {
        false
    }

    /// A way to ask [`ReadIo::has_pending_input`] from beside the connection (the shutdown
    /// watch), while the read half is busy elsewhere.
    fn input_probe(&self) -> InputProbe {
        InputProbe::NONE
    }

    /// While a handler runs with the read half at home: `Ready(true)` once the client has
    /// closed or reset the connection, `Ready(false)` once it sent more instead (a pipelined
    /// request; watching stops there, as the bytes are left for the next read), `Pending`
    /// until either. TCP consumes nothing; the default reads into `buf` (kept for the next
    /// request), so it sees the client leave only by an end of stream or an error.
    fn poll_peer_gone(&mut self, buf: &mut BytesMut, cx: &mut Context<'_>) -> Poll<bool> {
        match poll_read_into(self, buf, cx, 1) {
            Poll::Ready(Ok(0) | Err(_)) => Poll::Ready(true),
            Poll::Ready(Ok(_)) => Poll::Ready(false),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// The write half of a server connection as HTTP/1.1 uses it: an `AsyncWrite` that may also
/// send a file's bytes itself. TCP and Unix sockets do, with `sendfile(2)` (`proto::io`'s
/// socket file); any other IO (TLS, in-memory) has the default, and the connection reads the
/// file and writes its bytes instead.
pub(crate) trait WriteIo: AsyncWrite + Unpin + Send + 'static {
    /// Whether [`WriteIo::poll_send_file`] works.
    const SEND_FILE: bool = false;

    /// Sends up to `len` bytes of `file` from `offset`, once the connection can take some:
    /// how many went, `Ok(0)` when the file ends at `offset`.
    fn poll_send_file(
        &mut self,
        _cx: &mut Context<'_>,
        _file: &std::fs::File,
        _offset: u64,
        _len: usize,
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Err(io::ErrorKind::Unsupported.into()))
    }

    /// Writes some of `buf`, which more bytes follow at once (a response head before its
    /// file): a socket holds them back to fill the segment; the default just writes.
    fn poll_write_more(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(self).poll_write(cx, buf)
    }
}

/// Asks whether input waits on a connection's socket without touching its read half: the
/// socket's descriptor, or -1 when the IO has none. (Not an `Option`: the shutdown watch of
/// every connection holds one, and this is half the size.)
#[derive(Debug, Clone, Copy)]
pub(crate) struct InputProbe(std::os::fd::RawFd);

impl InputProbe {
    /// For IO without a socket: never any input known.
    pub(crate) const NONE: InputProbe = InputProbe(-1);

    /// For the socket `fd`.
    pub(crate) fn socket(fd: std::os::fd::RawFd) -> Self {
        InputProbe(fd)
    }

    /// Whether unread bytes wait in the kernel; `false` when the IO cannot tell. The socket
    /// must still be open: its owner is alive.
    pub(crate) fn has_pending_input(self) -> bool {
        self.0 >= 0 && crate::net::has_pending_input(self.0)
    }
}

/// A client connection as the HTTP/1.1 exchange uses it: one IO for both directions, checked
/// for staleness before reuse. The defaults work on any IO; TCP and TLS over TCP (the `tls`
/// layer's client stream) override them with peeks.
pub(crate) trait ClientIo: AsyncRead + AsyncWrite + Unpin + Send + 'static {
    /// Ready once the server has sent something (bytes, an end of stream or an error);
    /// registers the waker otherwise. TCP peeks and consumes nothing. The default reads into
    /// `buf`, where what arrived stays for the response parser.
    fn poll_spoke(&mut self, buf: &mut BytesMut, cx: &mut Context<'_>) -> Poll<()> {
        poll_read_into(self, buf, cx, 1).map(|_| ())
    }

    /// The thorough check before a request that could not be resent: whether the peer is
    /// still silent, asked of the kernel now (it may know of a FIN or RST the runtime has not
    /// reported). `true` when the IO cannot be asked.
    fn peer_silent(&self) -> bool {
        true
    }

    /// The local address of the connection, when it has one (trace hooks report it).
    fn local_addr(&self) -> Option<std::net::SocketAddr> {
        None
    }
}

/// The default [`ReadIo::wait_input`]: one read into the buffer.
struct ReadInto<'a, T: ?Sized> {
    io: &'a mut T,
    buf: &'a mut BytesMut,
}

impl<T: AsyncRead + Unpin + ?Sized> Future for ReadInto<'_, T> {
    type Output = io::Result<()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        poll_read_into(&mut *this.io, this.buf, cx, INITIAL_READ_BUF).map_ok(|_| ())
    }
}

/// Reads once from `io` into `buf`, taking a recycled buffer if it has none and making room
/// for at least `want` more bytes first. `Ok(0)` is end of stream.
#[inline]
pub(crate) fn poll_read_into<T: AsyncRead + Unpin + ?Sized>(
    io: &mut T,
    buf: &mut BytesMut,
    cx: &mut Context<'_>,
    want: usize,
) -> Poll<io::Result<usize>> {
    if buf.capacity() == 0 {
        *buf = super::recycle::read_buf();
    }
    if buf.capacity() - buf.len() < want.clamp(1, 1024) {
        buf.reserve(want);
    }
    let spare = buf.spare_capacity_mut();
    let mut rb = ReadBuf::uninit(spare);
    ready!(Pin::new(io).poll_read(cx, &mut rb))?;
    let n = rb.filled().len();
    // SAFETY: `poll_read` initialised the first `n` bytes of the spare capacity.
    unsafe { buf.set_len(buf.len() + n) };
    Poll::Ready(Ok(n))
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
        poll_read_into(&mut self.io, &mut self.buf, cx, want)
    }

    /// Async form of [`Reader::poll_read_more`], failing with `TimedOut` at `deadline`.
    pub(crate) async fn read_more(&mut self, want: usize, deadline: Instant) -> io::Result<usize> {
        self.read_more_by(want, || deadline).await
    }

    /// [`Reader::read_more`] with a deadline computed only if the read has to wait.
    pub(crate) async fn read_more_by(
        &mut self,
        want: usize,
        deadline: impl FnOnce() -> Instant,
    ) -> io::Result<usize> {
        let read = std::future::poll_fn(|cx| self.poll_read_more(cx, want));
        with_deadline(read, deadline, "read deadline passed").await
    }
}
