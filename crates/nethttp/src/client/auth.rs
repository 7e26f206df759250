//! Credentials a client request carries in `Authorization` (RFC 9110 §11.6.2): a URL's
//! `user:password@`, which [`super::Client`] moves into Basic credentials (RFC 7617) before
//! each hop (as Go's `Client.send` does), so it is never sent in `Host` or `:authority`.

use http::header::{self, HeaderMap};
use http::Uri;

use super::proxy::basic_auth;
use crate::error::without_userinfo;
use crate::percent;

/// Moves `user:password@` out of `uri` into Basic credentials in `headers`, unless the
/// request has an `Authorization` already (then the userinfo is just dropped, as Go does).
/// No work beyond a scan of the authority for `@` when the URL has no userinfo.
pub(crate) fn move_userinfo(uri: &mut Uri, headers: &mut HeaderMap) {
    let Some((userinfo, _)) = uri.authority().and_then(|a| a.as_str().rsplit_once('@')) else {
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
        h.insert(
            header::AUTHORIZATION,
            http::HeaderValue::from_static("Bearer t"),
        );
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
