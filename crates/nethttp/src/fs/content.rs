//! One representation answered as Go's `serveContent` answers it (RFC 9110 §13–15): the
//! preconditions (`304`, `412`), then `Range` (`206` with one part or `multipart/byteranges`,
//! `416`), else the whole (`200`); validators (`ETag`, `Last-Modified`), `Accept-Ranges`,
//! `Content-Type` and `Content-Length` on every answer that has them, and no body for `HEAD`.

use std::borrow::Cow;
use std::cell::RefCell;
use std::fs::File;
use std::time::SystemTime;

use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderValue};
use http::{HeaderMap, Method, Response, StatusCode};

use super::conditional::{self, Outcome, Validators};
use super::range::{self, ByteRange, Ranges};
use crate::body::file::{FileBody, Segment};
use crate::body::Body;
use crate::handler::HttpResponse;

/// What is answered: its bytes (in memory or in a file) and what describes them.
#[derive(Debug)]
pub(crate) struct Representation {
    pub size: u64,
    /// Last modification, already truncated to whole seconds.
    pub modified: Option<SystemTime>,
    /// A quoted entity tag.
    pub etag: Option<String>,
    pub content_type: Cow<'static, str>,
    /// `Content-Encoding` of these bytes (a precompressed sibling's).
    pub encoding: Option<&'static str>,
    /// Other encodings of the same resource exist: `Vary: Accept-Encoding`.
    pub vary: bool,
    pub source: Source,
}

#[derive(Debug)]
pub(crate) enum Source {
    Bytes(Bytes),
    File(File),
}

/// The answer to `method` with `headers` for `r`.
pub(crate) fn respond(method: &Method, headers: &HeaderMap, r: Representation) -> HttpResponse {
    let validators = Validators {
        etag: r.etag.as_deref(),
        modified: r.modified,
    };
    match conditional::evaluate(method, headers, &validators) {
        Outcome::Proceed => {}
        Outcome::NotModified => return not_modified(&r),
        Outcome::Failed => return precondition_failed(&r),
    }
    let is_head = method == Method::HEAD;
    let ranges = match headers.get(header::RANGE) {
        // RFC 9110 §14.2: range handling is defined for GET (and Go answers HEAD alike).
        Some(h)
            if (method == Method::GET || is_head)
                && conditional::range_applies(headers, &validators) =>
        {
            range::select(h.as_bytes(), r.size)
        }
        _ => Ranges::Whole,
    };
    let mut resp = Response::new(Body::empty());
    // Room for every field below at once: one allocation, no growing.
    *resp.headers_mut() = HeaderMap::with_capacity(8);
    let h = resp.headers_mut();
    describe(h, &r);
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    let (status, segments, length) = match ranges {
        Ranges::Unsatisfiable => {
            return range_not_satisfiable(r.size, "invalid range: failed to overlap\n")
        }
        Ranges::Malformed => return range_not_satisfiable(r.size, "invalid range\n"),
        Ranges::Whole => (
            StatusCode::OK,
            vec![Segment::File {
                offset: 0,
                len: r.size,
            }],
            r.size,
        ),
        Ranges::Parts(parts) if parts.len() == 1 => {
            let part = parts[0];
            h.insert(header::CONTENT_RANGE, value(&part.content_range(r.size)));
            (
                StatusCode::PARTIAL_CONTENT,
                vec![Segment::File {
                    offset: part.start,
                    len: part.len,
                }],
                part.len,
            )
        }
        Ranges::Parts(parts) => {
            let boundary = boundary();
            let (segments, length) = multipart(&parts, r.size, &r.content_type, &boundary);
            h.insert(
                header::CONTENT_TYPE,
                value(&format!("multipart/byteranges; boundary={boundary}")),
            );
            (StatusCode::PARTIAL_CONTENT, segments, length)
        }
    };
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    if !is_head {
        *resp.body_mut() = body(r.source, segments);
    }
    resp
}

/// The fields that describe the representation, on `200`, `206` and (most of them) `304`.
fn describe(h: &mut HeaderMap, r: &Representation) {
    let content_type = match &r.content_type {
        Cow::Borrowed(t) => HeaderValue::from_static(t),
        Cow::Owned(t) => value(t),
    };
    h.insert(header::CONTENT_TYPE, content_type);
    if let Some(m) = r.modified {
        h.insert(header::LAST_MODIFIED, last_modified(m));
    }
    if let Some(tag) = &r.etag {
        h.insert(header::ETAG, value(tag));
    }
    if let Some(enc) = r.encoding {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(enc));
    }
    if r.vary {
        h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
}

/// `304`: the validators and `Vary` (RFC 9110 §15.4.5), no content fields; like Go, no
/// `Last-Modified` when there is an `ETag`.
fn not_modified(r: &Representation) -> HttpResponse {
    let mut resp = bare(StatusCode::NOT_MODIFIED);
    let h = resp.headers_mut();
    if let Some(tag) = &r.etag {
        h.insert(header::ETAG, value(tag));
    } else if let Some(m) = r.modified {
        h.insert(header::LAST_MODIFIED, last_modified(m));
    }
    if r.vary {
        h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    resp
}

/// `412`: the validators, as on a `304` but with `Last-Modified` too (Go's `412` keeps the
/// one it has), so the client learns what the representation is now.
fn precondition_failed(r: &Representation) -> HttpResponse {
    let mut resp = bare(StatusCode::PRECONDITION_FAILED);
    let h = resp.headers_mut();
    if let Some(tag) = &r.etag {
        h.insert(header::ETAG, value(tag));
    }
    if let Some(m) = r.modified {
        h.insert(header::LAST_MODIFIED, last_modified(m));
    }
    if r.vary {
        h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    resp
}

/// `416` with Go's message. `Content-Range: bytes */SIZE` on every one, a malformed set's
/// too (Go sends it only when no range overlaps): RFC 9110 §15.5.17 says a `416` to a
/// byte-range request SHOULD give the current length. No validators: an error carries no
/// representation (Go drops them from its errors too since 1.23).
fn range_not_satisfiable(size: u64, message: &'static str) -> HttpResponse {
    let mut resp = crate::handler::text_response(StatusCode::RANGE_NOT_SATISFIABLE, message);
    resp.headers_mut()
        .insert(header::CONTENT_RANGE, value(&format!("bytes */{size}")));
    resp
}

fn bare(status: StatusCode) -> HttpResponse {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = status;
    resp
}

/// The parts of a `multipart/byteranges` body (RFC 9110 §14.6) and its length.
fn multipart(
    parts: &[ByteRange],
    size: u64,
    content_type: &str,
    boundary: &str,
) -> (Vec<Segment>, u64) {
    let mut segments = Vec::with_capacity(parts.len() * 2 + 1);
    let mut length = 0u64;
    for (i, part) in parts.iter().enumerate() {
        let head = format!(
            "{}--{boundary}\r\nContent-Range: {}\r\nContent-Type: {content_type}\r\n\r\n",
            if i == 0 { "" } else { "\r\n" },
            part.content_range(size)
        );
        length += head.len() as u64 + part.len;
        segments.push(Segment::Bytes(Bytes::from(head)));
        segments.push(Segment::File {
            offset: part.start,
            len: part.len,
        });
    }
    let tail = format!("\r\n--{boundary}--\r\n");
    length += tail.len() as u64;
    segments.push(Segment::Bytes(Bytes::from(tail)));
    (segments, length)
}

/// The body for `segments` of `source` (`Segment::File` offsets index the source, in memory
/// or on disk).
fn body(source: Source, segments: Vec<Segment>) -> Body {
    match source {
        Source::File(file) => Body::from_file_body(FileBody::new(file, segments)),
        Source::Bytes(bytes) => {
            if let [Segment::File { offset, len }] = segments.as_slice() {
                return Body::from(bytes.slice(*offset as usize..(*offset + *len) as usize));
            }
            let mut out = BytesMut::new();
            for s in segments {
                match s {
                    Segment::Bytes(b) => out.extend_from_slice(&b),
                    Segment::File { offset, len } => {
                        out.extend_from_slice(&bytes[offset as usize..(offset + len) as usize])
                    }
                }
            }
            Body::from(out.freeze())
        }
    }
}

/// A boundary that does not occur in the parts: 30 random bytes in hex (60 digits), as Go's
/// `multipart.Writer` makes them, so our `Content-Length` is Go's (the chance of a clash is
/// negligible).
fn boundary() -> String {
    (0..60)
        .map(|_| char::from_digit(fastrand::u32(..16), 16).unwrap_or('0'))
        .collect()
}

/// `Last-Modified` for `m`. The value last made on this thread is kept and reused when the
/// time is the same: a server mostly answers for the same few files, and formatting a date
/// costs more than the rest of the fields together.
fn last_modified(m: SystemTime) -> HeaderValue {
    thread_local! {
        static LAST: RefCell<Option<(SystemTime, HeaderValue)>> = const { RefCell::new(None) };
    }
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        if let Some((t, v)) = &*last {
            if *t == m {
                return v.clone();
            }
        }
        let v = value(&httpdate::fmt_http_date(m));
        *last = Some((m, v.clone()));
        v
    })
}

/// A header value from text this module made (ASCII: dates, numbers, tags, types).
fn value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}
