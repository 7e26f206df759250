//! A body arriving on an HTTP/2 stream as an `http_body::Body`: DATA frames become data, the
//! trailing HEADERS become trailers. Flow-control credit is returned as each chunk is handed
//! to the reader, so the peer sends as fast as the reader reads and no faster.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use crate::error::{Error, Kind};
use crate::proto::rate::MinDataRate;

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
    /// Longest silence while the reader waits (client side), and the request's total
    /// deadline; the timer is armed only while waiting.
    read_timeout: Option<Duration>,
    deadline: Option<Instant>,
    timer: Option<Pin<Box<Sleep>>>,
    armed: bool,
    /// Set when the body crossed `limit` (the server then answers 413).
    overflowed: Option<Arc<AtomicBool>>,
    /// A request body (server side): its timeout is the server's request read timeout.
    request: bool,
    /// Server side: the minimum data rate, and the time spent waiting for data so far.
    min_rate: Option<MinDataRate>,
    waited: Duration,
    wait_start: Option<Instant>,
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
            read_timeout: None,
            deadline: None,
            timer: None,
            armed: false,
            overflowed: None,
            request: false,
            min_rate: None,
            waited: Duration::ZERO,
            wait_start: None,
        }
    }

    /// A request body must have arrived whole by `deadline` (the server's read timeout,
    /// counted from the request head), so a client trickling it cannot hold a stream and its
    /// handler forever.
    /// With `min_rate`, the time spent waiting for data may exceed the grace period only by
    /// what the bytes received so far have earned at that rate (as on HTTP/1.1).
    pub(crate) fn with_request_deadline(
        mut self,
        deadline: Instant,
        min_rate: Option<MinDataRate>,
    ) -> Self {
        self.read_timeout = Some(deadline.saturating_duration_since(Instant::now()));
        self.deadline = Some(deadline);
        self.request = true;
        self.min_rate = min_rate.filter(|r| r.bytes_per_sec > 0);
        self
    }

    /// When the wait that starts at `now` must end, on the server side.
    fn request_wait_deadline(&self, now: Instant, deadline: Instant) -> Instant {
        match self.min_rate.and_then(|r| r.allowed_wait(self.seen)) {
            Some(allowed) => deadline.min(now + allowed.saturating_sub(self.waited)),
            None => deadline,
        }
    }

    /// Raises `flag` if the body crosses its limit.
    pub(crate) fn flag_overflow(mut self, flag: Arc<AtomicBool>) -> Self {
        self.overflowed = Some(flag);
        self
    }

    /// Fails a read that waits longer than `read_timeout` for the next frame, or past
    /// `deadline`.
    pub(crate) fn with_timeouts(
        mut self,
        read_timeout: Duration,
        deadline: Option<Instant>,
    ) -> Self {
        self.read_timeout = Some(read_timeout);
        self.deadline = deadline;
        self
    }

    /// While a read waits: arms the timer (once per wait) and reports expiry.
    fn poll_timer(&mut self, cx: &mut Context<'_>) -> Option<Error> {
        let read_timeout = self.read_timeout?;
        if !self.armed {
            let now = Instant::now();
            let mut at = now + read_timeout;
            if let Some(d) = self.deadline {
                at = at.min(d);
                if self.request {
                    self.wait_start = Some(now);
                    at = self.request_wait_deadline(now, d);
                }
            }
            match &mut self.timer {
                Some(t) => t.as_mut().reset(at),
                None => self.timer = Some(Box::pin(tokio::time::sleep_until(at))),
            }
            self.armed = true;
        }
        let timer = self.timer.as_mut()?;
        if timer.as_mut().poll(cx).is_pending() {
            return None;
        }
        let total = self.deadline.is_some_and(|d| d <= Instant::now());
        self.finish();
        Some(if self.request && !total {
            Error::timeout("request body arrived too slowly (below the minimum data rate)")
        } else if self.request {
            Error::timeout("reading the request body timed out")
        } else if total {
            Error::new(Kind::TotalTimeout, "request timed out")
        } else {
            Error::new(Kind::BodyReadTimeout, "timed out reading the response body")
        })
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
        match this.poll_next(cx) {
            Poll::Ready(r) => {
                this.armed = false;
                if let Some(start) = this.wait_start.take() {
                    this.waited += start.elapsed();
                }
                Poll::Ready(r)
            }
            Poll::Pending => match this.poll_timer(cx) {
                Some(e) => Poll::Ready(Some(Err(e))),
                None => Poll::Pending,
            },
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

impl<G: Send + Unpin + 'static> RecvBody<G> {
    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = self;
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
                        if let Some(flag) = &this.overflowed {
                            flag.store(true, Ordering::Release);
                        }
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
            // Fields that must not be trailers never reach the reader (RFC 9110 §6.5.1).
            Ok(Some(t)) => {
                let t = crate::proto::trailers::filter(t);
                Poll::Ready((!t.is_empty()).then(|| Ok(Frame::trailers(t))))
            }
            Ok(None) => Poll::Ready(None),
            Err(e) => Poll::Ready(Some(Err(super::error("reading trailers failed", e)))),
        }
    }
}
