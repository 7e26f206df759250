//! Fuzzing entry points (cargo feature `fuzzing`, for the cargo-fuzz targets in `fuzz/` only):
//! thin drivers that push bytes through the real HTTP/1.1 head parsers (`proto::h1::parse` for
//! requests, `proto::h1::parse_response` for responses) and body decoders (`proto::h1::decode`;
//! the client's response decoders (gzip, br, zstd, deflate) in [`decode`]; the authority checks in [`host`]; the trailer
//! filter in [`trailers`])
//! the way a connection does — arriving in pieces, at split points the fuzzer chooses — and
//! panic when an invariant breaks, which is how libFuzzer reports a finding. Nothing here parses HTTP itself; it only feeds, observes and compares.
//!
//! Invariants checked:
//! - a partial head (`Ok(None)`) consumes nothing and is never more than `max_head_bytes`;
//! - an accepted head is at most `max_head_bytes`, ends in LF, leaves every byte after it in
//!   the buffer, has at most `MAX_HEADERS` fields whose values `HeaderValue` itself would accept
//!   (the parser builds them unchecked), and its framing agrees with its headers;
//! - body decoders hand out non-empty data frames taken in place from the input, hold at most
//!   the trailer limit unconsumed while waiting for more, leave the bytes after the body in the
//!   buffer, and accept only CRLF line ends in chunked framing;
//! - the outcome (accepted or not, head, data, trailers, leftover bytes) does not depend on how
//!   the input was split. For heads only accepted-or-not is compared on rejection: a server that
//!   has seen less of the input may rightly reject it for a different reason first.

pub mod decode;
pub mod host;
pub mod trailers;

use bytes::BytesMut;
use http::{HeaderMap, HeaderValue, Method, Version};

use crate::proto::h1::decode::{Decoded, Decoder, MAX_TRAILER_BYTES};
use crate::proto::h1::parse::{self, BodyLen, HeadLimits, RequestHead, MAX_HEADERS};

/// How a request body is framed, as the head parser decided (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    Empty,
    /// Content-Length.
    Length(u64),
    /// Transfer-Encoding: chunked.
    Chunked,
}

/// A parsed head in owned, comparable form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub method: Method,
    pub uri: String,
    pub version: Version,
    /// Fields in order, names lowercased.
    pub headers: Vec<(String, Vec<u8>)>,
    pub framing: Framing,
    pub keep_alive: bool,
    pub expect_continue: bool,
    /// Bytes of input the head took: the body (or the next request) starts here.
    pub head_len: usize,
}

/// What the head parser made of an input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeadOutcome {
    /// All input was fed and the head is still incomplete (and within the limits).
    Incomplete,
    /// Rejected with this status.
    Rejected(u16),
    /// A head was accepted.
    Parsed(Head),
}

/// How a body's decoding ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyEnd {
    /// The body ended; `rest` is everything after it (a pipelined request).
    Complete {
        trailers: Option<Vec<(String, Vec<u8>)>>,
        rest: Vec<u8>,
    },
    /// All input was fed and the body has not ended.
    Incomplete,
    /// The framing is invalid, for this reason.
    Invalid(&'static str),
}

/// What a body decoder made of an input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyOutcome {
    /// Body data handed out, concatenated.
    pub data: Vec<u8>,
    pub end: BodyEnd,
}

/// Split points (offsets where a new read starts) from fuzzer bytes: a count, then two bytes
/// per point. Returns the points and the unused rest of `seed`.
pub fn split_points(seed: &[u8], max_points: usize) -> (Vec<usize>, &[u8]) {
    let Some((&n, rest)) = seed.split_first() else {
        return (Vec::new(), seed);
    };
    let n = (usize::from(n) % (max_points + 1)).min(rest.len() / 2);
    let (points, rest) = rest.split_at(n * 2);
    let points = points
        .chunks_exact(2)
        .map(|p| usize::from(u16::from_le_bytes([p[0], p[1]])))
        .collect();
    (points, rest)
}

/// Where each read ends when `len` bytes arrive split at `splits` (taken modulo `len + 1`,
/// in any order; duplicates and 0 ignored).
fn read_ends(len: usize, splits: &[usize]) -> Vec<usize> {
    let mut ends: Vec<usize> = splits
        .iter()
        .map(|&s| s % (len + 1))
        .filter(|&s| s > 0)
        .collect();
    ends.push(len);
    ends.sort_unstable();
    ends.dedup();
    ends.retain(|&e| e > 0);
    ends
}

/// Parses a request head from `data` arriving in pieces split at `splits`, as the server's
/// read loop does (parse after each read, on everything received so far), checks the
/// invariants, and checks that parsing `data` in one piece agrees.
pub fn parse_request_split(
    data: &[u8],
    splits: &[usize],
    max_head_bytes: usize,
    max_uri_bytes: usize,
) -> HeadOutcome {
    let limits = HeadLimits {
        max_head_bytes,
        max_uri_bytes,
    };
    assert_scanner_agrees(data);
    let split = parse_fed(data, &read_ends(data.len(), splits), &limits).0;
    let whole = parse_fed(data, &read_ends(data.len(), &[]), &limits).0;
    assert_same_head(&split, &whole);
    split
}

/// The one-pass scanner for common heads (`proto::h1::scan`) finds in `data` exactly what
/// httparse does, whenever it takes it at all.
fn assert_scanner_agrees(data: &[u8]) {
    use crate::proto::h1::scan;
    if let Some(fast) = scan::scanned(data) {
        assert_eq!(
            Some(fast),
            scan::httparse_pieces(data),
            "the head scanner and httparse disagree"
        );
    }
}

/// A whole request — head, then the body its framing says — from `data` arriving in pieces
/// split at `splits`: the body decoder starts on the bytes the head parse left in the buffer,
/// as on a connection. Checks every invariant above, and that one-piece input agrees.
pub fn request_split(
    data: &[u8],
    splits: &[usize],
    max_head_bytes: usize,
    max_uri_bytes: usize,
) -> (HeadOutcome, Option<BodyOutcome>) {
    let limits = HeadLimits {
        max_head_bytes,
        max_uri_bytes,
    };
    assert_scanner_agrees(data);
    let run = |ends: &[usize]| {
        let (head, fed) = parse_fed(data, ends, &limits);
        let body = match &head {
            HeadOutcome::Parsed(h) => {
                // The buffer holds data[head_len..fed]; later reads end where they did.
                let mut body_ends: Vec<usize> = ends
                    .iter()
                    .filter(|&&e| e >= fed)
                    .map(|&e| e - h.head_len)
                    .collect();
                body_ends.retain(|&e| e > 0);
                Some(decode_fed(h.framing, &data[h.head_len..], &body_ends))
            }
            _ => None,
        };
        (head, body)
    };
    let (head, body) = run(&read_ends(data.len(), splits));
    let (whole_head, whole_body) = run(&read_ends(data.len(), &[]));
    assert_same_head(&head, &whole_head);
    if matches!(head, HeadOutcome::Parsed(_)) {
        assert_eq!(
            body, whole_body,
            "body outcome depends on how the request was split"
        );
    }
    (head, body)
}

/// Decodes a body framed by `framing` from `data` arriving in pieces split at `splits`,
/// checks the invariants, and checks that decoding `data` in one piece agrees.
pub fn decode_body_split(framing: Framing, data: &[u8], splits: &[usize]) -> BodyOutcome {
    let split = decode_fed(framing, data, &read_ends(data.len(), splits));
    let whole = decode_fed(framing, data, &read_ends(data.len(), &[]));
    assert_eq!(
        split, whole,
        "body outcome depends on how the input was split"
    );
    split
}

fn assert_same_head(a: &HeadOutcome, b: &HeadOutcome) {
    match (a, b) {
        (HeadOutcome::Rejected(_), HeadOutcome::Rejected(_)) => {}
        _ => assert_eq!(a, b, "head outcome depends on how the input was split"),
    }
}

/// Feeds `data` up to each of `ends` in turn, parsing after each. Returns the outcome and how
/// many bytes had been fed when it was reached.
fn parse_fed(data: &[u8], ends: &[usize], limits: &HeadLimits) -> (HeadOutcome, usize) {
    let mut buf = BytesMut::new();
    let mut fed = 0;
    for &end in ends {
        buf.extend_from_slice(&data[fed..end]);
        fed = end;
        match parse::parse_request(&mut buf, limits) {
            Ok(None) => {
                assert_eq!(&buf[..], &data[..fed], "a partial parse consumed bytes");
                assert!(
                    buf.len() <= limits.max_head_bytes,
                    "partial head of {} bytes kept waiting past max_head_bytes {}",
                    buf.len(),
                    limits.max_head_bytes
                );
            }
            Ok(Some(head)) => {
                let head_len = fed - buf.len();
                assert!(
                    head_len > 0 && head_len <= limits.max_head_bytes,
                    "accepted a head of {head_len} bytes, max_head_bytes {}",
                    limits.max_head_bytes
                );
                assert_eq!(data[head_len - 1], b'\n', "an accepted head must end in LF");
                assert_eq!(
                    &buf[..],
                    &data[head_len..fed],
                    "bytes after the head were not kept"
                );
                return (HeadOutcome::Parsed(check_head(head, head_len, limits)), fed);
            }
            Err(e) => {
                assert!(
                    e.status.is_client_error() || e.status.is_server_error(),
                    "rejection with status {}",
                    e.status
                );
                return (HeadOutcome::Rejected(e.status.as_u16()), fed);
            }
        }
    }
    (HeadOutcome::Incomplete, fed)
}

/// Checks an accepted head against its own fields and returns it in comparable form.
fn check_head(head: RequestHead, head_len: usize, limits: &HeadLimits) -> Head {
    assert!(
        head.headers().len() <= MAX_HEADERS,
        "{} header fields",
        head.headers().len()
    );
    for (name, value) in head.headers() {
        // The parser builds values unchecked, trusting httparse to accept what HeaderValue does.
        assert!(
            HeaderValue::from_bytes(value.as_bytes()).is_ok(),
            "{name}: {value:?} is not a valid header value"
        );
    }
    let uri = head.uri().to_string();
    if uri.starts_with('/') {
        assert!(
            uri.len() <= limits.max_uri_bytes,
            "accepted a {}-byte URI",
            uri.len()
        );
    }

    let values = |name| head.headers().get_all(name).iter().collect::<Vec<_>>();
    let te = values(http::header::TRANSFER_ENCODING);
    let cl = values(http::header::CONTENT_LENGTH);
    let framing = match head.body {
        BodyLen::Empty => {
            assert!(te.is_empty(), "Transfer-Encoding but no body");
            assert!(
                cl.iter().all(|v| v
                    .as_bytes()
                    .split(|&b| b == b',')
                    .all(|p| p.trim_ascii().iter().all(|&d| d == b'0'))),
                "Content-Length other than 0 but no body: {cl:?}"
            );
            Framing::Empty
        }
        BodyLen::Length(n) => {
            assert!(
                te.is_empty() && !cl.is_empty() && n > 0,
                "Length({n}) with TE {te:?}, CL {cl:?}"
            );
            Framing::Length(n)
        }
        BodyLen::Chunked => {
            assert!(
                !te.is_empty() && cl.is_empty(),
                "chunked with TE {te:?}, CL {cl:?}"
            );
            assert_eq!(head.version(), Version::HTTP_11, "chunked in HTTP/1.0");
            Framing::Chunked
        }
    };
    if head.version() == Version::HTTP_11 {
        assert_eq!(
            values(http::header::HOST).len(),
            1,
            "HTTP/1.1 without exactly one Host"
        );
    }
    // Host is an authority, and an absolute-form target's authority replaces it.
    for h in values(http::header::HOST) {
        assert!(
            crate::proto::host::is_valid(h.as_bytes()),
            "accepted Host {h:?}"
        );
        assert!(
            !h.as_bytes().contains(&b'@'),
            "accepted Host {h:?} with userinfo"
        );
    }
    if let Some(authority) = head
        .uri()
        .authority()
        .filter(|_| head.uri().scheme().is_some())
    {
        assert_eq!(
            values(http::header::HOST),
            [authority.as_str()],
            "Host is not the absolute-form target's authority"
        );
    }
    if head.expect_continue {
        assert!(
            head.version() == Version::HTTP_11 && framing != Framing::Empty,
            "stray 100-continue"
        );
    }
    Head {
        method: head.method().clone(),
        uri,
        version: head.version(),
        headers: fields(head.headers()),
        framing,
        keep_alive: head.keep_alive,
        expect_continue: head.expect_continue,
        head_len,
    }
}

fn fields(map: &HeaderMap) -> Vec<(String, Vec<u8>)> {
    map.iter()
        .map(|(n, v)| (n.as_str().to_owned(), v.as_bytes().to_vec()))
        .collect()
}

/// Decodes `data` fed up to each of `ends` in turn (the buffer starts with `data[..ends[0]]`),
/// decoding until the decoder needs more before each read, as `RecvBody` does.
fn decode_fed(framing: Framing, data: &[u8], ends: &[usize]) -> BodyOutcome {
    let mut decoder = match framing {
        Framing::Empty => {
            return BodyOutcome {
                data: Vec::new(),
                end: BodyEnd::Complete {
                    trailers: None,
                    rest: data.to_vec(),
                },
            }
        }
        Framing::Length(n) => Decoder::length(n),
        Framing::Chunked => Decoder::chunked(),
    };
    let mut ends = ends.iter().copied();
    let mut buf = BytesMut::new();
    let mut fed = 0;
    let mut out = Vec::new();
    // Which input bytes were handed out as data (the rest, once consumed, is framing).
    let mut is_data = vec![false; data.len()];
    loop {
        match decoder.decode(&mut buf) {
            Ok(Decoded::Data(d)) => {
                assert!(!d.is_empty(), "empty data frame");
                // The decoder may consume framing first, then the data, in one call.
                let at = fed - buf.len() - d.len();
                assert_eq!(
                    &d[..],
                    &data[at..at + d.len()],
                    "data is not the input in place"
                );
                is_data[at..at + d.len()].fill(true);
                out.extend_from_slice(&d);
                if let Framing::Length(n) = framing {
                    assert!(out.len() as u64 <= n, "more than Content-Length handed out");
                }
            }
            Ok(Decoded::NeedMore) => {
                assert!(!decoder.is_done(), "done decoder wants more");
                assert!(
                    buf.len() <= MAX_TRAILER_BYTES,
                    "{} bytes held unconsumed, more than the trailer limit",
                    buf.len()
                );
                match ends.next() {
                    Some(end) => {
                        buf.extend_from_slice(&data[fed..end]);
                        fed = end;
                    }
                    None => {
                        return BodyOutcome {
                            data: out,
                            end: BodyEnd::Incomplete,
                        }
                    }
                }
            }
            Ok(Decoded::Done(trailers)) => {
                assert!(decoder.is_done(), "decoder not done after Done");
                assert!(
                    trailers.is_none() || framing == Framing::Chunked,
                    "trailers without chunked"
                );
                if let Framing::Length(n) = framing {
                    assert_eq!(out.len() as u64, n, "body ended short of Content-Length");
                }
                let consumed = fed - buf.len();
                assert_eq!(
                    &buf[..],
                    &data[consumed..fed],
                    "bytes after the body were not kept"
                );
                // Chunked framing is strict: every LF it consumed follows a CR of the framing.
                for i in (0..consumed).filter(|&i| !is_data[i] && data[i] == b'\n') {
                    assert!(
                        i > 0 && data[i - 1] == b'\r' && !is_data[i - 1],
                        "bare LF accepted in chunked framing at byte {i}"
                    );
                }
                assert_eq!(
                    decoder.decode(&mut buf),
                    Ok(Decoded::Done(None)),
                    "done decoder changed"
                );
                assert_eq!(buf.len(), fed - consumed, "done decoder consumed bytes");
                return BodyOutcome {
                    data: out,
                    end: BodyEnd::Complete {
                        trailers: trailers.as_ref().map(fields),
                        rest: data[consumed..].to_vec(),
                    },
                };
            }
            Err(e) => {
                return BodyOutcome {
                    data: out,
                    end: BodyEnd::Invalid(e.0),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drives_a_pipelined_chunked_request() {
        let data = b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
                     3\r\nabc\r\n0\r\nT: 1\r\n\r\nGET / HTTP/1.1\r\n";
        for split in 0..data.len() {
            let (head, body) = request_split(data, &[split, split / 2], 1024, 256);
            let HeadOutcome::Parsed(h) = head else {
                panic!("{head:?}")
            };
            assert_eq!(h.framing, Framing::Chunked);
            let body = body.unwrap();
            assert_eq!(body.data, b"abc");
            let BodyEnd::Complete { trailers, rest } = body.end else {
                panic!("{:?}", body.end)
            };
            assert_eq!(trailers, Some(vec![("t".to_owned(), b"1".to_vec())]));
            assert_eq!(rest, b"GET / HTTP/1.1\r\n");
        }
    }

    #[test]
    fn split_points_from_seed() {
        assert_eq!(
            split_points(&[2, 5, 0, 1, 1, 9], 8),
            (vec![5, 257], &[9][..])
        );
        assert_eq!(split_points(&[7, 5], 8), (vec![], &[5][..]));
        assert_eq!(read_ends(10, &[0, 3, 3, 25, 10]), vec![3, 10]);
        assert_eq!(read_ends(0, &[4]), Vec::<usize>::new());
    }
}

/// What the client's response head parser made of an input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseOutcome {
    /// All input was fed and the head is still incomplete (and within the limit).
    Incomplete,
    /// Rejected (the client reports a parse error).
    Rejected,
    /// A head was accepted: status, framing, keep-alive, and the body that followed.
    Parsed {
        status: u16,
        framing: Framing,
        until_close: bool,
        keep_alive: bool,
        body: BodyOutcome,
    },
}

/// Parses a response head (to a GET, or to a HEAD when `head_request`) from `data` arriving
/// in pieces split at `splits`, the way the client reads, then decodes the body its framing
/// picks from the bytes that follow; checks the invariants, and that the outcome is the same
/// when `data` arrives in one piece.
pub fn response_split(
    data: &[u8],
    splits: &[usize],
    max_head_bytes: usize,
    head_request: bool,
) -> ResponseOutcome {
    let split = response_fed(
        data,
        &read_ends(data.len(), splits),
        max_head_bytes,
        head_request,
    );
    let whole = response_fed(
        data,
        &read_ends(data.len(), &[]),
        max_head_bytes,
        head_request,
    );
    assert_eq!(
        split, whole,
        "response outcome depends on how the input was split"
    );
    split
}

fn response_fed(
    data: &[u8],
    ends: &[usize],
    max_head_bytes: usize,
    head_request: bool,
) -> ResponseOutcome {
    use crate::proto::h1::parse_response::{parse_response, ResponseBodyLen};
    let method = if head_request {
        Method::HEAD
    } else {
        Method::GET
    };
    let mut buf = BytesMut::new();
    let mut fed = 0;
    for &end in ends {
        buf.extend_from_slice(&data[fed..end]);
        fed = end;
        let before = buf.len();
        match parse_response(&mut buf, &method, max_head_bytes) {
            Err(_) => return ResponseOutcome::Rejected,
            Ok(None) => {
                assert_eq!(buf.len(), before, "a partial head consumed bytes");
                assert!(buf.len() <= max_head_bytes, "partial head past the limit");
            }
            Ok(Some(head)) => {
                let head_len = before - buf.len();
                assert!(head_len <= max_head_bytes, "head longer than the limit");
                assert_eq!(data[fed - before + head_len - 1], b'\n', "head ends in LF");
                for v in head.headers.values() {
                    assert!(
                        HeaderValue::from_bytes(v.as_bytes()).is_ok(),
                        "a response value HeaderValue would reject (built unchecked)"
                    );
                }
                let has_te = head.headers.contains_key(http::header::TRANSFER_ENCODING);
                let (framing, until_close) = match head.body {
                    ResponseBodyLen::Empty => (Framing::Empty, false),
                    ResponseBodyLen::Length(n) => {
                        assert!(!has_te, "Content-Length framing despite Transfer-Encoding");
                        (Framing::Length(n), false)
                    }
                    ResponseBodyLen::Chunked => {
                        assert!(has_te, "chunked without Transfer-Encoding");
                        assert!(
                            !head.headers.contains_key(http::header::CONTENT_LENGTH),
                            "Content-Length left beside Transfer-Encoding"
                        );
                        (Framing::Chunked, false)
                    }
                    ResponseBodyLen::Eof => {
                        assert!(!has_te, "a Transfer-Encoding body read to the close");
                        assert!(
                            !head.keep_alive,
                            "a body to close on a kept-alive connection"
                        );
                        (Framing::Empty, true)
                    }
                };
                if head_request || head.status.is_informational() {
                    assert_eq!(framing, Framing::Empty, "body on a bodiless response");
                }
                let rest = &data[fed - buf.len()..];
                let body = if until_close {
                    BodyOutcome {
                        data: rest.to_vec(),
                        end: BodyEnd::Incomplete,
                    }
                } else {
                    let body_ends: Vec<usize> = ends
                        .iter()
                        .map(|&e| e.saturating_sub(data.len() - rest.len()))
                        .filter(|&e| e > 0)
                        .collect();
                    decode_fed(framing, rest, &body_ends)
                };
                return ResponseOutcome::Parsed {
                    status: head.status.as_u16(),
                    framing,
                    until_close,
                    keep_alive: head.keep_alive,
                    body,
                };
            }
        }
    }
    ResponseOutcome::Incomplete
}
