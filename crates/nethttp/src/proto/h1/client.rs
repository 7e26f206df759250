//! The client's HTTP/1.1 exchange on one connection: write the request (head and body, with
//! `Expect: 100-continue` when asked), read the response head (skipping 1xx), and hand the
//! body to the caller as a stream that gives the connection back the moment it ends.
//!
//! No task runs per connection: the request's own future does the I/O, so a response costs no
//! channel hop. Whoever owns the connection (the pool) implements [`ConnSlot`]; this file only
//! says when the connection is free again and whether it may carry another request.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Method, Response};
use http_body::{Body as _, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use super::decode::{Decoded, Decoder};
use super::encode::{write_chunk_header, write_chunked_end, CRLF};
use super::encode_request::{
    expects_continue, wants_close, write_request_head, RequestFraming, RequestHeadOptions,
};
use super::io::{ClientIo, Reader, BODY_READ_CHUNK, INITIAL_READ_BUF};
use super::parse::parse_content_length;
use super::parse_response::{parse_response, ResponseBodyLen, ResponseHead};
use super::upload::Upload;
use crate::body::Body;
use crate::error::{Error, Kind};
use crate::proto::events::ExchangeEvents;
use crate::proto::timeout::with_deadline;

/// Bodies up to this size are copied behind the head so the request goes out in one write.
const INLINE_BODY: usize = 16 * 1024;
/// Most informational (1xx) responses skipped before a final one; more is an error.
const MAX_INFORMATIONAL: usize = 8;

/// One client connection: the IO, its buffer of received bytes, and a write buffer.
#[derive(Debug)]
pub(crate) struct ClientConn<T> {
    io: Reader<T>,
    wbuf: Vec<u8>,
    /// The response-head deadline timer, kept for the connection's life and re-armed lazily
    /// (see `read_head_until`).
    timer: Option<Pin<Box<Sleep>>>,
    /// The local address, read from the socket the first time it is asked for (a trace's
    /// `got_conn`) and kept: one `getsockname` per connection, not one per request.
    local: Option<Option<std::net::SocketAddr>>,
}

/// What happens to a connection when its exchange is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Release {
    /// It may carry another request. The server's idle-timeout hint, if it sent one.
    Keep { idle_hint: Option<Duration> },
    /// It must be closed.
    Close,
}

/// The owner of a connection lent to one exchange.
pub(crate) trait ConnSlot: Send + Unpin + 'static {
    /// The connection's IO.
    type Io: ClientIo;
    fn conn(&mut self) -> &mut ClientConn<Self::Io>;
    /// The exchange no longer needs the connection.
    fn release(self, how: Release);
    /// The connection leaves the pool for good (a protocol upgrade took it): its place is
    /// freed as if it had closed, and it is handed to the caller.
    fn detach(self) -> Option<ClientConn<Self::Io>>;
}

/// Limits and timeouts of an exchange.
#[derive(Debug, Clone)]
pub(crate) struct ExchangeConfig {
    pub response_header_timeout: Duration,
    pub read_timeout: Duration,
    pub write_timeout: Duration,
    pub expect_continue_timeout: Duration,
    pub max_response_head_bytes: usize,
    /// A response body dropped unread is drained in the background up to this many bytes ...
    pub max_drain_bytes: u64,
    /// ... and for at most this long, so its connection can be reused; past either, closed.
    pub drain_timeout: Duration,
}

/// Per-request inputs of an exchange besides the request itself.
pub(crate) struct Exchange<'a> {
    pub cfg: &'a ExchangeConfig,
    /// Headers added when the request lacks them.
    pub defaults: Option<&'a HeaderMap>,
    /// Send the request target in absolute form (to a proxy).
    pub absolute_form: bool,
    /// `Proxy-Authorization` for the proxy the request goes to, if it needs one.
    pub proxy_auth: Option<&'a HeaderValue>,
    /// Close the connection after this exchange.
    pub close: bool,
    /// The `accept-encoding: ...\r\n` line to send, if any (the transport decodes the
    /// answer).
    pub accept_encoding: Option<&'static [u8]>,
    /// The request's total deadline, if it has one.
    pub deadline: Option<Instant>,
    pub events: Option<&'a dyn ExchangeEvents>,
}

/// A failed exchange, with what the retry rules need to know.
#[derive(Debug)]
pub(crate) struct SendError {
    pub error: Error,
    /// Not one byte of the request was accepted by the socket: the server cannot have seen it.
    pub nothing_written: bool,
    /// Not one byte of a response arrived.
    pub no_response: bool,
}

impl<T: ClientIo> ClientConn<T> {
    pub(crate) fn new(stream: T) -> ClientConn<T> {
        ClientConn {
            io: Reader {
                io: stream,
                buf: BytesMut::new(),
            },
            wbuf: Vec::new(),
            timer: None,
            local: None,
        }
    }

    /// The IO and the bytes already read from it past the last response.
    pub(crate) fn into_parts(self) -> (T, BytesMut) {
        (self.io.io, self.io.buf)
    }

    /// Whether an idle connection can still carry a request: the server has not closed it and
    /// has sent nothing unasked. Costs no syscall unless the socket became readable while idle.
    ///
    /// That check sees what the runtime's reactor has already reported, which lags behind the
    /// kernel: a server that closes right after its response sends a FIN the reactor may not
    /// have picked up yet. With `thorough`, for a request that could not be sent again if the
    /// connection turned out dead, the kernel is asked too (one non-blocking peek), so a FIN
    /// or RST that has arrived is seen before the request is written. On TLS, bytes the
    /// reactor has not reported yet cannot be read through TLS here (they may be a session
    /// ticket, or the server's close_notify): the thorough check does not bet on them.
    pub(crate) fn is_reusable_idle(&mut self, thorough: bool) -> bool {
        if !self.io.buf.is_empty() {
            return false;
        }
        // Nothing to read: the connection is as we left it. Data, EOF or an error: the server
        // closed it or sent something nobody asked for.
        let mut cx = Context::from_waker(Waker::noop());
        if poll_server_spoke(&mut self.io, &mut cx).is_ready() {
            return false;
        }
        !thorough || self.io.io.peer_silent()
    }

    /// Hands the buffers back while the connection sits idle, so idle connections cost only
    /// their socket.
    pub(crate) fn shed_buffers(&mut self) {
        if self.io.buf.is_empty() && self.io.buf.capacity() > 0 {
            super::recycle::recycle_read(std::mem::take(&mut self.io.buf));
        }
        if self.wbuf.capacity() > 0 {
            super::recycle::recycle_write(std::mem::take(&mut self.wbuf));
        }
    }

    /// The connection's local address, when its IO has one.
    pub(crate) fn local_addr(&mut self) -> Option<std::net::SocketAddr> {
        let io = &self.io.io;
        *self.local.get_or_insert_with(|| io.local_addr())
    }
}

/// Sends `req` on the slot's connection and reads the response head. The response body
/// streams from the connection; the slot is released when it ends (or at once, when the
/// whole body is already buffered).
pub(crate) async fn send<S: ConnSlot>(
    mut slot: S,
    parts: &Parts,
    mut body: Body,
    x: &Exchange<'_>,
) -> Result<Response<Body>, SendError> {
    let close = x.close || wants_close(&parts.headers);
    let has_body = !body.is_end_stream();
    let expect = has_body && expects_continue(&parts.headers);
    let user_len = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| parse_content_length(v.as_bytes()));
    let framing = RequestFraming::choose(&parts.method, body.size_hint().exact(), user_len);
    let mut progress = Progress {
        upgrade: crate::upgrade::is_upgrade_request(&parts.method, &parts.headers),
        ..Progress::default()
    };

    let conn = slot.conn();
    if conn.wbuf.capacity() == 0 {
        conn.wbuf = super::recycle::write_buf();
    }
    conn.wbuf.clear();
    write_request_head(
        &mut conn.wbuf,
        &parts.method,
        &parts.uri,
        &parts.headers,
        &RequestHeadOptions {
            framing,
            absolute_form: x.absolute_form,
            proxy_auth: x.proxy_auth,
            close,
            defaults: x.defaults,
            accept_encoding: x.accept_encoding,
        },
    );

    let written = write_request(
        conn,
        &mut body,
        framing,
        expect,
        &parts.method,
        x,
        &mut progress,
    )
    .await;
    let early = match written {
        Ok(early) => {
            if let Some(ev) = x.events {
                ev.wrote_request(None);
            }
            early
        }
        Err(error) => {
            if let Some(ev) = x.events {
                ev.wrote_request(Some(&error));
            }
            // The server may have answered before it stopped reading (an early 413, say):
            // that answer is more useful than our write error. Look briefly.
            match early_answer(conn, &parts.method, x, &mut progress).await {
                Some(head) => Some(head),
                None => {
                    slot.release(Release::Close);
                    return Err(progress.fail(error));
                }
            }
        }
    };
    // An early answer means the body was not sent in full: the connection's state is unknown.
    let body_sent = early.is_none();
    let head = match early {
        Some(head) => head,
        None => match read_head(conn, &parts.method, x, &mut progress).await {
            Ok(head) => head,
            Err(error) => {
                slot.release(Release::Close);
                return Err(progress.fail(error));
            }
        },
    };
    // Answered mid-upload: keep sending unless the answer is an error (RFC 9112 §9.5).
    let upload = match progress.interrupted_at {
        Some(sent) if head.status.as_u16() < 400 && head.body != ResponseBodyLen::Empty => {
            Some(Upload::new(body, framing, sent))
        }
        _ => None,
    };
    // The connection is handed over after `101` (asked for) or a `2xx` to `CONNECT` (RFC
    // 9110 §9.3.6: the tunnel starts right after the header section).
    if head.status == http::StatusCode::SWITCHING_PROTOCOLS
        || (parts.method == Method::CONNECT && head.status.is_success())
    {
        return Ok(upgraded_response(slot, head));
    }
    Ok(build_response(slot, head, close || !body_sent, upload, x))
}

/// The answer to an upgrade: the head, an empty body, and the connection (with whatever
/// the server sent after its head) waiting in the extensions for [`crate::upgrade::on`].
fn upgraded_response<S: ConnSlot>(slot: S, head: ResponseHead) -> Response<Body> {
    let mut res = Response::new(Body::empty());
    *res.status_mut() = head.status;
    *res.version_mut() = head.version;
    *res.headers_mut() = head.headers;
    if let Some(conn) = slot.detach() {
        let (io, buf) = conn.into_parts();
        let (pending, on_upgrade) = crate::upgrade::Pending::new();
        // The receiver is in hand: this cannot fail.
        let _ = pending.fulfil(crate::upgrade::Upgraded::whole(buf.freeze(), io));
        res.extensions_mut().insert(on_upgrade);
    }
    res
}

/// What the exchange has done so far, for the retry rules.
#[derive(Default)]
struct Progress {
    wrote_any: bool,
    got_any: bool,
    /// A streamed body was interrupted by a response after this many bytes.
    interrupted_at: Option<u64>,
    /// Interim (1xx) responses seen.
    interim: usize,
    /// The request asked for a protocol upgrade: a `101` is its final answer.
    upgrade: bool,
}

impl Progress {
    fn fail(&self, error: Error) -> SendError {
        SendError {
            error,
            nothing_written: !self.wrote_any,
            no_response: !self.got_any,
        }
    }
}

/// Writes the request. Returns a response head when the server answered before the body was
/// sent (a final status instead of `100 Continue`, or a response mid-upload).
async fn write_request<T: ClientIo>(
    conn: &mut ClientConn<T>,
    body: &mut Body,
    framing: RequestFraming,
    expect: bool,
    method: &Method,
    x: &Exchange<'_>,
    progress: &mut Progress,
) -> Result<Option<ResponseHead>, Error> {
    let timeout = x.cfg.write_timeout;
    if !expect {
        if let Some(data) = body.take_full() {
            if data.len() <= INLINE_BODY {
                conn.wbuf.extend_from_slice(&data);
                if !write_all(&mut conn.io, &conn.wbuf, timeout, progress).await? {
                    return answered(conn, method, x, progress).await;
                }
            } else if !write_all(&mut conn.io, &conn.wbuf, timeout, progress).await?
                || !write_all(&mut conn.io, &data, timeout, progress).await?
            {
                return answered(conn, method, x, progress).await;
            }
            check_length(framing, data.len() as u64, true)?;
            return Ok(None);
        }
    }
    if !write_all(&mut conn.io, &conn.wbuf, timeout, progress).await? {
        return answered(conn, method, x, progress).await;
    }
    if expect {
        // RFC 9110 §10.1.1: wait for 100 (or a final status) a while, then send anyway.
        let wait = Instant::now() + x.cfg.expect_continue_timeout;
        match read_head_until(conn, method, x, progress, wait, Interim::Continue).await {
            Ok(Some(head)) => return Ok(Some(head)),
            Ok(None) => {}
            Err(e) => return Err(e),
        }
    }
    stream_body(conn, body, framing, method, x, progress).await
}

/// Streams a body frame by frame. Stops early, returning the head, if the server responds
/// while the body is still being sent.
async fn stream_body<T: ClientIo>(
    conn: &mut ClientConn<T>,
    body: &mut Body,
    framing: RequestFraming,
    method: &Method,
    x: &Exchange<'_>,
    progress: &mut Progress,
) -> Result<Option<ResponseHead>, Error> {
    let mut sent: u64 = 0;
    let mut trailers = None;
    loop {
        enum Step {
            Frame(Option<Result<Frame<Bytes>, Error>>),
            Answered,
        }
        let step = std::future::poll_fn(|cx| {
            if poll_server_spoke(&mut conn.io, cx).is_ready() {
                return Poll::Ready(Step::Answered);
            }
            Pin::new(&mut *body).poll_frame(cx).map(Step::Frame)
        })
        .await;
        let frame = match step {
            Step::Answered => {
                // An interim response (a late 100, a 103) is not an answer: keep sending.
                let until = Instant::now() + x.cfg.response_header_timeout;
                let head = read_head_until(conn, method, x, progress, until, Interim::Any).await?;
                if head.is_some() {
                    progress.interrupted_at = Some(sent);
                    return Ok(head);
                }
                continue;
            }
            Step::Frame(None) => break,
            Step::Frame(Some(Err(e))) => return Err(e),
            Step::Frame(Some(Ok(f))) => f,
        };
        let frame = match frame.into_data() {
            Ok(data) => {
                if data.is_empty() {
                    continue;
                }
                sent += data.len() as u64;
                check_length(framing, sent, false)?;
                conn.wbuf.clear();
                if framing == RequestFraming::Chunked {
                    write_chunk_header(&mut conn.wbuf, data.len());
                }
                let t = x.cfg.write_timeout;
                let whole = if data.len() <= INLINE_BODY {
                    conn.wbuf.extend_from_slice(&data);
                    if framing == RequestFraming::Chunked {
                        conn.wbuf.extend_from_slice(CRLF);
                    }
                    write_all(&mut conn.io, &conn.wbuf, t, progress).await?
                } else {
                    write_all(&mut conn.io, &conn.wbuf, t, progress).await?
                        && write_all(&mut conn.io, &data, t, progress).await?
                        && (framing != RequestFraming::Chunked
                            || write_all(&mut conn.io, CRLF, t, progress).await?)
                };
                if !whole {
                    // Cut mid-frame: the upload cannot resume, only the answer matters.
                    return answered(conn, method, x, progress).await;
                }
                continue;
            }
            Err(frame) => frame,
        };
        if let Ok(t) = frame.into_trailers() {
            trailers = Some(t);
        }
    }
    check_length(framing, sent, true)?;
    if framing == RequestFraming::Chunked {
        conn.wbuf.clear();
        write_chunked_end(&mut conn.wbuf, trailers.as_ref());
        if !write_all(&mut conn.io, &conn.wbuf, x.cfg.write_timeout, progress).await? {
            return answered(conn, method, x, progress).await;
        }
    }
    Ok(None)
}

/// A body that does not fit its framing is the caller's error.
fn check_length(framing: RequestFraming, sent: u64, ended: bool) -> Result<(), Error> {
    framing
        .check(sent, ended)
        .map_err(|msg| Error::new(Kind::Body, msg))
}

/// Ready once the server has sent something (bytes, EOF or an error); registers the waker
/// otherwise. Costs no syscall unless the socket is marked readable.
///
/// On TCP this peeks, consuming nothing. On TLS (and IO that cannot peek) the bytes may be no
/// answer at all (a TLS 1.3 session ticket arrives after the handshake), so they are read:
/// what decrypts to data stays in the connection's buffer for the response parser.
fn poll_server_spoke<T: ClientIo>(io: &mut Reader<T>, cx: &mut Context<'_>) -> Poll<()> {
    if !io.buf.is_empty() {
        return Poll::Ready(());
    }
    io.io.poll_spoke(&mut io.buf, cx)
}

/// Writes all of `buf`, failing with a write timeout if the socket stays full too long.
/// Returns `false`, with the rest unwritten, if the server sends something while the write is
/// blocked: a server that stopped reading to answer early (a 413 for an upload it will not
/// take) must be heard, not waited out until the write timeout (RFC 9112 §9.5).
async fn write_all<T: ClientIo>(
    io: &mut Reader<T>,
    mut buf: &[u8],
    timeout: Duration,
    progress: &mut Progress,
) -> Result<bool, Error> {
    while !buf.is_empty() {
        let step = std::future::poll_fn(|cx| match Pin::new(&mut io.io).poll_write(cx, buf) {
            Poll::Ready(r) => Poll::Ready(r.map(Some)),
            Poll::Pending => poll_server_spoke(io, cx).map(|()| Ok(None)),
        });
        let n = with_deadline(step, || Instant::now() + timeout, "write timed out")
            .await
            .map_err(|e| Error::io("writing the request failed", e))?;
        let Some(n) = n else {
            return Ok(false);
        };
        if n == 0 {
            return Err(Error::io(
                "writing the request failed",
                io::ErrorKind::WriteZero.into(),
            ));
        }
        progress.wrote_any = true;
        buf = &buf[n..];
    }
    Ok(true)
}

/// The server answered while a write was blocked: its response head, which ends the upload.
async fn answered<T: ClientIo>(
    conn: &mut ClientConn<T>,
    method: &Method,
    x: &Exchange<'_>,
    progress: &mut Progress,
) -> Result<Option<ResponseHead>, Error> {
    read_head(conn, method, x, progress).await.map(Some)
}

/// After a failed write, a response the server sent before it stopped reading, if one
/// arrives within a short time.
async fn early_answer<T: ClientIo>(
    conn: &mut ClientConn<T>,
    method: &Method,
    x: &Exchange<'_>,
    progress: &mut Progress,
) -> Option<ResponseHead> {
    let until = Instant::now() + Duration::from_millis(250).min(x.cfg.response_header_timeout);
    read_head_until(conn, method, x, progress, until, Interim::Skip)
        .await
        .ok()
        .flatten()
}

/// Reads the final response head within the response-header timeout (and total deadline).
async fn read_head<T: ClientIo>(
    conn: &mut ClientConn<T>,
    method: &Method,
    x: &Exchange<'_>,
    progress: &mut Progress,
) -> Result<ResponseHead, Error> {
    let until = Instant::now() + x.cfg.response_header_timeout;
    match read_head_until(conn, method, x, progress, until, Interim::Skip).await? {
        Some(head) => Ok(head),
        None => Err(Error::new(
            Kind::ResponseHeaderTimeout,
            "timed out waiting for the response head",
        )),
    }
}

/// Which interim (1xx) responses end a wait for a response head.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Interim {
    /// None: they are skipped until a final response.
    Skip,
    /// `100 Continue`: the go-ahead to send a body.
    Continue,
    /// Any: the caller is sending a body and must get back to it.
    Any,
}

/// Reads response heads until a final one (skipping 1xx), or until `until` passes (`None`).
/// An interim response that `stop` names also ends the wait with `None`.
async fn read_head_until<T: ClientIo>(
    conn: &mut ClientConn<T>,
    method: &Method,
    x: &Exchange<'_>,
    progress: &mut Progress,
    until: Instant,
    stop: Interim,
) -> Result<Option<ResponseHead>, Error> {
    loop {
        if !conn.io.buf.is_empty() {
            let parsed = parse_response(&mut conn.io.buf, method, x.cfg.max_response_head_bytes)
                .map_err(|e| Error::new(Kind::Parse, e.0))?;
            if let Some(head) = parsed {
                if !head.status.is_informational() {
                    return Ok(Some(head));
                }
                if head.status == http::StatusCode::SWITCHING_PROTOCOLS {
                    if progress.upgrade {
                        return Ok(Some(head));
                    }
                    // RFC 9110 §15.2.2: a server switches only when asked to.
                    return Err(Error::new(
                        Kind::Parse,
                        "server switched protocols though the request asked for no upgrade",
                    ));
                }
                progress.interim += 1;
                if progress.interim > MAX_INFORMATIONAL {
                    return Err(Error::new(Kind::Parse, "too many informational responses"));
                }
                if let Some(ev) = x.events {
                    ev.got_1xx_response(head.status, &head.headers);
                }
                if stop == Interim::Any
                    || (stop == Interim::Continue && head.status == http::StatusCode::CONTINUE)
                {
                    return Ok(None);
                }
                continue;
            }
        }
        let total = x.deadline;
        let deadline = total.map_or(until, |t| t.min(until));
        // The timer keeps an earlier deadline it already has and is pushed back only when it
        // fires early, so a request costs a clock read rather than a timer-wheel insert and
        // removal.
        let ClientConn { io, timer, .. } = &mut *conn;
        let timer = timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if timer.deadline() > deadline {
            timer.as_mut().reset(deadline);
        }
        let read = std::future::poll_fn(|cx| {
            if let Poll::Ready(r) = io.poll_read_more(cx, INITIAL_READ_BUF) {
                return Poll::Ready(Some(r));
            }
            loop {
                if timer.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                if Instant::now() >= deadline {
                    return Poll::Ready(None);
                }
                timer.as_mut().reset(deadline);
            }
        })
        .await;
        let n = match read {
            Some(r) => r.map_err(|e| Error::io("reading the response failed", e))?,
            None if total.is_some_and(|t| t <= until) => {
                return Err(Error::new(Kind::TotalTimeout, "request timed out"))
            }
            None => return Ok(None),
        };
        if n == 0 {
            return Err(Error::new(
                Kind::IncompleteMessage,
                if progress.got_any {
                    "connection closed in the middle of the response head"
                } else {
                    "connection closed before any response byte"
                },
            ));
        }
        if !progress.got_any {
            progress.got_any = true;
            if let Some(ev) = x.events {
                ev.got_first_response_byte();
            }
        }
    }
}

fn build_response<S: ConnSlot>(
    mut slot: S,
    head: ResponseHead,
    close: bool,
    upload: Option<Upload>,
    x: &Exchange<'_>,
) -> Response<Body> {
    let keep = head.keep_alive && !close;
    let release = if keep {
        Release::Keep {
            idle_hint: head.idle_hint,
        }
    } else {
        Release::Close
    };
    let mut res = Response::new(Body::empty());
    *res.status_mut() = head.status;
    *res.version_mut() = head.version;
    *res.headers_mut() = head.headers;
    let buf = &mut slot.conn().io.buf;
    let body = match head.body {
        ResponseBodyLen::Empty => {
            finish(slot, release);
            Body::empty()
        }
        // The common small response: all of it is here already, so the connection goes back
        // before the caller even sees the head.
        ResponseBodyLen::Length(n) if buf.len() as u64 >= n && upload.is_none() => {
            let data = buf.split_to(n as usize).freeze();
            finish(slot, release);
            Body::from(data)
        }
        framing => {
            let decoder = match framing {
                ResponseBodyLen::Length(n) => Decoder::length(n),
                ResponseBodyLen::Chunked => Decoder::chunked(),
                _ => Decoder::Eof,
            };
            Body::from_incoming(ResponseBody {
                slot: Some(slot),
                decoder,
                release,
                upload,
                read_timeout: x.cfg.read_timeout,
                deadline: x.deadline,
                timer: None,
                progressed: false,
                max_drain: x.cfg.max_drain_bytes,
                drain_timeout: x.cfg.drain_timeout,
            })
        }
    };
    *res.body_mut() = body;
    res
}

/// Releases a slot whose exchange completed: bytes left over that nobody asked for mean the
/// connection is out of step and must not be reused.
fn finish<S: ConnSlot>(mut slot: S, release: Release) {
    let conn = slot.conn();
    let release = if conn.io.buf.is_empty() {
        release
    } else {
        Release::Close
    };
    slot.release(release);
}

/// A response body read from the connection, releasing it at the end.
pub(crate) struct ResponseBody<S: ConnSlot> {
    slot: Option<S>,
    decoder: Decoder,
    release: Release,
    /// The request body, when the response began before it was all sent.
    upload: Option<Upload>,
    read_timeout: Duration,
    deadline: Option<Instant>,
    timer: Option<Pin<Box<Sleep>>>,
    /// Bytes arrived since the timer was last armed.
    progressed: bool,
    max_drain: u64,
    drain_timeout: Duration,
}

impl<S: ConnSlot> ResponseBody<S> {
    fn end(&mut self, reusable: bool) {
        if let Some(slot) = self.slot.take() {
            let release = if reusable {
                self.release
            } else {
                Release::Close
            };
            finish(slot, release);
        }
    }

    fn next_deadline(&self) -> Instant {
        let idle = Instant::now() + self.read_timeout;
        self.deadline.map_or(idle, |t| t.min(idle))
    }

    /// The read-idle timer, re-armed lazily: when it fires after bytes arrived it restarts
    /// instead of failing, so a read costs no timer update (the timeout is between one and
    /// two read timeouts of silence).
    fn poll_timer(&mut self, cx: &mut Context<'_>) -> Option<Error> {
        if self.timer.is_none() {
            self.progressed = false;
            self.timer = Some(Box::pin(tokio::time::sleep_until(self.next_deadline())));
        }
        loop {
            let timer = self.timer.as_mut()?;
            if timer.as_mut().poll(cx).is_pending() {
                return None;
            }
            let now = Instant::now();
            if self.deadline.is_some_and(|t| t <= now) {
                return Some(Error::new(Kind::TotalTimeout, "request timed out"));
            }
            if !self.progressed {
                return Some(Error::new(
                    Kind::BodyReadTimeout,
                    "response body stalled past the read timeout",
                ));
            }
            self.progressed = false;
            let next = self.next_deadline();
            if let Some(t) = self.timer.as_mut() {
                t.as_mut().reset(next);
            }
        }
    }
}

impl<S: ConnSlot> http_body::Body for ResponseBody<S> {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = self.get_mut();
        loop {
            let Some(slot) = this.slot.as_mut() else {
                return Poll::Ready(None);
            };
            let conn = slot.conn();
            if let Some(upload) = &mut this.upload {
                if upload.poll_send(&mut conn.io.io, cx).is_ready() {
                    // Done, or it cannot go on (the server stopped reading): either way the
                    // response is what matters now. The connection closes after it.
                    this.upload = None;
                }
            }
            match this.decoder.decode(&mut conn.io.buf) {
                Ok(Decoded::Data(data)) => {
                    if this.decoder.is_done() {
                        this.end(true);
                    }
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Ok(Decoded::Done(trailers)) => {
                    this.end(true);
                    return Poll::Ready(trailers.map(|t| Ok(Frame::trailers(t))));
                }
                Ok(Decoded::NeedMore) => {}
                Err(e) => {
                    this.end(false);
                    return Poll::Ready(Some(Err(Error::with_cause(
                        Kind::Parse,
                        "invalid response body framing",
                        e.0,
                    ))));
                }
            }
            match conn.io.poll_read_more(cx, BODY_READ_CHUNK) {
                Poll::Ready(Ok(0)) => {
                    let eof_body = matches!(this.decoder, Decoder::Eof);
                    this.decoder = Decoder::Done;
                    this.end(false);
                    return Poll::Ready(if eof_body {
                        None
                    } else {
                        Some(Err(Error::new(
                            Kind::IncompleteMessage,
                            "connection closed before the response body ended",
                        )))
                    });
                }
                Poll::Ready(Ok(_)) => this.progressed = true,
                Poll::Ready(Err(e)) => {
                    this.end(false);
                    return Poll::Ready(Some(Err(Error::io(
                        "reading the response body failed",
                        e,
                    ))));
                }
                Poll::Pending => {
                    if let Some(err) = this.poll_timer(cx) {
                        this.end(false);
                        return Poll::Ready(Some(Err(err)));
                    }
                    return Poll::Pending;
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.slot.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        match self.decoder.remaining() {
            Some(n) => SizeHint::with_exact(n),
            None => SizeHint::default(),
        }
    }
}

impl<S: ConnSlot> Drop for ResponseBody<S> {
    /// Dropped before its end: what is already buffered is consumed here; the rest is
    /// drained by a background task within the drain limits, so the connection is not lost
    /// just because the caller did not want the whole body.
    fn drop(&mut self) {
        let Some(mut slot) = self.slot.take() else {
            return;
        };
        if self.release == Release::Close || matches!(self.decoder, Decoder::Eof) {
            slot.release(Release::Close);
            return;
        }
        let mut decoder = std::mem::replace(&mut self.decoder, Decoder::Done);
        match drain_buffered(&mut decoder, &mut slot.conn().io.buf, &mut 0) {
            Drained::Done => return finish(slot, self.release),
            Drained::Failed => return slot.release(Release::Close),
            Drained::NeedMore => {}
        }
        if decoder.remaining().is_some_and(|n| n > self.max_drain) {
            return slot.release(Release::Close);
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return slot.release(Release::Close);
        };
        let (release, max, timeout) = (self.release, self.max_drain, self.drain_timeout);
        rt.spawn(async move {
            let drained = tokio::time::timeout(timeout, drain(&mut slot, decoder, max)).await;
            match drained {
                Ok(true) => finish(slot, release),
                _ => slot.release(Release::Close),
            }
        });
    }
}

enum Drained {
    Done,
    NeedMore,
    Failed,
}

/// Discards the body bytes already in `buf`, counting them into `total`.
fn drain_buffered(decoder: &mut Decoder, buf: &mut BytesMut, total: &mut u64) -> Drained {
    loop {
        match decoder.decode(buf) {
            Ok(Decoded::Data(d)) => *total += d.len() as u64,
            Ok(Decoded::Done(_)) => return Drained::Done,
            Ok(Decoded::NeedMore) => return Drained::NeedMore,
            Err(_) => return Drained::Failed,
        }
    }
}

/// Reads and discards the rest of a body, up to `max` bytes. True if it ended cleanly.
async fn drain<S: ConnSlot>(slot: &mut S, mut decoder: Decoder, max: u64) -> bool {
    let mut total = 0;
    loop {
        let conn = slot.conn();
        match drain_buffered(&mut decoder, &mut conn.io.buf, &mut total) {
            Drained::Done => return true,
            Drained::Failed => return false,
            Drained::NeedMore if total > max => return false,
            Drained::NeedMore => {}
        }
        match std::future::poll_fn(|cx| conn.io.poll_read_more(cx, BODY_READ_CHUNK)).await {
            Ok(0) | Err(_) => return false,
            Ok(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

    use super::*;
    use crate::proto::io::AnyIo;

    type PipeConn = ClientConn<AnyIo<DuplexStream>>;

    /// A slot that keeps the connection for the next exchange and records how it came back.
    struct Slot {
        conn: Option<PipeConn>,
        home: Arc<Mutex<Option<(PipeConn, Release)>>>,
    }

    impl ConnSlot for Slot {
        type Io = AnyIo<DuplexStream>;

        fn conn(&mut self) -> &mut PipeConn {
            self.conn.as_mut().expect("lent")
        }

        fn release(mut self, how: Release) {
            if let Some(conn) = self.conn.take() {
                *self.home.lock().unwrap() = Some((conn, how));
            }
        }

        fn detach(mut self) -> Option<PipeConn> {
            self.conn.take()
        }
    }

    fn config() -> ExchangeConfig {
        ExchangeConfig {
            response_header_timeout: Duration::from_secs(5),
            read_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(5),
            expect_continue_timeout: Duration::from_secs(1),
            max_response_head_bytes: 64 * 1024,
            max_drain_bytes: 64 * 1024,
            drain_timeout: Duration::from_secs(1),
        }
    }

    /// Reads one request head from `server` and answers it with `body`.
    async fn answer(server: &mut DuplexStream, body: &str) -> String {
        let mut got = Vec::new();
        while !got.ends_with(b"\r\n\r\n") {
            let mut byte = [0u8; 1];
            assert_eq!(
                server.read(&mut byte).await.unwrap(),
                1,
                "request ended early"
            );
            got.push(byte[0]);
        }
        let resp = format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        server.write_all(resp.as_bytes()).await.unwrap();
        String::from_utf8(got).unwrap()
    }

    /// The HTTP/1.1 exchange over IO that is not a socket: keep-alive, reuse, and the
    /// staleness check that any IO supports (a read through to the buffer).
    #[tokio::test]
    async fn exchanges_over_a_pipe_and_reuses_the_connection() {
        let (client, mut server) = tokio::io::duplex(4096);
        let home = Arc::new(Mutex::new(None));
        let mut conn = ClientConn::new(AnyIo(client));
        let cfg = config();
        let x = Exchange {
            cfg: &cfg,
            defaults: None,
            absolute_form: false,
            proxy_auth: None,
            close: false,
            accept_encoding: None,
            deadline: None,
            events: None,
        };
        for (i, path) in ["/one", "/two"].into_iter().enumerate() {
            assert!(conn.is_reusable_idle(true), "connection {i} is fresh");
            let slot = Slot {
                conn: Some(conn),
                home: home.clone(),
            };
            let req = http::Request::get(format!("http://t{path}"))
                .body(())
                .unwrap();
            let (parts, ()) = req.into_parts();
            let (resp, head) = tokio::join!(send(slot, &parts, Body::empty(), &x), async {
                answer(&mut server, path).await
            });
            assert!(
                head.starts_with(&format!("GET {path} HTTP/1.1\r\n")),
                "{head}"
            );
            let resp = resp.expect("response");
            assert_eq!(resp.status(), http::StatusCode::OK);
            let body = resp.into_body().to_bytes(1024).await.unwrap();
            assert_eq!(&body[..], path.as_bytes());
            let (back, how) = home.lock().unwrap().take().expect("released");
            assert_eq!(how, Release::Keep { idle_hint: None });
            conn = back;
        }
        // The server says something nobody asked for: the idle connection is stale.
        server
            .write_all(b"HTTP/1.1 408 Request Timeout\r\n")
            .await
            .unwrap();
        tokio::task::yield_now().await;
        assert!(!conn.is_reusable_idle(false));
    }
}
