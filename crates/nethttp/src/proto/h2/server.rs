//! The server side of one HTTP/2 connection: the `h2` handshake (bounded by the read-header
//! timeout), a task per stream running the `Handler`, and the connection's own duties around
//! them: idle timeout, keepalive PINGs, the rapid-reset defence (CVE-2023-44487), connection
//! states, and GOAWAY on graceful shutdown.

use crate::conn::spans;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;
use tracing::Instrument;

use bytes::Bytes;
use h2::server::SendResponse;
use h2::{Reason, RecvStream};
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body::Body as _;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{watch, Notify};
use tokio::time::{sleep, Instant};

use super::budget::SendBudget;
use super::recv::{content_length, RecvBody};
use super::send::{self, PipeError};
use crate::body::Body;
use crate::conn::track::ConnEntry;
use crate::conn::{Attached, ConnEvents, ConnState, Phase};
use crate::handler::{text_response, CatchUnwind, Handler, HttpRequest, HttpResponse};
use crate::interim;
use crate::net::stall::WriteStall;
use crate::upgrade::{Pending, Upgraded};

/// HTTP/2 settings of a server, derived once from its config.
#[derive(Debug, Clone)]
pub(crate) struct H2Config {
    pub max_concurrent_streams: u32,
    pub max_header_list_size: u32,
    pub initial_stream_window: u32,
    pub initial_conn_window: u32,
    pub max_frame_size: u32,
    pub max_send_buffer: usize,
    /// Most response data (with its framing bookkeeping) queued on the connection for the
    /// client to read: the connection's send budget.
    pub conn_send_buffer: usize,
    /// Time for the client's preface and SETTINGS.
    pub handshake_timeout: Duration,
    pub idle_timeout: Duration,
    /// Time for a request body to arrive whole, from its head.
    pub read_timeout: Duration,
    pub min_body_rate: Option<crate::proto::rate::MinDataRate>,
    pub write_timeout: Duration,
    pub keepalive_interval: Option<Duration>,
    pub keepalive_timeout: Duration,
    pub max_body_bytes: Option<u64>,
    /// Answer `OPTIONS *` here instead of in the handler.
    pub options_asterisk: bool,
    /// Most streams the client may reset within `reset_window` before the connection is
    /// closed with ENHANCE_YOUR_CALM.
    pub max_resets: u32,
    pub reset_window: Duration,
    /// Told of each request refused before the handler.
    pub rejection_hook: Option<crate::conn::RejectionHookCfg>,
}

/// How long a connection with no stream open may linger after our GOAWAY.
const GOAWAY_GRACE: Duration = Duration::from_secs(1);

/// What the connection task and its stream tasks share.
struct Streams {
    /// Stream tasks running.
    active: AtomicUsize,
    /// Streams the client reset while their handler ran, in the current window.
    resets: AtomicU32,
    /// Streams that ended in the current window, reset or not.
    ended: AtomicU32,
    /// Signalled when the last running stream ends, and on every client reset.
    done: Notify,
    /// The response data the connection may hold queued for the client.
    budget: SendBudget,
    /// The connection's live record, when the server tracks its connections.
    track: Option<Arc<ConnEntry>>,
    /// The connection's span, parent of the streams', when a subscriber wants it.
    span: Option<tracing::Span>,
}

/// Decrements the running count when a stream task ends, however it ends.
struct StreamTask(Arc<Streams>, Option<StreamMeta>, Option<tracing::Span>);

/// A tracked stream's request, for its metrics when it is answered.
struct StreamMeta {
    method: http::Method,
    since: std::time::Instant,
}

impl StreamTask {
    /// The stream's response head, with `status`, is about to go out.
    fn answered(&self, status: StatusCode) {
        spans::status(self.2.as_ref(), status);
        if let (Some(entry), Some(meta)) = (&self.0.track, &self.1) {
            entry.stream_answered(&meta.method, meta.since, status);
        }
    }
}

impl Drop for StreamTask {
    fn drop(&mut self) {
        // The connection task needs waking only when it goes idle; a busy connection would
        // otherwise be polled once more per stream for nothing.
        if let Some(entry) = &self.0.track {
            entry.stream_ends();
        }
        self.0.ended.fetch_add(1, Ordering::Relaxed);
        if self.0.active.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.done.notify_one();
        }
    }
}

impl Streams {
    /// Whether the client's resets in the current window are abuse (rapid reset,
    /// CVE-2023-44487): more than `max`, and more than half of the streams that ended. A
    /// proxy carrying many clients' requests on this connection passes their cancellations
    /// on as resets, at a steady rate among its answered streams.
    fn resets_abusive(&self, max: u32) -> bool {
        let resets = self.resets.load(Ordering::Acquire);
        resets > max && resets.saturating_mul(2) > self.ended.load(Ordering::Acquire)
    }

    /// The client reset a stream while its handler ran: counted, and the connection task
    /// checks the rapid-reset limit.
    fn reset_by_client(&self) {
        if let Some(entry) = &self.track {
            entry.stream_reset();
        }
        self.resets.fetch_add(1, Ordering::AcqRel);
        self.done.notify_one();
    }
}

/// Serves one HTTP/2 connection until it closes. `stall` watches the socket under `io`: the
/// connection is closed once its writes have been blocked for the write timeout.
pub(crate) async fn serve<T, H>(
    io: T,
    stall: &WriteStall,
    handler: &Arc<H>,
    cfg: &Arc<H2Config>,
    events: &mut ConnEvents,
    mut phase: watch::Receiver<Phase>,
) where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    H: Handler,
{
    let mut builder = h2::server::Builder::new();
    builder
        .max_concurrent_streams(cfg.max_concurrent_streams)
        .max_header_list_size(cfg.max_header_list_size)
        .initial_window_size(cfg.initial_stream_window)
        .initial_connection_window_size(cfg.initial_conn_window)
        .max_frame_size(cfg.max_frame_size)
        .max_send_buffer_size(cfg.max_send_buffer)
        // Streams reset by the client before we accepted them (the first half of the rapid
        // reset attack) are bounded by h2 itself; the rest are counted below.
        .max_pending_accept_reset_streams(20)
        .max_local_error_reset_streams(Some(1024))
        // RFC 8441: extended CONNECT (`:protocol`), how WebSocket runs over HTTP/2.
        .enable_connect_protocol();
    let handshake = builder.handshake::<_, Bytes>(io);
    let mut conn = tokio::select! {
        biased;
        r = tokio::time::timeout(cfg.handshake_timeout, handshake) => match r {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "HTTP/2 handshake failed");
                return;
            }
            Err(_) => return,
        },
        _ = phase.wait_for(|p| *p == Phase::Closing) => return,
    };
    let streams = Arc::new(Streams {
        active: AtomicUsize::new(0),
        resets: AtomicU32::new(0),
        ended: AtomicU32::new(0),
        done: Notify::new(),
        budget: SendBudget::new(cfg.conn_send_buffer),
        track: events.track().map(|t| t.entry().clone()),
        span: events.span().cloned(),
    });
    let mut window_start = Instant::now();
    let mut ping = cfg.keepalive_interval.and_then(|_| conn.ping_pong());
    let interval = cfg.keepalive_interval.unwrap_or(Duration::from_secs(3600));
    let mut awaiting_pong = false;
    let mut ping_timer = std::pin::pin!(sleep(interval));
    let mut idle_timer = std::pin::pin!(sleep(cfg.idle_timeout));
    let mut idle = true;
    let mut draining = false;
    let mut calm_sent = false;
    // After our GOAWAY, a client with no stream open gets this long to answer h2's closing
    // PING before the connection is closed anyway (a vanished client never answers).
    let mut close_timer = std::pin::pin!(sleep(Duration::from_secs(3600)));
    // Looks at the connection's writes once per write timeout, and closes it when they have
    // been blocked that long: a client that stopped reading holds nothing past it.
    let mut stall_timer = std::pin::pin!(tokio::time::sleep_until(
        stall.next_check(cfg.write_timeout)
    ));
    if *phase.borrow_and_update() != Phase::Running {
        conn.graceful_shutdown();
        draining = true;
        close_timer.as_mut().reset(Instant::now() + GOAWAY_GRACE);
    }
    loop {
        tokio::select! {
            biased;
            accepted = conn.accept() => match accepted {
                Some(Ok((req, respond))) => {
                    streams.active.fetch_add(1, Ordering::AcqRel);
                    if idle {
                        idle = false;
                        events.set(ConnState::Active);
                    }
                    let meta = streams.track.as_ref().map(|entry| {
                        entry.stream_begins(req.method(), req.uri());
                        StreamMeta {
                            method: req.method().clone(),
                            since: std::time::Instant::now(),
                        }
                    });
                    let span = spans::request(
                        streams.span.as_ref(),
                        req.method(),
                        req.uri(),
                        http::Version::HTTP_2,
                    );
                    let task = StreamTask(streams.clone(), meta, span.clone());
                    // Boxed: tokio moves a task's future by value a few times while
                    // spawning it; a box makes each move a pointer copy. When it is large
                    // (the handler's future is in it: a proxy's), its memory is recycled per
                    // thread (`blocks::DynBox`).
                    let (handler, cfg, attached) = (handler.clone(), cfg.clone(), events.attached());
                    let remote = events.remote();
                    tokio::spawn(
                        crate::blocks::DynBox::new(|| {
                            stream_task(req, respond, handler, cfg, attached, remote, task)
                        })
                        .instrument(span.unwrap_or_else(tracing::Span::none)),
                    );
                }
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "HTTP/2 connection error");
                    break;
                }
                None => break,
            },
            _ = streams.done.notified() => {
                let now = Instant::now();
                if now.duration_since(window_start) > cfg.reset_window {
                    window_start = now;
                    streams.resets.store(0, Ordering::Release);
                    streams.ended.store(0, Ordering::Release);
                } else if streams.resets_abusive(cfg.max_resets) && !calm_sent {
                    if !draining {
                        // First a GOAWAY that lets the running streams finish: on a
                        // connection a proxy shares among its clients, they are other
                        // clients' requests. The client may open no more.
                        tracing::debug!("client reset most of its streams; GOAWAY");
                        conn.graceful_shutdown();
                        draining = true;
                        close_timer.as_mut().reset(Instant::now() + GOAWAY_GRACE);
                    } else if streams.resets.load(Ordering::Acquire)
                        > cfg.max_resets.saturating_mul(2)
                    {
                        // It goes on resetting after the GOAWAY (RFC 9113 §10.5).
                        tracing::debug!("client kept resetting streams; closing the connection");
                        conn.abrupt_shutdown(Reason::ENHANCE_YOUR_CALM);
                        calm_sent = true;
                    }
                }
                if streams.active.load(Ordering::Acquire) == 0 && !idle {
                    idle = true;
                    events.set(ConnState::Idle);
                    idle_timer.as_mut().reset(now + cfg.idle_timeout);
                }
            }
            _ = idle_timer.as_mut(), if idle && !draining => {
                if streams.active.load(Ordering::Acquire) == 0 {
                    tracing::debug!("HTTP/2 connection idle; sending GOAWAY");
                    conn.graceful_shutdown();
                    draining = true;
                    close_timer.as_mut().reset(Instant::now() + GOAWAY_GRACE);
                } else {
                    idle_timer.as_mut().reset(Instant::now() + cfg.idle_timeout);
                }
            }
            changed = phase.changed() => {
                let now = if changed.is_err() { Phase::Closing } else { *phase.borrow_and_update() };
                match now {
                    Phase::Closing => return,
                    Phase::Draining if !draining => {
                        conn.graceful_shutdown();
                        draining = true;
                        close_timer.as_mut().reset(Instant::now() + GOAWAY_GRACE);
                    }
                    _ => {}
                }
            }
            _ = close_timer.as_mut(), if draining => {
                if streams.active.load(Ordering::Acquire) == 0 {
                    tracing::debug!("no answer to GOAWAY; closing");
                    return;
                }
                // Streams still run: they finish first (server shutdown bounds them).
                close_timer.as_mut().reset(Instant::now() + GOAWAY_GRACE);
            }
            _ = stall_timer.as_mut() => {
                if stall.timed_out(cfg.write_timeout) {
                    tracing::debug!("HTTP/2 client read nothing within the write timeout; closing");
                    return;
                }
                stall_timer.as_mut().reset(stall.next_check(cfg.write_timeout));
            }
            _ = ping_timer.as_mut(), if ping.is_some() => {
                if awaiting_pong {
                    tracing::debug!("HTTP/2 keepalive PING unanswered; closing");
                    return;
                }
                if let Some(p) = ping.as_mut() {
                    if p.send_ping(h2::Ping::opaque()).is_err() {
                        return;
                    }
                }
                awaiting_pong = true;
                ping_timer.as_mut().reset(Instant::now() + cfg.keepalive_timeout);
            }
            pong = poll_fn(|cx| ping.as_mut().map_or(std::task::Poll::Pending, |p| p.poll_pong(cx))),
                if awaiting_pong =>
            {
                if pong.is_err() {
                    return;
                }
                awaiting_pong = false;
                ping_timer.as_mut().reset(Instant::now() + interval);
            }
        }
    }
    // Let the connection flush its GOAWAY or last frames before the socket closes.
    let _ = tokio::time::timeout(Duration::from_secs(1), poll_fn(|cx| conn.poll_closed(cx))).await;
}

/// One stream's task: run the handler (abandoned if the client resets the stream), then send
/// the response. The request is checked and turned into the handler's before the task starts,
/// and a response that does not fit the window at once is sent by a boxed future, so the task
/// holds little more than the handler's future: small enough (under 1 KiB with a ServeMux)
/// for the allocator's per-thread cache, where a multi-KB task takes its slow path.
fn stream_task<H: Handler>(
    req: Request<RecvStream>,
    mut respond: SendResponse<Bytes>,
    handler: Arc<H>,
    cfg: Arc<H2Config>,
    info: Option<Attached>,
    remote: Option<std::net::SocketAddr>,
    task: StreamTask,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    // `remote` is used here only, so the task's future does not carry it.
    let start = start_stream(req, &mut respond, &cfg, info, remote);
    async move {
        let (request, is_head, overflowed) = match start {
            Start::Done => return,
            Start::Answer(resp) => {
                task.answered(resp.status());
                finish(respond, resp, false, &cfg, &task.0).await;
                return;
            }
            Start::Call {
                request,
                is_head,
                overflowed,
                tunnel,
            } => {
                if let Some(tunnel) = tunnel {
                    // Boxed: only CONNECT streams carry this path's state.
                    Box::pin(connect_stream(request, respond, handler, tunnel)).await;
                    return;
                }
                (request, is_head, overflowed)
            }
        };
        let outcome = match call_handler(&*handler, request, &mut respond).await {
            Called::Returned(r) => r,
            Called::Reset(by_client) => {
                if by_client {
                    task.0.reset_by_client();
                }
                return;
            }
        };
        let resp = match outcome {
            Ok(_) if overflowed.is_some_and(|f| f.load(Ordering::Acquire)) => {
                text_response(StatusCode::PAYLOAD_TOO_LARGE, TOO_LARGE)
            }
            Ok(resp) => resp,
            Err(()) => {
                tracing::error!("handler panicked; answering 500");
                text_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    crate::handler::INTERNAL_ERROR_ANSWER,
                )
            }
        };
        task.answered(resp.status());
        finish(respond, resp, is_head, &cfg, &task.0).await;
    }
}

/// How a stream starts.
enum Start {
    /// Nothing more to do (the stream was reset).
    Done,
    /// Answered without the handler.
    Answer(HttpResponse),
    /// The handler's request; `overflowed` is set if a body of unknown length crossed the
    /// body limit while the handler read it.
    Call {
        request: HttpRequest,
        is_head: bool,
        overflowed: Option<Arc<AtomicBool>>,
        /// A `CONNECT` stream: its data, kept for the tunnel, and the upgrade to fulfil.
        tunnel: Option<(RecvStream, Pending)>,
    },
}

/// The body of a `413` for a request body over `max_body_bytes`.
const TOO_LARGE: &str = "request body too large\n";

/// Tells the rejection hook, if there is one, of a request refused before the handler, its
/// request line made from the pseudo-header fields.
fn reject(
    cfg: &H2Config,
    remote: Option<std::net::SocketAddr>,
    parts: &http::request::Parts,
    status: StatusCode,
    reason: &'static str,
    body_bytes: u64,
) {
    let Some(crate::conn::RejectionHookCfg(hook)) = &cfg.rejection_hook else {
        return;
    };
    let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let line = format!("{} {target} HTTP/2.0", parts.method);
    let line = &line.as_bytes()[..line.len().min(crate::conn::Rejection::MAX_LINE)];
    hook(&crate::conn::Rejection {
        remote,
        status,
        reason,
        request_line: line,
        body_bytes,
    });
}

/// Checks the request h2 accepted and builds the handler's request from it.
fn start_stream(
    req: Request<RecvStream>,
    respond: &mut SendResponse<Bytes>,
    cfg: &H2Config,
    info: Option<Attached>,
    remote: Option<std::net::SocketAddr>,
) -> Start {
    let (mut parts, recv) = req.into_parts();
    // h2 checks names and most of the rules of RFC 9113 §8.2; a value with leading or
    // trailing whitespace (§8.2.1) it lets through, and an authority with userinfo or a Host
    // naming another one (§8.3.1). Such a request is malformed: a stream error of type
    // PROTOCOL_ERROR.
    if parts
        .headers
        .values()
        .any(|v| has_outer_whitespace(v.as_bytes()))
        || !crate::proto::host::h2_authority_ok(&parts.uri, &parts.headers)
    {
        // Reset, not answered; told as the `400` HTTP/1.1 would have answered.
        reject(
            cfg,
            remote,
            &parts,
            StatusCode::BAD_REQUEST,
            "malformed HTTP/2 request",
            0,
        );
        respond.send_reset(Reason::PROTOCOL_ERROR);
        return Start::Done;
    }
    if cfg.options_asterisk && crate::handler::is_options_asterisk(&parts.method, &parts.uri) {
        return Start::Answer(crate::handler::options_asterisk_response());
    }
    if parts.method == Method::CONNECT {
        // RFC 9113 §8.5 (and RFC 8441 with `:protocol`): the stream's data is the tunnel's,
        // not a request body. The handler accepts with a 2xx and takes it by `upgrade::on`.
        let (pending, on_upgrade) = Pending::new();
        parts.extensions.insert(on_upgrade);
        if let Some(info) = info {
            info.insert_into(&mut parts.extensions);
        }
        return Start::Call {
            request: Request::from_parts(parts, Body::empty()),
            is_head: false,
            overflowed: None,
            tunnel: Some((recv, pending)),
        };
    }
    let is_head = parts.method == Method::HEAD;
    let length = content_length(&parts.headers);
    if let (Some(len), Some(max)) = (length, cfg.max_body_bytes) {
        if len > max {
            reject(
                cfg,
                remote,
                &parts,
                StatusCode::PAYLOAD_TOO_LARGE,
                TOO_LARGE.trim_end(),
                TOO_LARGE.len() as u64,
            );
            return Start::Answer(text_response(StatusCode::PAYLOAD_TOO_LARGE, TOO_LARGE));
        }
    }
    // A body of unknown length may cross the limit while the handler reads it; the answer
    // is then 413, as on HTTP/1.1. (A declared length is held to by h2 itself.)
    let mut overflowed = None;
    let body = if recv.is_end_stream() {
        Body::empty()
    } else {
        let mut body = RecvBody::new(recv, length, cfg.max_body_bytes, ()).with_request_deadline(
            tokio::time::Instant::now() + cfg.read_timeout,
            cfg.min_body_rate,
        );
        if length.is_none() && cfg.max_body_bytes.is_some() {
            let flag = Arc::new(AtomicBool::new(false));
            overflowed = Some(flag.clone());
            body = body.flag_overflow(flag);
        }
        Body::from_incoming(body)
    };
    if let Some(info) = info {
        info.insert_into(&mut parts.extensions);
    }
    Start::Call {
        request: Request::from_parts(parts, body),
        is_head,
        overflowed,
        tunnel: None,
    }
}

/// A `CONNECT` stream: the handler's answer, and on a 2xx the stream handed over as the
/// tunnel (the response head without END_STREAM, then the stream both ways). Any other
/// answer is sent as usual and the handler's `OnUpgrade` fails.
async fn connect_stream<H: Handler>(
    request: HttpRequest,
    mut respond: SendResponse<Bytes>,
    handler: Arc<H>,
    (recv, pending): (RecvStream, Pending),
) {
    let outcome = match call_handler(&*handler, request, &mut respond).await {
        Called::Returned(r) => r,
        Called::Reset(_) => return,
    };
    let resp = match outcome {
        Ok(resp) => resp,
        Err(()) => {
            tracing::error!("handler panicked; answering 500");
            text_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                crate::handler::INTERNAL_ERROR_ANSWER,
            )
        }
    };
    if !resp.status().is_success() {
        drop(pending);
        let (mut head, body) = resp.into_parts();
        send::strip_connection_headers(&mut head.headers);
        // A refusal with its body, if any, sent whole or not at all.
        let data = body.to_bytes(64 * 1024).await.unwrap_or_default();
        let empty = data.is_empty();
        if let Ok(mut send) = respond.send_response(Response::from_parts(head, ()), empty) {
            if !empty {
                let _ = send.send_data(data, true);
            }
        }
        return;
    }
    let (mut head, _body) = resp.into_parts();
    send::strip_connection_headers(&mut head.headers);
    // RFC 9113 §8.5: no content-length on the 2xx; the stream stays open.
    head.headers.remove(header::CONTENT_LENGTH);
    if !head.headers.contains_key(header::DATE) {
        head.headers
            .insert(header::DATE, crate::proto::date::date_value());
    }
    let send = match respond.send_response(Response::from_parts(head, ()), false) {
        Ok(send) => send,
        Err(e) => {
            tracing::debug!(error = %e, "sending the CONNECT answer failed");
            return;
        }
    };
    let upgraded = Upgraded::whole(Bytes::new(), super::tunnel::Tunnel::new(recv, send));
    if pending.fulfil(upgraded).is_err() {
        tracing::debug!("CONNECT answered but nobody took the stream; resetting it");
    }
}

/// How a handler's run on a stream ended.
enum Called {
    /// It returned (`Err`: it panicked).
    Returned(Result<HttpResponse, ()>),
    /// The stream was reset first (`true`: by the client) and the handler dropped.
    Reset(bool),
}

pin_project_lite::pin_project! {
    /// Runs the handler until it returns or the stream is reset, sending the interim (1xx)
    /// responses it queues ([`crate::interim`]) as HEADERS frames as they come, and any left
    /// when it returns before its final response. A struct rather than an `async fn`, so
    /// the stream task holds the handler's future once (not its request besides).
    struct CallHandler<'a, F> {
        #[pin]
        call: F,
        respond: &'a mut SendResponse<Bytes>,
        slot: Option<Arc<interim::Slot>>,
    }
}

fn call_handler<'a, H: Handler + ?Sized>(
    handler: &'a H,
    request: HttpRequest,
    respond: &'a mut SendResponse<Bytes>,
) -> CallHandler<'a, impl Future<Output = Result<HttpResponse, ()>> + Send + 'a> {
    CallHandler {
        call: CatchUnwind::new(handler.call(request)),
        respond,
        slot: None,
    }
}

impl<F: Future<Output = Result<HttpResponse, ()>>> Future for CallHandler<'_, F> {
    type Output = Called;

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Called> {
        let this = self.project();
        let mut call = this.call;
        let entered = interim::enter(this.slot);
        let polled = call.as_mut().poll(cx);
        drop(entered);
        if let Poll::Ready(r) = polled {
            if let Some(s) = this.slot.take() {
                if r.is_ok() {
                    send_interim(this.respond, &s);
                }
                s.close();
            }
            return Poll::Ready(Called::Returned(r));
        }
        if let Some(s) = this.slot.as_ref() {
            while s.queued_or_register(cx.waker()) {
                send_interim(this.respond, s);
            }
        }
        match this.respond.poll_reset(cx) {
            Poll::Ready(r) => {
                if let Some(s) = this.slot.take() {
                    s.close();
                }
                Poll::Ready(Called::Reset(r.is_ok()))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Sends the interim responses queued in `slot` on the stream.
fn send_interim(respond: &mut SendResponse<Bytes>, slot: &interim::Slot) {
    for (status, mut headers) in slot.take() {
        send::strip_connection_headers(&mut headers);
        headers.remove(header::CONTENT_LENGTH);
        let mut resp = Response::new(());
        *resp.status_mut() = status;
        *resp.headers_mut() = headers;
        if let Err(e) = respond.send_informational(resp) {
            tracing::debug!(error = %e, "sending an interim response failed");
        }
    }
    slot.mark_written();
}

/// Sends the response; a client reset on the way counts towards the rapid-reset limit.
async fn finish(
    respond: SendResponse<Bytes>,
    resp: HttpResponse,
    is_head: bool,
    cfg: &H2Config,
    streams: &Arc<Streams>,
) {
    let reason = match respond_with(respond, resp, is_head, cfg, streams) {
        Sending::Done(reason) => reason,
        Sending::Pending(rest) => rest.await,
    };
    if reason.is_some_and(|r| r != Reason::NO_ERROR) {
        streams.reset_by_client();
    }
}

fn has_outer_whitespace(v: &[u8]) -> bool {
    matches!(v.first(), Some(b' ' | b'\t')) || matches!(v.last(), Some(b' ' | b'\t'))
}

/// A response on its way: `Some(reason)` if the client reset the stream.
enum Sending {
    Done(Option<Reason>),
    /// The rest of the body, waiting for flow-control credit or for the body to produce it.
    Pending(Pin<Box<dyn std::future::Future<Output = Option<Reason>> + Send>>),
}

/// Sends the response head, and a body in memory at once when the peer's window has room
/// for it (the usual case); what must wait is left to the returned future.
fn respond_with(
    mut respond: SendResponse<Bytes>,
    resp: HttpResponse,
    is_head: bool,
    cfg: &H2Config,
    streams: &Arc<Streams>,
) -> Sending {
    let (mut head, mut body) = resp.into_parts();
    send::strip_connection_headers(&mut head.headers);
    if !head.headers.contains_key(header::DATE) {
        head.headers
            .insert(header::DATE, crate::proto::date::date_value());
    }
    let full = body.take_full();
    let exact = match &full {
        Some(b) => Some(b.len() as u64),
        None => body.size_hint().exact(),
    };
    // RFC 9110 §8.6: no length on a 1xx or 204, and on a 304 only the one a 200 would have
    // had, which an empty body does not tell: none is added to them.
    let bodiless = head.status.is_informational()
        || head.status == StatusCode::NO_CONTENT
        || head.status == StatusCode::NOT_MODIFIED;
    if let Some(n) = exact {
        if !is_head && !bodiless && !head.headers.contains_key(header::CONTENT_LENGTH) {
            head.headers
                .insert(header::CONTENT_LENGTH, HeaderValue::from(n));
        }
    }
    let empty = is_head || exact == Some(0);
    let mut send = match respond.send_response(Response::from_parts(head, ()), empty) {
        Ok(s) => s,
        Err(e) => {
            tracing::debug!(error = %e, "sending the response head failed");
            respond.send_reset(Reason::INTERNAL_ERROR);
            return Sending::Done(None);
        }
    };
    if empty {
        return Sending::Done(None);
    }
    let timeout = cfg.write_timeout;
    match full {
        Some(data) => match send::send_whole_now(&mut send, data) {
            Ok(None) => Sending::Done(None),
            Ok(Some(data)) => {
                let streams = streams.clone();
                Sending::Pending(Box::pin(async move {
                    sent(send::send_data(&mut send, data, true, &streams.budget, timeout).await)
                }))
            }
            Err(e) => Sending::Done(sent(Err(e))),
        },
        None => {
            let streams = streams.clone();
            Sending::Pending(Box::pin(async move {
                sent(send::pipe(body, &mut send, &streams.budget, timeout).await)
            }))
        }
    }
}

/// The reset reason of a body send, if the client reset the stream.
fn sent(result: Result<(), PipeError>) -> Option<Reason> {
    match result {
        Ok(()) => None,
        Err(PipeError::Reset(reason)) => Some(reason),
        Err(PipeError::Failed(e)) => {
            tracing::debug!(error = %e, "sending the response body failed");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ServeMux, Server};

    /// Every stream is a task holding this future; under the allocator's per-thread cache
    /// limit (1,032 bytes in glibc) its allocation is a few dozen instructions instead of
    /// the hundreds of the general path. A ServeMux handler, as `nethttp serve` runs.
    #[tokio::test]
    async fn stream_task_stays_small() {
        let (client_io, server_io) = tokio::io::duplex(64 * 1024);
        let client = tokio::spawn(async move {
            let (mut send, conn) = h2::client::handshake(client_io).await.unwrap();
            tokio::spawn(conn);
            let req = Request::get("http://localhost/").body(()).unwrap();
            let (_res, _) = send.send_request(req, true).unwrap();
            std::future::pending::<()>().await;
        });
        let mut conn = h2::server::handshake(server_io).await.unwrap();
        let (req, respond) = conn.accept().await.unwrap().unwrap();
        let cfg = Arc::new(Server::new().h2_config().unwrap());
        let streams = Arc::new(Streams {
            active: AtomicUsize::new(1),
            resets: AtomicU32::new(0),
            ended: AtomicU32::new(0),
            done: Notify::new(),
            budget: SendBudget::new(1 << 20),
            track: None,
            span: None,
        });
        let mut mux = ServeMux::new();
        mux.handle("GET /{$}", |_req: HttpRequest| async {
            text_response(StatusCode::OK, "hi")
        })
        .unwrap();
        let task = stream_task(
            req,
            respond,
            Arc::new(mux),
            cfg,
            None,
            None,
            StreamTask(streams, None, None),
        );
        let size = std::mem::size_of_val(&task);
        // 760 bytes; with the response's send path inline (as it was) about 1.9 KB.
        assert!(size <= 1000, "stream task future is {size} bytes");
        client.abort();
    }
}
