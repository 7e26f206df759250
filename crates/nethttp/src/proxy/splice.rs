//! Joining two connections after a tunnel or an upgrade opened (CONNECT, WebSocket through
//! the proxy): bytes copied both ways until either side ends, or until neither side has
//! moved a byte for the idle timeout, so a tunnel nobody uses does not hold two connections
//! forever.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Copies between `a` and `b` until one side ends, an error, or `idle` passes with no byte
/// either way.
pub(crate) async fn splice<A, B>(a: &mut A, b: &mut B, idle: Duration)
where
    A: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    let moved = Arc::new(AtomicBool::new(false));
    let mut a = Watched {
        io: a,
        moved: moved.clone(),
    };
    let mut copy = std::pin::pin!(tokio::io::copy_bidirectional(&mut a, b));
    loop {
        tokio::select! {
            r = &mut copy => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, "tunnel ended with an error");
                }
                return;
            }
            _ = tokio::time::sleep(idle) => {
                // Every byte crosses `a` one way or the other.
                if !moved.swap(false, Ordering::AcqRel) {
                    tracing::debug!(?idle, "tunnel idle; closing it");
                    return;
                }
            }
        }
    }
}

/// An IO that notes any byte moved through it.
struct Watched<'a, T> {
    io: &'a mut T,
    moved: Arc<AtomicBool>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<'_, T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut *self.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.moved.store(true, Ordering::Release);
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<'_, T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut *self.io).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.moved.store(true, Ordering::Release);
        }
        r
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.io).poll_shutdown(cx)
    }
}
