//! The one `Body` type for requests and responses: empty, a full buffer, or a stream of frames
//! (a request body arriving from a socket, a handler's channel, any `http_body::Body`).
//!
//! `Body` implements [`http_body::Body`], so it moves freely between nethttp, hyper and tower.
//! A request body read from the network is a stream whose errors are [`crate::Error`]s
//! (timeouts, limits, a peer that went away). A body read from a file (`file`) is a variant of
//! its own, so the HTTP/1.1 connection can send it with `sendfile(2)`.

pub(crate) mod file;

use std::any::Any;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http::HeaderMap;
use http_body::{Frame, SizeHint};
use tokio::sync::mpsc;

use crate::error::{BoxError, Error, Kind};
use file::{FileBody, Segment};

type BoxBody = Pin<Box<dyn http_body::Body<Data = Bytes, Error = Error> + Send + 'static>>;

/// A request or response body: empty, whole bytes, a stream fed through a bounded channel
/// ([`Body::channel`]), or any `http_body::Body` ([`Body::wrap`]). It implements
/// `http_body::Body`, so tower and hyper code reads it as theirs.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), nethttp::Error> {
/// use nethttp::Body;
///
/// // Whole bytes, from a string, bytes or a vector.
/// let body = Body::from("hello");
/// assert_eq!(body.to_bytes(1024).await?, "hello");
///
/// // Streamed: a producer task sends chunks; the channel holds at most 2 before it waits.
/// let (tx, body) = Body::channel(2);
/// tokio::spawn(async move {
///     for chunk in ["a", "b", "c"] {
///         if tx.send_data(chunk).await.is_err() {
///             return; // the reader went away
///         }
///     }
/// });
/// assert_eq!(body.to_bytes(1024).await?, "abc");
///
/// // A limit is an error, not a truncation.
/// assert!(Body::from("too long").to_bytes(3).await.is_err());
/// # Ok(()) }
/// ```
pub struct Body {
    inner: Inner,
}

enum Inner {
    Empty,
    Full(Bytes),
    Channel(mpsc::Receiver<Result<Frame<Bytes>, Error>>),
    Boxed(BoxBody),
    /// Boxed: a file body is rare next to the bodies above, and the `Body` stays small.
    File(Box<FileBody>),
}

impl Body {
    /// A body with no bytes.
    pub const fn empty() -> Body {
        Body {
            inner: Inner::Empty,
        }
    }

    /// Wraps any `http_body::Body` whose data is `Bytes`. A `Body` given here is returned as
    /// it is, not boxed again.
    pub fn wrap<B>(body: B) -> Body
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let mut slot = Some(body);
        if let Some(ours) = (&mut slot as &mut dyn Any).downcast_mut::<Option<Body>>() {
            if let Some(ours) = ours.take() {
                return ours;
            }
        }
        let Some(body) = slot else {
            return Body::empty();
        };
        Body {
            inner: Inner::Boxed(Box::pin(MapErr(body))),
        }
    }

    /// `len` bytes of `file` from `offset`. Over HTTP/1.1 on a TCP or Unix socket the
    /// connection sends them with `sendfile(2)`, from the page cache to the socket without a
    /// copy through user space (as nginx and Go do); elsewhere (TLS, HTTP/2, other IO) they are
    /// read 64 KiB at a time. The length is promised up front (it becomes the
    /// `Content-Length`): if the file turns out shorter, the response fails and its connection
    /// closes rather than end short.
    ///
    /// ```no_run
    /// # fn f() -> std::io::Result<nethttp::HttpResponse> {
    /// let file = std::fs::File::open("video.mp4")?;
    /// let len = file.metadata()?.len();
    /// Ok(nethttp::HttpResponse::new(nethttp::Body::file(file, 0, len)))
    /// # }
    /// ```
    pub fn file(file: std::fs::File, offset: u64, len: u64) -> Body {
        Body::from_file_body(FileBody::new(file, vec![Segment::File { offset, len }]))
    }

    pub(crate) fn from_file_body(body: FileBody) -> Body {
        Body {
            inner: Inner::File(Box::new(body)),
        }
    }

    /// The file this body sends, if it is one.
    pub(crate) fn file_body_mut(&mut self) -> Option<&mut FileBody> {
        match &mut self.inner {
            Inner::File(f) => Some(f),
            _ => None,
        }
    }

    /// Wraps a body whose errors are already ours, without re-wrapping them.
    pub(crate) fn from_incoming<B>(body: B) -> Body
    where
        B: http_body::Body<Data = Bytes, Error = Error> + Send + 'static,
    {
        Body {
            inner: Inner::Boxed(Box::pin(body)),
        }
    }

    /// A streaming body fed through a [`BodySender`]. The channel holds at most `capacity`
    /// frames (at least 1), so a producer faster than the network waits instead of buffering
    /// without bound.
    pub fn channel(capacity: usize) -> (BodySender, Body) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        (
            BodySender { tx },
            Body {
                inner: Inner::Channel(rx),
            },
        )
    }

    /// Reads the whole body into one buffer, failing with [`Kind::BodyTooLarge`] past `limit`
    /// bytes. Trailers are discarded. A body whose declared length (`Content-Length`) is over
    /// `limit` fails at once, before a byte is read.
    pub async fn to_bytes(mut self, limit: usize) -> Result<Bytes, Error> {
        use http_body::Body as _;
        if self.size_hint().lower() > limit as u64 {
            return Err(Error::new(
                Kind::BodyTooLarge,
                "body exceeds the read limit",
            ));
        }
        if let Inner::Full(b) = &mut self.inner {
            if b.len() > limit {
                return Err(Error::new(
                    Kind::BodyTooLarge,
                    "body exceeds the read limit",
                ));
            }
            return Ok(std::mem::take(b));
        }
        // One data frame is returned as is; only a multi-frame body is copied into one buffer.
        let mut single: Option<Bytes> = None;
        let mut acc = BytesMut::new();
        let mut total = 0usize;
        while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut self).poll_frame(cx)).await
        {
            let Ok(data) = frame?.into_data() else {
                continue;
            };
            total += data.len();
            if total > limit {
                return Err(Error::new(
                    Kind::BodyTooLarge,
                    "body exceeds the read limit",
                ));
            }
            if let Some(prev) = single.take() {
                acc.extend_from_slice(&prev);
            }
            if acc.is_empty() {
                single = Some(data);
            } else {
                acc.extend_from_slice(&data);
            }
        }
        Ok(single.unwrap_or_else(|| acc.freeze()))
    }
}

/// Reading a body whole, as text or JSON, or chunk by chunk. Each whole read takes a limit:
/// past it the read fails with [`Error::is_body_too_large`] (a handler returning the error
/// answers `413`), and malformed content fails with [`Error::is_decode`] (`400`).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), nethttp::Error> {
/// use nethttp::Body;
///
/// assert_eq!(Body::from("héllo").text(64).await?, "héllo");
/// assert!(Body::from(vec![0xff, 0xfe]).text(64).await.unwrap_err().is_decode());
/// # #[cfg(feature = "json")] {
/// let v: Vec<u32> = Body::from("[1, 2]").json(64).await?;
/// assert_eq!(v, [1, 2]);
/// # }
///
/// // Chunk by chunk, as the bytes arrive; `None` at the end.
/// let (tx, mut body) = Body::channel(2);
/// tokio::spawn(async move {
///     let _ = tx.send_data("ab").await;
///     let _ = tx.send_data("cd").await;
/// });
/// let mut total = 0;
/// while let Some(chunk) = body.chunk().await {
///     total += chunk?.len();
/// }
/// assert_eq!(total, 4);
/// # Ok(()) }
/// ```
impl Body {
    /// The whole body, at most `limit` bytes: the same as [`Body::to_bytes`].
    pub async fn bytes(self, limit: usize) -> Result<Bytes, Error> {
        self.to_bytes(limit).await
    }

    /// The whole body as UTF-8 text, at most `limit` bytes; [`Kind::Decode`] if it is not
    /// UTF-8.
    pub async fn text(self, limit: usize) -> Result<String, Error> {
        let bytes = self.to_bytes(limit).await?;
        match std::str::from_utf8(&bytes) {
            Ok(s) => Ok(s.to_owned()),
            Err(e) => Err(Error::with_cause(
                Kind::Decode,
                "body is not valid UTF-8",
                e,
            )),
        }
    }

    /// The whole body, at most `limit` bytes, parsed as JSON into `T`; [`Kind::Decode`]
    /// with serde_json's reason (line and column) if it is not JSON or not a `T`.
    #[cfg(feature = "json")]
    pub async fn json<T: serde::de::DeserializeOwned>(self, limit: usize) -> Result<T, Error> {
        let bytes = self.to_bytes(limit).await?;
        serde_json::from_slice(&bytes)
            .map_err(|e| Error::with_cause(Kind::Decode, "body is not the JSON expected", e))
    }

    /// The next chunk of data as it arrives, `None` at the end (trailers are skipped): a
    /// body streamed without buffering it and without another crate. No limit applies
    /// beyond the server's own (`max_body_bytes`): count what you keep.
    pub async fn chunk(&mut self) -> Option<Result<Bytes, Error>> {
        use http_body::Body as _;
        loop {
            let frame = std::future::poll_fn(|cx| Pin::new(&mut *self).poll_frame(cx)).await?;
            match frame {
                Err(e) => return Some(Err(e)),
                Ok(frame) => {
                    if let Ok(data) = frame.into_data() {
                        return Some(Ok(data));
                    }
                }
            }
        }
    }
}

impl Body {
    /// A copy of a body held in memory (empty or one buffer; the bytes are shared, not
    /// copied), so a request can be sent again — on a retry or a 307/308 redirect. `None` for
    /// a streaming body, which can be read only once.
    pub fn try_clone(&self) -> Option<Body> {
        match &self.inner {
            Inner::Empty => Some(Body::empty()),
            Inner::Full(b) => Some(Body {
                inner: Inner::Full(b.clone()),
            }),
            _ => None,
        }
    }

    /// Whether the body is empty or one buffer in memory (what [`Body::try_clone`] copies).
    pub(crate) fn is_buffered(&self) -> bool {
        matches!(self.inner, Inner::Empty | Inner::Full(_))
    }

    /// Takes the bytes of a body that is one buffer already in memory, leaving it empty;
    /// `None` for any other kind. Lets the connection skip the frame-polling machinery.
    pub(crate) fn take_full(&mut self) -> Option<Bytes> {
        match std::mem::replace(&mut self.inner, Inner::Empty) {
            Inner::Full(b) => Some(b),
            Inner::Empty => Some(Bytes::new()),
            other => {
                self.inner = other;
                None
            }
        }
    }
}

impl Default for Body {
    fn default() -> Self {
        Body::empty()
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            Inner::Empty => f.write_str("Body(Empty)"),
            Inner::Full(b) => write!(f, "Body(Full, {} bytes)", b.len()),
            Inner::Channel(_) => f.write_str("Body(Channel)"),
            Inner::Boxed(_) => f.write_str("Body(Stream)"),
            Inner::File(b) => write!(
                f,
                "Body(File, {} bytes)",
                http_body::Body::size_hint(&**b).lower()
            ),
        }
    }
}

impl From<Bytes> for Body {
    fn from(b: Bytes) -> Body {
        if b.is_empty() {
            Body::empty()
        } else {
            Body {
                inner: Inner::Full(b),
            }
        }
    }
}

impl From<Vec<u8>> for Body {
    fn from(v: Vec<u8>) -> Body {
        Body::from(Bytes::from(v))
    }
}

impl From<String> for Body {
    fn from(s: String) -> Body {
        Body::from(Bytes::from(s))
    }
}

impl From<&'static str> for Body {
    fn from(s: &'static str) -> Body {
        Body::from(Bytes::from_static(s.as_bytes()))
    }
}

impl From<&'static [u8]> for Body {
    fn from(s: &'static [u8]) -> Body {
        Body::from(Bytes::from_static(s))
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        match &mut self.inner {
            Inner::Empty => Poll::Ready(None),
            Inner::Full(b) => {
                let b = std::mem::take(b);
                self.inner = Inner::Empty;
                Poll::Ready(Some(Ok(Frame::data(b))))
            }
            Inner::Channel(rx) => rx.poll_recv(cx),
            Inner::Boxed(b) => b.as_mut().poll_frame(cx),
            Inner::File(b) => Pin::new(&mut **b).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Inner::Empty => true,
            Inner::Full(_) => false,
            Inner::Channel(_) => false,
            Inner::Boxed(b) => b.is_end_stream(),
            Inner::File(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Inner::Empty => SizeHint::with_exact(0),
            Inner::Full(b) => SizeHint::with_exact(b.len() as u64),
            Inner::Channel(_) => SizeHint::default(),
            Inner::Boxed(b) => b.size_hint(),
            Inner::File(b) => b.size_hint(),
        }
    }
}

/// The sending half of [`Body::channel`].
#[derive(Debug)]
pub struct BodySender {
    tx: mpsc::Sender<Result<Frame<Bytes>, Error>>,
}

impl BodySender {
    /// Sends one chunk of data; waits while the channel is full. Fails once the receiving
    /// body was dropped (the peer went away).
    pub async fn send_data(&self, data: impl Into<Bytes>) -> Result<(), Error> {
        self.send(Frame::data(data.into())).await
    }

    /// Sends trailers; the body ends after them.
    pub async fn send_trailers(&self, trailers: HeaderMap) -> Result<(), Error> {
        self.send(Frame::trailers(trailers)).await
    }

    /// Ends the body with an error: the peer sees the message cut short.
    pub async fn abort(self, err: impl Into<BoxError>) {
        let _ = self.tx.send(Err(Error::user(err))).await;
    }

    async fn send(&self, frame: Frame<Bytes>) -> Result<(), Error> {
        self.tx
            .send(Ok(frame))
            .await
            .map_err(|_| Error::new(Kind::Shutdown, "body receiver dropped"))
    }
}

pin_project_lite::pin_project! {
    struct MapErr<B> { #[pin] body: B }
}

#[allow(non_snake_case)]
fn MapErr<B>(body: B) -> MapErr<B> {
    MapErr { body }
}

impl<B> http_body::Body for MapErr<B>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        match self.project().body.poll_frame(cx) {
            Poll::Ready(Some(Err(e))) => {
                let e: BoxError = e.into();
                let e = match e.downcast::<Error>() {
                    Ok(ours) => *ours,
                    Err(other) => Error::user(other),
                };
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(Some(Ok(frame))) => Poll::Ready(Some(Ok(frame))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body::Body as _;

    #[tokio::test]
    async fn to_bytes_joins_frames_and_enforces_the_limit() {
        let (tx, body) = Body::channel(4);
        tokio::spawn(async move {
            for part in ["ab", "cd", "e"] {
                tx.send_data(part).await.unwrap();
            }
        });
        assert_eq!(body.to_bytes(5).await.unwrap(), "abcde");

        let (tx, body) = Body::channel(4);
        tokio::spawn(async move {
            for part in ["ab", "cd", "e"] {
                let _ = tx.send_data(part).await;
            }
        });
        assert!(body.to_bytes(4).await.unwrap_err().is_body_too_large());

        assert!(Body::from("hello")
            .to_bytes(4)
            .await
            .unwrap_err()
            .is_body_too_large());
        assert_eq!(Body::from("hello").to_bytes(5).await.unwrap(), "hello");
        assert_eq!(Body::empty().to_bytes(0).await.unwrap(), "");
    }

    #[tokio::test]
    async fn channel_carries_trailers_and_aborts() {
        let (tx, mut body) = Body::channel(2);
        tokio::spawn(async move {
            tx.send_data("x").await.unwrap();
            let mut t = HeaderMap::new();
            t.insert("x-sum", "1".parse().unwrap());
            tx.send_trailers(t).await.unwrap();
        });
        let f = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await;
        assert_eq!(f.unwrap().unwrap().into_data().unwrap(), "x");
        let f = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await;
        assert_eq!(f.unwrap().unwrap().into_trailers().unwrap()["x-sum"], "1");

        let (tx, body) = Body::channel(1);
        tokio::spawn(tx.abort("producer failed"));
        let err = body.to_bytes(10).await.unwrap_err();
        assert_eq!(err.kind(), Kind::Body);
        assert!(err.to_string().contains("producer failed"), "{err}");
    }

    /// A wrapped body's errors become ours: an `Error` passes through with its kind, any
    /// other error is wrapped as a user body error.
    #[tokio::test]
    async fn wrapped_body_errors_map_to_our_error() {
        struct Failing(Option<BoxError>);
        impl http_body::Body for Failing {
            type Data = Bytes;
            type Error = BoxError;
            fn poll_frame(
                mut self: Pin<&mut Self>,
                _: &mut Context<'_>,
            ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
                Poll::Ready(self.0.take().map(Err))
            }
        }
        // A body that is ours already is not boxed again.
        let wrapped = Body::wrap(Body::from("abc"));
        assert!(wrapped.is_buffered(), "{wrapped:?}");

        let ours = Error::new(Kind::Timeout, "slow");
        let err = Body::wrap(Failing(Some(Box::new(ours))))
            .to_bytes(10)
            .await
            .unwrap_err();
        assert!(err.is_timeout(), "{err:?}");
        let other: BoxError = "disk on fire".into();
        let err = Body::wrap(Failing(Some(other)))
            .to_bytes(10)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), Kind::Body);
        assert!(err.to_string().contains("disk on fire"), "{err}");
    }

    #[test]
    fn sizes_and_full_fast_path() {
        assert_eq!(Body::from("abc").size_hint().exact(), Some(3));
        assert_eq!(Body::empty().size_hint().exact(), Some(0));
        assert!(Body::empty().is_end_stream());
        let mut b = Body::from("abc");
        assert_eq!(b.take_full().unwrap(), "abc");
        assert!(b.is_end_stream());
        let (_tx, mut streaming) = Body::channel(1);
        assert!(streaming.take_full().is_none());
        assert_eq!(streaming.size_hint().exact(), None);
    }
}
