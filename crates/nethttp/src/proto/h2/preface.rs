//! The server's connection preface, checked on the client's HTTP/2 connections. RFC 9113 §3.4:
//! the server's preface is a SETTINGS frame, the first frame it sends, and an invalid preface
//! MUST be a connection error PROTOCOL_ERROR (the GOAWAY MAY be omitted: the peer is not
//! speaking HTTP/2). The `h2` crate reads whatever frame comes first, so the client's
//! connection reads through [`PrefaceCheck`]: it looks at the first frame header going by and
//! fails the read when it is not a SETTINGS frame without ACK — say, an HTTP/1.1 server's
//! answer to the h2c preface, which `h2` would otherwise read as a frame of some 4.7 MB. Past
//! those 9 bytes it passes reads and writes straight through.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The I/O error a connection whose server sent no SETTINGS first fails with. `h2` hands I/O
/// errors on to the streams as their kind and text only, so [`is_invalid_preface`] knows
/// them by both.
const NOT_SETTINGS: &str =
    "the server's first frame is not SETTINGS (RFC 9113 §3.4): it does not speak HTTP/2";
const HTTP1: &str = "the server answered in HTTP/1.1 (RFC 9113 §3.4: its first frame must be \
                     SETTINGS): it does not take HTTP/2 by prior knowledge";

/// SETTINGS (RFC 9113 §6.5) and its ACK flag.
const SETTINGS: u8 = 0x4;
const ACK: u8 = 0x1;

/// Client-side I/O that checks the server's first frame header, then gets out of the way.
pub(crate) struct PrefaceCheck<T> {
    io: T,
    /// The first frame header's bytes so far; `seen == 9` once it was checked.
    head: [u8; 9],
    seen: u8,
}

impl<T> PrefaceCheck<T> {
    pub(crate) fn new(io: T) -> Self {
        PrefaceCheck {
            io,
            head: [0; 9],
            seen: 0,
        }
    }

    /// Takes in the bytes a read just delivered, and judges the header once it is whole.
    fn observe(&mut self, new: &[u8]) -> io::Result<()> {
        let at = usize::from(self.seen);
        let take = new.len().min(9 - at);
        self.head[at..at + take].copy_from_slice(&new[..take]);
        self.seen += take as u8;
        if self.seen < 9 || (self.head[3] == SETTINGS && self.head[4] & ACK == 0) {
            return Ok(());
        }
        let why = if self.head.starts_with(b"HTTP/") {
            HTTP1
        } else {
            NOT_SETTINGS
        };
        Err(io::Error::new(io::ErrorKind::InvalidData, why))
    }
}

/// Whether an I/O error is a [`PrefaceCheck`]'s (as `h2` passes it on: kind and text).
pub(crate) fn is_invalid_preface(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::InvalidData && {
        let text = e.to_string();
        text == NOT_SETTINGS || text == HTTP1
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for PrefaceCheck<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.seen == 9 {
            return Pin::new(&mut this.io).poll_read(cx, buf);
        }
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.io).poll_read(cx, buf))?;
        // An end of stream before a whole header is left to `h2` to report.
        Poll::Ready(this.observe(&buf.filled()[before..]))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for PrefaceCheck<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    async fn first_read(server_bytes: &[u8], chunk: usize) -> io::Result<Vec<u8>> {
        let (mut server, client) = tokio::io::duplex(64);
        let bytes = server_bytes.to_vec();
        tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            for part in bytes.chunks(chunk) {
                server.write_all(part).await.unwrap();
                tokio::task::yield_now().await;
            }
        });
        let mut check = PrefaceCheck::new(client);
        let mut out = vec![0; server_bytes.len()];
        check.read_exact(&mut out).await?;
        Ok(out)
    }

    #[tokio::test]
    async fn a_settings_frame_first_passes_even_a_byte_at_a_time() {
        let settings = [0, 0, 6, SETTINGS, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 100];
        for chunk in [1, 4, 15] {
            assert_eq!(first_read(&settings, chunk).await.unwrap(), settings);
        }
    }

    #[tokio::test]
    async fn anything_else_first_fails_the_read() {
        let ping = [0, 0, 8, 0x6, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8];
        let ack = [0, 0, 0, SETTINGS, ACK, 0, 0, 0, 0];
        for (bytes, chunk) in [(&ping[..], 1), (&ping[..], 17), (&ack[..], 3)] {
            let e = first_read(bytes, chunk).await.unwrap_err();
            assert!(is_invalid_preface(&e), "{e}");
            assert_eq!(e.to_string(), NOT_SETTINGS);
        }
        let e = first_read(b"HTTP/1.1 400 Bad Request\r\n\r\n", 5)
            .await
            .unwrap_err();
        assert_eq!(e.to_string(), HTTP1);
        assert!(is_invalid_preface(&e));
        // The text must survive the trip through `h2`, which keeps kind and text only.
        let relayed = io::Error::new(e.kind(), e.to_string());
        assert!(is_invalid_preface(&relayed));
    }
}
