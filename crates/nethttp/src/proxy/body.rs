//! The bodies the proxy passes on: the inbound request body on its way upstream, streamed
//! frame by frame as it arrives (trailers included), with a flag that records whether it was
//! the client's body that failed, so a failed exchange is answered `400`, not blamed on the
//! upstream; and an upstream's response body holding its place in the group's count.
//!
//! An HTTP/1.x body's first frame is read before the upstream is dialed (see
//! [`first_frame`]): a body whose first chunk is already malformed is refused without the
//! upstream ever seeing the request.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body as _, Frame, SizeHint};

use super::error::InboundBodyFailed;
use super::upstreams::Picked;
use crate::body::Body;
use crate::error::Error;

/// The inbound body as the transport reads it: the frame already read (if any), then the
/// rest; a failure of either sets `failed` and is wrapped in [`InboundBodyFailed`].
pub(crate) struct Upload {
    first: Option<Frame<Bytes>>,
    rest: Body,
    failed: Arc<AtomicBool>,
}

impl Upload {
    pub(crate) fn new(first: Option<Frame<Bytes>>, rest: Body, failed: Arc<AtomicBool>) -> Self {
        Upload {
            first,
            rest,
            failed,
        }
    }
}

impl http_body::Body for Upload {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        if let Some(f) = self.first.take() {
            return Poll::Ready(Some(Ok(f)));
        }
        match Pin::new(&mut self.rest).poll_frame(cx) {
            Poll::Ready(Some(Err(e))) => {
                self.failed.store(true, Ordering::Release);
                Poll::Ready(Some(Err(Error::user(InboundBodyFailed(e)))))
            }
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.first.is_none() && self.rest.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let first = self
            .first
            .as_ref()
            .and_then(|f| f.data_ref())
            .map_or(0, |d| d.len() as u64);
        let rest = self.rest.size_hint();
        let mut hint = SizeHint::new();
        hint.set_lower(rest.lower() + first);
        if let Some(upper) = rest.upper() {
            hint.set_upper(upper + first);
        }
        hint
    }
}

/// Reads the body's first frame. `Ok(None)`: the body is empty. An error is the client's
/// (malformed framing, a timeout, a body over the server's limit, the client gone).
///
/// Only HTTP/1.x bodies are read ahead: their framing is ours to check and a malformed first
/// chunk is the classic smuggling probe. An HTTP/2 body's framing is checked by the HTTP/2
/// engine, and a bidirectional stream (gRPC) may send nothing until it hears back, which
/// waiting here would deadlock.
pub(crate) async fn first_frame(body: &mut Body) -> Result<Option<Frame<Bytes>>, Error> {
    std::future::poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx))
        .await
        .transpose()
}

/// An upstream's response body on its way to the client, with the group's record of the
/// upstream it came from: the request counts as in flight there until the body ends or is
/// dropped (what least connections balances by).
pub(crate) struct Held {
    body: Body,
    picked: Option<Picked>,
}

impl Held {
    pub(crate) fn new(body: Body, picked: Picked) -> Self {
        Held {
            body,
            picked: Some(picked),
        }
    }
}

impl http_body::Body for Held {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        if matches!(polled, Poll::Ready(None | Some(Err(_)))) {
            self.picked = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
