//! Credentials a client request carries in `Authorization` (RFC 9110 §11.6.2): Basic (RFC
//! 7617) and Bearer (RFC 6750) values for `RequestBuilder::basic_auth`/`bearer_auth`, and a
//! URL's `user:password@`, which [`super::Client`] moves into Basic credentials before each
//! hop (as Go's `Client.send` does), so it is never sent in `Host` or `:authority`.

use http::header::{self, HeaderMap, HeaderValue};
use http::Uri;

use super::proxy::basic_auth;
use crate::error::{without_userinfo, Error, Kind};
use crate::percent;

/// `Basic base64(user ":" password)`, marked sensitive. RFC 7617 §2: a user-id with a colon
/// cannot be told from its password, and neither part may hold control characters.
pub(crate) fn basic(user: &str, password: Option<&str>) -> Result<HeaderValue, Error> {
    let password = password.unwrap_or("");
    if user.contains(':') {
        return Err(Error::new(
            Kind::Usage,
            "a Basic user-id cannot contain ':' (RFC 7617 §2)",
        ));
    }
    if user.chars().chain(password.chars()).any(char::is_control) {
        return Err(Error::new(
            Kind::Usage,
            "Basic credentials cannot contain control characters (RFC 7617 §2)",
        ));
    }
    Ok(basic_auth(user.as_bytes(), password.as_bytes()))
}

/// `Bearer token`, marked sensitive. RFC 6750 §2.1 defines the token as `b64token` (letters,
/// digits, `-._~+/`, then `=` padding); tokens with other visible ASCII are sent as they are,
/// but spaces, controls and non-ASCII bytes cannot be part of the field and are refused.
pub(crate) fn bearer(token: &str) -> Result<HeaderValue, Error> {
    if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::new(
            Kind::Usage,
            "a Bearer token must be visible ASCII without spaces (RFC 6750 §2.1)",
        ));
    }
    let mut value = HeaderValue::from_str(&format!("Bearer {token}"))
        .map_err(|e| Error::with_cause(Kind::Usage, "invalid Bearer token", e))?;
    value.set_sensitive(true);
    Ok(value)
}

/// Moves `user:password@` out of `uri` into Basic credentials in `headers`, unless the
/// request has an `Authorization` already (then the userinfo is just dropped, as Go does).
/// No work beyond a scan of the authority for `@` when the URL has no userinfo.
pub(crate) fn move_userinfo(uri: &mut Uri, headers: &mut HeaderMap) {
    // A byte search: `str::rsplit_once` with a char pattern costs ~500 instructions here, on
    // every request.
    let Some(userinfo) = uri.authority().and_then(|a| {
        let s = a.as_str();
        // `contains` on bytes is a vectorised memchr; most URLs stop here.
        if !s.as_bytes().contains(&b'@') {
            return None;
        }
        let at = s.as_bytes().iter().rposition(|&b| b == b'@')?;
        Some(&s[..at])
    }) else {
        return;
    };
    if !headers.contains_key(header::AUTHORIZATION) {
        let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
        // Percent-encoded in the URL (RFC 3986 §3.2.1); a bad escape is sent as written.
        let user = percent::decode(user).unwrap_or_else(|| user.as_bytes().to_vec());
        let password = percent::decode(password).unwrap_or_else(|| password.as_bytes().to_vec());
        headers.insert(header::AUTHORIZATION, basic_auth(&user, &password));
    }
    *uri = without_userinfo(uri);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_follows_rfc_7617() {
        // RFC 7617 §2's example.
        let v = basic("Aladdin", Some("open sesame")).unwrap();
        assert_eq!(v, "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
        assert!(v.is_sensitive());
        assert_eq!(basic("u", None).unwrap(), "Basic dTo=");
        // UTF-8, the one charset RFC 7617 §2.1 allows.
        assert_eq!(
            basic("test", Some("123£")).unwrap(),
            "Basic dGVzdDoxMjPCow=="
        );
        assert_eq!(basic("a:b", Some("c")).unwrap_err().kind(), Kind::Usage);
        assert_eq!(basic("a", Some("b\r\n")).unwrap_err().kind(), Kind::Usage);
    }

    #[test]
    fn bearer_tokens() {
        let v = bearer("mF_9.B5f-4.1JqM").unwrap();
        assert_eq!(v, "Bearer mF_9.B5f-4.1JqM");
        assert!(v.is_sensitive());
        for bad in ["", "a b", "a\nb", "é"] {
            assert_eq!(bearer(bad).unwrap_err().kind(), Kind::Usage, "{bad:?}");
        }
    }

    #[test]
    fn userinfo_moves_into_authorization() {
        let mut uri: Uri = "http://us%40er:p%3Ass@h.example:8080/x?y".parse().unwrap();
        let mut h = HeaderMap::new();
        move_userinfo(&mut uri, &mut h);
        assert_eq!(uri, "http://h.example:8080/x?y");
        assert_eq!(h[header::AUTHORIZATION], basic_auth(b"us@er", b"p:ss"));
        assert!(h[header::AUTHORIZATION].is_sensitive());

        // An Authorization of the caller's wins; the userinfo still goes.
        let mut uri: Uri = "http://u:p@h/".parse().unwrap();
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer t"));
        move_userinfo(&mut uri, &mut h);
        assert_eq!(uri, "http://h/");
        assert_eq!(h[header::AUTHORIZATION], "Bearer t");

        let mut uri: Uri = "http://h/a@b".parse().unwrap();
        let mut h = HeaderMap::new();
        move_userinfo(&mut uri, &mut h);
        assert_eq!(uri, "http://h/a@b");
        assert!(h.is_empty());
    }
}
