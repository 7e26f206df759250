//! `multipart/form-data` (RFC 7578) read as it arrives, feature `multipart`: the parsing is
//! the `multer` crate's; the limits, the error statuses and the body plumbing are ours.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use nethttp::http::StatusCode;
//! use nethttp::request::{MultipartLimits, RequestExt};
//! use nethttp::{text_response, Error, HttpRequest, HttpResponse};
//!
//! async fn upload(mut req: HttpRequest) -> Result<HttpResponse, Error> {
//!     let limits = MultipartLimits::new(8 << 20).max_field_bytes(1 << 20).max_fields(16);
//!     let mut form = req.multipart(limits)?; // 415 unless multipart/form-data
//!     let mut report = String::new();
//!     while let Some(mut field) = form.next_field().await? { // 400 if malformed
//!         let name = field.name().unwrap_or("").to_owned();
//!         let mut size = 0;
//!         while let Some(chunk) = field.chunk().await? { // 413 past a limit
//!             size += chunk.len(); // write it somewhere instead of keeping it
//!         }
//!         report += &format!("{name}: {size} bytes, file {:?}\n", field.file_name());
//!     }
//!     Ok(text_response(StatusCode::OK, report))
//! }
//!
//! let body = "--XyZ\r\nContent-Disposition: form-data; name=\"doc\"; filename=\"a.txt\"\r\n\
//!             \r\nhello\r\n--XyZ--\r\n";
//! let req = nethttp::http::Request::post("/")
//!     .header("content-type", "multipart/form-data; boundary=XyZ")
//!     .body(body.into())
//!     .unwrap();
//! let resp = nethttp::test::call(&upload, req).await;
//! assert_eq!(resp.status(), StatusCode::OK);
//! let text = resp.into_body().text(1024).await.unwrap();
//! assert_eq!(text, "doc: 5 bytes, file Some(\"a.txt\")\n");
//! # }
//! ```

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_core::Stream;
use http::header::CONTENT_TYPE;
use http::HeaderMap;

use crate::body::Body;
use crate::error::{Error, Kind};

/// How much a multipart body may hold. Every bound is finite: there is no unlimited setting.
#[derive(Debug, Clone, Copy)]
pub struct MultipartLimits {
    total: u64,
    per_field: u64,
    fields: usize,
}

impl MultipartLimits {
    /// At most `total_bytes` for the whole body (boundaries and part headers included), and
    /// by default as much for one field, and 1000 fields (Go's limit on parts).
    pub fn new(total_bytes: u64) -> Self {
        MultipartLimits {
            total: total_bytes,
            per_field: total_bytes,
            fields: 1000,
        }
    }

    /// At most `bytes` of data in any one field (a file included). Default: the total.
    pub fn max_field_bytes(mut self, bytes: u64) -> Self {
        self.per_field = bytes;
        self
    }

    /// At most `n` fields. Default 1000.
    pub fn max_fields(mut self, n: usize) -> Self {
        self.fields = n;
        self
    }
}

/// The boundary of a `multipart/form-data` request: 415 for another media type, 400
/// without a boundary or with one that does not parse.
pub(super) fn boundary(headers: &HeaderMap) -> Result<String, Error> {
    let ct = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = super::media_type_essence(ct);
    if !essence.eq_ignore_ascii_case("multipart/form-data") {
        return Err(Error::new(
            Kind::UnsupportedMediaType,
            "expected Content-Type: multipart/form-data",
        ));
    }
    multer::parse_boundary(ct).map_err(|e| {
        Error::with_cause(
            Kind::Decode,
            "multipart/form-data without a valid boundary",
            e,
        )
    })
}

/// A `multipart/form-data` body as a sequence of [`Field`]s, read as the bytes arrive
/// ([`RequestExt::multipart`](super::RequestExt::multipart)). Take fields one at a time: a
/// field must be read (or dropped) before the next is asked for. It is also a `Stream` of
/// fields.
pub struct Multipart {
    inner: multer::Multipart<'static>,
    fields_left: usize,
}

impl std::fmt::Debug for Multipart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Multipart")
            .field("fields_left", &self.fields_left)
            .finish_non_exhaustive()
    }
}

impl Multipart {
    pub(super) fn new(body: Body, boundary: String, limits: MultipartLimits) -> Self {
        let constraints = multer::Constraints::new().size_limit(
            multer::SizeLimit::new()
                .whole_stream(limits.total)
                .per_field(limits.per_field),
        );
        Multipart {
            inner: multer::Multipart::with_constraints(BodyStream(body), boundary, constraints),
            fields_left: limits.fields,
        }
    }

    /// The next field, `None` after the last. Errors: 413 past a limit (the total, or more
    /// fields than allowed), 400 for a malformed body, the body's own read error (a
    /// timeout: 408).
    pub async fn next_field(&mut self) -> Result<Option<Field>, Error> {
        std::future::poll_fn(|cx| self.poll_next_field(cx)).await
    }

    fn poll_next_field(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Field>, Error>> {
        match self.inner.poll_next_field(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(None)) => Poll::Ready(Ok(None)),
            Poll::Ready(Ok(Some(field))) => {
                if self.fields_left == 0 {
                    return Poll::Ready(Err(Error::new(
                        Kind::BodyTooLarge,
                        "multipart body has more fields than allowed",
                    )));
                }
                self.fields_left -= 1;
                Poll::Ready(Ok(Some(Field { inner: field })))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(map_error(e))),
        }
    }
}

impl Stream for Multipart {
    type Item = Result<Field, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_next_field(cx).map(Result::transpose)
    }
}

/// One part of a multipart body: a form field or a file. Its data streams through
/// [`Field::chunk`] (or the `Stream` impl), or is read whole with [`Field::bytes`] or
/// [`Field::text`], all within the per-field limit.
pub struct Field {
    inner: multer::Field<'static>,
}

impl std::fmt::Debug for Field {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Field")
            .field("name", &self.name())
            .field("file_name", &self.file_name())
            .field("content_type", &self.content_type())
            .finish_non_exhaustive()
    }
}

impl Field {
    /// The `name` of its `Content-Disposition`.
    pub fn name(&self) -> Option<&str> {
        self.inner.name()
    }

    /// The `filename` of its `Content-Disposition`, as the client sent it: never use it as a
    /// path without cleaning it.
    pub fn file_name(&self) -> Option<&str> {
        self.inner.file_name()
    }

    /// Its `Content-Type`, if it has one.
    pub fn content_type(&self) -> Option<&str> {
        self.inner.content_type().map(|m| m.as_ref())
    }

    /// All the part's header fields.
    pub fn headers(&self) -> &HeaderMap {
        self.inner.headers()
    }

    /// The next chunk of its data, `None` at its end.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, Error> {
        self.inner.chunk().await.map_err(map_error)
    }

    /// All its data (within the per-field limit).
    pub async fn bytes(self) -> Result<Bytes, Error> {
        self.inner.bytes().await.map_err(map_error)
    }

    /// All its data as UTF-8 text; 400 if it is not UTF-8.
    pub async fn text(self) -> Result<String, Error> {
        let bytes = self.bytes().await?;
        String::from_utf8(Vec::from(bytes))
            .map_err(|e| Error::with_cause(Kind::Decode, "multipart field is not UTF-8", e))
    }
}

impl Stream for Field {
    type Item = Result<Bytes, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.get_mut().inner)
            .poll_next(cx)
            .map(|o| o.map(|r| r.map_err(map_error)))
    }
}

/// multer's errors as ours: limits are 413, a failing body keeps its own error (a timeout
/// stays a timeout), anything else is a malformed body (400).
fn map_error(e: multer::Error) -> Error {
    match e {
        multer::Error::FieldSizeExceeded { .. } => {
            Error::with_cause(Kind::BodyTooLarge, "multipart field exceeds its limit", e)
        }
        multer::Error::StreamSizeExceeded { .. } => {
            Error::with_cause(Kind::BodyTooLarge, "multipart body exceeds its limit", e)
        }
        multer::Error::StreamReadFailed(cause) => match cause.downcast::<Error>() {
            Ok(ours) => *ours,
            Err(other) => Error::with_cause(Kind::Body, "multipart body failed", other),
        },
        other => Error::with_cause(Kind::Decode, "malformed multipart body", other),
    }
}

/// A [`Body`] as the byte stream multer reads; trailers are skipped.
struct BodyStream(Body);

impl Stream for BodyStream {
    type Item = Result<Bytes, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        use http_body::Body as _;
        let body = &mut self.get_mut().0;
        loop {
            return match Pin::new(&mut *body).poll_frame(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(None) => Poll::Ready(None),
                Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => Poll::Ready(Some(Ok(data))),
                    // Trailers: the stream ends after them.
                    Err(_) => continue,
                },
            };
        }
    }
}
