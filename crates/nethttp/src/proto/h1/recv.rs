//! The request body a handler reads: it borrows the connection's read half and buffer, decodes
//! frames straight off the socket (no channel, no copy), enforces the body limit, the request
//! read deadline and the minimum data rate, asks the connection for `100 Continue` on first
//! read, and hands the read half back to the connection when it ends or is dropped.

use std::future::Future as _;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use tokio::sync::Notify;
use tokio::time::{Instant, Sleep};

use super::decode::{Decoded, Decoder};
use super::io::{ReadIo, Reader, BODY_READ_CHUNK};
use crate::error::{Error, Kind};
use crate::proto::rate::MinDataRate;

/// Limits and deadlines for one request body.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyLimits {
    pub max_bytes: Option<u64>,
    pub deadline: Instant,
    pub min_rate: Option<MinDataRate>,
}

const CONTINUE_NONE: u8 = 0;
const CONTINUE_EXPECTED: u8 = 1;
const CONTINUE_WANTED: u8 = 2;
const CONTINUE_SENT: u8 = 3;

/// State shared by a connection and the request body it lent its read half to. One per
/// connection, reused for every request that has a body.
#[derive(Debug)]
pub(crate) struct Exchange<R> {
    returned: Mutex<Option<Returned<R>>>,
    /// Wakes the connection when the read half comes back or `100 Continue` is wanted.
    pub notify: Notify,
    continue_state: AtomicU8,
    too_large: AtomicBool,
    /// The body's chunked framing was invalid.
    malformed: AtomicBool,
}

/// What a request body gives back to its connection.
#[derive(Debug)]
pub(crate) struct Returned<R> {
    pub reader: Reader<R>,
    pub decoder: Decoder,
    /// The body failed (bad framing, timeout, I/O): the connection cannot be reused.
    pub failed: bool,
}

impl<R> Exchange<R> {
    pub(crate) fn new() -> Self {
        Exchange {
            returned: Mutex::new(None),
            notify: Notify::new(),
            continue_state: AtomicU8::new(CONTINUE_NONE),
            too_large: AtomicBool::new(false),
            malformed: AtomicBool::new(false),
        }
    }

    /// Prepares for a new request body.
    pub(crate) fn reset(&self, expect_continue: bool) {
        let state = if expect_continue {
            CONTINUE_EXPECTED
        } else {
            CONTINUE_NONE
        };
        self.continue_state.store(state, Ordering::Relaxed);
        self.too_large.store(false, Ordering::Relaxed);
        self.malformed.store(false, Ordering::Relaxed);
    }

    /// Takes the read half back, if the body has returned it.
    pub(crate) fn take_returned(&self) -> Option<Returned<R>> {
        self.returned
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    /// The body asked for `100 Continue` and it has not been sent: marks it sent and returns
    /// true, so exactly one caller writes it.
    pub(crate) fn claim_continue(&self) -> bool {
        self.continue_state
            .compare_exchange(
                CONTINUE_WANTED,
                CONTINUE_SENT,
                Ordering::AcqRel,
                Ordering::Relaxed,
            )
            .is_ok()
    }

    /// The body has handed the read half back (ended, failed or dropped).
    pub(crate) fn has_returned(&self) -> bool {
        self.returned
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    /// The body asked for `100 Continue` and it has not been sent yet.
    pub(crate) fn wants_continue(&self) -> bool {
        self.continue_state.load(Ordering::Acquire) == CONTINUE_WANTED
    }

    /// The client expects `100 Continue` and the handler never asked for the body.
    pub(crate) fn continue_unanswered(&self) -> bool {
        self.continue_state.load(Ordering::Acquire) == CONTINUE_EXPECTED
    }

    /// `None` while the body still holds the read half; once it has come back, whether the
    /// connection can be reused after it: not if it failed or left more than `max_drain`
    /// bytes (known from Content-Length) unread.
    pub(crate) fn returned_reusable(&self, max_drain: u64) -> Option<bool> {
        let returned = self.returned.lock().unwrap_or_else(|p| p.into_inner());
        returned
            .as_ref()
            .map(|r| !r.failed && r.decoder.remaining().is_none_or(|n| n <= max_drain))
    }

    /// The body exceeded the configured limit.
    pub(crate) fn too_large(&self) -> bool {
        self.too_large.load(Ordering::Acquire)
    }

    /// The body's framing was invalid.
    pub(crate) fn malformed(&self) -> bool {
        self.malformed.load(Ordering::Acquire)
    }

    fn give_back(&self, r: Returned<R>) {
        *self.returned.lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
        self.notify.notify_one();
    }
}

/// An incoming request body on an HTTP/1.1 connection.
pub(crate) struct RecvBody<R: ReadIo> {
    reader: Option<Reader<R>>,
    decoder: Decoder,
    exchange: Arc<Exchange<R>>,
    limits: BodyLimits,
    received: u64,
    failed: bool,
    asked_continue: bool,
    /// Total time spent waiting for the client, and when the current wait began.
    waited: Duration,
    wait_start: Option<Instant>,
    timer: Option<Pin<Box<Sleep>>>,
}

impl<R: ReadIo> RecvBody<R> {
    pub(crate) fn new(
        reader: Reader<R>,
        decoder: Decoder,
        exchange: Arc<Exchange<R>>,
        limits: BodyLimits,
    ) -> Self {
        RecvBody {
            reader: Some(reader),
            decoder,
            exchange,
            limits,
            received: 0,
            failed: false,
            asked_continue: false,
            waited: Duration::ZERO,
            wait_start: None,
            timer: None,
        }
    }

    fn fail(&mut self, err: Error) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        self.failed = true;
        self.give_back();
        Poll::Ready(Some(Err(err)))
    }

    fn give_back(&mut self) {
        if let Some(reader) = self.reader.take() {
            let decoder = std::mem::replace(&mut self.decoder, Decoder::Done);
            self.exchange.give_back(Returned {
                reader,
                decoder,
                failed: self.failed,
            });
        }
    }

    /// When the current wait must end: the request deadline, or the moment the data rate
    /// falls below the minimum.
    fn wait_deadline(&self, wait_start: Instant) -> Instant {
        let mut deadline = self.limits.deadline;
        if let Some(allowed) = self
            .limits
            .min_rate
            .and_then(|r| r.allowed_wait(self.received))
        {
            deadline = deadline.min(wait_start + allowed.saturating_sub(self.waited));
        }
        deadline
    }

    fn end_wait(&mut self) {
        if let Some(start) = self.wait_start.take() {
            self.waited += start.elapsed();
        }
    }
}

impl<R: ReadIo> http_body::Body for RecvBody<R> {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = &mut *self;
        if !this.asked_continue {
            this.asked_continue = true;
            if this
                .exchange
                .continue_state
                .compare_exchange(
                    CONTINUE_EXPECTED,
                    CONTINUE_WANTED,
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                )
                .is_ok()
            {
                this.exchange.notify.notify_one();
            }
        }
        loop {
            let Some(reader) = this.reader.as_mut() else {
                return Poll::Ready(None);
            };
            match this.decoder.decode(&mut reader.buf) {
                Err(e) => {
                    this.exchange.malformed.store(true, Ordering::Release);
                    return this.fail(Error::with_cause(Kind::Parse, "invalid request body", e.0));
                }
                Ok(Decoded::Data(data)) => {
                    this.end_wait();
                    this.received += data.len() as u64;
                    if this.limits.max_bytes.is_some_and(|max| this.received > max) {
                        this.exchange.too_large.store(true, Ordering::Release);
                        return this.fail(Error::new(
                            Kind::BodyTooLarge,
                            "request body exceeds the server's limit",
                        ));
                    }
                    if this.decoder.is_done() {
                        // The last byte is out: let the connection move on even if the
                        // handler never polls again.
                        this.give_back();
                    }
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Ok(Decoded::Done(trailers)) => {
                    this.end_wait();
                    this.give_back();
                    return Poll::Ready(trailers.map(|t| Ok(Frame::trailers(t))));
                }
                Ok(Decoded::NeedMore) => {}
            }
            match reader.poll_read_more(cx, BODY_READ_CHUNK) {
                Poll::Ready(Ok(0)) => {
                    return this.fail(Error::new(
                        Kind::IncompleteMessage,
                        "client closed the connection before the request body ended",
                    ))
                }
                Poll::Ready(Ok(_)) => continue,
                Poll::Ready(Err(e)) => return this.fail(Error::io("reading request body", e)),
                Poll::Pending => {
                    let start = *this.wait_start.get_or_insert_with(Instant::now);
                    let deadline = this.wait_deadline(start);
                    let timer = match &mut this.timer {
                        Some(t) => {
                            t.as_mut().reset(deadline);
                            t
                        }
                        none => none.insert(Box::pin(tokio::time::sleep_until(deadline))),
                    };
                    if timer.as_mut().poll(cx).is_ready() {
                        let msg = if deadline < this.limits.deadline {
                            "request body arrived below the minimum data rate"
                        } else {
                            "request read timeout"
                        };
                        return this.fail(Error::timeout(msg));
                    }
                    return Poll::Pending;
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.decoder.is_done() && self.reader.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        match self.decoder.remaining() {
            Some(n) => SizeHint::with_exact(n),
            None => SizeHint::default(),
        }
    }
}

impl<R: ReadIo> Drop for RecvBody<R> {
    fn drop(&mut self) {
        self.give_back();
    }
}
