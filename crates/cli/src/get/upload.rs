//! `get --data-file`: the request body read from a file as it is sent, never held whole. A
//! regular file goes with its length (Content-Length, checked against what is read); standard
//! input (`-`) or a pipe has none and goes chunked. Memory stays at one read buffer whatever
//! the size.

use std::io;
use std::path::Path;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body::{Frame, SizeHint};
use nethttp::Body;
use tokio::io::{AsyncRead, ReadBuf};

/// Bytes read from the file per body frame.
const CHUNK: usize = 64 * 1024;

/// The body for `--data-file PATH` (`-` for standard input).
pub async fn body(path: &Path) -> Result<Body, String> {
    let what = |e: io::Error| format!("reading {}: {e}", path.display());
    if path.as_os_str() == "-" {
        return Ok(Body::wrap(Streamed::new(tokio::io::stdin(), None)));
    }
    let file = tokio::fs::File::open(path).await.map_err(what)?;
    let meta = file.metadata().await.map_err(what)?;
    // A pipe or a device has no length to announce.
    let len = meta.is_file().then_some(meta.len());
    Ok(Body::wrap(Streamed::new(file, len)))
}

/// A body read from `R` frame by frame, of `remaining` bytes when known.
struct Streamed<R> {
    source: R,
    remaining: Option<u64>,
    buf: BytesMut,
    ended: bool,
}

impl<R> Streamed<R> {
    fn new(source: R, remaining: Option<u64>) -> Streamed<R> {
        Streamed {
            source,
            remaining,
            buf: BytesMut::new(),
            ended: remaining == Some(0),
        }
    }
}

impl<R: AsyncRead + Unpin> http_body::Body for Streamed<R> {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        if this.ended {
            return Poll::Ready(None);
        }
        // Never more than announced, should the file grow meanwhile.
        let want = this
            .remaining
            .map_or(CHUNK, |n| usize::try_from(n).unwrap_or(CHUNK).min(CHUNK));
        this.buf.resize(want, 0);
        let mut rb = ReadBuf::new(&mut this.buf[..]);
        ready!(Pin::new(&mut this.source).poll_read(cx, &mut rb))?;
        let n = rb.filled().len();
        if n == 0 {
            this.ended = true;
            return Poll::Ready(match this.remaining {
                Some(left) if left > 0 => Some(Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("the file ended {left} bytes short of its size; it changed while being sent"),
                ))),
                _ => None,
            });
        }
        if let Some(left) = &mut this.remaining {
            *left -= n as u64;
            this.ended = *left == 0;
        }
        Poll::Ready(Some(Ok(Frame::data(this.buf.split_to(n).freeze()))))
    }

    fn is_end_stream(&self) -> bool {
        self.ended
    }

    fn size_hint(&self) -> SizeHint {
        match self.remaining {
            Some(n) => SizeHint::with_exact(n),
            None => SizeHint::default(),
        }
    }
}
