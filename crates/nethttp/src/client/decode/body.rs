//! The one streaming body every response coding decodes through: compressed frames in from
//! the connection's body, decoded frames out, at most [`OUT_CHUNK`] bytes each whatever the
//! ratio, failing once the decoded total passes `max_decompressed_bytes` before a byte past
//! it is handed out. Trailers pass through. The codings themselves ([`Codec`]: gzip, br,
//! zstd, deflate, each in its own file) only turn input bytes into output bytes.

use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use http::HeaderMap;
use http_body::{Body as _, Frame, SizeHint};

use crate::body::Body;
use crate::error::{Error, Kind};

/// Most decoded bytes handed out in one frame.
pub(crate) const OUT_CHUNK: usize = 32 * 1024;

/// One content coding's decoder, driven by [`Decode`].
///
/// The contract that keeps every coding bounded and spin-free: `decode` writes at most
/// `out.len()` bytes ([`OUT_CHUNK`]), and returns `(0, 0)` only when it cannot go on without
/// more input. Any other return consumed input or produced output, so the loop around it
/// ends: the input is finite and the output is counted against the limit.
pub(crate) trait Codec: Send + Unpin + 'static {
    /// The error when the decoded total passes the limit, naming the coding.
    const TOO_LARGE: &'static str;

    /// Decodes from the start of `input` into `out`; returns the input bytes consumed and
    /// the output bytes written. Damaged data, and bytes after the end of a coding that
    /// allows nothing after it, are a [`Kind::Decompress`] error.
    fn decode(&mut self, input: &[u8], out: &mut [u8]) -> Result<(usize, usize), Error>;

    /// Whether the body may end here: before any data, at the end of the coding's data,
    /// or (gzip members, zstd frames) between two of its units; never while decoded output
    /// is still held inside.
    fn may_end(&self) -> bool;

    /// The error when the body ends where the coding's data cannot (where in it, if the
    /// codec knows).
    fn truncated(&self) -> &'static str;
}

/// A response body decoded on the fly by `C`.
pub(crate) struct Decode<C> {
    inner: Body,
    inner_done: bool,
    /// Compressed bytes received and not yet consumed.
    input: BytesMut,
    codec: C,
    /// Output buffer, allocated at the first byte to decode; each frame is copied out at
    /// its exact size.
    out: Box<[u8]>,
    trailers: Option<HeaderMap>,
    /// Decoded bytes handed out so far, and the most allowed.
    decoded: u64,
    limit: Option<u64>,
    /// The end was handed out (trailers, or none).
    finished: bool,
    /// The kind of the error handed out, if one was: every later poll fails the same way,
    /// so a caller that reads on after an error never sees a clean (short) end.
    failed: Option<Kind>,
}

pub(crate) fn corrupt(msg: &'static str) -> Error {
    Error::new(Kind::Decompress, msg)
}

impl<C: Codec> Decode<C> {
    pub(crate) fn new(inner: Body, codec: C, limit: Option<u64>) -> Decode<C> {
        Decode {
            inner,
            inner_done: false,
            input: BytesMut::new(),
            codec,
            out: Box::default(),
            trailers: None,
            decoded: 0,
            limit,
            finished: false,
            failed: None,
        }
    }

    /// Pulls the next frame of the encoded body into `input`. `Ready(Ok(()))` when
    /// something changed (bytes, trailers, or the end).
    fn fill(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        match ready!(Pin::new(&mut self.inner).poll_frame(cx)) {
            None => self.inner_done = true,
            Some(Err(e)) => return Poll::Ready(Err(e)),
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => self.input.extend_from_slice(&data),
                Err(frame) => {
                    if let Ok(t) = frame.into_trailers() {
                        self.trailers = Some(t);
                    }
                }
            },
        }
        Poll::Ready(Ok(()))
    }

    /// Decodes with the bytes at hand: `Some(frame)` to hand out, `None` when the codec
    /// needs more input.
    fn step(&mut self) -> Result<Option<Bytes>, Error> {
        if self.out.is_empty() {
            self.out = vec![0; OUT_CHUNK].into_boxed_slice();
        }
        loop {
            let (used, written) = self.codec.decode(&self.input, &mut self.out)?;
            self.input.advance(used);
            if written > 0 {
                // Checked before the frame goes out: the caller never holds more than the
                // limit, whatever the ratio (a 1 MB bomb decodes to 1 GB and more).
                self.decoded += written as u64;
                if self.limit.is_some_and(|max| self.decoded > max) {
                    return Err(Error::new(Kind::DecompressedTooLarge, C::TOO_LARGE));
                }
                return Ok(Some(Bytes::copy_from_slice(&self.out[..written])));
            }
            if used == 0 {
                return Ok(None);
            }
        }
    }

    fn poll_decoded(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        loop {
            if !self.input.is_empty() || !self.codec.may_end() {
                if let Some(data) = self.step()? {
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
            }
            if self.inner_done {
                // The codec needs input that will not come.
                if !self.input.is_empty() || !self.codec.may_end() {
                    return Poll::Ready(Some(Err(corrupt(self.codec.truncated()))));
                }
                self.finished = true;
                return Poll::Ready(self.trailers.take().map(|t| Ok(Frame::trailers(t))));
            }
            ready!(self.fill(cx))?;
        }
    }
}

impl<C: Codec> http_body::Body for Decode<C> {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = self.get_mut();
        if let Some(kind) = this.failed {
            return Poll::Ready(Some(Err(Error::new(
                kind,
                "the decoded body already failed",
            ))));
        }
        if this.finished {
            return Poll::Ready(None);
        }
        let polled = ready!(this.poll_decoded(cx));
        if let Some(Err(e)) = &polled {
            this.failed = Some(e.kind());
        }
        Poll::Ready(polled)
    }

    fn is_end_stream(&self) -> bool {
        self.finished
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{body_of, drain, encoders, text};
    use super::*;

    #[tokio::test]
    async fn every_coding_decodes_whatever_the_frame_boundaries() {
        let plain = text();
        for (name, coding, encode) in encoders() {
            let packed = encode(&plain);
            for size in [1, 2, 7, 10, 11, 100, 4096, packed.len()] {
                let body = coding.decode(body_of(&packed, size, None), None);
                let (data, _, _) = drain(body).await.unwrap();
                assert!(data == plain, "{name}, chunks of {size}");
            }
        }
    }

    #[tokio::test]
    async fn a_bomb_comes_out_in_bounded_frames() {
        let plain = vec![0u8; 4 << 20];
        for (name, coding, encode) in encoders() {
            let packed = encode(&plain);
            assert!(packed.len() < 8 * 1024, "{name}: {} bytes", packed.len());
            let body = coding.decode(body_of(&packed, packed.len(), None), None);
            let (data, largest, _) = drain(body).await.unwrap();
            assert_eq!(data.len(), plain.len(), "{name}");
            assert!(largest <= OUT_CHUNK, "{name}: {largest}");
        }
    }

    /// Reads `body` to its end or first error: the bytes handed out before, and the error.
    async fn until_error(mut body: Body) -> (u64, Option<Error>) {
        let mut out = 0;
        loop {
            match std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
                Some(Ok(f)) => out += f.into_data().map_or(0, |d| d.len() as u64),
                Some(Err(e)) => {
                    // Polled again, it fails again: no clean end after an error.
                    let again = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx));
                    let again = again.await.expect("a frame after the error").unwrap_err();
                    assert_eq!(again.kind(), e.kind());
                    return (out, Some(e));
                }
                None => return (out, None),
            }
        }
    }

    #[tokio::test]
    async fn decoding_past_the_limit_is_a_typed_error_and_nothing_beyond_it_comes_out() {
        let plain = vec![0u8; 1 << 20];
        for (name, coding, encode) in encoders() {
            let packed = encode(&plain);
            for limit in [0, 1, OUT_CHUNK as u64, 100_000, (1 << 20) - 1] {
                let body = coding.decode(body_of(&packed, packed.len(), None), Some(limit));
                let (out, err) = until_error(body).await;
                let err = err.unwrap_or_else(|| panic!("{name}, limit {limit}: all came out"));
                assert_eq!(err.kind(), Kind::DecompressedTooLarge, "{name}: {err}");
                assert!(err.is_body_too_large() && err.is_decompressed_too_large());
                assert!(out <= limit, "{name}, limit {limit}: {out} bytes out");
            }
            let body = coding.decode(body_of(&packed, 1000, None), Some(1 << 20));
            let (out, err) = until_error(body).await;
            assert!(err.is_none(), "{name}: {err:?}");
            assert_eq!(out, 1 << 20, "{name}: exactly the limit passes");
        }
    }

    #[tokio::test]
    async fn empty_stays_empty_and_trailers_pass() {
        let mut t = HeaderMap::new();
        t.insert("x-sum", "1".parse().unwrap());
        for (name, coding, encode) in encoders() {
            let (data, _, trailers) = drain(coding.decode(Body::empty(), None)).await.unwrap();
            assert!(data.is_empty() && trailers.is_none(), "{name}");
            let body = coding.decode(body_of(&encode(b"abc"), 2, Some(t.clone())), None);
            let (data, _, trailers) = drain(body).await.unwrap();
            assert_eq!(data, b"abc", "{name}");
            assert_eq!(trailers.as_ref(), Some(&t), "{name}");
        }
    }

    #[tokio::test]
    async fn a_truncated_body_is_an_error_wherever_it_is_cut() {
        let plain: Vec<u8> = text().into_iter().take(3000).collect();
        for (name, coding, encode) in encoders() {
            let packed = encode(&plain);
            for cut in 1..packed.len() {
                let body = coding.decode(body_of(&packed[..cut], 64, None), None);
                let err = drain(body).await.expect_err(name);
                assert_eq!(err.kind(), Kind::Decompress, "{name} cut at {cut}: {err}");
            }
        }
    }

    #[tokio::test]
    async fn garbage_and_bytes_after_the_end_are_errors() {
        let garbage = b"this is not compressed data, whatever the coding".repeat(4);
        for (name, coding, encode) in encoders() {
            let body = coding.decode(body_of(&garbage, 16, None), None);
            let err = drain(body).await.expect_err(name);
            assert_eq!(err.kind(), Kind::Decompress, "{name}: {err}");
            let mut after = encode(&text());
            after.extend_from_slice(b"junk");
            let body = coding.decode(body_of(&after, 1000, None), None);
            let err = drain(body).await.expect_err(name);
            assert_eq!(
                err.kind(),
                Kind::Decompress,
                "{name} with bytes after: {err}"
            );
        }
    }
}
