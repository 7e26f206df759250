//! Response head parsing, the client's side of the codec: httparse tokenizes the status line
//! and fields, this file applies RFC 9112 §6.3's rules for how long the body is and whether
//! the connection may carry another request. Field values are slices of one copy of the
//! head, not one allocation each.

use std::time::Duration;

use bytes::BytesMut;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode, Version};

use super::fields::{self, Spans};
use super::parse::{parse_content_length, trim};

/// Most header fields accepted in one response head. Larger than the request limit: responses
/// legitimately carry many `Set-Cookie` lines.
pub(crate) const MAX_RESPONSE_HEADERS: usize = 256;

/// How the response body is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResponseBodyLen {
    /// No body: HEAD, 1xx, 204, 304, or `Content-Length: 0`.
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Until the server closes the connection.
    Eof,
}

/// A parsed response head.
#[derive(Debug)]
pub(crate) struct ResponseHead {
    pub status: StatusCode,
    pub version: Version,
    pub headers: HeaderMap,
    pub body: ResponseBodyLen,
    /// The server allows another request on this connection.
    pub keep_alive: bool,
    /// The server's `Keep-Alive: timeout=N` hint: it closes idle connections after this.
    pub idle_hint: Option<Duration>,
}

/// Why a response head is unusable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ResponseError(pub &'static str);

/// Tries to parse one response head from the front of `buf`, for a request made with
/// `method`. `Ok(None)` means more bytes are needed and `max_head_bytes` is not yet exceeded;
/// on success the head's bytes leave `buf`, and the body stays behind.
pub(crate) fn parse_response(
    buf: &mut BytesMut,
    method: &Method,
    max_head_bytes: usize,
) -> Result<Option<ResponseHead>, ResponseError> {
    // Most responses carry a few headers: try a small array first (httparse needs it
    // zeroed), and only a response with more pays for the large one.
    let mut small = [httparse::EMPTY_HEADER; 32];
    let mut large;
    let mut res = httparse::Response::new(&mut small);
    let mut status = res.parse(buf);
    if status == Err(httparse::Error::TooManyHeaders) {
        large = vec![httparse::EMPTY_HEADER; MAX_RESPONSE_HEADERS];
        res = httparse::Response::new(&mut large);
        status = res.parse(buf);
    }
    let status = status.map_err(|e| {
        ResponseError(match e {
            httparse::Error::TooManyHeaders => "too many response header fields",
            httparse::Error::Version => "response is not HTTP/1.x",
            httparse::Error::Status => "invalid response status",
            _ => "malformed response head",
        })
    })?;
    let head_len = match status {
        httparse::Status::Complete(n) => n,
        httparse::Status::Partial if buf.len() > max_head_bytes => {
            return Err(ResponseError("response head too large"))
        }
        httparse::Status::Partial => return Ok(None),
    };
    if head_len > max_head_bytes {
        return Err(ResponseError("response head too large"));
    }
    let code = res.code.unwrap_or(0);
    let status =
        StatusCode::from_u16(code).map_err(|_| ResponseError("invalid response status"))?;
    let version = if res.version == Some(0) {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    };
    let mut spans = Spans::<MAX_RESPONSE_HEADERS>::new();
    spans.record(res.headers, buf.as_ptr());
    let spans = spans.as_slice();
    let head = buf.split_to(head_len).freeze();
    let mut headers = HeaderMap::with_capacity(spans.len());
    let mut framing = Framing::default();
    for &span in spans {
        let (name, value) =
            fields::field(&head, span).ok_or(ResponseError("invalid response header name"))?;
        framing.observe(&name, &value)?;
        headers.append(name, value);
    }
    framing.finish(status, version, method, headers).map(Some)
}

/// The framing- and connection-relevant fields seen while copying headers.
#[derive(Default)]
struct Framing {
    content_length: Option<u64>,
    transfer_encoding: bool,
    /// Transfer codings listed, over every `Transfer-Encoding` line.
    codings: u32,
    chunked_last: bool,
    conn_close: bool,
    conn_keep_alive: bool,
    idle_hint: Option<Duration>,
}

impl Framing {
    fn observe(&mut self, name: &HeaderName, value: &HeaderValue) -> Result<(), ResponseError> {
        match *name {
            header::CONTENT_LENGTH => {
                // RFC 9112 §6.3 point 5: an invalid length, or differing ones, leave the
                // framing unknowable; the response is unusable.
                let n = parse_content_length(value.as_bytes())
                    .ok_or(ResponseError("invalid Content-Length in response"))?;
                match self.content_length {
                    Some(prev) if prev != n => {
                        return Err(ResponseError("conflicting Content-Length in response"))
                    }
                    _ => self.content_length = Some(n),
                }
            }
            header::TRANSFER_ENCODING => {
                self.transfer_encoding = true;
                for coding in value.as_bytes().split(|&b| b == b',') {
                    let coding = trim(coding);
                    if !coding.is_empty() {
                        self.codings = self.codings.saturating_add(1);
                        self.chunked_last = coding.eq_ignore_ascii_case(b"chunked");
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
                    }
                }
            }
            _ if name.as_str() == "keep-alive" => {
                self.idle_hint = keep_alive_timeout(value.as_bytes());
            }
            _ => {}
        }
        Ok(())
    }

    fn finish(
        self,
        status: StatusCode,
        version: Version,
        method: &Method,
        mut headers: HeaderMap,
    ) -> Result<ResponseHead, ResponseError> {
        let mut keep_alive = match version {
            Version::HTTP_10 => self.conn_keep_alive && !self.conn_close,
            _ => !self.conn_close,
        };
        // RFC 9112 §6.3, in its order.
        let body = if *method == Method::HEAD
            || status.is_informational()
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED
        {
            ResponseBodyLen::Empty
        } else if self.transfer_encoding {
            // §6.1: Transfer-Encoding came with HTTP/1.1; in an HTTP/1.0 message "the framing
            // is faulty, even if a Content-Length is present".
            if version == Version::HTTP_10 {
                return Err(ResponseError("Transfer-Encoding in an HTTP/1.0 response"));
            }
            // Point 4 would read a body whose final coding is not chunked until the close,
            // and hand it over still encoded (gzip, ...) as if it were the content: we decode
            // no transfer coding but chunked, so such a body is unusable, and so is one
            // chunked twice or coded before chunking. As Go's client (`unsupported transfer
            // encoding`), the response is an error; only exactly `chunked` is accepted.
            if self.codings != 1 || !self.chunked_last {
                return Err(ResponseError(
                    "unsupported Transfer-Encoding in response (only chunked is understood)",
                ));
            }
            // Point 3: with both, Transfer-Encoding wins: the Content-Length is wrong and is
            // removed, as an intermediary must (§6.3 point 3), so the caller never sizes the
            // body by it; and the connection is not reused, since whoever sent both may
            // disagree with us about where the message ends.
            if self.content_length.is_some() {
                headers.remove(header::CONTENT_LENGTH);
                keep_alive = false;
            }
            ResponseBodyLen::Chunked
        } else {
            match self.content_length {
                Some(0) => ResponseBodyLen::Empty,
                Some(n) => ResponseBodyLen::Length(n),
                None => {
                    keep_alive = false;
                    ResponseBodyLen::Eof
                }
            }
        };
        Ok(ResponseHead {
            status,
            version,
            headers,
            body,
            keep_alive,
            idle_hint: self.idle_hint,
        })
    }
}

/// The `timeout=N` parameter of a `Keep-Alive` header (RFC 2068 §19.7.1.1), in seconds.
fn keep_alive_timeout(v: &[u8]) -> Option<Duration> {
    v.split(|&b| b == b',').find_map(|param| {
        let param = trim(param);
        let (name, value) = param.split_at(param.iter().position(|&b| b == b'=')?);
        if !trim(name).eq_ignore_ascii_case(b"timeout") {
            return None;
        }
        let digits = trim(&value[1..]);
        if digits.is_empty() || digits.len() > 9 || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let secs = digits
            .iter()
            .fold(0u64, |acc, &d| acc * 10 + u64::from(d - b'0'));
        Some(Duration::from_secs(secs))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &str, method: Method) -> Result<Option<ResponseHead>, ResponseError> {
        let mut buf = BytesMut::from(bytes);
        parse_response(&mut buf, &method, 64 * 1024)
    }

    fn head(bytes: &str) -> ResponseHead {
        parse(bytes, Method::GET).unwrap().unwrap()
    }

    #[test]
    fn framing_follows_rfc_9112_section_6_3() {
        let h = head("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
        assert_eq!(h.body, ResponseBodyLen::Length(5));
        assert!(h.keep_alive);
        let h = head("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_eq!(h.body, ResponseBodyLen::Chunked);
        assert!(h.keep_alive);
        // Both: chunked wins, the length goes, and the connection is not reused.
        let h = head("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_eq!(h.body, ResponseBodyLen::Chunked);
        assert!(!h.keep_alive);
        assert!(!h.headers.contains_key(header::CONTENT_LENGTH));
        assert_eq!(h.headers[header::TRANSFER_ENCODING], "chunked");
        let h = head("HTTP/1.1 200 OK\r\nTransfer-Encoding:  Chunked \r\n\r\n");
        assert_eq!(h.body, ResponseBodyLen::Chunked);
        assert!(h.keep_alive);
        let h = head("HTTP/1.1 200 OK\r\n\r\n");
        assert_eq!(h.body, ResponseBodyLen::Eof);
        assert!(!h.keep_alive);
        for status in ["204 No Content", "304 Not Modified", "100 Continue"] {
            let h = head(&format!("HTTP/1.1 {status}\r\nContent-Length: 9\r\n\r\n"));
            assert_eq!(h.body, ResponseBodyLen::Empty, "{status}");
        }
        let h = parse("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", Method::HEAD)
            .unwrap()
            .unwrap();
        assert_eq!(h.body, ResponseBodyLen::Empty);
        assert!(h.keep_alive);
    }

    #[test]
    fn transfer_encoding_other_than_exactly_chunked_is_an_error() {
        for te in [
            "gzip, chunked",
            "chunked, gzip",
            "identity",
            "gzip",
            "chunked, chunked",
            "chunked\r\nTransfer-Encoding: chunked",
            "gzip\r\nTransfer-Encoding: chunked",
            "",
            ",",
        ] {
            let r = parse(
                &format!("HTTP/1.1 200 OK\r\nTransfer-Encoding: {te}\r\nContent-Length: 3\r\n\r\n"),
                Method::GET,
            );
            assert!(r.is_err(), "{te:?}");
        }
        let r = parse(
            "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            Method::GET,
        );
        assert!(r.is_err());
        // Without a body the coding frames nothing: a HEAD answer or a 304 passes.
        let h = parse(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            Method::HEAD,
        )
        .unwrap()
        .unwrap();
        assert_eq!(h.body, ResponseBodyLen::Empty);
        let h = head("HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: gzip\r\n\r\n");
        assert_eq!(h.body, ResponseBodyLen::Empty);
    }

    #[test]
    fn bad_lengths_are_errors() {
        for cl in ["abc", "-1", "1 2", "5, 6", "99999999999999999999"] {
            let r = parse(
                &format!("HTTP/1.1 200 OK\r\nContent-Length: {cl}\r\n\r\n"),
                Method::GET,
            );
            assert!(r.is_err(), "{cl}");
        }
        let h = head("HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n");
        assert_eq!(h.body, ResponseBodyLen::Length(5));
    }

    #[test]
    fn keep_alive_rules_and_hint() {
        assert!(!head("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").keep_alive);
        assert!(
            head("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n")
                .keep_alive
        );
        assert!(
            !head("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n").keep_alive
        );
        let h =
            head("HTTP/1.1 200 OK\r\nKeep-Alive: max=100, timeout=5\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(h.idle_hint, Some(Duration::from_secs(5)));
        let h = head("HTTP/1.1 200 OK\r\nKeep-Alive: timeout=x\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(h.idle_hint, None);
    }

    #[test]
    fn partial_heads_wait_until_the_limit() {
        assert!(parse("HTTP/1.1 200 OK\r\nA: b\r\n", Method::GET)
            .unwrap()
            .is_none());
        let mut buf = BytesMut::from(&b"HTTP/1.1 200 OK\r\nA: "[..]);
        buf.extend_from_slice(&[b'x'; 100]);
        assert!(parse_response(&mut buf, &Method::GET, 64).is_err());
        assert!(parse("HTTP/2 200 OK\r\n\r\n", Method::GET).is_err());
        assert!(parse("HTTP/1.1 20 OK\r\n\r\n", Method::GET).is_err());
    }

    #[test]
    fn head_bytes_leave_the_buffer_and_the_body_stays() {
        let mut buf = BytesMut::from("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhiHTTP");
        let h = parse_response(&mut buf, &Method::GET, 1024)
            .unwrap()
            .unwrap();
        assert_eq!(h.status, StatusCode::OK);
        assert_eq!(&buf[..], b"hiHTTP");
    }
}
