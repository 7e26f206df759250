//! A body arriving on an HTTP/2 stream as an `http_body::Body`: DATA frames become data, the
//! trailing HEADERS become trailers. Flow-control credit is returned as each chunk is handed
//! to the reader, so the peer sends as fast as the reader reads and no faster.

use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};

use crate::error::{Error, Kind};

/// An incoming HTTP/2 body. `G` is held until the body ends or is dropped (the client's
/// stream accounting); the server uses `()`.
pub(crate) struct RecvBody<G> {
    recv: h2::RecvStream,
    /// Most bytes accepted; more fails the read with `BodyTooLarge`.
    limit: Option<u64>,
    seen: u64,
    length: Option<u64>,
    data_done: bool,
    guard: Option<G>,
}

impl<G: Send + Unpin + 'static> RecvBody<G> {
    pub(crate) fn new(
        recv: h2::RecvStream,
        length: Option<u64>,
        limit: Option<u64>,
        guard: G,
    ) -> Self {
        RecvBody {
            recv,
            limit,
            seen: 0,
            length,
            data_done: false,
            guard: Some(guard),
        }
    }

    fn finish(&mut self) {
        self.data_done = true;
        self.guard = None;
    }
}

/// `Content-Length` of a message, when present and valid.
pub(crate) fn content_length(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.parse().ok())
}

impl<G: Send + Unpin + 'static> http_body::Body for RecvBody<G> {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = self.get_mut();
        if this.guard.is_none() && this.data_done {
            return Poll::Ready(None);
        }
        if !this.data_done {
            match ready!(this.recv.poll_data(cx)) {
                Some(Ok(data)) => {
                    let _ = this.recv.flow_control().release_capacity(data.len());
                    this.seen += data.len() as u64;
                    if this.limit.is_some_and(|max| this.seen > max) {
                        this.finish();
                        return Poll::Ready(Some(Err(Error::new(
                            Kind::BodyTooLarge,
                            "request body exceeds the server's limit",
                        ))));
                    }
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Some(Err(e)) => {
                    this.finish();
                    return Poll::Ready(Some(Err(super::error("reading the body failed", e))));
                }
                None => this.data_done = true,
            }
        }
        let trailers = ready!(this.recv.poll_trailers(cx));
        this.finish();
        match trailers {
            Ok(Some(t)) => Poll::Ready(Some(Ok(Frame::trailers(t)))),
            Ok(None) => Poll::Ready(None),
            Err(e) => Poll::Ready(Some(Err(super::error("reading trailers failed", e)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        (self.data_done && self.guard.is_none()) || self.recv.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        match self.length {
            Some(n) => SizeHint::with_exact(n.saturating_sub(self.seen)),
            None => SizeHint::default(),
        }
    }
}
