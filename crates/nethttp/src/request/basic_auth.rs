//! The credentials of an `Authorization: Basic` field (RFC 7617), as Go's
//! `Request.BasicAuth` reads them: the scheme's name in any case, the standard base64
//! alphabet with its padding, `user:password` split at the first colon.

use http::header::AUTHORIZATION;
use http::HeaderMap;

/// A user-id and password from `Authorization: Basic`
/// ([`RequestExt::basic_auth`](super::RequestExt::basic_auth)). Its `Debug` leaves the
/// password out.
///
/// ```
/// use nethttp::request::RequestExt;
/// use nethttp::{http::Request, Body};
///
/// let req = Request::get("/")
///     .header("authorization", "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==")
///     .body(Body::empty())
///     .unwrap();
/// let auth = req.basic_auth().unwrap();
/// assert_eq!((auth.user.as_str(), auth.password.as_str()), ("Aladdin", "open sesame"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct BasicAuth {
    /// The user-id: everything before the first `:`.
    pub user: String,
    /// The password: everything after it (it may hold more colons).
    pub password: String,
}

impl std::fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The password stays out of logs.
        f.debug_struct("BasicAuth")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// The Basic credentials of the first `Authorization` field, if it carries well-formed ones
/// in UTF-8.
pub(crate) fn basic_auth(headers: &HeaderMap) -> Option<BasicAuth> {
    let value = headers.get(AUTHORIZATION)?.as_bytes();
    let (scheme, rest) = value.split_at_checked(6)?;
    if !scheme.eq_ignore_ascii_case(b"basic ") {
        return None;
    }
    let decoded = decode_base64(rest)?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some(BasicAuth {
        user: user.to_owned(),
        password: password.to_owned(),
    })
}

/// Standard base64 (RFC 4648 §4) with its `=` padding; `None` for anything else.
fn decode_base64(input: &[u8]) -> Option<Vec<u8>> {
    fn value(b: u8) -> Option<u32> {
        Some(match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    if !input.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(input.len() / 4 * 3);
    let quads = input.len() / 4;
    for (i, quad) in input.chunks(4).enumerate() {
        let pad = quad.iter().rev().take_while(|&&b| b == b'=').count();
        if pad > 2 || (pad > 0 && i + 1 != quads) {
            return None;
        }
        let mut n = 0u32;
        for &b in &quad[..4 - pad] {
            n = n << 6 | value(b)?;
        }
        n <<= 6 * pad as u32;
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::base64_encode;

    fn with(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, value.parse().unwrap());
        h
    }

    #[test]
    fn decodes_what_the_encoder_writes() {
        for n in 0..64 {
            let input: Vec<u8> = (0..n).map(|i| (i * 37 + 11) as u8).collect();
            let mut encoded = Vec::new();
            base64_encode(&input, &mut encoded);
            assert_eq!(decode_base64(&encoded), Some(input), "{n} bytes");
        }
        for bad in ["QQ", "QQ=", "Q===", "QQ==QQ==", "QQ=A", "Q!==", "===="] {
            assert_eq!(decode_base64(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn credentials_as_go_reads_them() {
        // RFC 7617 §2's example.
        let got = basic_auth(&with("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==")).unwrap();
        assert_eq!(
            (got.user.as_str(), got.password.as_str()),
            ("Aladdin", "open sesame")
        );
        let got = basic_auth(&with("bAsIc dTpwOnc6")).unwrap();
        assert_eq!((got.user.as_str(), got.password.as_str()), ("u", "p:w:"));
        assert_eq!(format!("{got:?}"), "BasicAuth { user: \"u\", .. }");
        for bad in [
            "Bearer QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
            "Basic",
            "Basic bm9jb2xvbg==",
            "Basic !!!!",
        ] {
            assert_eq!(basic_auth(&with(bad)), None, "{bad}");
        }
        assert_eq!(basic_auth(&HeaderMap::new()), None);
    }
}
