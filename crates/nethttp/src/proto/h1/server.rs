//! The server side of one HTTP/1.1 connection: wait for a request (holding no buffers while
//! idle), parse and validate its head, lend the read half to the request body, run the
//! handler, write the response (batched with other pipelined responses into as few writes as
//! possible), reclaim and drain the body, and loop for the next request or close.

use crate::conn::spans;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{Method, Response, StatusCode, Version};
use http_body::Body as _;
use tokio::io::AsyncWriteExt;
use tokio::time::{timeout_at, Instant};

use super::decode::{Decoded, Decoder};
use super::encode::{self, Framing, HeadOptions};
use super::io::{ReadIo, Reader, WriteIo, INITIAL_READ_BUF};
use super::parse::{self, BodyLen, HeadError, HeadLimits, HeadProgress, RequestHead};
use super::recv::{BodyLimits, Exchange, RecvBody};
use super::recycle;
use super::wait::{Wait, WaitState};
use crate::body::file::{FileBody, Piece};
use crate::body::Body;
use crate::conn::{ConnEvents, ConnState};
use crate::handler::{poll_catching_into, Handler, HttpResponse};
use crate::interim;
use crate::proto::rate::MinDataRate;
use crate::proto::timeout::with_deadline;
use crate::upgrade::{Pending, Upgraded};

/// Per-connection settings, derived once from the `Server` config.
#[derive(Debug, Clone)]
pub(crate) struct ConnConfig {
    pub limits: HeadLimits,
    pub read_header_timeout: Duration,
    pub read_timeout: Duration,
    pub write_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_body_bytes: Option<u64>,
    pub min_body_rate: Option<MinDataRate>,
    pub max_drain_bytes: u64,
    pub drain_timeout: Duration,
    pub keep_alive: bool,
    /// Answer `OPTIONS *` here instead of in the handler.
    pub options_asterisk: bool,
    /// `keep-alive: timeout=N\r\n`, formatted once; `None` when the idle timeout is under 1 s.
    pub keep_alive_line: Option<Box<[u8]>>,
    /// The server's count of upgraded connections still open.
    pub upgrades: Arc<AtomicUsize>,
    /// Told of each request refused before the handler.
    pub rejection_hook: Option<crate::conn::RejectionHookCfg>,
}

/// Responses are sent when this much is batched, even if more pipelined requests wait.
const MAX_BATCH: usize = 64 * 1024;
/// Body chunks at least this large are written straight from their buffer, not copied.
const DIRECT_WRITE: usize = 16 * 1024;
/// How long a closing connection keeps reading (and discarding) what the client still
/// sends, so the kernel does not answer it with a RST that destroys our last response.
const LINGER: Duration = Duration::from_millis(500);
const LINGER_BYTES: usize = 64 * 1024;
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// What woke a running handler's connection.
enum Step {
    /// The handler returned its response.
    Answered,
    /// The handler panicked.
    Panicked,
    /// The client closed or reset the connection.
    ClientGone,
    /// Batched responses to send, a `100 Continue` to answer, or interim responses the
    /// handler queued.
    Service,
}

/// What a streamed response body's writer does next.
enum BodyStep {
    /// The body's next frame, or its end.
    Frame(Option<Result<http_body::Frame<Bytes>, crate::Error>>),
    /// The body has nothing ready: send what is batched (or `100 Continue`) meanwhile.
    Flush,
    /// The client closed or reset the connection while the body had nothing ready.
    ClientGone,
}

/// Why the connection loop stopped.
enum Stop {
    /// Close now (peer gone, write failed, shutdown while idle).
    Now,
    /// Close after flushing what is written and lingering.
    Graceful,
    /// The upgrade response is written and flushed: hand the connection over.
    Upgrade(Pending),
}

/// Serves one connection until it closes. `state` says what it waits for, so a graceful
/// shutdown can close it at once between requests, and give it a grace before its first
/// (see [`WaitState`]). The connection itself closes at a shutdown only between requests:
/// before its first, the watch decides. The first request's head must be whole by
/// `first_deadline` (the read-header timeout from the accept).
pub(crate) async fn serve<R, W, H>(
    rd: R,
    wr: W,
    handler: &H,
    cfg: &ConnConfig,
    first_deadline: Instant,
    events: &mut ConnEvents,
    state: &WaitState,
) where
    R: ReadIo,
    W: WriteIo,
    H: Handler + ?Sized,
{
    let mut conn = Conn {
        reader: Some(Reader {
            io: rd,
            buf: BytesMut::new(),
        }),
        wr,
        wbuf: Vec::new(),
        exchange: None,
        cfg,
        served: 0,
        upgrade: None,
        interim: None,
    };
    // One timer for the connection's idle waits, re-armed lazily (see `wait_idle`), and the
    // waker it holds, if it was polled since it was last reset or fired. Until the first
    // request, its deadline is `first_deadline`.
    let mut timer = std::pin::pin!(tokio::time::sleep_until(first_deadline));
    let mut armed: Option<Waker> = None;
    let stop = loop {
        if conn.is_idle() {
            state.waiting(conn.served);
            let waited = conn.wait_idle(events, timer.as_mut(), &mut armed).await;
            state.set(Wait::Busy);
            if let Err(stop) = waited {
                break stop;
            }
        }
        // Everything a busy connection needs (parser state, the handler's future, response
        // streaming) lives in this box, which exists only while the connection is busy: an
        // idle keep-alive connection costs just its small task and its socket. The box's
        // memory is recycled per thread, so a keep-alive request allocates none.
        // Until the first request, its head is due by the timer's deadline.
        let first = (conn.served == 0).then(|| timer.deadline());
        if let Some(stop) =
            crate::blocks::BusyBox::new(|| conn.run(handler, events, first, state)).await
        {
            break stop;
        }
    };
    match stop {
        Stop::Now => {}
        // Boxed: inline, its state (a flush, the lingering reads) would add to every
        // connection's task, idle ones included.
        Stop::Graceful => Box::pin(conn.close_gracefully()).await,
        Stop::Upgrade(pending) => conn.hand_over(pending, events),
    }
}

struct Conn<'a, R: ReadIo, W> {
    /// `None` while a request body has it.
    reader: Option<Reader<R>>,
    wr: W,
    /// Responses not yet written to the socket.
    wbuf: Vec<u8>,
    exchange: Option<Arc<Exchange<R>>>,
    cfg: &'a ConnConfig,
    served: u64,
    /// The current request asked for an upgrade: its handler's [`crate::upgrade::OnUpgrade`]
    /// is fulfilled from here.
    upgrade: Option<Pending>,
    /// Interim (1xx) responses of the request being handled, made when its handler first
    /// asks ([`crate::interim::sender`]), kept for the next request if no sender outlives it.
    interim: Option<Arc<interim::Slot>>,
}

impl<R, W> Conn<'_, R, W>
where
    R: ReadIo,
    W: WriteIo,
{
    /// Nothing buffered either way: the next step is waiting for the client.
    fn is_idle(&self) -> bool {
        self.reader.as_ref().is_some_and(|r| r.buf.is_empty()) && self.wbuf.is_empty()
    }

    /// Waits, holding no buffers, until the client sends something. `Err` when the
    /// connection should close instead: client gone, idle (or first-request) timeout, or the
    /// server is shutting down and this is a wait between requests.
    ///
    /// The timer is not re-armed per request: it keeps its old deadline while that is earlier
    /// than the real one, and is pushed back only when it fires early. A keep-alive request
    /// then costs a clock read instead of a timer-wheel insert and removal. Nor is it polled
    /// per request: a pending timer wakes the waker it was last polled with, so while that
    /// (`armed`) is the waker of this wait, it is only checked for having fired.
    async fn wait_idle(
        &mut self,
        events: &mut ConnEvents,
        mut timer: Pin<&mut tokio::time::Sleep>,
        armed: &mut Option<Waker>,
    ) -> Result<(), Stop> {
        let first = self.served == 0;
        if !first {
            events.set(ConnState::Idle);
        }
        let Some(reader) = self.reader.as_mut() else {
            return Err(Stop::Now);
        };
        if !first && events.shutting_down() && !reader.io.has_pending_input() {
            // Shutting down and nothing of a next request has arrived: close. (A request
            // already in the kernel's buffer is still answered, with `Connection: close`.)
            // Before the first request, the shutdown watch decides, after a grace.
            return Err(Stop::Now);
        }
        recycle::recycle_read(std::mem::take(&mut reader.buf));
        recycle::recycle_write(std::mem::take(&mut self.wbuf));
        let deadline = if first {
            // The first request's head is due by the timer's own deadline.
            timer.deadline()
        } else {
            Instant::now() + self.cfg.idle_timeout
        };
        if timer.deadline() > deadline {
            timer.as_mut().reset(deadline);
            *armed = None;
        }
        let Reader { io, buf } = reader;
        let mut ready = std::pin::pin!(io.wait_input(buf));
        loop {
            let input = poll_fn(|cx| {
                if let Poll::Ready(r) = ready.as_mut().poll(cx) {
                    return Poll::Ready(Some(r));
                }
                let holds_waker = armed.as_ref().is_some_and(|w| w.will_wake(cx.waker()));
                if holds_waker && !timer.is_elapsed() {
                    return Poll::Pending;
                }
                if timer.as_mut().poll(cx).is_ready() {
                    *armed = None;
                    return Poll::Ready(None);
                }
                if !holds_waker {
                    *armed = Some(cx.waker().clone());
                }
                Poll::Pending
            })
            .await;
            match input {
                Some(r) => return r.map_err(|_| Stop::Now),
                None if Instant::now() >= deadline => return Err(Stop::Now),
                None => {
                    timer.as_mut().reset(deadline);
                    *armed = None;
                }
            }
        }
    }

    /// Serves requests while the client keeps the connection busy. `None` when it goes idle
    /// (everything answered and flushed, nothing buffered), else how to stop.
    async fn run<H: Handler + ?Sized>(
        &mut self,
        handler: &H,
        events: &mut ConnEvents,
        first_deadline: Option<Instant>,
        state: &WaitState,
    ) -> Option<Stop> {
        if self.wbuf.capacity() == 0 {
            self.wbuf = recycle::write_buf();
        }
        let mut fresh = true;
        loop {
            if !std::mem::take(&mut fresh) && self.reader.as_ref().is_some_and(|r| r.buf.is_empty())
            {
                if !self.wbuf.is_empty() && self.flush().await.is_err() {
                    return Some(Stop::Now);
                }
                return None;
            }
            // Filled in place: a head is large, and every move of it is a copy.
            let mut head = None;
            match self
                .next_head(events, &mut head, first_deadline, state)
                .await
            {
                Ok(true) => {}
                Ok(false) => return Some(Stop::Now),
                Err(e) => {
                    tracing::debug!(status = %e.status, reason = e.reason, "rejecting request");
                    if let Some(t) = events.track() {
                        t.rejected(e.status);
                    }
                    if let Some(crate::conn::RejectionHookCfg(hook)) = &self.cfg.rejection_hook {
                        let head = self.reader.as_ref().map_or(&[][..], |r| &r.buf[..]);
                        hook(&crate::conn::Rejection {
                            remote: events.remote(),
                            status: e.status,
                            reason: e.reason,
                            request_line: crate::conn::request_line(head),
                            body_bytes: e.reason.len() as u64 + 1,
                        });
                    }
                    self.write_error(e.status, e.reason);
                    return Some(Stop::Graceful);
                }
            };
            // Passed by reference and taken synchronously where it is consumed: a head passed
            // by value would be stored again in each async callee's state.
            match self.exchange(&mut head, handler, events).await {
                Ok(true) => {}
                Ok(false) => return Some(Stop::Graceful),
                Err(()) => return Some(Stop::Now),
            }
            if let Some(pending) = self.upgrade.take() {
                // `exchange` kept it: the upgrade response is out.
                return Some(Stop::Upgrade(pending));
            }
        }
    }

    /// Reads and parses the next request head into `head`. `Ok(false)`: close quietly
    /// (client closed or went silent before sending anything). `Err`: answer with that
    /// error, then close. The connection's first head must be whole by `first_deadline`
    /// (the read-header timeout counts from the accept, not from the first byte). `state`
    /// is what the shutdown watch reads (see [`serve`]), set while nothing of a head has come.
    async fn next_head(
        &mut self,
        events: &mut ConnEvents,
        head: &mut Option<RequestHead>,
        first_deadline: Option<Instant>,
        state: &WaitState,
    ) -> Result<bool, HeadError> {
        // The clock is read only if the head does not arrive whole in the first read: a
        // keep-alive or pipelined request that parses at once costs no clock read and no timer.
        let mut start: Option<Instant> = None;
        let mut announced = false;
        let mut progress = HeadProgress::default();
        loop {
            let reader = self
                .reader
                .as_mut()
                .expect("read half is home between requests");
            if !reader.buf.is_empty() {
                if !announced {
                    announced = true;
                    events.set(ConnState::Active);
                }
                if progress.should_parse(&reader.buf) {
                    match parse::parse_request_into(&mut reader.buf, &self.cfg.limits, head) {
                        Ok(true) => {
                            events.request_start = start;
                            return Ok(true);
                        }
                        Ok(false) => {
                            // Part of a head: its time starts now, if no wait started it.
                            start.get_or_insert_with(Instant::now);
                            progress.partial(reader.buf.len(), &self.cfg.limits)
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
            // About to wait for the client: send what earlier pipelined requests produced.
            if !self.wbuf.is_empty() && self.flush().await.is_err() {
                return Ok(false);
            }
            // The head's time starts when this read has to wait, unless part of the head came
            // earlier: a request whose head comes whole in one read reads no clock.
            let limit = self.cfg.read_header_timeout.min(self.cfg.read_timeout);
            let first_deadline = first_deadline.filter(|_| self.served == 0);
            let deadline = || {
                let by = *start.get_or_insert_with(Instant::now) + limit;
                first_deadline.map_or(by, |first| by.min(first))
            };
            let reader = self
                .reader
                .as_mut()
                .expect("read half is home between requests");
            let want = INITIAL_READ_BUF.max(reader.buf.len());
            // Nothing of a next request yet (the idle wait can be woken by stale readiness):
            // this wait is idle too, and shutdown may close the connection during it (before
            // the first request, after the grace the watch gives it).
            let empty = reader.buf.is_empty();
            if empty {
                let first = self.served == 0;
                if !first && events.shutting_down() && !reader.io.has_pending_input() {
                    return Ok(false);
                }
                state.waiting(self.served);
            }
            let read = reader.read_more_by(want, deadline).await;
            if empty {
                state.set(Wait::Busy);
            }
            match read {
                Ok(0) => return Ok(false),
                Ok(_) => {}
                Err(e) if e.kind() != std::io::ErrorKind::TimedOut || reader.buf.is_empty() => {
                    return Ok(false)
                }
                Err(_) => {
                    return Err(HeadError {
                        status: StatusCode::REQUEST_TIMEOUT,
                        reason: "request header read timeout",
                    })
                }
            }
        }
    }

    /// One request/response exchange. `Ok(true)`: keep the connection for the next request.
    /// `Ok(false)`: flush and close. `Err`: close at once.
    async fn exchange<H: Handler + ?Sized>(
        &mut self,
        head: &mut Option<RequestHead>,
        handler: &H,
        events: &mut ConnEvents,
    ) -> Result<bool, ()> {
        self.served += 1;
        let Some(h) = head.as_ref() else {
            return Err(());
        };
        let is_head = *h.method() == Method::HEAD;
        let is_connect = h.upgrade && *h.method() == Method::CONNECT;
        let version = h.version();
        let mut keep_alive = h.keep_alive && self.cfg.keep_alive && !events.shutting_down();

        // The handler phase is its own future: its locals (the request, the handler's
        // future) are gone before the response is written, keeping the busy state small.
        // The response is put in this slot and used in place: every move of it is a copy.
        let mut slot: Option<HttpResponse> = None;
        match self.call_handler(head, handler, events, &mut slot).await {
            Ok(true) => {}
            Ok(false) => return Ok(false),
            Err(()) => return Err(()),
        }
        let Some(resp) = slot.as_mut() else {
            return Err(());
        };

        if let Some(pending) = self.upgrade.take() {
            let status = resp.status();
            if (status == StatusCode::SWITCHING_PROTOCOLS && !is_connect)
                || (is_connect && status.is_success())
            {
                return self.answer_upgrade(pending, &mut slot).await;
            }
            // Refused (any other answer): the handler's `OnUpgrade` fails, and the exchange
            // goes on as usual (RFC 9110 §7.8: the server may ignore `Upgrade`).
            drop(pending);
        }

        if resp.status().is_informational() {
            // A 1xx is an interim response; as the final answer the client would wait for
            // another. (Protocol upgrades are not supported.)
            tracing::error!(status = %resp.status(), "handler returned a 1xx status; answering 500");
            self.write_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                crate::handler::INTERNAL_ERROR_ANSWER.trim_end(),
            );
            return Ok(false);
        }

        // The response head decides framing and whether the connection survives.
        // The read half is away exactly when the request has a body.
        let lent = self.reader.is_none();
        let exchange = self.exchange.clone();
        if let Some(ex) = exchange.as_ref().filter(|_| lent) {
            if ex.too_large() {
                self.write_error(StatusCode::PAYLOAD_TOO_LARGE, "request body too large");
                return Ok(false);
            }
            if ex.continue_unanswered() && ex.has_returned() {
                // The handler dropped the body without asking for it: the client may or may
                // not send what it announced, so the stream is ambiguous after this response
                // and it is the last one. (A body still alive, say streamed back as the
                // response, may yet be read: then `100 Continue` goes out first.)
                keep_alive = false;
            }
            if ex.returned_reusable(self.cfg.max_drain_bytes) == Some(false) {
                // The body already came back failed, or with more left unread than we
                // drain: the connection ends after this response, which must say so.
                keep_alive = false;
            }
        }
        if events.shutting_down() {
            // Shutdown began while the handler ran: this response is the connection's last
            // and must say so.
            keep_alive = false;
        }
        let status = resp.status();
        if let Some(t) = events.track() {
            t.request_ends(status);
        }
        let no_content_status = status.is_informational()
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED;
        let bodiless = is_head || no_content_status;
        let exact = resp.body().size_hint().exact();
        let keep_alive_line = self.cfg.keep_alive_line.as_deref();
        let head_at = self.wbuf.len();
        // The handler's fields are written and read in one walk: what they declare (a
        // length, `Connection: close`) decides the framing and the lines that follow them.
        let opts = encode::write_head_with(&mut self.wbuf, status, resp.headers(), |declared| {
            if declared.close {
                keep_alive = false;
            }
            let framing = if bodiless {
                Framing::NoBody
            } else if let Some(n) = exact.or(declared.length) {
                Framing::Length(n)
            } else if version == Version::HTTP_11 {
                Framing::Chunked
            } else {
                keep_alive = false;
                Framing::CloseDelimited
            };
            HeadOptions {
                framing,
                // A HEAD answer carries the length a GET would have had. Not for 1xx, 204
                // and 304: RFC 9110 §8.6 forbids a length on 1xx and 204, and a 304's may
                // only be a 200's, which its empty body does not tell; so HEAD gets what GET
                // gets there.
                head_length: if is_head && !no_content_status {
                    declared.length.or(exact)
                } else {
                    None
                },
                close: !keep_alive,
                confirm_keep_alive: keep_alive && version == Version::HTTP_10,
                keep_alive_line: keep_alive_line.filter(|_| keep_alive),
                upgrade: false,
            }
        });
        let framing = opts.framing;
        resp.extensions_mut().clear();
        let body = resp.body_mut();

        if let (Framing::Length(n), Some(data)) = (framing, body.take_full()) {
            // A body already in memory (the common case): append it without the streaming
            // machinery. Its exact size hint is what chose the length, so they agree.
            debug_assert_eq!(data.len() as u64, n);
            if data.len() < DIRECT_WRITE {
                self.wbuf.extend_from_slice(&data);
            } else {
                self.put_data(data).await?;
            }
        } else if let (true, Framing::Length(n), Some(file)) =
            (W::SEND_FILE, framing, body.file_body_mut())
        {
            self.send_file(file, n).await?;
        } else if framing != Framing::NoBody {
            match self.write_body(body, framing, head_at).await {
                Ok(()) => {}
                Err(()) => return Err(()),
            }
        }
        // The response goes now, taken apart: its body, with anything it holds (such as the
        // request body streamed back), is released before reclaiming, and its written header
        // map carries the next request's fields instead of being freed (no empty map is left
        // in its place to drop).
        if let Some(resp) = slot.take() {
            let (parts, body) = resp.into_parts();
            drop(body);
            recycle::recycle_headers(parts.headers);
        }

        if self.wbuf.len() >= MAX_BATCH && self.flush().await.is_err() {
            return Err(());
        }

        // Take the read half back from the body and skip what the handler left unread.
        if lent {
            let Some(ex) = exchange else { return Err(()) };
            let Some(returned) = self.reclaim(&ex).await else {
                return Ok(false);
            };
            self.reader = Some(returned.reader);
            if returned.failed {
                return Ok(false);
            }
            if !returned.decoder.is_done() {
                if !keep_alive || ex.continue_unanswered() {
                    return Ok(false);
                }
                if !self.drain(returned.decoder).await {
                    return Ok(false);
                }
            }
        }
        Ok(keep_alive)
    }

    /// Finishes the handler's request in its slot: lends the read half to its body (unless
    /// there is none) and adds what the connection attaches. `false`: the body is too large
    /// and a `413` is queued instead.
    #[inline(always)]
    fn finish_request(&mut self, head: &mut RequestHead, events: &ConnEvents) -> bool {
        let req = &mut head.req;
        match head.body {
            BodyLen::Empty => {}
            BodyLen::Length(n) if self.cfg.max_body_bytes.is_some_and(|max| n > max) => {
                // Known too large before reading a byte: refuse without calling the handler.
                self.write_error(StatusCode::PAYLOAD_TOO_LARGE, "request body too large");
                return false;
            }
            BodyLen::Length(_) | BodyLen::Chunked => {
                let decoder = match head.body {
                    BodyLen::Length(n) => Decoder::length(n),
                    _ => Decoder::chunked(),
                };
                let exchange = self
                    .exchange
                    .get_or_insert_with(|| Arc::new(Exchange::new()));
                exchange.reset(head.expect_continue);
                let limits = BodyLimits {
                    max_bytes: self.cfg.max_body_bytes,
                    deadline: events.request_start.unwrap_or_else(Instant::now)
                        + self.cfg.read_timeout,
                    min_rate: self.cfg.min_body_rate,
                };
                let reader = self
                    .reader
                    .take()
                    .expect("read half is home between requests");
                *req.body_mut() =
                    Body::from_incoming(RecvBody::new(reader, decoder, exchange.clone(), limits));
            }
        }
        if let Some(attached) = events.attached() {
            attached.insert_into(req.extensions_mut());
        }
        if let Some(t) = events.track() {
            t.request_begins(req.method(), req.uri());
        }
        if head.upgrade {
            let (pending, on_upgrade) = Pending::new();
            req.extensions_mut().insert(on_upgrade);
            self.upgrade = Some(pending);
        }
        true
    }

    /// Builds the request, runs the handler, and puts its response in `out`. While the
    /// handler works, responses already batched are sent and a body read that wants
    /// `100 Continue` is answered. `Ok(false)`: an error response was queued instead (body
    /// too large, handler panic) and the connection closes after it.
    async fn call_handler<H: Handler + ?Sized>(
        &mut self,
        head: &mut Option<RequestHead>,
        handler: &H,
        events: &mut ConnEvents,
        out: &mut Option<HttpResponse>,
    ) -> Result<bool, ()> {
        let Some(h) = head.as_mut() else {
            return Err(());
        };
        let (expect_continue, version) = (h.expect_continue, h.version());
        // RFC 9110 §15.2: no interim response to an HTTP/1.0 client.
        let interim_ok = version >= Version::HTTP_11;
        if !self.finish_request(h, events) {
            return Ok(false);
        }
        let req = &h.req;
        if self.cfg.options_asterisk && crate::handler::is_options_asterisk(req.method(), req.uri())
        {
            // The request goes now: a body it has gives the read half back, for the exchange
            // to reclaim and skip what is left of it.
            *head = None;
            *out = Some(crate::handler::options_asterisk_response());
            return Ok(true);
        }

        // Run the handler. While it works, send responses already batched, answer a body
        // read that wants `100 Continue`, and watch for the client leaving: if it closes or
        // resets the connection, the handler's future is dropped (as HTTP/2 drops it on a
        // stream reset) and the connection closes. The watch needs the read half at home (no
        // request body, or none left), and stops at a pipelined request's first bytes.
        let span = spans::request(events.span(), req.method(), req.uri(), version);
        // The span is entered around each poll below rather than wrapped around the future:
        // a wrapper is one more layer to move, traced or not.
        // Pinned as the handler made it: a wrapper taking it by value would copy it once more.
        // The request moves from its slot straight into the handler's call.
        let Some(RequestHead { req, .. }) = head.take() else {
            return Err(());
        };
        let mut fut = std::pin::pin!(handler.call(req));
        let signal = self.exchange.clone().filter(|_| expect_continue);
        let mut watching = self.nothing_pipelined();
        loop {
            // The body may be read from a task the handler spawned: its request for
            // `100 Continue` must wake us even though our handler future is not the reader.
            let mut notified = std::pin::pin!(signal.as_ref().map(|ex| ex.notify.notified()));
            let step = poll_fn(|cx| {
                let entered = interim_ok.then(|| interim::enter(&mut self.interim));
                let traced = span.as_ref().map(tracing::Span::enter);
                let polled = poll_catching_into(fut.as_mut(), cx, out);
                drop(traced);
                drop(entered);
                match polled {
                    Poll::Ready(Ok(())) => {
                        if let Some(resp) = out.as_ref() {
                            spans::status(span.as_ref(), resp.status());
                        }
                        return Poll::Ready(Step::Answered);
                    }
                    Poll::Ready(Err(())) => return Poll::Ready(Step::Panicked),
                    Poll::Pending => {}
                }
                if !self.wbuf.is_empty() || self.continue_wanted() {
                    return Poll::Ready(Step::Service);
                }
                if let Some(slot) = &self.interim {
                    if slot.queued_or_register(cx.waker()) {
                        return Poll::Ready(Step::Service);
                    }
                }
                if watching {
                    if let Some(reader) = self.reader.as_mut() {
                        match reader.io.poll_peer_gone(&mut reader.buf, cx) {
                            Poll::Ready(true) => return Poll::Ready(Step::ClientGone),
                            Poll::Ready(false) => watching = false,
                            Poll::Pending => {}
                        }
                    }
                }
                if let Some(n) = notified.as_mut().as_pin_mut() {
                    if n.poll(cx).is_ready() {
                        return Poll::Ready(Step::Service);
                    }
                }
                Poll::Pending
            })
            .await;
            match step {
                Step::Answered => {
                    if self.interim.is_some() {
                        // Interim responses queued before the handler returned go first.
                        self.write_interim();
                        self.end_interim(true);
                    }
                    return Ok(true);
                }
                Step::Panicked => {
                    self.end_interim(false);
                    tracing::error!("handler panicked; answering 500 and closing the connection");
                    self.write_error(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        crate::handler::INTERNAL_ERROR_ANSWER.trim_end(),
                    );
                    return Ok(false);
                }
                Step::ClientGone => {
                    self.end_interim(false);
                    tracing::debug!("client closed the connection; handler dropped");
                    return Err(());
                }
                Step::Service => {
                    if self.claim_continue() {
                        self.wbuf.extend_from_slice(CONTINUE);
                    }
                    let interim = self.interim.clone().filter(|_| self.write_interim());
                    if !self.wbuf.is_empty() && self.flush().await.is_err() {
                        self.end_interim(false);
                        return Err(());
                    }
                    if let Some(slot) = interim {
                        slot.mark_written();
                    }
                }
            }
        }
    }

    /// Whether no byte of a next request is already read: the client-gone watch runs only
    /// then, since a client that pipelined its requests and half-closed its side has left
    /// nothing behind but its answers, which it is waiting for.
    fn nothing_pipelined(&self) -> bool {
        self.reader.as_ref().is_none_or(|r| r.buf.is_empty())
    }

    /// Streams a response body into the write buffer, flushing whenever the body has nothing
    /// ready (so streamed bodies reach the client as they are produced).
    async fn write_body(
        &mut self,
        body: &mut Body,
        framing: Framing,
        head_at: usize,
    ) -> Result<(), ()> {
        let mut head_sent = false;
        let mut written: u64 = 0;
        let mut trailers = None;
        // While the body has nothing ready and nothing waits to be sent, watch for the client
        // leaving, as while the handler runs: a stream that waits long between pieces (events,
        // a long poll) is dropped when its client goes, not kept until its next piece fails
        // to be written. The same limits: the read half at home, and stopped by the next
        // pipelined request's first bytes.
        let mut watching = self.nothing_pipelined();
        loop {
            let step = poll_fn(|cx| match Pin::new(&mut *body).poll_frame(cx) {
                Poll::Ready(f) => Poll::Ready(BodyStep::Frame(f)),
                Poll::Pending if !self.wbuf.is_empty() || self.continue_wanted() => {
                    Poll::Ready(BodyStep::Flush)
                }
                Poll::Pending => {
                    if let Some(reader) = self.reader.as_mut().filter(|_| watching) {
                        match reader.io.poll_peer_gone(&mut reader.buf, cx) {
                            Poll::Ready(true) => return Poll::Ready(BodyStep::ClientGone),
                            Poll::Ready(false) => watching = false,
                            Poll::Pending => {}
                        }
                    }
                    Poll::Pending
                }
            })
            .await;
            let frame = match step {
                BodyStep::Flush => {
                    if self.claim_continue() && !head_sent {
                        // The handler answered before reading the body it then streams
                        // back: the interim response must precede the final one.
                        self.wbuf.splice(head_at..head_at, CONTINUE.iter().copied());
                    }
                    if self.flush().await.is_err() {
                        return Err(());
                    }
                    head_sent = true;
                    continue;
                }
                BodyStep::ClientGone => {
                    tracing::debug!("client closed the connection; response body dropped");
                    return Err(());
                }
                BodyStep::Frame(None) => break,
                BodyStep::Frame(Some(Err(e))) => {
                    tracing::debug!(error = %e, "response body failed; closing the connection");
                    if !head_sent && self.answer_broken_request_body(head_at) {
                        // The failed request body closes the connection once this answer is
                        // flushed (the read half comes back marked failed).
                        return Ok(());
                    }
                    return Err(());
                }
                BodyStep::Frame(Some(Ok(frame))) => frame,
            };
            let data = match frame.into_data() {
                Ok(d) => d,
                Err(frame) => {
                    if let Ok(t) = frame.into_trailers() {
                        trailers = Some(t);
                    }
                    continue;
                }
            };
            if data.is_empty() {
                continue;
            }
            // A large chunk is written straight to the socket, the head before it.
            head_sent |= data.len() >= DIRECT_WRITE;
            written += data.len() as u64;
            match framing {
                Framing::Length(n) if written > n => {
                    tracing::debug!("response body longer than its Content-Length; closing");
                    return Err(());
                }
                Framing::Chunked => {
                    encode::write_chunk_header(&mut self.wbuf, data.len());
                    self.put_data(data).await?;
                    self.wbuf.extend_from_slice(encode::CRLF);
                }
                _ => self.put_data(data).await?,
            }
            if self.wbuf.len() >= MAX_BATCH {
                self.flush().await.map_err(|_| ())?;
                head_sent = true;
            }
        }
        match framing {
            Framing::Length(n) if written != n => {
                tracing::debug!("response body shorter than its Content-Length; closing");
                // Send what we have; the client sees a short body and a closed connection.
                let _ = self.flush().await;
                Err(())
            }
            Framing::Chunked => {
                encode::write_chunked_end(&mut self.wbuf, trailers.as_ref());
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Sends a file body (its length `n` already in the head): bytes from memory go into the
    /// batch, file ranges straight from the page cache to the socket with `sendfile(2)`,
    /// after the batch before them. Each call may wait for the client up to the write
    /// timeout, as any write does.
    async fn send_file(&mut self, body: &mut FileBody, n: u64) -> Result<(), ()> {
        debug_assert_eq!(body.size_hint().exact(), Some(n));
        let timeout = self.cfg.write_timeout;
        while let Some(piece) = body.next_piece() {
            let (offset, len) = match piece {
                Piece::Bytes(b) => {
                    self.put_data(b).await?;
                    continue;
                }
                Piece::File { offset, len } => (offset, len),
            };
            if !self.wbuf.is_empty() {
                self.flush_before_file().await.map_err(|_| ())?;
            }
            let len = usize::try_from(len).unwrap_or(usize::MAX);
            let wr = &mut self.wr;
            let file = body.file();
            let sent = with_deadline(
                poll_fn(|cx| wr.poll_send_file(cx, file, offset, len)),
                || Instant::now() + timeout,
                "write timeout",
            )
            .await;
            match sent {
                Ok(0) => {
                    // The file shrank under us: the length already promised cannot be kept,
                    // so the response fails (the client sees it short and the connection
                    // closed), never ends early on a connection that looks reusable.
                    tracing::debug!("file shrank while it was being sent; closing");
                    return Err(());
                }
                Ok(k) => body.sent(k as u64),
                Err(e) => {
                    tracing::debug!(error = %e, "sending the file failed; closing");
                    return Err(());
                }
            }
        }
        Ok(())
    }

    /// The response body failed before any of the response was sent: when that is because
    /// the request body streamed back was malformed or too large, the response is replaced by
    /// the error the client would have had from a handler that read its body first (malformed
    /// syntax is a 400, RFC 9110 §15.5.1). Returns whether it did; the connection closes after
    /// it either way.
    fn answer_broken_request_body(&mut self, head_at: usize) -> bool {
        let Some(ex) = self.exchange.as_ref().filter(|_| self.reader.is_none()) else {
            return false;
        };
        let (status, reason) = if ex.malformed() {
            (StatusCode::BAD_REQUEST, "malformed chunked request body")
        } else if ex.too_large() {
            (StatusCode::PAYLOAD_TOO_LARGE, "request body too large")
        } else {
            return false;
        };
        self.wbuf.truncate(head_at);
        self.write_error(status, reason);
        true
    }

    /// Appends body data: small chunks are copied into the batch, large ones are written
    /// from their own buffer after the batch.
    async fn put_data(&mut self, data: Bytes) -> Result<(), ()> {
        if data.len() < DIRECT_WRITE {
            self.wbuf.extend_from_slice(&data);
            return Ok(());
        }
        self.flush().await.map_err(|_| ())?;
        self.write_all(&data).await.map_err(|_| ())
    }

    /// Appends the interim responses the handler queued to the write buffer. Returns whether
    /// there were any.
    fn write_interim(&mut self) -> bool {
        let Some(slot) = &self.interim else {
            return false;
        };
        let queued = slot.take();
        for (status, headers) in &queued {
            encode::write_interim(&mut self.wbuf, *status, headers);
        }
        !queued.is_empty()
    }

    /// The request's interim responses are over (its final response begins, or the
    /// exchange failed): senders still waiting are told, and the slot is kept for the next
    /// request only if no sender outlives this one.
    fn end_interim(&mut self, written: bool) {
        if let Some(slot) = &self.interim {
            if written {
                // What was taken is in the write buffer, ahead of the final response.
                slot.mark_written();
            }
            if !slot.close() {
                self.interim = None;
            }
        }
    }

    fn continue_wanted(&self) -> bool {
        self.exchange.as_ref().is_some_and(|e| e.wants_continue())
    }

    fn claim_continue(&self) -> bool {
        self.exchange.as_ref().is_some_and(|e| e.claim_continue())
    }

    /// Waits (bounded by the write timeout) for the request body to hand the read half back;
    /// it may live on in a task the handler spawned.
    async fn reclaim(&mut self, ex: &Exchange<R>) -> Option<super::recv::Returned<R>> {
        let deadline = Instant::now() + self.cfg.write_timeout;
        loop {
            let notified = ex.notify.notified();
            if let Some(r) = ex.take_returned() {
                return Some(r);
            }
            if timeout_at(deadline, notified).await.is_err() {
                return ex.take_returned();
            }
        }
    }

    /// Reads and discards the rest of a request body the handler did not read, within the
    /// drain byte and time bounds. Returns whether the connection is reusable.
    async fn drain(&mut self, mut decoder: Decoder) -> bool {
        if decoder
            .remaining()
            .is_some_and(|n| n > self.cfg.max_drain_bytes)
        {
            return false;
        }
        let deadline = Instant::now() + self.cfg.drain_timeout;
        let max = self.cfg.max_drain_bytes;
        let Some(reader) = self.reader.as_mut() else {
            return false;
        };
        let mut drained = 0u64;
        loop {
            match decoder.decode(&mut reader.buf) {
                Ok(Decoded::Data(d)) => {
                    drained += d.len() as u64;
                    if drained > max {
                        return false;
                    }
                }
                Ok(Decoded::Done(_)) => return true,
                Ok(Decoded::NeedMore) => match reader.read_more(INITIAL_READ_BUF, deadline).await {
                    Ok(n) if n > 0 => {}
                    _ => return false,
                },
                Err(_) => return false,
            }
        }
    }

    /// Writes the response that accepts an upgrade (`101`, or a `2xx` to `CONNECT`) and
    /// flushes it. `Ok(true)` with `pending` kept in `self.upgrade`: the connection is to be
    /// handed over. A request body still being read, or left unread, makes the hand-over
    /// impossible (its bytes and the new protocol's would mix): the connection closes and
    /// the handler's `OnUpgrade` fails.
    async fn answer_upgrade(
        &mut self,
        pending: Pending,
        slot: &mut Option<HttpResponse>,
    ) -> Result<bool, ()> {
        let Some(resp) = slot.take() else {
            return Err(());
        };
        let (parts, body) = resp.into_parts();
        drop(body);
        if self.reader.is_none() {
            let Some(ex) = self.exchange.clone() else {
                return Err(());
            };
            match self.reclaim(&ex).await {
                Some(returned) if !returned.failed && returned.decoder.is_done() => {
                    self.reader = Some(returned.reader);
                }
                _ => {
                    tracing::debug!("upgrade refused: the request body was not read to its end");
                    return Err(());
                }
            }
        }
        let switching = parts.status == StatusCode::SWITCHING_PROTOCOLS;
        let opts = HeadOptions {
            // RFC 9110 §9.3.6: no Content-Length or Transfer-Encoding in a 2xx to CONNECT;
            // a 1xx has no content at all.
            framing: Framing::NoBody,
            head_length: None,
            close: false,
            confirm_keep_alive: false,
            keep_alive_line: None,
            upgrade: switching,
        };
        encode::write_head(&mut self.wbuf, parts.status, &parts.headers, &opts);
        recycle::recycle_headers(parts.headers);
        if self.flush().await.is_err() {
            return Err(());
        }
        self.upgrade = Some(pending);
        Ok(true)
    }

    /// Hands the connection over to the upgrade's owner: its halves, the bytes the client
    /// sent past its request head, and a guard counting it as upgraded. If nobody awaits the
    /// `OnUpgrade` any more, the connection is dropped (closed).
    fn hand_over(self, pending: Pending, events: &mut ConnEvents)
    where
        R: 'static,
        W: 'static,
    {
        let Some(reader) = self.reader else {
            return;
        };
        let guard = events.upgraded(&self.cfg.upgrades);
        let upgraded = Upgraded::new(
            reader.buf.freeze(),
            Box::new(reader.io),
            Box::new(self.wr),
            Some(guard),
        );
        if pending.fulfil(upgraded).is_err() {
            tracing::debug!("upgrade answered but nobody took the connection; closing it");
        }
    }

    /// Queues an error response that closes the connection.
    fn write_error(&mut self, status: StatusCode, reason: &'static str) {
        let mut resp = Response::new(());
        *resp.status_mut() = status;
        resp.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        let opts = HeadOptions {
            framing: Framing::Length(reason.len() as u64 + 1),
            head_length: None,
            close: true,
            confirm_keep_alive: false,
            keep_alive_line: None,
            upgrade: false,
        };
        encode::write_head(&mut self.wbuf, status, resp.headers(), &opts);
        self.wbuf.extend_from_slice(reason.as_bytes());
        self.wbuf.push(b'\n');
    }

    /// Writes the batch ahead of a file sent with `sendfile(2)`, telling the kernel that more
    /// follows, so the head and the file's first bytes leave in one segment (nginx corks the
    /// socket for the same, at two more calls per response).
    async fn flush_before_file(&mut self) -> std::io::Result<()> {
        let timeout = self.cfg.write_timeout;
        let mut at = 0;
        while at < self.wbuf.len() {
            let (wr, rest) = (&mut self.wr, &self.wbuf[at..]);
            let n = with_deadline(
                poll_fn(|cx| wr.poll_write_more(cx, rest)),
                || Instant::now() + timeout,
                "write timeout",
            )
            .await?;
            if n == 0 {
                return Err(std::io::ErrorKind::WriteZero.into());
            }
            at += n;
        }
        self.wbuf.clear();
        Ok(())
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        // A batch mostly goes in one write that completes at once: tried first, without the
        // deadline machinery, which whatever is left then goes through.
        let first = poll_fn(
            |cx| match Pin::new(&mut self.wr).poll_write(cx, &self.wbuf) {
                Poll::Ready(r) => Poll::Ready(Some(r)),
                Poll::Pending => Poll::Ready(None),
            },
        )
        .await;
        let written = match first {
            Some(Ok(n)) if n == self.wbuf.len() => {
                self.wbuf.clear();
                return Ok(());
            }
            Some(Ok(0)) => Err(std::io::ErrorKind::WriteZero.into()),
            Some(Ok(n)) => Ok(n),
            Some(Err(e)) => Err(e),
            None => Ok(0),
        };
        let r = match written {
            Ok(n) => {
                let buf = std::mem::take(&mut self.wbuf);
                let r = self.write_all(&buf[n..]).await;
                self.wbuf = buf;
                r
            }
            Err(e) => Err(e),
        };
        self.wbuf.clear();
        r
    }

    async fn write_all(&mut self, data: &[u8]) -> std::io::Result<()> {
        let timeout = self.cfg.write_timeout;
        with_deadline(
            self.wr.write_all(data),
            || Instant::now() + timeout,
            "write timeout",
        )
        .await
    }

    /// Flushes, half-closes, and reads what the client still sends for a short while, so
    /// our final response is not destroyed by a RST.
    async fn close_gracefully(&mut self) {
        if !self.wbuf.is_empty() && self.flush().await.is_err() {
            return;
        }
        let _ = self.wr.shutdown().await;
        let Some(reader) = self.reader.as_mut() else {
            return;
        };
        let deadline = Instant::now() + LINGER;
        let mut discarded = 0;
        while discarded < LINGER_BYTES {
            reader.buf.clear();
            match reader.read_more(INITIAL_READ_BUF, deadline).await {
                Ok(n) if n > 0 => discarded += n,
                _ => break,
            }
        }
    }
}
