//! Access logs, as nginx's `access_log` writes them: one line per request once its response
//! is over, in nginx's `combined` format or as JSON, to a file (reopened on demand, for
//! `logrotate`) or any writer, by a thread of its own so that a request never waits on the
//! disk.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use nethttp::access_log::{AccessLog, Format};
//! use nethttp::http::StatusCode;
//! use nethttp::{text_response, HttpRequest, Server};
//!
//! let path = std::env::temp_dir().join(format!("nethttp-doc-{}.log", std::process::id()));
//! let log = AccessLog::file(&path)?.format(Format::Combined);
//! let app = |_req: HttpRequest| async { text_response(StatusCode::OK, "hi\n") };
//! // `conn_info(true)` gives the log the client's address.
//! // `rejection_hook` logs the requests the server refuses before the handler.
//! let server = Server::new().conn_info(true).rejection_hook(log.rejection_hook());
//! let handle = server.serve(server.bind("127.0.0.1:0".parse()?)?, log.handler(app));
//! nethttp::Client::new().get(format!("http://{}/x", handle.local_addr())).send().await?;
//! assert!(log.flush());
//! let written = std::fs::read_to_string(&path)?;
//! assert!(written.starts_with("127.0.0.1 - - ["), "{written}");
//! // Our client names itself in `User-Agent`.
//! assert!(written.contains("\"GET /x HTTP/1.1\" 200 3 \"-\" \"nethttp/"), "{written}");
//! # std::fs::remove_file(&path)?;
//! # Ok(()) }
//! ```
//!
//! When a line is written, and what its byte count is:
//!
//! - a body in memory (the common case) is logged when the handler returns it, with its
//!   length: the bytes are handed to the connection whole;
//! - a file body ([`Body::file`](crate::Body::file), the file servers) and a streamed body
//!   are logged when the connection is done with them, with the bytes it took: a client that
//!   went away halfway shows how far it got. A file keeps its `sendfile(2)` path.
//!
//! `HEAD`, `204` and `304` answers count 0 bytes. A handler that panics is logged with the
//! `500` the server answers for it; one dropped before it answers (the client closed the
//! connection, or reset the HTTP/2 stream) with nginx's `499` and 0 bytes. Requests the
//! server answers itself (a `400` for a malformed head, a `408`, a `431`) never reach a
//! handler: [`AccessLog::rejection_hook`] given to
//! [`Server::rejection_hook`](crate::Server::rejection_hook) logs them.
//!
//! Each thread writes its lines into a buffer of its own, which the log's thread writes out
//! whole about every millisecond (nginx's `buffer=`): a thread's lines keep their order, and
//! lines of different threads are in order to within that. At most 16 MiB of lines are held
//! for a disk that falls behind; past it lines are dropped and counted
//! ([`AccessLog::dropped`]).

mod line;
mod sink;

use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, StatusCode};
use http_body::{Frame, SizeHint};

pub use line::Format;
use line::Record;
use sink::Sink;

use crate::body::Body;
use crate::conn::Rejection;
use crate::error::Error;
use crate::handler::{poll_catching, Handler, HttpRequest, HttpResponse, INTERNAL_ERROR_ANSWER};

/// How long [`AccessLog::flush`] waits for the writer at most.
pub const FLUSH_WAIT: Duration = Duration::from_secs(5);

/// An access log: where lines go and how they look. Cheap to clone (clones share the
/// writer); the writer thread ends once every clone and every handler made from it is gone,
/// after writing what was queued.
#[derive(Clone)]
pub struct AccessLog {
    sink: Arc<Sink>,
    /// This value's own: a handler keeps the format of the log it was made from.
    format: Format,
}

impl std::fmt::Debug for AccessLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessLog")
            .field("format", &self.format)
            .field("dropped", &self.dropped())
            .finish()
    }
}

impl AccessLog {
    /// Appends lines to the file at `path`, created if missing. Fails if it cannot be
    /// opened for appending.
    pub fn file(path: impl AsRef<Path>) -> std::io::Result<AccessLog> {
        Ok(AccessLog::with_sink(Sink::file(path.as_ref())?))
    }

    /// Writes lines to `out`: standard output, a pipe to a log collector.
    pub fn writer(out: impl std::io::Write + Send + 'static) -> AccessLog {
        AccessLog::with_sink(Sink::writer(Box::new(out)))
    }

    fn with_sink(sink: Sink) -> AccessLog {
        AccessLog {
            sink: Arc::new(sink),
            format: Format::default(),
        }
    }

    /// The format of the lines of the handlers made from this value afterwards. Default:
    /// [`Format::Combined`]. (Handlers made before, and other clones, keep theirs.)
    pub fn format(mut self, format: Format) -> AccessLog {
        self.format = format;
        self
    }

    /// Wraps `handler` so each of its requests gets a line.
    pub fn handler<H: Handler>(&self, handler: H) -> AccessLogged<H> {
        AccessLogged {
            log: self.clone(),
            inner: handler,
        }
    }

    /// The hook that logs the requests a server refuses before any handler (a malformed
    /// head's `400`, a `408`, a `431`), for [`Server::rejection_hook`](crate::Server::rejection_hook):
    /// their request line as it came, escaped, stands for method, target and version, as
    /// in nginx's log. In JSON, `request` holds that line and `rejected` the reason.
    pub fn rejection_hook(&self) -> impl Fn(&Rejection<'_>) + Send + Sync + 'static {
        let log = self.clone();
        move |r| {
            log.sink
                .line(|out| line::write_rejection(out, log.format, r))
        }
    }

    /// Reopens the file at its path (after `logrotate` renamed it: nginx's `SIGUSR1`);
    /// lines logged before are written to the old one. A writer given to
    /// [`AccessLog::writer`] is kept. Never waits, so it may be called on the runtime: the
    /// writer reopens at its next round, even if it is behind.
    pub fn reopen(&self) {
        self.sink.reopen();
    }

    /// Waits until every line logged so far is written and flushed, for at most
    /// [`FLUSH_WAIT`] (a stuck disk must not hang an exit); `false` if they were not.
    /// (Lines are written within about a millisecond anyway, so this is for tests and for
    /// exit.) Blocks the thread: on a runtime, call it where blocking is allowed.
    pub fn flush(&self) -> bool {
        self.flush_timeout(FLUSH_WAIT)
    }

    /// [`AccessLog::flush`], waiting at most `wait`.
    pub fn flush_timeout(&self, wait: Duration) -> bool {
        self.sink.flush(wait)
    }

    /// Lines dropped because the writer fell behind (16 MiB of lines held).
    pub fn dropped(&self) -> u64 {
        self.sink.dropped()
    }

    fn write(&self, record: &Record, status: StatusCode, bytes: u64, since: Instant) {
        let took = since.elapsed();
        self.sink
            .line(|out| record.write(out, self.format, status.as_u16(), bytes, took));
    }
}

/// The handler [`AccessLog::handler`] returns.
#[derive(Clone, Debug)]
pub struct AccessLogged<H> {
    log: AccessLog,
    inner: H,
}

/// nginx's status for a request whose client went away before it was answered.
const CLIENT_CLOSED: u16 = 499;

impl<H: Handler> Handler for AccessLogged<H> {
    async fn call(&self, req: HttpRequest) -> HttpResponse {
        // Boxed: the handler's future is moved as it runs, and a pointer moves cheaper.
        let record = Box::new(Record::new(&req));
        let is_head = req.method() == Method::HEAD;
        // Logged with nginx's 499 if the handler is dropped before it answers: the
        // connection closed, the HTTP/2 stream was reset.
        let mut unanswered = Unanswered(Some(Pending {
            log: self.log.clone(),
            record,
            status: StatusCode::from_u16(CLIENT_CLOSED).expect("a status code"),
            since: Instant::now(),
        }));
        let mut handling = std::pin::pin!(self.inner.call(req));
        // A panic is caught to log the server's `500`, then resumed for the server to answer.
        let caught = std::future::poll_fn(|cx| poll_catching(handling.as_mut(), cx)).await;
        let mut pending = unanswered.0.take().expect("taken once");
        let mut resp = match caught {
            Ok(resp) => resp,
            Err(payload) => {
                pending.status = StatusCode::INTERNAL_SERVER_ERROR;
                pending.done(if is_head {
                    0
                } else {
                    INTERNAL_ERROR_ANSWER.len() as u64
                });
                std::panic::resume_unwind(payload)
            }
        };
        let status = resp.status();
        pending.status = status;
        let bodiless =
            is_head || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED;
        let body = resp.body_mut();
        if bodiless {
            pending.done(0);
        } else if body.is_buffered() {
            // In memory: handed to the connection whole.
            let n = http_body::Body::size_hint(&*body).exact().unwrap_or(0);
            pending.done(n);
        } else if let Some(file) = body.file_body_mut() {
            let total = http_body::Body::size_hint(&*file).exact().unwrap_or(0);
            file.on_drop(Box::new(move |left| pending.done(total - left.min(total))));
        } else {
            let inner = std::mem::take(body);
            *body = Body::from_incoming(Counted {
                inner,
                taken: 0,
                pending: Some(pending),
            });
        }
        resp
    }
}

/// A request's line, waiting for its response's end.
struct Pending {
    log: AccessLog,
    record: Box<Record>,
    status: StatusCode,
    since: Instant,
}

impl Pending {
    fn done(self, bytes: u64) {
        self.log.write(&self.record, self.status, bytes, self.since);
    }
}

/// A request's line while its handler runs: written with no bytes if the handler is dropped
/// before it answers.
struct Unanswered(Option<Pending>);

impl Drop for Unanswered {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            p.done(0);
        }
    }
}

/// A streamed body that counts what the connection takes of it and writes the line when it
/// ends or is dropped.
struct Counted {
    inner: Body,
    taken: u64,
    pending: Option<Pending>,
}

impl http_body::Body for Counted {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.taken += data.len() as u64;
                }
            }
            Poll::Ready(None) => {
                if let Some(p) = this.pending.take() {
                    p.done(this.taken);
                }
            }
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        if let Some(p) = self.pending.take() {
            p.done(self.taken);
        }
    }
}
