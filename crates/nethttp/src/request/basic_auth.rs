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
    let decoded = crate::base64::decode(rest)?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some(BasicAuth {
        user: user.to_owned(),
        password: password.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, value.parse().unwrap());
        h
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
