//! An HTTP/2 stream as a byte stream, for what runs over a `CONNECT` (RFC 9113 §8.5) or an
//! extended `CONNECT` (RFC 8441, WebSocket over HTTP/2): reads are the stream's DATA frames
//! (their flow-control credit given back as they are read), writes become DATA frames within
//! the peer's window, and shutting down the write side ends the stream (END_STREAM).

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes};
use h2::{RecvStream, SendStream};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Largest DATA frame payload a write asks credit for at once.
const MAX_WRITE: usize = 16 * 1024;

/// One HTTP/2 stream, both directions.
pub(crate) struct Tunnel {
    recv: RecvStream,
    send: SendStream<Bytes>,
    /// Data received and not yet read.
    pending: Bytes,
    read_done: bool,
}

impl Tunnel {
    pub(crate) fn new(recv: RecvStream, send: SendStream<Bytes>) -> Tunnel {
        Tunnel {
            recv,
            send,
            pending: Bytes::new(),
            read_done: false,
        }
    }
}

fn h2_io(e: h2::Error) -> io::Error {
    if e.is_io() {
        return e.into_io().unwrap_or_else(|| io::ErrorKind::Other.into());
    }
    match e.reason() {
        // The peer ended its side without error: a clean end of the stream.
        Some(h2::Reason::NO_ERROR) | Some(h2::Reason::CANCEL) => {
            io::Error::new(io::ErrorKind::BrokenPipe, e)
        }
        _ => io::Error::other(e),
    }
}

impl AsyncRead for Tunnel {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        while this.pending.is_empty() {
            if this.read_done {
                return Poll::Ready(Ok(()));
            }
            match ready!(this.recv.poll_data(cx)) {
                Some(Ok(data)) => {
                    // The window is given back as the data arrives here: what is held
                    // unread is at most one frame.
                    let _ = this.recv.flow_control().release_capacity(data.len());
                    this.pending = data;
                }
                Some(Err(e)) => return Poll::Ready(Err(h2_io(e))),
                None => this.read_done = true,
            }
        }
        let n = this.pending.len().min(buf.remaining());
        buf.put_slice(&this.pending[..n]);
        this.pending.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Tunnel {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let send = &mut self.send;
        send.reserve_capacity(buf.len().min(MAX_WRITE));
        let granted = loop {
            match ready!(send.poll_capacity(cx)) {
                Some(Ok(0)) => continue,
                Some(Ok(n)) => break n,
                Some(Err(e)) => return Poll::Ready(Err(h2_io(e))),
                None => return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into())),
            }
        };
        let n = granted.min(buf.len());
        send.send_data(Bytes::copy_from_slice(&buf[..n]), false)
            .map_err(h2_io)?;
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Data handed to h2 goes out with its connection's next write.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.send.send_data(Bytes::new(), true) {
            Ok(()) => Poll::Ready(Ok(())),
            // Already ended, or reset: nothing more to end.
            Err(_) => Poll::Ready(Ok(())),
        }
    }
}

impl Drop for Tunnel {
    fn drop(&mut self) {
        // Dropped is closed, as a socket's close sends FIN: END_STREAM goes out after the
        // data already queued (a WebSocket's Close frame, say), where an explicit reset would
        // discard it. With both handles gone, h2 then resets the stream itself if the peer
        // has not ended its side, so the stream does not linger on the connection.
        let _ = self.send.send_data(Bytes::new(), true);
    }
}
