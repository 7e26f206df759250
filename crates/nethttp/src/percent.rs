//! Percent-decoding (RFC 3986 §2.1), shared by the router (request path segments) and the
//! client (proxy credentials written into a URL).

/// Decodes every `%XX` escape of `s`; `None` if one is malformed (not two hex digits).
pub(crate) fn decode(s: &str) -> Option<Vec<u8>> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hi = hex(*bytes.get(i + 1)?)?;
            let lo = hex(*bytes.get(i + 2)?)?;
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::decode;

    #[test]
    fn escapes_and_malformed_ones() {
        assert_eq!(decode("a%20b%2Fc").as_deref(), Some(&b"a b/c"[..]));
        assert_eq!(decode("plain").as_deref(), Some(&b"plain"[..]));
        for bad in ["%", "%2", "%zz", "%+1", "%-1", "a%g0"] {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }
}
