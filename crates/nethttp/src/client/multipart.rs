//! `multipart/form-data` request bodies (RFC 7578) for `RequestBuilder::multipart`: text
//! fields and streamed parts (any [`Body`], a file) with a file name and a content type,
//! written as the connection takes them — a file is read 64 KiB at a time, never held
//! whole. The boundary is random; the body has a length (`Content-Length`) when every part's
//! length is known, and is sent chunked otherwise.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::fmt;
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{BufMut, Bytes, BytesMut};
use http::HeaderValue;
use http_body::{Body as _, Frame, SizeHint};

use crate::body::Body;
use crate::error::{Error, Kind};

/// A `multipart/form-data` body being built: fields in order, each a text value or a
/// [`Part`]. Send it with `RequestBuilder::multipart`, which sets `Content-Type` with the
/// boundary. A problem with a part (a content type that is not a valid field value) is kept
/// until the request is sent, as the builder's other errors are.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use nethttp::client::multipart::{Form, Part};
///
/// let form = Form::new()
///     .text("title", "holiday")
///     .file("photo", "/tmp/beach.jpg")?            // image/jpeg, file name beach.jpg
///     .part("notes", Part::bytes(&b"sunny"[..]).file_name("notes.txt").content_type("text/csv"));
/// let client = nethttp::Client::new();
/// let res = client.post("http://127.0.0.1:8080/upload").multipart(form).send().await?;
/// # let _ = res; Ok(()) }
/// ```
pub struct Form {
    boundary: String,
    fields: Vec<(String, Part)>,
}

/// One part of a [`Form`]: its bytes (in memory or streamed), and optionally a file name and
/// a content type.
pub struct Part {
    body: Body,
    /// The body's length, when known: from the body itself or given.
    len: Option<u64>,
    file_name: Option<String>,
    content_type: Option<HeaderValue>,
    error: Option<Error>,
}

impl Default for Form {
    fn default() -> Self {
        Form::new()
    }
}

impl Form {
    /// An empty form with a random boundary (192 bits: it cannot turn up in the content by
    /// chance, RFC 2046 §5.1.1).
    pub fn new() -> Form {
        let boundary = format!(
            "{:016x}-{:016x}-{:016x}",
            fastrand::u64(..),
            fastrand::u64(..),
            fastrand::u64(..)
        );
        Form {
            boundary,
            fields: Vec::new(),
        }
    }

    /// The boundary between the parts.
    pub fn boundary(&self) -> &str {
        &self.boundary
    }

    /// Adds a text field.
    pub fn text(self, name: impl Into<String>, value: impl Into<Cow<'static, str>>) -> Form {
        self.part(name, Part::text(value))
    }

    /// Adds a part.
    pub fn part(mut self, name: impl Into<String>, part: Part) -> Form {
        self.fields.push((name.into(), part));
        self
    }

    /// Adds the file at `path` as a part (see [`Part::file`]).
    pub fn file(self, name: impl Into<String>, path: impl AsRef<Path>) -> std::io::Result<Form> {
        Ok(self.part(name, Part::file(path)?))
    }

    /// The body's length in bytes, if every part's length is known.
    pub fn content_length(&self) -> Option<u64> {
        let mut total = closing(&self.boundary, !self.fields.is_empty()).len() as u64;
        for (i, (name, part)) in self.fields.iter().enumerate() {
            total += part_head(&self.boundary, i, name, part).len() as u64 + part.len?;
        }
        Some(total)
    }

    /// The `Content-Type` field value and the streamed body, or the first part's error.
    pub(crate) fn into_body(self) -> Result<(HeaderValue, Body), Error> {
        let Form { boundary, fields } = self;
        let content_type =
            HeaderValue::from_str(&format!("multipart/form-data; boundary={boundary}"))
                .map_err(|e| Error::with_cause(Kind::Usage, "invalid multipart boundary", e))?;
        let end = closing(&boundary, !fields.is_empty());
        let mut remaining = Some(end.len() as u64);
        let mut segments = VecDeque::with_capacity(fields.len() * 2 + 1);
        for (i, (name, part)) in fields.into_iter().enumerate() {
            if let Some(e) = part.error {
                return Err(e);
            }
            let head = part_head(&boundary, i, &name, &part);
            remaining = remaining
                .zip(part.len)
                .map(|(r, len)| r + head.len() as u64 + len);
            segments.push_back(Segment::Bytes(head));
            segments.push_back(Segment::Part {
                body: part.body,
                declared: part.len,
                sent: 0,
            });
        }
        segments.push_back(Segment::Bytes(end));
        let body = FormBody {
            segments,
            remaining,
        };
        Ok((content_type, Body::from_incoming(body)))
    }
}

/// The delimiter and header fields before part `i` (RFC 7578 §4: a `Content-Disposition`
/// naming the field, and the file name and `Content-Type` when there are).
fn part_head(boundary: &str, i: usize, name: &str, part: &Part) -> Bytes {
    let mut b = BytesMut::with_capacity(128 + name.len());
    if i > 0 {
        b.put_slice(b"\r\n");
    }
    b.put_slice(b"--");
    b.put_slice(boundary.as_bytes());
    b.put_slice(b"\r\nContent-Disposition: form-data; name=\"");
    put_escaped(&mut b, name);
    b.put_u8(b'"');
    if let Some(f) = &part.file_name {
        b.put_slice(b"; filename=\"");
        put_escaped(&mut b, f);
        b.put_u8(b'"');
    }
    b.put_slice(b"\r\n");
    if let Some(t) = &part.content_type {
        b.put_slice(b"Content-Type: ");
        b.put_slice(t.as_bytes());
        b.put_slice(b"\r\n");
    }
    b.put_slice(b"\r\n");
    b.freeze()
}

/// The close delimiter (RFC 2046 §5.1.1), after a CRLF that ends the last part.
fn closing(boundary: &str, any_parts: bool) -> Bytes {
    let lead = if any_parts { "\r\n" } else { "" };
    Bytes::from(format!("{lead}--{boundary}--\r\n"))
}

/// A field name or file name in a quoted string, escaped as browsers do (the HTML
/// standard's multipart/form-data encoding: `"` as `%22`, CR as `%0D`, LF as `%0A`; other
/// bytes, UTF-8 included, as they are — RFC 7578 §4.2 leaves the choice to the form).
fn put_escaped(b: &mut BytesMut, s: &str) {
    for &c in s.as_bytes() {
        match c {
            b'"' => b.put_slice(b"%22"),
            b'\r' => b.put_slice(b"%0D"),
            b'\n' => b.put_slice(b"%0A"),
            c => b.put_u8(c),
        }
    }
}

impl Part {
    /// A text value.
    pub fn text(value: impl Into<Cow<'static, str>>) -> Part {
        match value.into() {
            Cow::Borrowed(s) => Part::new(Body::from(s), Some(s.len() as u64)),
            Cow::Owned(s) => {
                let len = s.len() as u64;
                Part::new(Body::from(s), Some(len))
            }
        }
    }

    /// Bytes in memory.
    pub fn bytes(value: impl Into<Bytes>) -> Part {
        let b: Bytes = value.into();
        let len = b.len() as u64;
        Part::new(Body::from(b), Some(len))
    }

    /// A streamed body, read as the request is sent. Its length is known if the body says so
    /// exactly (a buffer, a file); else the form goes chunked, or give the length with
    /// [`Part::stream_with_length`].
    pub fn stream(body: impl Into<Body>) -> Part {
        let body = body.into();
        let len = body.size_hint().exact();
        Part::new(body, len)
    }

    /// A streamed body of `len` bytes exactly: the form can then have a `Content-Length`. A
    /// body that turns out longer or shorter fails the request rather than corrupt the form.
    pub fn stream_with_length(body: impl Into<Body>, len: u64) -> Part {
        Part::new(body.into(), Some(len))
    }

    /// The file at `path`, streamed 64 KiB at a time as the request is sent, with its length
    /// (taken now), its file name, and a content type guessed from its extension
    /// (`application/octet-stream` when there is no guess).
    pub fn file(path: impl AsRef<Path>) -> std::io::Result<Part> {
        let path = path.as_ref();
        let file = std::fs::File::open(path)?;
        let len = file.metadata()?.len();
        let mime = mime_guess::from_path(path).first_or_octet_stream();
        let mut part = Part::new(Body::file(file, 0, len), Some(len)).content_type(mime.as_ref());
        if let Some(name) = path.file_name() {
            part = part.file_name(name.to_string_lossy());
        }
        Ok(part)
    }

    fn new(body: Body, len: Option<u64>) -> Part {
        Part {
            body,
            len,
            file_name: None,
            content_type: None,
            error: None,
        }
    }

    /// The file name sent in `Content-Disposition` (`filename="..."`).
    pub fn file_name(mut self, name: impl Into<String>) -> Part {
        self.file_name = Some(name.into());
        self
    }

    /// The part's `Content-Type` (RFC 7578 §4.4: `text/plain` when absent). A value that
    /// cannot be a field value (control characters, non-ASCII) fails the request when sent.
    pub fn content_type(mut self, mime: &str) -> Part {
        match HeaderValue::from_str(mime) {
            Ok(v) => self.content_type = Some(v),
            Err(e) => {
                self.error = Some(Error::with_cause(
                    Kind::Usage,
                    "invalid multipart Content-Type",
                    e,
                ))
            }
        }
        self
    }
}

impl fmt::Debug for Form {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Form")
            .field("boundary", &self.boundary)
            .field("fields", &self.fields)
            .finish()
    }
}

impl fmt::Debug for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Part")
            .field("len", &self.len)
            .field("file_name", &self.file_name)
            .field("content_type", &self.content_type)
            .finish_non_exhaustive()
    }
}

/// A piece of the body on the wire.
enum Segment {
    /// Delimiters and part headers.
    Bytes(Bytes),
    /// A part's body, held to its declared length if it has one.
    Part {
        body: Body,
        declared: Option<u64>,
        sent: u64,
    },
}

/// The form's body: segments in order, `remaining` bytes in all when every length is known.
struct FormBody {
    segments: VecDeque<Segment>,
    remaining: Option<u64>,
}

impl FormBody {
    fn emit(&mut self, data: Bytes) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        if let Some(r) = &mut self.remaining {
            *r = r.saturating_sub(data.len() as u64);
        }
        Poll::Ready(Some(Ok(Frame::data(data))))
    }
}

fn length_mismatch(msg: &'static str) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
    Poll::Ready(Some(Err(Error::new(Kind::Body, msg))))
}

impl http_body::Body for FormBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = self.get_mut();
        loop {
            let Some(front) = this.segments.front_mut() else {
                return Poll::Ready(None);
            };
            match front {
                Segment::Bytes(b) => {
                    let b = std::mem::take(b);
                    this.segments.pop_front();
                    if !b.is_empty() {
                        return this.emit(b);
                    }
                }
                Segment::Part {
                    body,
                    declared,
                    sent,
                } => match Pin::new(body).poll_frame(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                    Poll::Ready(None) => {
                        if declared.is_some_and(|d| *sent < d) {
                            return length_mismatch(
                                "a multipart part's body ended before its declared length",
                            );
                        }
                        this.segments.pop_front();
                    }
                    Poll::Ready(Some(Ok(frame))) => {
                        // Trailers of a part's body have no place in a form: dropped.
                        let Ok(data) = frame.into_data() else {
                            continue;
                        };
                        *sent += data.len() as u64;
                        if declared.is_some_and(|d| *sent > d) {
                            return length_mismatch(
                                "a multipart part's body is longer than its declared length",
                            );
                        }
                        if !data.is_empty() {
                            return this.emit(data);
                        }
                    }
                },
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.segments.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        match self.remaining {
            Some(n) => SizeHint::with_exact(n),
            None => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn wire(form: Form) -> (Option<u64>, String) {
        let (_, body) = form.into_body().unwrap();
        let hint = body.size_hint().exact();
        let bytes = body.to_bytes(1 << 20).await.unwrap();
        (hint, String::from_utf8(bytes.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn writes_rfc_7578_parts_with_their_length() {
        let mut form = Form::new().text("title", "a \"quoted\"\r\nname").part(
            "up\"load",
            Part::bytes(&b"\x00\x01"[..])
                .file_name("x\".bin")
                .content_type("application/octet-stream"),
        );
        form.boundary = "B".into();
        let expected = "--B\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\n\
                        a \"quoted\"\r\nname\r\n\
                        --B\r\nContent-Disposition: form-data; name=\"up%22load\"; \
                        filename=\"x%22.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n\
                        \x00\x01\r\n--B--\r\n";
        assert_eq!(form.content_length(), Some(expected.len() as u64));
        assert_eq!(
            wire(form).await,
            (Some(expected.len() as u64), expected.to_owned())
        );

        let mut empty = Form::new();
        empty.boundary = "B".into();
        assert_eq!(wire(empty).await, (Some(7), "--B--\r\n".to_owned()));
    }

    #[tokio::test]
    async fn an_unknown_length_makes_the_form_unsized() {
        let (tx, body) = Body::channel(1);
        tokio::spawn(async move {
            let _ = tx.send_data("streamed").await;
        });
        let form = Form::new().text("a", "1").part("b", Part::stream(body));
        assert_eq!(form.content_length(), None);
        let (hint, text) = wire(form).await;
        assert_eq!(hint, None);
        assert!(text.contains("\r\n\r\nstreamed\r\n--"), "{text}");
    }

    #[tokio::test]
    async fn a_part_must_keep_its_declared_length() {
        for (data, len, why) in [("abc", 4, "ended before"), ("abcde", 4, "longer than")] {
            let (tx, body) = Body::channel(1);
            tokio::spawn(async move {
                let _ = tx.send_data(data).await;
            });
            let form = Form::new().part("f", Part::stream_with_length(body, len));
            assert!(form.content_length().is_some());
            let (_, body) = form.into_body().unwrap();
            let err = body.to_bytes(1 << 20).await.unwrap_err();
            assert!(err.to_string().contains(why), "{err}");
        }
    }

    #[test]
    fn a_bad_content_type_waits_for_the_send() {
        let form = Form::new().part("f", Part::text("x").content_type("text/plain\r\nx: y"));
        assert_eq!(form.into_body().unwrap_err().kind(), Kind::Usage);
    }

    #[test]
    fn files_carry_name_type_and_length() {
        let dir = std::env::temp_dir().join(format!("nethttp-mp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("pic.png");
        std::fs::write(&path, b"12345").unwrap();
        let part = Part::file(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(part.len, Some(5));
        assert_eq!(part.file_name.as_deref(), Some("pic.png"));
        assert_eq!(part.content_type.as_ref().unwrap(), "image/png");
        let boundary = Form::new().boundary().to_owned();
        assert_eq!(boundary.len(), 50);
        assert_ne!(boundary, Form::new().boundary());
    }
}
