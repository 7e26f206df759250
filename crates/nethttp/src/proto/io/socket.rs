//! The capabilities a stream socket (TCP or Unix) gives the engines: peeking at the first
//! bytes (the h2c preface sniff), waiting for input without a buffer, asking the kernel what
//! is waiting, watching for a client that hangs up while its handler runs, and sending a file
//! with `sendfile(2)`. The halves are tokio's owned ones (`into_split`: no lock per
//! operation).

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::task::{ready, Context, Poll};

use bytes::BytesMut;
use tokio::net::{tcp, unix, TcpStream, UnixStream};

use super::ConnIo;
use crate::proto::h1::io::{poll_read_into, InputProbe, ReadIo, WriteIo, INITIAL_READ_BUF};
use crate::proto::h1::recycle;

/// What the capabilities need of a socket: its descriptor and the runtime's read readiness.
/// TCP and Unix stream sockets answer the same kernel calls (`recv(MSG_PEEK)`,
/// `poll(POLLRDHUP)`), so one implementation serves both.
pub(crate) trait StreamSocket: AsRawFd + Send + Sync + 'static {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;

    /// Runs `f` (a non-blocking call on the descriptor); a `WouldBlock` from it clears the
    /// runtime's read readiness.
    fn try_read_io<R>(&self, f: impl FnOnce() -> io::Result<R>) -> io::Result<R>;

    fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;

    /// Runs `f`; a `WouldBlock` from it clears the runtime's write readiness.
    fn try_write_io<R>(&self, f: impl FnOnce() -> io::Result<R>) -> io::Result<R>;
}

impl StreamSocket for TcpStream {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        TcpStream::poll_read_ready(self, cx)
    }

    fn try_read_io<R>(&self, f: impl FnOnce() -> io::Result<R>) -> io::Result<R> {
        self.try_io(tokio::io::Interest::READABLE, f)
    }

    fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        TcpStream::poll_write_ready(self, cx)
    }

    fn try_write_io<R>(&self, f: impl FnOnce() -> io::Result<R>) -> io::Result<R> {
        self.try_io(tokio::io::Interest::WRITABLE, f)
    }
}

impl StreamSocket for UnixStream {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        UnixStream::poll_read_ready(self, cx)
    }

    fn try_read_io<R>(&self, f: impl FnOnce() -> io::Result<R>) -> io::Result<R> {
        self.try_io(tokio::io::Interest::READABLE, f)
    }

    fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        UnixStream::poll_write_ready(self, cx)
    }

    fn try_write_io<R>(&self, f: impl FnOnce() -> io::Result<R>) -> io::Result<R> {
        self.try_io(tokio::io::Interest::WRITABLE, f)
    }
}

/// The capabilities both kinds of stream socket have, the same way: split into owned halves,
/// peeks that wait on readiness, and the kernel's count of bytes waiting.
macro_rules! socket_conn_io {
    ($stream:ty, $halves:ident) => {
        impl ConnIo for $stream {
            type Read = $halves::OwnedReadHalf;
            type Write = $halves::OwnedWriteHalf;

            fn split(self) -> (Self::Read, Self::Write) {
                self.into_split()
            }

            const PEEK: bool = true;

            fn poll_peek(
                &self,
                cx: &mut Context<'_>,
                buf: &mut [u8],
                seen: usize,
            ) -> Poll<io::Result<usize>> {
                poll_peek(self, cx, buf, seen)
            }

            fn has_pending_input(&self) -> bool {
                crate::net::has_pending_input(self.as_raw_fd())
            }
        }
    };
}

socket_conn_io!(TcpStream, tcp);
socket_conn_io!(UnixStream, unix);

impl WriteIo for tcp::OwnedWriteHalf {
    const SEND_FILE: bool = true;

    fn poll_write_more(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        poll_write_more(self.as_ref(), cx, buf)
    }

    fn poll_send_file(
        &mut self,
        cx: &mut Context<'_>,
        file: &std::fs::File,
        offset: u64,
        len: usize,
    ) -> Poll<io::Result<usize>> {
        poll_send_file(self.as_ref(), cx, file, offset, len)
    }
}

impl WriteIo for unix::OwnedWriteHalf {
    const SEND_FILE: bool = true;

    fn poll_write_more(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        poll_write_more(self.as_ref(), cx, buf)
    }

    fn poll_send_file(
        &mut self,
        cx: &mut Context<'_>,
        file: &std::fs::File,
        offset: u64,
        len: usize,
    ) -> Poll<io::Result<usize>> {
        poll_send_file(self.as_ref(), cx, file, offset, len)
    }
}

/// [`WriteIo::poll_write_more`] for a socket: `send(MSG_MORE)` once the socket is writable.
fn poll_write_more<S: StreamSocket>(
    sock: &S,
    cx: &mut Context<'_>,
    buf: &[u8],
) -> Poll<io::Result<usize>> {
    let fd = sock.as_raw_fd();
    loop {
        ready!(sock.poll_write_ready(cx))?;
        match sock.try_write_io(|| crate::net::send_more(fd, buf)) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return Poll::Ready(other),
        }
    }
}

/// [`WriteIo::poll_send_file`] for a socket: `sendfile(2)` once the socket is writable; a full
/// socket buffer clears the runtime's write readiness and waits for it again.
fn poll_send_file<S: StreamSocket>(
    sock: &S,
    cx: &mut Context<'_>,
    file: &std::fs::File,
    offset: u64,
    len: usize,
) -> Poll<io::Result<usize>> {
    let fd = sock.as_raw_fd();
    let file = file.as_raw_fd();
    loop {
        ready!(sock.poll_write_ready(cx))?;
        match sock.try_write_io(|| crate::net::send_file(fd, file, offset, len)) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return Poll::Ready(other),
        }
    }
}

/// [`ConnIo::poll_peek`] for a socket. Each wait is for the socket to turn readable again,
/// and a look that finds nothing new clears the runtime's readiness first, so a client that
/// sends half a preface (or nothing) costs no CPU while it waits.
fn poll_peek<S: StreamSocket>(
    sock: &S,
    cx: &mut Context<'_>,
    buf: &mut [u8],
    seen: usize,
) -> Poll<io::Result<usize>> {
    let fd = sock.as_raw_fd();
    loop {
        // Ready once bytes (or a close) arrive that were not there at the last look.
        ready!(sock.poll_read_ready(cx))?;
        let looked = sock.try_read_io(|| match crate::net::peek_now(fd, buf) {
            // Nothing new since the last look: clear the readiness, wait for more.
            Ok(n) if n == seen && n > 0 => Err(io::ErrorKind::WouldBlock.into()),
            other => other,
        });
        match looked {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            other => return Poll::Ready(other),
        }
    }
}

/// The read half of a socket, as [`ReadIo`] needs it.
trait SocketReadHalf: tokio::io::AsyncRead + Unpin + Send + 'static {
    type Socket: StreamSocket;
    fn socket(&self) -> &Self::Socket;
}

impl SocketReadHalf for tcp::OwnedReadHalf {
    type Socket = TcpStream;
    fn socket(&self) -> &TcpStream {
        self.as_ref()
    }
}

impl SocketReadHalf for unix::OwnedReadHalf {
    type Socket = UnixStream;
    fn socket(&self) -> &UnixStream {
        self.as_ref()
    }
}

impl ReadIo for tcp::OwnedReadHalf {
    fn wait_input<'a>(
        &'a mut self,
        buf: &'a mut BytesMut,
    ) -> impl std::future::Future<Output = io::Result<()>> + Send + 'a {
        wait_input(self, buf)
    }

    fn has_pending_input(&self) -> bool {
        crate::net::has_pending_input(fd(self))
    }

    fn input_probe(&self) -> InputProbe {
        InputProbe::socket(fd(self))
    }

    fn poll_peer_gone(&mut self, _buf: &mut BytesMut, cx: &mut Context<'_>) -> Poll<bool> {
        peer_gone(self.socket(), cx)
    }
}

impl ReadIo for unix::OwnedReadHalf {
    fn wait_input<'a>(
        &'a mut self,
        buf: &'a mut BytesMut,
    ) -> impl std::future::Future<Output = io::Result<()>> + Send + 'a {
        wait_input(self, buf)
    }

    fn has_pending_input(&self) -> bool {
        crate::net::has_pending_input(fd(self))
    }

    fn input_probe(&self) -> InputProbe {
        InputProbe::socket(fd(self))
    }

    fn poll_peer_gone(&mut self, _buf: &mut BytesMut, cx: &mut Context<'_>) -> Poll<bool> {
        peer_gone(self.socket(), cx)
    }
}

fn fd<H: SocketReadHalf>(half: &H) -> RawFd {
    half.socket().as_raw_fd()
}

/// [`ReadIo::wait_input`] for a socket: waits for read readiness holding no buffer, then
/// reads into `buf` (a recycled buffer, given back if the read finds nothing), so the
/// request's first bytes are there for the parser. Once the wait has been woken, the read is
/// tried without asking for readiness again: a wake-up is almost always input, and the read
/// asks anyway. The waker goes in the socket's one slot for reads (nothing else reads while
/// the connection is idle), which costs less than the waiter list `readable()` joins.
fn wait_input<'a, H: SocketReadHalf>(
    half: &'a mut H,
    buf: &'a mut BytesMut,
) -> impl std::future::Future<Output = io::Result<()>> + Send + 'a {
    let mut waited = false;
    std::future::poll_fn(move |cx| {
        if !waited {
            waited = true;
            ready!(half.socket().poll_read_ready(cx))?;
        }
        match poll_read_into(half, buf, cx, INITIAL_READ_BUF) {
            Poll::Ready(r) => Poll::Ready(r.map(|_| ())),
            Poll::Pending => {
                // Nothing yet (the readiness was stale, or another wake-up): wait on, holding
                // no buffer. The read left the waker in the socket's slot.
                recycle::recycle_read(std::mem::take(buf));
                Poll::Pending
            }
        }
    })
}

/// [`ReadIo::poll_peer_gone`] for a socket.
///
/// The runtime's readiness can be stale: set by the request just read, and only cleared by a
/// read that finds nothing. So a readable socket is asked what it holds: a hang-up means the
/// client left, bytes mean it sent more; neither means the readiness was stale, and it is
/// cleared (safe: nothing is waiting to be read, and readiness that newer input set is kept)
/// so that the next wake-up is a real one.
fn peer_gone<S: StreamSocket>(sock: &S, cx: &mut Context<'_>) -> Poll<bool> {
    let fd = sock.as_raw_fd();
    // Twice at most: once with the readiness found, once after clearing it.
    for _ in 0..2 {
        match sock.poll_read_ready(cx) {
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
        let _ = sock.try_read_io(|| Err::<(), _>(io::ErrorKind::WouldBlock.into()));
    }
    Poll::Pending
}
