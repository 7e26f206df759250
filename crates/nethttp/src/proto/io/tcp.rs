//! The capabilities TCP gives the engines: peeking at the first bytes (the h2c preface
//! sniff), waiting for input without a buffer, asking the kernel what is waiting, and
//! watching for a client that hangs up while its handler runs. The halves are tokio's owned
//! ones (`into_split`: no lock per operation).

use std::io;
use std::os::fd::AsRawFd;
use std::task::{ready, Context, Poll};

use bytes::BytesMut;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

use super::ConnIo;
use crate::proto::h1::io::{InputProbe, ReadIo};

impl ConnIo for TcpStream {
    type Read = OwnedReadHalf;
    type Write = OwnedWriteHalf;

    fn split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        self.into_split()
    }

    const PEEK: bool = true;

    /// Each wait is for the socket to turn readable again, and a look that finds nothing new
    /// clears the runtime's readiness first, so a client that sends half a preface (or
    /// nothing) costs no CPU while it waits.
    fn poll_peek(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
        seen: usize,
    ) -> Poll<io::Result<usize>> {
        let fd = self.as_raw_fd();
        loop {
            // Ready once bytes (or a close) arrive that were not there at the last look.
            ready!(self.poll_read_ready(cx))?;
            let looked = self.try_io(tokio::io::Interest::READABLE, || {
                match crate::net::peek_now(fd, buf) {
                    // Nothing new since the last look: clear the readiness, wait for more.
                    Ok(n) if n == seen && n > 0 => Err(io::ErrorKind::WouldBlock.into()),
                    other => other,
                }
            });
            match looked {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                other => return Poll::Ready(other),
            }
        }
    }

    fn has_pending_input(&self) -> bool {
        crate::net::has_pending_input(self.as_raw_fd())
    }
}

impl ReadIo for OwnedReadHalf {
    /// The socket's read readiness, polled: the waker goes in the socket's one slot for
    /// reads (nothing else reads while the connection is idle), which costs less than the
    /// waiter list `readable()` joins.
    fn wait_input<'a>(
        &'a mut self,
        _buf: &'a mut BytesMut,
    ) -> impl std::future::Future<Output = io::Result<()>> + Send + 'a {
        let this: &'a OwnedReadHalf = self;
        let tcp: &'a TcpStream = this.as_ref();
        std::future::poll_fn(move |cx| tcp.poll_read_ready(cx))
    }

    fn has_pending_input(&self) -> bool {
        crate::net::has_pending_input(self.as_ref().as_raw_fd())
    }

    fn input_probe(&self) -> InputProbe {
        InputProbe::socket(self.as_ref().as_raw_fd())
    }

    fn poll_peer_gone(&mut self, _buf: &mut BytesMut, cx: &mut Context<'_>) -> Poll<bool> {
        peer_gone(self.as_ref(), cx)
    }
}

/// [`ReadIo::poll_peer_gone`] for the socket `tcp`.
///
/// The runtime's readiness can be stale: set by the request just read, and only cleared by a
/// read that finds nothing. So a readable socket is asked what it holds: a hang-up means the
/// client left, bytes mean it sent more; neither means the readiness was stale, and it is
/// cleared (safe: nothing is waiting to be read, and readiness that newer input set is kept)
/// so that the next wake-up is a real one.
fn peer_gone(tcp: &TcpStream, cx: &mut Context<'_>) -> Poll<bool> {
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
