//! A response body gzip-coded as it streams: each data frame of the inner body is compressed
//! and flushed (a sync flush, so a stream's pieces reach the client when they are made, not
//! when a compressor's window fills), and the gzip trailer is written at the end, before any
//! trailer fields. One frame in, one frame out: nothing is buffered beyond the compressor's
//! own window.

use std::io::Write;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use flate2::write::GzEncoder;
use flate2::Compression;
use http::HeaderMap;
use http_body::{Frame, SizeHint};

use crate::body::Body;
use crate::error::Error;

use super::StreamSlot;

pub(crate) struct GzipBody {
    inner: Body,
    level: u32,
    /// Made at the first data: a body never polled (a `HEAD` answer's) costs no compressor.
    encoder: Option<GzEncoder<Vec<u8>>>,
    /// Set once the gzip stream is finished.
    done: bool,
    /// Trailer fields held while the gzip stream's end goes out first.
    trailers: Option<HeaderMap>,
    /// The place among the handler's coded streams this one holds, if it counts.
    _slot: Option<StreamSlot>,
}

impl GzipBody {
    pub(crate) fn new(inner: Body, level: u32) -> GzipBody {
        GzipBody {
            inner,
            level,
            encoder: None,
            done: false,
            trailers: None,
            _slot: None,
        }
    }

    /// Counts this stream among the handler's until it is dropped.
    pub(crate) fn holding(mut self, slot: StreamSlot) -> GzipBody {
        self._slot = Some(slot);
        self
    }
}

/// Compresses a whole body in memory at `level`.
pub(crate) fn compress(data: &[u8], level: u32) -> Vec<u8> {
    let mut enc = GzEncoder::new(
        Vec::with_capacity(data.len() / 3 + 64),
        Compression::new(level),
    );
    // Writing to a `Vec` cannot fail.
    let _ = enc.write_all(data);
    enc.finish().unwrap_or_default()
}

impl http_body::Body for GzipBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = &mut *self;
        loop {
            if this.done {
                return Poll::Ready(this.trailers.take().map(|t| Ok(Frame::trailers(t))));
            }
            match std::task::ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => {
                        if data.is_empty() {
                            continue;
                        }
                        let level = this.level;
                        let encoder = this.encoder.get_or_insert_with(|| {
                            GzEncoder::new(Vec::new(), Compression::new(level))
                        });
                        // Writing to a `Vec` cannot fail; a sync flush ends the piece.
                        let _ = encoder.write_all(&data);
                        let _ = encoder.flush();
                        let out = std::mem::take(encoder.get_mut());
                        return Poll::Ready(Some(Ok(Frame::data(Bytes::from(out)))));
                    }
                    Err(frame) => {
                        if let Ok(t) = frame.into_trailers() {
                            this.trailers = Some(t);
                        }
                        return Poll::Ready(Some(Ok(Frame::data(this.finish()))));
                    }
                },
                Some(Err(e)) => {
                    // The coded stream stays unfinished: the client sees a broken body, as
                    // it would have without the coding.
                    this.done = true;
                    this.encoder = None;
                    return Poll::Ready(Some(Err(e)));
                }
                None => return Poll::Ready(Some(Ok(Frame::data(this.finish())))),
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done && self.trailers.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

impl GzipBody {
    /// Ends the gzip stream: what the compressor held, and the gzip trailer (a whole empty
    /// stream if no data came).
    fn finish(&mut self) -> Bytes {
        self.done = true;
        let level = self.level;
        let encoder = self
            .encoder
            .take()
            .unwrap_or_else(|| GzEncoder::new(Vec::new(), Compression::new(level)));
        Bytes::from(encoder.finish().unwrap_or_default())
    }
}
