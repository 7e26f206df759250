//! Fuzzing driver for the trailer filter (`proto::trailers`) where it acts: the chunked
//! decoder dropping fields from a received trailer section, the chunked encoder skipping them
//! when writing one, and the map filter HTTP/2 uses both ways. Invariants (a panic is the
//! finding):
//!
//! - a received section, split anywhere, yields exactly its fields that a reference check
//!   allows (the forbidden names compared without ASCII case against the raw bytes, a list
//!   kept apart from the one under test), values in order, and no trailers frame when none is
//!   left;
//! - what the encoder writes decodes back to the map minus the forbidden fields, no
//!   forbidden name appears on the wire, and the bytes after the body are left alone;
//! - the map filter keeps exactly the allowed fields, values and order included.

use bytes::BytesMut;
use http::header::{HeaderMap, HeaderName, HeaderValue};

use super::{decode_body_split, BodyEnd, Framing};
use crate::proto::h1::decode::{Decoded, Decoder, MAX_TRAILERS, MAX_TRAILER_BYTES};
use crate::proto::h1::encode::write_chunked_end;
use crate::proto::trailers;

/// Go's `badTrailer` and the names RFC 9110 §6.5.1 adds, as the reference: any field whose
/// name equals one of these without ASCII case, or starts with `if-`, must be dropped.
const REFERENCE: &[&str] = &[
    "Authorization",
    "Cache-Control",
    "Connection",
    "Content-Encoding",
    "Content-Length",
    "Content-Range",
    "Content-Type",
    "Expect",
    "Host",
    "Keep-Alive",
    "Max-Forwards",
    "Pragma",
    "Proxy-Authenticate",
    "Proxy-Authorization",
    "Proxy-Connection",
    "Range",
    "Realm",
    "Te",
    "Trailer",
    "Transfer-Encoding",
    "Www-Authenticate",
    "Cookie",
    "Set-Cookie",
    "Upgrade",
    "Age",
    "Date",
    "Expires",
    "Location",
    "Retry-After",
    "Vary",
    "Warning",
];

fn reference_forbidden(name: &[u8]) -> bool {
    name.len() >= 3 && name[..3].eq_ignore_ascii_case(b"if-")
        || REFERENCE
            .iter()
            .any(|f| f.as_bytes().eq_ignore_ascii_case(name))
}

/// A received trailer section: `0\r\n` then `section`, decoded split at `splits`.
pub fn received(section: &[u8], splits: &[usize]) {
    let mut body = b"0\r\n".to_vec();
    body.extend_from_slice(section);
    let outcome = decode_body_split(Framing::Chunked, &body, splits);
    let BodyEnd::Complete { trailers, rest } = outcome.end else {
        return;
    };
    let consumed = &body[3..body.len() - rest.len()];
    // The section the decoder accepted, parsed again and filtered by the reference.
    let mut fields = [httparse::EMPTY_HEADER; 64];
    let parsed = match httparse::parse_headers(consumed, &mut fields) {
        Ok(httparse::Status::Complete((n, parsed))) if n == consumed.len() => parsed,
        other => panic!("accepted a section httparse reads as {other:?}"),
    };
    let expected: Vec<(String, Vec<u8>)> = parsed
        .iter()
        .filter(|f| !reference_forbidden(f.name.as_bytes()))
        .map(|f| (f.name.to_ascii_lowercase(), f.value.to_vec()))
        .collect();
    let got = trailers.unwrap_or_default();
    assert!(
        !got.is_empty() || expected.is_empty(),
        "fields lost: expected {expected:?}"
    );
    assert_eq!(
        grouped(got),
        grouped(expected),
        "received trailers differ from the reference"
    );
}

/// Fields grouped by name, in the order each name first appears, values in order: the order a
/// `HeaderMap` keeps (a name repeated later joins its first group).
fn grouped(fields: Vec<(String, Vec<u8>)>) -> Vec<(String, Vec<Vec<u8>>)> {
    let mut out: Vec<(String, Vec<Vec<u8>>)> = Vec::new();
    for (name, value) in fields {
        match out.iter_mut().find(|(n, _)| *n == name) {
            Some((_, values)) => values.push(value),
            None => out.push((name, vec![value])),
        }
    }
    out
}

/// Fields from fuzzer bytes: lines `name:value` (LF-separated); those `http` would not build
/// are skipped.
fn map_from(data: &[u8]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for line in data.split(|&b| b == b'\n') {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(&line[..colon]),
            HeaderValue::from_bytes(line[colon + 1..].trim_ascii()),
        ) else {
            continue;
        };
        map.append(name, value);
    }
    map
}

fn pairs(map: &HeaderMap) -> Vec<(String, Vec<u8>)> {
    map.iter()
        .map(|(n, v)| (n.as_str().to_owned(), v.as_bytes().to_vec()))
        .collect()
}

/// A trailer map built from `data`: through the map filter, and written by the chunked encoder
/// and read back by the decoder.
pub fn sent(data: &[u8]) {
    let map = map_from(data);
    let expected: Vec<(String, Vec<u8>)> = pairs(&map)
        .into_iter()
        .filter(|(n, _)| !reference_forbidden(n.as_bytes()))
        .collect();
    assert_eq!(
        pairs(&trailers::filter(map.clone())),
        expected,
        "map filter differs from the reference"
    );

    let mut wire = Vec::new();
    write_chunked_end(&mut wire, Some(&map));
    for line in wire.split(|&b| b == b'\n').skip(1) {
        if let Some(colon) = line.iter().position(|&b| b == b':') {
            assert!(
                !reference_forbidden(&line[..colon]),
                "forbidden trailer written: {:?}",
                String::from_utf8_lossy(line)
            );
        }
    }
    // What the decoder takes is bounded (fields, bytes); a bigger section is refused there, as
    // by a peer with limits, and has nothing more to check.
    if expected.len() > MAX_TRAILERS || wire.len() > MAX_TRAILER_BYTES {
        return;
    }
    wire.extend_from_slice(b"NEXT");
    let mut buf = BytesMut::from(&wire[..]);
    let mut decoder = Decoder::chunked();
    // The last chunk and its trailers are all there: one step decodes them.
    let decoded = match decoder.decode(&mut buf) {
        Ok(Decoded::Done(t)) => t,
        Ok(Decoded::Data(d)) => panic!("data {d:?} in an empty body"),
        Ok(Decoded::NeedMore) => panic!("the encoder's output is incomplete: {wire:?}"),
        Err(e) => panic!("the encoder's output does not decode ({}): {wire:?}", e.0),
    };
    assert_eq!(&buf[..], b"NEXT", "bytes after the body were consumed");
    assert_eq!(
        decoded.as_ref().map(pairs).unwrap_or_default(),
        expected,
        "written and read back, the trailers differ"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drives_received_and_sent_sections() {
        let section = b"X-A: 1\r\nHOST: evil\r\nIf-Match: x\r\nGrpc-Status: 0\r\n\r\nGET /";
        for split in 0..section.len() {
            received(section, &[split]);
        }
        received(b"Transfer-Encoding: chunked\r\n\r\n", &[]);
        // Fuzz finding (trailers; in this harness): a name repeated after another one joins its
        // first group in the map, so the comparison is by name, values in order.
        received(b"A: 1\r\nB: 2\r\nA: 3\r\nHost: x\r\n\r\n", &[]);
        sent(b"x-a:1\nhost:evil\nset-cookie:a\nx-a:2\nif-none-match:*\n");
        // Fuzz finding (trailers; in this harness): more fields than the decoder takes are
        // checked for what is written, not read back.
        let many: Vec<u8> = (0..70)
            .flat_map(|i| format!("x-{i}:v\n").into_bytes())
            .collect();
        sent(&many);
        assert!(reference_forbidden(b"hOsT") && !reference_forbidden(b"x-host"));
    }
}
