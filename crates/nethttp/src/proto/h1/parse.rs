//! Request head parsing: httparse tokenizes, this file applies RFC 9112's framing and
//! validation rules (the request smuggling defences of §6.3 among them) and builds an
//! `http::request::Parts`-like head without copying header bytes.

pub(crate) use crate::token::{has_token, trim};
use std::mem::MaybeUninit;

use bytes::BytesMut;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};

use super::fields::{self, Spans};
use super::scan::{self, Scanned};
use crate::proto::host;
use http::{Method, Request, StatusCode, Uri, Version};

use crate::body::Body;

/// Limits on what a client controls in a request head.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HeadLimits {
    /// Whole head (request line + fields), bytes. Over it: 431.
    pub max_head_bytes: usize,
    /// Request-target, bytes. Over it: 414.
    pub max_uri_bytes: usize,
}

/// Most header fields accepted in one head; more is a 431. Also bounds the stack array
/// httparse fills.
pub(crate) const MAX_HEADERS: usize = 128;

/// How the request body is framed (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyLen {
    /// No body.
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// A parsed, validated request head.
#[derive(Debug)]
pub(crate) struct RequestHead {
    /// The request as its handler gets it: its body is empty until the connection lends it
    /// the read half (`body` says whether it will). Built here, in the slot the connection
    /// keeps, so handing it over costs one move rather than one per step.
    pub req: Request<Body>,
    pub body: BodyLen,
    /// The client allows the connection to stay open after this exchange.
    pub keep_alive: bool,
    /// `Expect: 100-continue` was sent.
    pub expect_continue: bool,
    /// The request asks for a protocol upgrade: `CONNECT`, or an `Upgrade` field that
    /// `Connection` names (RFC 9110 §7.8) on HTTP/1.1.
    pub upgrade: bool,
}

impl RequestHead {
    pub(crate) fn method(&self) -> &Method {
        self.req.method()
    }

    pub(crate) fn version(&self) -> Version {
        self.req.version()
    }

    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn uri(&self) -> &Uri {
        self.req.uri()
    }

    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn headers(&self) -> &HeaderMap {
        self.req.headers()
    }
}

/// Why a head was rejected: the status to answer with and a short text saying why.
/// Every rejection closes the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HeadError {
    pub status: StatusCode,
    pub reason: &'static str,
}

impl HeadError {
    const fn bad(reason: &'static str) -> HeadError {
        HeadError {
            status: StatusCode::BAD_REQUEST,
            reason,
        }
    }
}

/// Tries to parse one request head from the front of `buf`. `Ok(None)` means more bytes are
/// needed (and the limits are not yet exceeded); on success the head's bytes are removed from
/// `buf` and any body or pipelined request stays behind.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn parse_request(
    buf: &mut BytesMut,
    limits: &HeadLimits,
) -> Result<Option<RequestHead>, HeadError> {
    let mut out = None;
    parse_request_into(buf, limits, &mut out)?;
    Ok(out)
}

/// [`parse_request`] that puts the head in `out` (a head is large, and every move of it is
/// a copy on the server's hot path). `Ok(true)`: `out` holds the head; `Ok(false)`: more
/// bytes are needed.
pub(crate) fn parse_request_into(
    buf: &mut BytesMut,
    limits: &HeadLimits,
    out: &mut Option<RequestHead>,
) -> Result<bool, HeadError> {
    match parse_head(buf, limits, out) {
        // RFC 9112 §2.3: a later 1.x minor version is served as HTTP/1.1, which httparse does
        // not do; rewrite the digit and parse again.
        Err(e) if e.status == StatusCode::HTTP_VERSION_NOT_SUPPORTED => {
            let Some((at, digit)) = downgrade_minor(buf) else {
                return Err(e);
            };
            let again = parse_head(buf, limits, out);
            if let Ok(false) = again {
                // Still partial: leave the bytes as they came, so a partial parse never
                // changes the buffer and the next attempt starts from the same input.
                buf[at] = digit;
            }
            again
        }
        r => r,
    }
}

/// Rewrites a complete request line's `HTTP/1.x` (x = 2..=9) to `HTTP/1.1`. Returns where
/// the digit was and what it was.
fn downgrade_minor(buf: &mut BytesMut) -> Option<(usize, u8)> {
    match version_token(buf) {
        Some(at) if buf[at + 5] == b'1' && (b'2'..=b'9').contains(&buf[at + 7]) => {
            let digit = buf[at + 7];
            buf[at + 7] = b'1';
            Some((at + 7, digit))
        }
        _ => None,
    }
}

fn parse_head(
    buf: &mut BytesMut,
    limits: &HeadLimits,
    out: &mut Option<RequestHead>,
) -> Result<bool, HeadError> {
    let mut spans = Spans::<MAX_HEADERS>::new();
    // The common head in one pass; anything else (partial heads and errors among it)
    // through httparse. Both give the same pieces of a head the scanner takes.
    let pieces = match scan::scan(buf, &mut spans) {
        Some(s) => s,
        None => match parse_with_httparse(buf, limits, &mut spans)? {
            Some(s) => s,
            None => return Ok(false),
        },
    };
    let head_len = pieces.head_len;
    if head_len > limits.max_head_bytes {
        return Err(too_large(buf, limits));
    }
    let (path_at, path_len) = pieces.target;
    if path_len > limits.max_uri_bytes {
        return Err(HeadError {
            status: StatusCode::URI_TOO_LONG,
            reason: "URI too long",
        });
    }
    let version = if pieces.http10 {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    };
    let method_bytes = &buf[pieces.method.0..pieces.method.0 + pieces.method.1];
    let method = if method_bytes == b"GET" {
        Method::GET
    } else {
        Method::from_bytes(method_bytes).map_err(|_| HeadError::bad("invalid method"))?
    };
    // RFC 9112 §3.2.4: the asterisk form is only for OPTIONS.
    if &buf[path_at..path_at + path_len] == b"*" && method != Method::OPTIONS {
        return Err(HeadError::bad("asterisk-form target is only for OPTIONS"));
    }
    let head = buf.split_to(head_len).freeze();

    // `None` for the most common target, `/`: the request's default URI is that already,
    // without sharing (and later releasing) the head's bytes or parsing them.
    let uri = if &head[path_at..path_at + path_len] == b"/" {
        None
    } else {
        Some(
            Uri::from_maybe_shared(head.slice(path_at..path_at + path_len))
                .map_err(|_| HeadError::bad("invalid request target"))?,
        )
    };
    let spans = spans.as_slice();
    let mut headers = super::recycle::header_map(spans.len());
    let mut framing = Framing::default();
    for &span in spans {
        let (name, value) =
            fields::field(&head, span).ok_or(HeadError::bad("invalid header name"))?;
        framing.observe(&name, &value)?;
        headers.append(name, value);
    }
    framing.finish(method, version, headers, uri, out)?;
    Ok(true)
}

/// The head at the front of `buf` as httparse parses it, its fields' spans in `spans`:
/// `None` while it is partial (and within its limits), `Err` when it is invalid.
#[inline(never)]
fn parse_with_httparse(
    buf: &[u8],
    limits: &HeadLimits,
    spans: &mut Spans<MAX_HEADERS>,
) -> Result<Option<Scanned>, HeadError> {
    spans.clear();
    // Uninitialised arrays: zeroing 128 entries per request costs more than parsing a
    // typical head.
    let mut headers = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    let status = match req.parse_with_uninit_headers(buf, &mut headers) {
        Ok(s) => s,
        // httparse rejects a version other than 1.0/1.1 as soon as it sees its digits, but
        // until the line ends we cannot tell a later 1.x (served as 1.1) or another version
        // (505) from garbage: wait for the rest, so the answer does not depend on how the
        // bytes were split.
        // The target is whole by then, and judged as in a partial head (below).
        Err(httparse::Error::Version)
            if !request_line_done(buf) && buf.len() <= limits.max_head_bytes =>
        {
            return wait_unless_target_too_long(buf, limits);
        }
        Err(e) => return Err(map_httparse_error(e, buf)),
    };
    let head_len = match status {
        httparse::Status::Complete(n) => n,
        httparse::Status::Partial => {
            if buf.len() > limits.max_head_bytes {
                return Err(too_large(buf, limits));
            }
            return wait_unless_target_too_long(buf, limits);
        }
    };
    // Record where each piece lives so the values can be sliced out of one frozen buffer.
    let base = buf.as_ptr() as usize;
    let offset = |s: &[u8]| (s.as_ptr() as usize - base, s.len());
    let (Some(method), Some(target)) = (req.method, req.path) else {
        // A complete head has both; not reached.
        return Err(HeadError::bad("invalid request line"));
    };
    spans.record(req.headers, buf.as_ptr());
    Ok(Some(Scanned {
        method: offset(method.as_bytes()),
        target: offset(target.as_bytes()),
        http10: req.version == Some(0),
        head_len,
    }))
}

/// The verdict on a head that is not complete yet: wait for more (`Ok(None)`), unless its
/// request-target already passes the URI limit (414 as soon as that is known, so the answer
/// does not depend on how the bytes were split).
fn wait_unless_target_too_long(
    buf: &[u8],
    limits: &HeadLimits,
) -> Result<Option<Scanned>, HeadError> {
    if partial_target_len(buf) > limits.max_uri_bytes {
        return Err(HeadError {
            status: StatusCode::URI_TOO_LONG,
            reason: "URI too long",
        });
    }
    Ok(None)
}

/// When a partial head is worth parsing again. httparse starts over on every call, so parsing
/// after every read would make a head dribbled in a byte at a time cost time quadratic in its
/// size (up to 64 KiB): a cheap way for a client to burn server CPU. A head is re-parsed when
/// the bytes that just arrived may complete it (a blank line), and otherwise only at growing
/// checkpoints where a limit may have been crossed — after every read while the buffer is
/// within reach of the URI limit (so `414` comes as soon as it applies), then every quarter
/// of growth and just past the head limit.
#[derive(Debug, Default)]
pub(crate) struct HeadProgress {
    /// Bytes already searched for a blank line.
    scanned: usize,
    /// Parse again once the buffer holds this many bytes, blank line or not.
    next_check: usize,
}

impl HeadProgress {
    /// Whether parsing `buf` now could tell more than the last attempt did.
    pub(crate) fn should_parse(&mut self, buf: &[u8]) -> bool {
        let from = self.scanned.saturating_sub(2);
        self.scanned = buf.len();
        buf.len() >= self.next_check || has_blank_line(&buf[from..])
    }

    /// Records that a parse of `len` bytes needed more.
    pub(crate) fn partial(&mut self, len: usize, limits: &HeadLimits) {
        let next = if len <= limits.max_uri_bytes + 64 {
            len + 1
        } else {
            len + len / 4
        };
        self.next_check = next.min(limits.max_head_bytes + 1).max(len + 1);
    }
}

/// Whether `bytes` contain the end of a head: LF LF or LF CR LF.
fn has_blank_line(bytes: &[u8]) -> bool {
    let mut at = 0;
    while let Some(i) = bytes[at..].iter().position(|&b| b == b'\n') {
        let nl = at + i;
        match bytes.get(nl + 1) {
            Some(b'\n') => return true,
            Some(b'\r') if bytes.get(nl + 2) == Some(&b'\n') => return true,
            _ => at = nl + 1,
        }
    }
    false
}

/// Where the request line starts: after the empty lines a server ignores before it
/// (RFC 9112 §2.2), as httparse does.
fn request_line_start(buf: &[u8]) -> usize {
    buf.iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(buf.len())
}

/// Whether the request line has ended in `buf`.
fn request_line_done(buf: &[u8]) -> bool {
    buf[request_line_start(buf)..].contains(&b'\n')
}

/// How long the request-target of a partial head is, as far as it has arrived: the bytes after
/// the method's space up to the next space or line end (0 before it starts). Only the target
/// counts, not the whole line, so a long method or leading empty lines cannot make a head that
/// is accepted once complete a 414 just because it arrived in pieces; and it counts as soon as
/// it is known, so the verdict does not depend on whether the rest of the head has arrived.
fn partial_target_len(buf: &[u8]) -> usize {
    let line = &buf[request_line_start(buf)..];
    let line = &line[..line.iter().position(|&b| b == b'\n').unwrap_or(line.len())];
    let Some(sp) = line.iter().position(|&b| b == b' ') else {
        return 0;
    };
    let target = &line[sp + 1..];
    target
        .iter()
        .position(|&b| b == b' ' || b == b'\r')
        .unwrap_or(target.len())
}

fn too_large(buf: &[u8], limits: &HeadLimits) -> HeadError {
    // A request line that alone overflows the URI limit is a long URI, not big headers.
    if !request_line_done(&buf[..buf.len().min(limits.max_head_bytes)]) {
        return HeadError {
            status: StatusCode::URI_TOO_LONG,
            reason: "URI too long",
        };
    }
    HeadError {
        status: StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        reason: "request header fields too large",
    }
}

fn map_httparse_error(e: httparse::Error, buf: &[u8]) -> HeadError {
    use httparse::Error as E;
    match e {
        E::TooManyHeaders => HeadError {
            status: StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            reason: "too many header fields",
        },
        // A well-formed version other than 1.0/1.1 deserves 505, not 400 (RFC 9110 §15.6.6).
        E::Version if version_token(buf).is_some() => HeadError {
            status: StatusCode::HTTP_VERSION_NOT_SUPPORTED,
            reason: "HTTP version not supported",
        },
        // `GET /a b HTTP/1.1`: a space in the target (or a doubled one) leaves httparse
        // looking for the version in the wrong place. The line is malformed, not a request
        // in another version.
        E::Version if request_line(buf).is_some_and(|(_, line)| !has_three_tokens(line)) => {
            HeadError::bad("invalid request line")
        }
        E::Version => HeadError::bad("malformed HTTP version"),
        E::HeaderName => HeadError::bad("invalid header name"),
        E::HeaderValue => HeadError::bad("invalid header value"),
        E::NewLine => HeadError::bad("invalid line ending"),
        E::Token => HeadError::bad("invalid token in request line"),
        E::Status => HeadError::bad("invalid request line"),
    }
}

/// A complete request line in `buf`: where it starts, and the line without its line end.
fn request_line(buf: &[u8]) -> Option<(usize, &[u8])> {
    let start = request_line_start(buf);
    let line = &buf[start..];
    let end = line.iter().position(|&b| b == b'\n')?;
    Some((
        start,
        line[..end].strip_suffix(b"\r").unwrap_or(&line[..end]),
    ))
}

/// RFC 9112 §3: `method SP request-target SP HTTP-version`, single spaces, none inside.
fn has_three_tokens(line: &[u8]) -> bool {
    line.iter().filter(|&&b| b == b' ').count() == 2
}

/// Where a complete request line of three tokens ends in a well-formed `HTTP/d.d`: that
/// token's offset in `buf`.
fn version_token(buf: &[u8]) -> Option<usize> {
    let (start, line) = request_line(buf)?;
    if !has_three_tokens(line) {
        return None;
    }
    let sp = line.iter().rposition(|&b| b == b' ')?;
    let v = &line[sp + 1..];
    let well_formed = v.len() == 8
        && v.starts_with(b"HTTP/")
        && v[5].is_ascii_digit()
        && v[6] == b'.'
        && v[7].is_ascii_digit();
    well_formed.then_some(start + sp + 1)
}

/// The framing- and connection-relevant fields seen while copying headers.
#[derive(Default)]
struct Framing {
    hosts: u8,
    content_length: Option<u64>,
    /// Transfer-Encoding seen; `chunked_last` says whether its final coding is chunked.
    transfer_encoding: bool,
    chunked_last: bool,
    chunked_count: u8,
    unknown_coding: bool,
    conn_close: bool,
    conn_keep_alive: bool,
    conn_upgrade: bool,
    upgrade_field: bool,
    expect_continue: bool,
    expect_other: bool,
}

impl Framing {
    fn observe(&mut self, name: &HeaderName, value: &HeaderValue) -> Result<(), HeadError> {
        match *name {
            header::HOST => {
                self.hosts = self.hosts.saturating_add(1);
                // RFC 9112 §3.2: a Host with an invalid value is a 400, whatever the target.
                if !host::is_valid(value.as_bytes()) {
                    return Err(HeadError::bad("invalid Host header"));
                }
            }
            header::CONTENT_LENGTH => {
                // RFC 9110 §8.6: a list of identical values may be accepted as one; any other
                // difference is unrecoverable framing (RFC 9112 §6.3 point 5).
                let n = parse_content_length(value.as_bytes())
                    .ok_or(HeadError::bad("invalid Content-Length"))?;
                match self.content_length {
                    Some(prev) if prev != n => {
                        return Err(HeadError::bad("conflicting Content-Length values"))
                    }
                    _ => self.content_length = Some(n),
                }
            }
            header::TRANSFER_ENCODING => {
                self.transfer_encoding = true;
                for coding in value.as_bytes().split(|&b| b == b',') {
                    let coding = trim(coding);
                    if coding.is_empty() {
                        continue;
                    }
                    if coding.eq_ignore_ascii_case(b"chunked") {
                        self.chunked_count += 1;
                        self.chunked_last = true;
                    } else {
                        self.chunked_last = false;
                        self.unknown_coding = true;
                    }
                }
            }
            header::CONNECTION => {
                for token in value.as_bytes().split(|&b| b == b',') {
                    let token = trim(token);
                    if token.eq_ignore_ascii_case(b"close") {
                        self.conn_close = true;
                    } else if token.eq_ignore_ascii_case(b"keep-alive") {
                        self.conn_keep_alive = true;
                    } else if token.eq_ignore_ascii_case(b"upgrade") {
                        self.conn_upgrade = true;
                    }
                }
            }
            header::UPGRADE => self.upgrade_field = true,
            header::EXPECT => {
                if trim(value.as_bytes()).eq_ignore_ascii_case(b"100-continue") {
                    self.expect_continue = true;
                } else {
                    self.expect_other = true;
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn finish(
        self,
        method: Method,
        version: Version,
        mut headers: HeaderMap,
        uri: Option<Uri>,
        out: &mut Option<RequestHead>,
    ) -> Result<(), HeadError> {
        // RFC 9112 §3.2: a 1.1 request without Host, or with more than one, is a 400.
        if version == Version::HTTP_11 && self.hosts != 1 {
            return Err(HeadError::bad(if self.hosts == 0 {
                "missing Host header"
            } else {
                "multiple Host headers"
            }));
        }
        if self.hosts > 1 {
            return Err(HeadError::bad("multiple Host headers"));
        }
        if let Some(uri) = &uri {
            absolute_form_host(uri, &mut headers)?;
        }
        let body = if self.transfer_encoding {
            // RFC 9112 §6.1: TE and CL together may be a smuggling attempt; reject rather than
            // guess which one the other hop believed.
            if self.content_length.is_some() {
                return Err(HeadError::bad("both Transfer-Encoding and Content-Length"));
            }
            // RFC 9112 §6.1: a 1.0 message with TE has untrustworthy framing.
            if version == Version::HTTP_10 {
                return Err(HeadError::bad("Transfer-Encoding in an HTTP/1.0 request"));
            }
            // RFC 9112 §6.3 point 4: chunked must be the final coding, applied once.
            if !self.chunked_last || self.chunked_count != 1 {
                return Err(HeadError::bad("Transfer-Encoding must end in chunked"));
            }
            // Other codings before chunked (gzip, ...) are valid HTTP that we do not decode.
            if self.unknown_coding {
                return Err(HeadError {
                    status: StatusCode::NOT_IMPLEMENTED,
                    reason: "unsupported transfer coding",
                });
            }
            BodyLen::Chunked
        } else {
            match self.content_length {
                None | Some(0) => BodyLen::Empty,
                Some(n) => BodyLen::Length(n),
            }
        };
        if self.expect_other {
            return Err(HeadError {
                status: StatusCode::EXPECTATION_FAILED,
                reason: "unsupported expectation",
            });
        }
        let keep_alive = match version {
            Version::HTTP_10 => self.conn_keep_alive && !self.conn_close,
            _ => !self.conn_close,
        };
        // RFC 9110 §10.1.1: ignore 100-continue from 1.0 clients and on bodiless requests.
        let expect_continue =
            self.expect_continue && version == Version::HTTP_11 && body != BodyLen::Empty;
        // RFC 9110 §7.8: an HTTP/1.0 `Upgrade` is ignored (1.0 intermediaries may have
        // forwarded it without understanding `Connection`).
        let upgrade = method == Method::CONNECT
            || (self.conn_upgrade && self.upgrade_field && version == Version::HTTP_11);
        let head = out.insert(RequestHead {
            req: Request::new(Body::empty()),
            body,
            keep_alive,
            expect_continue,
            upgrade,
        });
        let req = &mut head.req;
        *req.method_mut() = method;
        if let Some(uri) = uri {
            *req.uri_mut() = uri;
        }
        *req.version_mut() = version;
        // The placeholder map `Request::new` made owns no memory (`HeaderMap::new` does not
        // allocate): replaced without running its drop.
        std::mem::forget(std::mem::replace(req.headers_mut(), headers));
        Ok(())
    }
}

/// An absolute-form target names the host itself. RFC 9112 §3.2.2: the server MUST then
/// ignore the Host field and use the target's authority — as Go's server does
/// (`req.Host = req.URL.Host`; a Host that disagrees is not refused, and neither here). Host is
/// set to that authority, so a handler reading it and the router reading the target never
/// disagree about which site a request is for. The usual request (origin-form) returns at once.
fn absolute_form_host(uri: &Uri, headers: &mut HeaderMap) -> Result<(), HeadError> {
    let Some(authority) = uri.authority().filter(|_| uri.scheme().is_some()) else {
        return Ok(());
    };
    let authority = authority.as_str();
    // RFC 9110 §4.2.4: userinfo in an http(s) URI from an untrusted source is an error; the
    // rest of the grammar is the same as Host's.
    if !host::is_valid(authority.as_bytes()) {
        return Err(HeadError::bad("invalid authority in request target"));
    }
    if headers
        .get(header::HOST)
        .is_some_and(|h| h.as_bytes() == authority.as_bytes())
    {
        return Ok(());
    }
    let value = HeaderValue::from_str(authority)
        .map_err(|_| HeadError::bad("invalid authority in request target"))?;
    headers.insert(header::HOST, value);
    Ok(())
}

/// Parses a Content-Length value: 1*DIGIT, at most 19 digits (fits u64), optionally a
/// comma-separated list of identical values.
pub(crate) fn parse_content_length(v: &[u8]) -> Option<u64> {
    let mut result: Option<u64> = None;
    for part in v.split(|&b| b == b',') {
        let part = trim(part);
        if part.is_empty() || part.len() > 19 || !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let n = part
            .iter()
            .fold(0u64, |acc, &d| acc * 10 + u64::from(d - b'0'));
        match result {
            Some(prev) if prev != n => return None,
            _ => result = Some(n),
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: HeadLimits = HeadLimits {
        max_head_bytes: 1024,
        max_uri_bytes: 256,
    };

    fn parse(s: &str) -> Result<Option<RequestHead>, HeadError> {
        let mut b = BytesMut::from(s);
        parse_request(&mut b, &LIMITS)
    }

    fn status(s: &str) -> StatusCode {
        parse(s).expect_err("should be rejected").status
    }

    #[test]
    fn simple_get_leaves_pipelined_bytes() {
        let mut b = BytesMut::from("GET /a?b HTTP/1.1\r\nHost: x\r\nX-Y: z\r\n\r\nGET /next");
        let h = parse_request(&mut b, &LIMITS).unwrap().unwrap();
        assert_eq!(h.method(), Method::GET);
        assert_eq!(h.uri(), "/a?b");
        assert_eq!(h.headers()["x-y"], "z");
        assert_eq!(h.body, BodyLen::Empty);
        assert!(h.keep_alive);
        assert_eq!(&b[..], b"GET /next");
    }

    #[test]
    fn the_root_target_is_the_parsed_root() {
        let h = parse("GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap().unwrap();
        let parsed = Uri::from_static("/");
        assert_eq!(*h.uri(), parsed);
        assert_eq!(h.uri().path(), parsed.path());
        assert_eq!(h.uri().query(), None);
        assert_eq!(h.uri().to_string(), "/");
        assert!(h.uri().scheme().is_none() && h.uri().authority().is_none());
    }

    #[test]
    fn partial_head_needs_more() {
        assert!(parse("GET / HTTP/1.1\r\nHost: x\r\n").unwrap().is_none());
    }

    #[test]
    fn framing_rules() {
        let h = parse("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(h.body, BodyLen::Length(5));
        let h = parse("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(h.body, BodyLen::Length(5));
        let h = parse("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(h.body, BodyLen::Chunked);
    }

    #[test]
    fn smuggling_vectors_are_400() {
        for req in [
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 6\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0x5\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\nX-A : a\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\nX\x01A: a\r\n\r\n",
            "GET / HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
        ] {
            assert_eq!(status(req), StatusCode::BAD_REQUEST, "{req:?}");
        }
    }

    #[test]
    fn host_must_be_an_authority() {
        for host in ["a b", "<script>", "evil@b", "a/b", "[::1", "a:x"] {
            let req = format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n");
            let e = parse(&req).expect_err(&req);
            assert_eq!(
                (e.status, e.reason),
                (StatusCode::BAD_REQUEST, "invalid Host header")
            );
        }
        for host in ["", "a.example:80", "[::1]:80"] {
            let req = format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n");
            assert!(matches!(parse(&req), Ok(Some(_))), "{req:?}");
        }
    }

    /// RFC 9112 §3.2.2: an absolute-form target's authority is the request's host, whatever
    /// Host said; userinfo in it is refused (RFC 9110 §4.2.4).
    #[test]
    fn absolute_form_authority_is_the_host() {
        for (req, host) in [
            ("GET http://a:8/x HTTP/1.1\r\nHost: b\r\n\r\n", "a:8"),
            ("GET http://a/x HTTP/1.1\r\nHost: \r\n\r\n", "a"),
            ("GET http://a/x HTTP/1.1\r\nHost: a\r\n\r\n", "a"),
            ("GET http://a/x HTTP/1.0\r\n\r\n", "a"),
            ("GET /x HTTP/1.1\r\nHost: b\r\n\r\n", "b"),
        ] {
            let h = parse(req).unwrap().unwrap();
            let hosts: Vec<_> = h.headers().get_all(header::HOST).iter().collect();
            assert_eq!(hosts, [host], "{req:?}");
        }
        let e = parse("GET http://u@a/ HTTP/1.1\r\nHost: a\r\n\r\n").unwrap_err();
        assert_eq!(e.reason, "invalid authority in request target");
    }

    /// Four tokens on the request line are a malformed line (400), not a version (505).
    #[test]
    fn space_inside_the_target_is_a_bad_request_line() {
        for line in ["GET /a b HTTP/1.1", "GET /a  HTTP/1.1", "GET /a b HTTP/1.5"] {
            let e = parse(&format!("{line}\r\nHost: x\r\n\r\n")).unwrap_err();
            assert_eq!(
                (e.status, e.reason),
                (StatusCode::BAD_REQUEST, "invalid request line")
            );
        }
    }

    /// A later minor version is rewritten to parse as 1.1, but a head still incomplete after
    /// the rewrite leaves the buffer exactly as it arrived.
    #[test]
    fn partial_later_minor_version_leaves_the_buffer_alone() {
        let mut buf = BytesMut::from("GET / HTTP/1.5\r\nHost: a\r\n");
        let before = buf.clone();
        assert!(parse_request(&mut buf, &LIMITS).unwrap().is_none());
        assert_eq!(buf, before);
        buf.extend_from_slice(b"\r\n");
        let head = parse_request(&mut buf, &LIMITS).unwrap().unwrap();
        assert_eq!(head.version(), Version::HTTP_11);
        assert!(buf.is_empty());
    }

    #[test]
    fn limits_and_versions() {
        let long_uri = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(300));
        assert_eq!(status(&long_uri), StatusCode::URI_TOO_LONG);
        let long_uri_partial = format!("GET /{}", "a".repeat(2000));
        assert_eq!(status(&long_uri_partial), StatusCode::URI_TOO_LONG);
        let big = format!(
            "GET / HTTP/1.1\r\nHost: x\r\nX: {}\r\n\r\n",
            "a".repeat(2000)
        );
        assert_eq!(status(&big), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
        let many: String = (0..200).map(|i| format!("h{i}: v\r\n")).collect();
        let many = format!("GET / HTTP/1.1\r\nHost: x\r\n{many}\r\n");
        let mut b = BytesMut::from(many.as_str());
        let e = parse_request(
            &mut b,
            &HeadLimits {
                max_head_bytes: 1 << 20,
                max_uri_bytes: 256,
            },
        );
        assert_eq!(
            e.unwrap_err().status,
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
        );
        assert_eq!(
            status("GET / HTTP/2.0\r\n\r\n"),
            StatusCode::HTTP_VERSION_NOT_SUPPORTED
        );
        assert_eq!(status("GET / HTTP/1.x\r\n\r\n"), StatusCode::BAD_REQUEST);
        assert_eq!(
            status("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
            StatusCode::NOT_IMPLEMENTED
        );
        assert_eq!(
            status("GET / HTTP/1.1\r\nHost: x\r\nExpect: bogus\r\n\r\n"),
            StatusCode::EXPECTATION_FAILED
        );
    }

    /// The unchecked header-value construction relies on httparse accepting exactly the bytes
    /// `HeaderValue` does: every byte, in the scalar and SIMD paths (short and long values).
    #[test]
    fn httparse_value_bytes_match_header_value_rules() {
        for b in 0u8..=255 {
            for len in [1usize, 40] {
                let mut value = vec![b'a'; len];
                value[len / 2] = b;
                let mut req = b"GET / HTTP/1.1\r\nHost: x\r\nX-V: ".to_vec();
                req.extend_from_slice(&value);
                req.extend_from_slice(b"z\r\n\r\n");
                let mut buf = BytesMut::from(&req[..]);
                let accepted = matches!(parse_request(&mut buf, &LIMITS), Ok(Some(_)));
                let valid = HeaderValue::from_bytes(&value).is_ok() && b != b'\r' && b != b'\n';
                assert_eq!(accepted, valid, "byte {b:#04x} len {len}");
            }
        }
    }

    /// Fuzz finding (h1_request): a head whose request line is long only because of its method
    /// or leading empty lines was refused with 414 when it arrived in pieces, yet accepted when
    /// it arrived whole. Only the request-target counts against the URI limit.
    #[test]
    fn partial_request_line_is_judged_by_its_target() {
        let limits = HeadLimits {
            max_head_bytes: 112,
            max_uri_bytes: 12,
        };
        let long_method = format!("{} D HTTP/1.0\n\n", "$".repeat(40));
        let empty_lines = format!("{}GET /abc HTTP/1.1\r\nHost: x\r\n\r\n", "\r\n".repeat(30));
        for req in [long_method, empty_lines] {
            for cut in 1..req.len() {
                let mut b = BytesMut::from(&req[..cut]);
                assert!(
                    matches!(parse_request(&mut b, &limits), Ok(None)),
                    "{req:?} cut at {cut}"
                );
                b.extend_from_slice(&req.as_bytes()[cut..]);
                assert!(
                    matches!(parse_request(&mut b, &limits), Ok(Some(_))),
                    "{req:?} cut at {cut}"
                );
            }
        }
        // A target over the limit is refused as soon as it is known: before its line ends, and
        // before the rest of the head arrives (as the whole head would be).
        for partial in [
            "GET /abcdefghijklm",
            "GET /abcdefghijklm HTTP/1.1\r\nHost: x\r\n",
        ] {
            let mut b = BytesMut::from(partial);
            let e = parse_request(&mut b, &limits).unwrap_err();
            assert_eq!(e.status, StatusCode::URI_TOO_LONG, "{partial:?}");
        }
    }

    /// Fuzz finding (h1_request): a target over the URI limit followed by the start of a
    /// version httparse rejects at once was 414 when the version had not arrived yet, but
    /// "wait for the line to end" when it had. Now 414 either way.
    #[test]
    fn a_long_target_is_414_whatever_follows_it() {
        let limits = HeadLimits {
            max_head_bytes: 800,
            max_uri_bytes: 8,
        };
        let req = b"T VVVVVVVVVVVVVVVVa:1 \0\0+H\0A\0 ";
        // From the ninth byte of the target on.
        for cut in 11..=req.len() {
            let mut b = BytesMut::from(&req[..cut]);
            let e = parse_request(&mut b, &limits).unwrap_err();
            assert_eq!(e.status, StatusCode::URI_TOO_LONG, "cut at {cut}");
        }
        // A target within the limit still waits for the line to end.
        let mut b = BytesMut::from(&b"GET /a \0\0"[..]);
        assert!(matches!(parse_request(&mut b, &limits), Ok(None)));
    }

    /// Fed a byte at a time, a head is parsed only a bounded number of times past the URI
    /// limit, and still as soon as it is complete.
    #[test]
    fn dribbled_head_is_not_reparsed_per_byte() {
        let limits = HeadLimits {
            max_head_bytes: 64 * 1024,
            max_uri_bytes: 256,
        };
        let value = "v".repeat(300);
        let fields: String = (0..100).map(|i| format!("x-h{i}: {value}\r\n")).collect();
        let req = format!("GET / HTTP/1.1\r\nHost: x\r\n{fields}\r\n");
        let mut progress = HeadProgress::default();
        let mut buf = BytesMut::new();
        let mut parses = 0;
        for (i, &b) in req.as_bytes().iter().enumerate() {
            buf.extend_from_slice(&[b]);
            if !progress.should_parse(&buf) {
                continue;
            }
            parses += 1;
            match parse_request(&mut buf, &limits) {
                Ok(None) => progress.partial(buf.len(), &limits),
                Ok(Some(_)) => {
                    assert_eq!(i + 1, req.len(), "complete exactly at the blank line");
                    break;
                }
                Err(e) => panic!("rejected: {e:?}"),
            }
        }
        assert!(buf.is_empty(), "the head was parsed");
        assert!(
            parses < 400,
            "{parses} parses for a {}-byte head",
            req.len()
        );
    }

    #[test]
    fn blank_line_detection() {
        assert!(has_blank_line(b"a\n\n"));
        assert!(has_blank_line(b"a\r\n\r\n"));
        assert!(!has_blank_line(b"a\r\nb\r\n"));
        assert!(!has_blank_line(b"\n\r"));
    }

    #[test]
    fn connection_semantics() {
        let h = parse("GET / HTTP/1.0\r\n\r\n").unwrap().unwrap();
        assert!(!h.keep_alive);
        let h = parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(h.keep_alive);
        let h = parse("GET / HTTP/1.1\r\nHost: x\r\nConnection: foo, close\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(!h.keep_alive);
        let h = parse(
            "POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n",
        )
        .unwrap()
        .unwrap();
        assert!(h.expect_continue);
    }
}
