//! Cookies (RFC 6265), feature `cookie`: the `cookie` crate's types, re-exported so you need
//! not name its version, the request side's parsing (used by
//! [`RequestExt::cookie`](crate::request::RequestExt::cookie)) and [`set_cookie`], which adds a
//! `Set-Cookie` field after checking what the crate leaves to its caller.
//!
//! ```
//! use nethttp::cookie::{set_cookie, time::Duration, Cookie, SameSite};
//! use nethttp::http::StatusCode;
//! use nethttp::request::RequestExt;
//! use nethttp::{text_response, HttpRequest};
//!
//! let req: HttpRequest = nethttp::http::Request::get("/")
//!     .header("cookie", "theme=dark; sid=abc123")
//!     .body(nethttp::Body::empty())
//!     .unwrap();
//! assert_eq!(req.cookie("sid").unwrap().value(), "abc123");
//! assert_eq!(req.cookies().count(), 2);
//!
//! let mut resp = text_response(StatusCode::OK, "hi\n");
//! let sid = Cookie::build(("sid", "xyz789"))
//!     .path("/")
//!     .max_age(Duration::hours(1))
//!     .secure(true)
//!     .http_only(true)
//!     .same_site(SameSite::Lax)
//!     .build();
//! set_cookie(resp.headers_mut(), &sid).unwrap();
//! assert_eq!(
//!     resp.headers()["set-cookie"],
//!     "sid=xyz789; HttpOnly; SameSite=Lax; Secure; Path=/; Max-Age=3600"
//! );
//! ```
//!
//! Parsing is lenient as browsers and Go are: the `Cookie` fields (HTTP/2 may send several)
//! are split at `;`, and a pair whose name is not a token or whose value holds bytes no
//! cookie value may hold (controls, `"` inside, `;`, `\`, non-ASCII) is skipped, not an
//! error. Values keep surrounding double quotes as sent ([`Cookie::value`]);
//! [`Cookie::value_trimmed`] drops them.

use http::header::{HeaderValue, COOKIE, SET_COOKIE};
use http::HeaderMap;

pub use ::cookie::{time, Cookie, CookieBuilder, Expiration, ParseError, SameSite, SplitCookies};

use crate::error::{Error, Kind};
use crate::token::is_token;

/// Adds `cookie` to `headers` as one more `Set-Cookie` field (earlier ones stay: each cookie
/// is its own field), with every attribute the cookie has: `Max-Age`, `Expires`, `Path`,
/// `Domain`, `Secure`, `HttpOnly`, `SameSite`, `Partitioned`.
///
/// Fails with [`Kind::Usage`] where the cookie would be read otherwise than written: a name
/// that is not a token, a value with bytes outside RFC 6265's cookie-octets (a space, `"`
/// inside, `,`, `;`, `\`, controls, non-ASCII; percent-encode such values), a `Path` or
/// `Domain` holding `;` or controls.
pub fn set_cookie(headers: &mut HeaderMap, cookie: &Cookie<'_>) -> Result<(), Error> {
    if !is_token(cookie.name()) {
        return Err(Error::new(Kind::Usage, "cookie name is not a token"));
    }
    if !is_cookie_value(cookie.value()) {
        return Err(Error::new(
            Kind::Usage,
            "cookie value holds bytes RFC 6265 does not allow (percent-encode it)",
        ));
    }
    for attr in [cookie.path(), cookie.domain()].into_iter().flatten() {
        if !attr.bytes().all(|b| (0x20..0x7f).contains(&b) && b != b';') {
            return Err(Error::new(
                Kind::Usage,
                "cookie Path or Domain holds ';' or bytes outside visible ASCII",
            ));
        }
    }
    let value = HeaderValue::try_from(cookie.to_string())
        .map_err(|e| Error::with_cause(Kind::Usage, "cookie is not a valid field value", e))?;
    headers.append(SET_COOKIE, value);
    Ok(())
}

/// The cookies of every `Cookie` field of `headers`, in order, invalid pairs skipped.
pub(crate) fn parse_request_cookies(headers: &HeaderMap) -> impl Iterator<Item = Cookie<'_>> {
    headers
        .get_all(COOKIE)
        .into_iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(|c| c.ok())
        .filter(|c| is_token(c.name()) && is_lenient_value(c.value()))
}

/// RFC 6265 §4.1.1: `cookie-value = *cookie-octet / ( DQUOTE *cookie-octet DQUOTE )`.
fn is_cookie_value(v: &str) -> bool {
    let inner = match v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(inner) => inner,
        None => v,
    };
    inner
        .bytes()
        .all(|b| matches!(b, 0x21 | 0x23..=0x2b | 0x2d..=0x3a | 0x3c..=0x5b | 0x5d..=0x7e))
}

/// What a server accepts in a request cookie value (Go's `validCookieValueByte`): visible
/// ASCII, space and comma (browsers send them), not `"` inside, `;` or `\`.
fn is_lenient_value(v: &str) -> bool {
    let inner = match v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(inner) => inner,
        None => v,
    };
    inner
        .bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b';' && b != b'\\')
}
