//! The write timeout of a connection whose writes happen out of sight (HTTP/2: `h2` writes
//! frames from inside its connection future and never reports that a write is stuck). The
//! socket is wrapped, under TLS if any: the wrapper notes when a write first took nothing
//! (the kernel's send buffer is full) and forgets it once [`PROGRESS`] bytes have gone in since, and the connection task closes the connection
//! once writes have been blocked for the write timeout (a peer that stopped reading). It
//! sits under TLS because a TLS stream takes writes into its record buffer while the socket
//! is stuck, which would look like progress; and a few bytes squeezing into a nearly full
//! send buffer prove nothing about the peer either, so they do not end a stall.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

/// When writes on a connection became blocked, shared by its IO and its task.
#[derive(Debug)]
pub(crate) struct WriteStall {
    /// A moment before any stall, so a stall's start fits in nanoseconds since it.
    base: Instant,
    /// Nanoseconds from `base` to the first blocked write of the current stall, plus one;
    /// 0 while writes go through.
    since: AtomicU64,
    /// Bytes written since the current stall began.
    written: AtomicU64,
}

/// Bytes that must go out after writes blocked before the peer counts as reading again:
/// one full frame. A peer that reads keeps draining at least this much per write timeout
/// (16 KiB per 30 s by default, about 550 bytes/s).
pub(crate) const PROGRESS: u64 = 16 * 1024;

impl WriteStall {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(WriteStall {
            base: Instant::now(),
            since: AtomicU64::new(0),
            written: AtomicU64::new(0),
        })
    }

    /// Since when writes have been blocked, if they are.
    pub(crate) fn blocked_since(&self) -> Option<Instant> {
        match self.since.load(Ordering::Relaxed) {
            0 => None,
            n => Some(self.base + Duration::from_nanos(n - 1)),
        }
    }

    fn blocked(&self) {
        if self.since.load(Ordering::Relaxed) == 0 {
            let n = Instant::now()
                .saturating_duration_since(self.base)
                .as_nanos();
            self.written.store(0, Ordering::Relaxed);
            self.since.store(
                u64::try_from(n).unwrap_or(u64::MAX - 1) + 1,
                Ordering::Relaxed,
            );
        }
    }

    fn wrote(&self, n: usize) {
        if self.since.load(Ordering::Relaxed) != 0 {
            let total = self.written.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
            if total >= PROGRESS {
                self.since.store(0, Ordering::Relaxed);
            }
        }
    }

    /// Notes the outcome of a write: pending starts (or continues) a stall, bytes taken
    /// count towards ending it.
    fn note_write(&self, p: Poll<io::Result<usize>>) -> Poll<io::Result<usize>> {
        match &p {
            Poll::Pending => self.blocked(),
            Poll::Ready(Ok(n)) => self.wrote(*n),
            Poll::Ready(Err(_)) => {}
        }
        p
    }

    /// When the connection task should look again: at the end of the write timeout of the
    /// current stall, or one write timeout from now.
    pub(crate) fn next_check(&self, timeout: Duration) -> Instant {
        self.blocked_since()
            .unwrap_or_else(Instant::now)
            .checked_add(timeout)
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400))
    }

    /// Whether writes have been blocked for `timeout` or longer.
    pub(crate) fn timed_out(&self, timeout: Duration) -> bool {
        self.blocked_since()
            .is_some_and(|t| Instant::now().saturating_duration_since(t) >= timeout)
    }
}

/// A connection's IO, reporting its writes to a [`WriteStall`]; reads pass through.
#[derive(Debug)]
pub(crate) struct WatchWrites<T> {
    io: T,
    stall: Arc<WriteStall>,
}

impl<T> WatchWrites<T> {
    pub(crate) fn new(io: T, stall: Arc<WriteStall>) -> Self {
        WatchWrites { io, stall }
    }

    /// The wrapped IO.
    pub(crate) fn get_ref(&self) -> &T {
        &self.io
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for WatchWrites<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for WatchWrites<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let p = Pin::new(&mut this.io).poll_write(cx, buf);
        this.stall.note_write(p)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let p = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.stall.note_write(p)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let p = Pin::new(&mut this.io).poll_flush(cx);
        if p.is_pending() {
            this.stall.blocked();
        }
        p
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn a_full_socket_starts_a_stall_and_a_frame_written_ends_it() {
        let stall = WriteStall::new();
        let (a, mut b) = tokio::io::duplex(16);
        let mut io = WatchWrites::new(a, stall.clone());
        io.write_all(&[0; 16]).await.unwrap();
        io.flush().await.unwrap();
        assert_eq!(stall.blocked_since(), None);
        // The pipe is full: the next write waits.
        let pending = futures_poll_once(&mut io).await;
        assert!(pending);
        let since = stall.blocked_since().expect("stall noted");
        // A flush that has nothing to do does not end the stall.
        let _ = std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut io).poll_flush(cx))).await;
        assert_eq!(stall.blocked_since(), Some(since));
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert!(stall.timed_out(Duration::from_millis(50)));
        assert!(!stall.timed_out(Duration::from_secs(60)));
        assert_eq!(
            stall.next_check(Duration::from_secs(4)),
            since + Duration::from_secs(4)
        );
        // The peer reads a little: a few bytes going out do not end the stall...
        let mut sink = [0u8; 16];
        tokio::io::AsyncReadExt::read_exact(&mut b, &mut sink)
            .await
            .unwrap();
        io.write_all(b"x").await.unwrap();
        assert_eq!(stall.blocked_since(), Some(since));
        // ...a frame's worth does.
        let reader = tokio::spawn(async move {
            let mut sink = vec![0u8; PROGRESS as usize];
            tokio::io::AsyncReadExt::read_exact(&mut b, &mut sink)
                .await
                .unwrap();
        });
        io.write_all(&vec![0u8; PROGRESS as usize - 1])
            .await
            .unwrap();
        reader.await.unwrap();
        assert_eq!(stall.blocked_since(), None);
    }

    /// Polls one write of a byte once; true if it was pending.
    async fn futures_poll_once(io: &mut WatchWrites<tokio::io::DuplexStream>) -> bool {
        std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut *io).poll_write(cx, b"y").is_pending()))
            .await
    }
}
