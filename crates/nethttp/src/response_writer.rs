//! A streaming response writer, Go's `ResponseWriter` + `Flusher` for a body produced bit by
//! bit (server-sent events, long reports, progress): `write` buffers, `flush` hands what is
//! buffered to the connection now, trailers go out at the end. The writer and the response
//! body share one bounded buffer, so a slow client makes `write` wait instead of memory grow.
//!
//! Two shapes: [`ResponseWriter::stream`] returns a response whose body runs your writing
//! code as the connection asks for bytes (no task to spawn; a client that goes away drops it),
//! and [`ResponseWriter::new`] returns the writer and the response apart, for writing from a
//! task of your own.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use nethttp::http::HeaderValue;
//! use nethttp::response_writer::{sse_event, ResponseWriter};
//! use nethttp::{HttpRequest, ServeMux, Server};
//!
//! let mux = ServeMux::new().route("GET /events", |_req: HttpRequest| async {
//!     let mut resp = ResponseWriter::stream(|mut w| async move {
//!         for i in 0..3 {
//!             w.write(sse_event("tick", &i.to_string())).await?;
//!             w.flush().await?; // each event reaches the client now
//!         }
//!         w.set_trailer("x-events", HeaderValue::from_static("3"));
//!         Ok(())
//!     });
//!     resp.headers_mut().insert("content-type", HeaderValue::from_static("text/event-stream"));
//!     resp
//! });
//! let server = Server::new();
//! let handle = server.serve(server.bind("127.0.0.1:0".parse()?)?, mux);
//! # let url = format!("http://{}/events", handle.local_addr());
//! # let text = nethttp::Client::new().get(&url).send().await?.into_body().to_bytes(1024).await?;
//! # assert_eq!(text, "event: tick\ndata: 0\n\nevent: tick\ndata: 1\n\nevent: tick\ndata: 2\n\n");
//! # handle.shutdown(std::time::Duration::from_secs(1)).await;
//! # Ok(()) }
//! ```

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use bytes::{Bytes, BytesMut};
use http::header::IntoHeaderName;
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use http_body::{Frame, SizeHint};

use crate::body::Body;
use crate::error::{Error, Kind};
use crate::handler::HttpResponse;

/// How many bytes a writer buffers before `write` hands them to the connection and waits,
/// unless [`ResponseWriter::with_capacity`] says otherwise.
pub const DEFAULT_CAPACITY: usize = 16 * 1024;

/// The writing half of a streamed response. See the [module](self) for the two ways to get
/// one.
///
/// Memory is bounded by the buffer's capacity: `write` copies into it and, when it is full,
/// waits until the connection has taken it (which it does as the socket accepts bytes), so a
/// client that reads slowly or not at all makes the writer wait; one that never reads is cut
/// by the server's `write_timeout`, and `write` then fails. Every method fails once the
/// response body was dropped (the client went away, the connection closed).
///
/// Ending: [`finish`](Self::finish), or dropping the writer, ends the body after what is
/// buffered and the trailers set. A writer dropped while its thread panics, or by
/// [`abort`](Self::abort), cuts the body short instead, so the client cannot take a partial
/// body for a whole one (HTTP/1.1: no last chunk and the connection closes; HTTP/2: the
/// stream is reset).
#[derive(Debug)]
pub struct ResponseWriter {
    shared: Arc<Shared>,
    trailers: Option<HeaderMap>,
    ended: bool,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    capacity: usize,
}

#[derive(Debug)]
struct State {
    buf: BytesMut,
    /// The writer asked for the buffer to go out now (a flush, the end).
    push: bool,
    end: End,
    /// The response body was dropped: nobody will take the bytes.
    reader_gone: bool,
    reader: Option<Waker>,
    writer: Option<Waker>,
}

#[derive(Debug)]
enum End {
    Open,
    /// Finished; the trailers still to send, if any.
    Finished(Option<HeaderMap>),
    /// Cut short; the error not yet reported to the body's reader.
    Aborted(Option<Error>),
    /// The body's reader has seen the end.
    Done,
}

fn gone() -> Error {
    Error::new(
        Kind::Shutdown,
        "response body dropped: the client went away",
    )
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The lock is held for a few field updates and never across user code, so a poisoned
        // lock can only come from a panic inside those; the state is still consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl State {
    fn wake_reader(&mut self) {
        if let Some(w) = self.reader.take() {
            w.wake();
        }
    }

    fn wake_writer(&mut self) {
        if let Some(w) = self.writer.take() {
            w.wake();
        }
    }
}

impl ResponseWriter {
    /// A writer and the `status` response whose body it writes, with a buffer of
    /// [`DEFAULT_CAPACITY`] bytes. Return the response from the handler (set headers on it
    /// first) and write from a task of your own; the head goes out as soon as the handler
    /// returns, the body as the writer flushes or fills its buffer.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use nethttp::http::StatusCode;
    /// use nethttp::response_writer::ResponseWriter;
    ///
    /// let (mut w, resp) = ResponseWriter::new(StatusCode::OK);
    /// tokio::spawn(async move {
    ///     w.write("part one, ").await?;
    ///     w.write(b"part two").await?;
    ///     w.finish().await
    /// });
    /// assert_eq!(resp.into_body().to_bytes(64).await.unwrap(), "part one, part two");
    /// # }
    /// ```
    pub fn new(status: StatusCode) -> (ResponseWriter, HttpResponse) {
        ResponseWriter::with_capacity(status, DEFAULT_CAPACITY)
    }

    /// As [`new`](Self::new), buffering at most `capacity` bytes (at least 1).
    pub fn with_capacity(status: StatusCode, capacity: usize) -> (ResponseWriter, HttpResponse) {
        let (writer, body) = pair(capacity);
        let mut resp = Response::new(Body::from_incoming(body));
        *resp.status_mut() = status;
        (writer, resp)
    }

    /// A `200 OK` response whose body is written by `write`, run as the connection reads the
    /// body: nothing is spawned, and a client that goes away drops `write`'s future where it
    /// waits. The body ends when `write` returns `Ok` (after what it buffered and the
    /// trailers it set); an `Err` cuts the body short. Change the status and add headers on
    /// the returned response.
    ///
    /// `write` is a closure taking the writer by value and returning its future, as
    /// `|mut w| async move { ...; Ok(()) }`; the writer it drops at the end ends the body.
    /// The server's write timeout bounds it while it writes to a stalled client, not while it
    /// waits for its own data: `write` may run for as long as the client stays.
    pub fn stream<F, Fut>(write: F) -> HttpResponse
    where
        F: FnOnce(ResponseWriter) -> Fut,
        Fut: Future<Output = Result<(), Error>> + Send + 'static,
    {
        let (writer, mut body) = pair(DEFAULT_CAPACITY);
        let shared = body.shared.clone();
        let fut = write(writer);
        body.producer = Some(Box::pin(async move {
            if let Err(e) = fut.await {
                // The writer is gone with the future; the error reaches the body's reader,
                // which cuts the response short.
                let mut st = shared.lock();
                if !matches!(st.end, End::Done) {
                    st.buf.clear();
                    st.end = End::Aborted(Some(e));
                    st.wake_reader();
                }
            }
        }));
        Response::new(Body::from_incoming(body))
    }

    /// Appends `data` to the buffer. When the buffer fills, its bytes are handed to the
    /// connection and this waits until it took them (backpressure); a short write waits for
    /// nothing. Fails once the client went away.
    pub async fn write(&mut self, data: impl AsRef<[u8]>) -> Result<(), Error> {
        let mut data = data.as_ref();
        while !data.is_empty() {
            let n = poll_fn(|cx| {
                let mut st = self.shared.lock();
                if st.reader_gone {
                    return Poll::Ready(Err(gone()));
                }
                let room = self.shared.capacity.saturating_sub(st.buf.len());
                if room == 0 {
                    st.writer = Some(cx.waker().clone());
                    st.wake_reader();
                    return Poll::Pending;
                }
                let n = room.min(data.len());
                st.buf.extend_from_slice(&data[..n]);
                if st.buf.len() >= self.shared.capacity {
                    st.wake_reader();
                }
                Poll::Ready(Ok(n))
            })
            .await?;
            data = &data[n..];
        }
        Ok(())
    }

    /// Hands what is buffered to the connection now and waits until it took it: the bytes
    /// are then the connection's to write (it writes at once when the socket has room).
    /// Server-sent events flush after each event.
    pub async fn flush(&mut self) -> Result<(), Error> {
        poll_fn(|cx| {
            let mut st = self.shared.lock();
            if st.reader_gone {
                return Poll::Ready(Err(gone()));
            }
            if st.buf.is_empty() {
                st.push = false;
                return Poll::Ready(Ok(()));
            }
            st.push = true;
            st.writer = Some(cx.waker().clone());
            st.wake_reader();
            Poll::Pending
        })
        .await
    }

    /// Sets a trailer field, sent after the body (HTTP/1.1 chunked, HTTP/2 HEADERS). Fields
    /// that must not be trailers (framing, routing, authentication, `Set-Cookie`, ...: RFC
    /// 9110 §6.5.1) are dropped by the server. Announcing them in a `Trailer` response header
    /// is up to you (RFC 9110 §6.6.2).
    pub fn set_trailer(&mut self, name: impl IntoHeaderName, value: HeaderValue) {
        self.trailers
            .get_or_insert_with(HeaderMap::new)
            .insert(name, value);
    }

    /// The trailers set so far, to change or remove.
    pub fn trailers_mut(&mut self) -> &mut HeaderMap {
        self.trailers.get_or_insert_with(HeaderMap::new)
    }

    /// Ends the body after what is buffered and the trailers, and waits until the connection
    /// took all of it: `Ok` means the whole body was handed over. Dropping the writer ends
    /// the body the same way without waiting.
    pub async fn finish(mut self) -> Result<(), Error> {
        self.end(false);
        poll_fn(|cx| {
            let mut st = self.shared.lock();
            if matches!(st.end, End::Done) {
                return Poll::Ready(Ok(()));
            }
            if st.reader_gone {
                return Poll::Ready(Err(gone()));
            }
            st.writer = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }

    /// Cuts the body short: what is buffered is discarded and the client sees an incomplete
    /// response, not a shorter whole one.
    pub fn abort(mut self) {
        self.end(true);
    }

    fn end(&mut self, abort: bool) {
        if self.ended {
            return;
        }
        self.ended = true;
        let mut st = self.shared.lock();
        if abort {
            st.buf.clear();
            st.end = End::Aborted(Some(Error::new(Kind::Body, "response writer aborted")));
        } else {
            st.end = End::Finished(self.trailers.take());
            st.push = true;
        }
        st.wake_reader();
    }
}

impl Drop for ResponseWriter {
    fn drop(&mut self) {
        self.end(std::thread::panicking());
    }
}

/// The response body a [`ResponseWriter`] feeds; with [`ResponseWriter::stream`], it also
/// runs the code that writes.
struct WriterBody {
    shared: Arc<Shared>,
    producer: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
}

fn pair(capacity: usize) -> (ResponseWriter, WriterBody) {
    let capacity = capacity.max(1);
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            buf: BytesMut::new(),
            push: false,
            end: End::Open,
            reader_gone: false,
            reader: None,
            writer: None,
        }),
        capacity,
    });
    (
        ResponseWriter {
            shared: shared.clone(),
            trailers: None,
            ended: false,
        },
        WriterBody {
            shared,
            producer: None,
        },
    )
}

impl http_body::Body for WriterBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        // The writing code runs first (outside the lock), so what it writes now is taken now.
        if let Some(producer) = self.producer.as_mut() {
            if producer.as_mut().poll(cx).is_ready() {
                self.producer = None;
            }
        }
        let capacity = self.shared.capacity;
        let mut st = self.shared.lock();
        let ending = !matches!(st.end, End::Open);
        if !st.buf.is_empty() && (st.push || ending || st.buf.len() >= capacity) {
            // The buffer goes out whole, and the next one starts empty: at most one
            // buffer's worth is held here and one by the connection.
            let data = st.buf.split().freeze();
            st.buf = BytesMut::new();
            st.push = false;
            st.wake_writer();
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        match &mut st.end {
            End::Open => {
                st.reader = Some(cx.waker().clone());
                Poll::Pending
            }
            End::Finished(trailers) => {
                let trailers = trailers.take();
                st.end = End::Done;
                st.wake_writer();
                Poll::Ready(trailers.map(|t| Ok(Frame::trailers(t))))
            }
            End::Aborted(err) => match err.take() {
                Some(e) => Poll::Ready(Some(Err(e))),
                None => Poll::Ready(None),
            },
            End::Done => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        let st = self.shared.lock();
        matches!(st.end, End::Done) || (matches!(st.end, End::Finished(None)) && st.buf.is_empty())
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

impl Drop for WriterBody {
    fn drop(&mut self) {
        // The producer goes first: a writer it holds then ends without waiting for us.
        self.producer = None;
        let mut st = self.shared.lock();
        st.reader_gone = true;
        st.wake_writer();
    }
}

/// One server-sent event (the HTML standard's `text/event-stream`): an `event:` line unless
/// `event` is empty, a `data:` line per line of `data` (split on `\n`, `\r\n` and `\r`), and
/// the blank line that ends it. Write it, then flush.
///
/// ```
/// use nethttp::response_writer::sse_event;
/// assert_eq!(sse_event("update", "a\nb"), "event: update\ndata: a\ndata: b\n\n");
/// assert_eq!(sse_event("", ""), "data: \n\n");
/// ```
pub fn sse_event(event: &str, data: &str) -> String {
    let mut out = String::with_capacity(event.len() + data.len() + 16);
    if !event.is_empty() {
        // A line break would end the field early and start another.
        out.push_str("event: ");
        out.extend(event.chars().filter(|c| *c != '\n' && *c != '\r'));
        out.push('\n');
    }
    for line in split_lines(data) {
        out.push_str("data: ");
        out.push_str(line);
        out.push('\n');
    }
    out.push('\n');
    out
}

/// `data` split on `\r\n`, `\n` and `\r` (the event stream's line ends); one empty line for
/// empty data.
fn split_lines(data: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(data);
    std::iter::from_fn(move || {
        let s = rest?;
        match s.find(['\r', '\n']) {
            Some(i) => {
                let skip = if s[i..].starts_with("\r\n") { 2 } else { 1 };
                rest = Some(&s[i + skip..]);
                Some(&s[..i])
            }
            None => {
                rest = None;
                Some(s)
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body::Body as _;

    async fn next(body: &mut Body) -> Option<Result<Frame<Bytes>, Error>> {
        poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx)).await
    }

    #[test]
    fn sse_lines() {
        assert_eq!(
            sse_event("", "a\r\nb\rc\nd"),
            "data: a\ndata: b\ndata: c\ndata: d\n\n"
        );
        assert_eq!(sse_event("x\ny", "z\n"), "event: xy\ndata: z\ndata: \n\n");
    }

    #[tokio::test]
    async fn writes_wait_for_a_full_buffer_to_be_taken() {
        let (mut w, resp) = ResponseWriter::with_capacity(StatusCode::OK, 4);
        let mut body = resp.into_body();
        // Fits: returns at once, nothing handed over yet.
        w.write("abc").await.unwrap();
        // Crosses: the first 4 bytes go, the writer waits for the reader.
        let mut write = Box::pin(w.write("defgh"));
        assert!(futures_poll(&mut write).is_pending());
        let f = next(&mut body).await.unwrap().unwrap();
        assert_eq!(f.into_data().unwrap(), "abcd");
        assert!(futures_poll(&mut write).is_ready());
        drop(write);
        w.set_trailer("x-n", HeaderValue::from_static("2"));
        drop(w);
        let f = next(&mut body).await.unwrap().unwrap();
        assert_eq!(f.into_data().unwrap(), "efgh");
        let f = next(&mut body).await.unwrap().unwrap();
        assert_eq!(f.into_trailers().unwrap()["x-n"], "2");
        assert!(next(&mut body).await.is_none());
    }

    #[tokio::test]
    async fn a_dropped_body_fails_the_writer_and_abort_cuts_the_body() {
        let (mut w, resp) = ResponseWriter::new(StatusCode::OK);
        drop(resp);
        assert_eq!(w.write("x").await.unwrap_err().kind(), Kind::Shutdown);

        let (mut w, resp) = ResponseWriter::new(StatusCode::OK);
        w.write("partial").await.unwrap();
        w.abort();
        assert!(resp.into_body().to_bytes(64).await.is_err());
    }

    #[tokio::test]
    async fn stream_runs_the_writer_as_the_body_is_read() {
        let resp = ResponseWriter::stream(|mut w| async move {
            w.write("one ").await?;
            w.flush().await?;
            w.write("two").await
        });
        assert!(!resp.body().is_end_stream());
        assert_eq!(resp.into_body().to_bytes(64).await.unwrap(), "one two");

        let resp = ResponseWriter::stream(|mut w| async move {
            w.write("one ").await?;
            Err(Error::user("disk on fire"))
        });
        assert!(resp.into_body().to_bytes(64).await.is_err());
    }

    fn futures_poll<F: Future + Unpin>(f: &mut F) -> Poll<F::Output> {
        let mut cx = Context::from_waker(Waker::noop());
        Pin::new(f).poll(&mut cx)
    }
}
