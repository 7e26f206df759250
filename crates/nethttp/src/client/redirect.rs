//! Redirects: the policy deciding whether to follow (and editing the next request, as Go's
//! `CheckRedirect` may), resolving `Location` against the current URL (RFC 3986 §5.2), how
//! the next request differs (RFC 9110 §15.4: 301/302/303 become GET without a body, 307/308
//! keep both; credentials never go to another host), and the record of the redirects
//! followed that a response carries (read by [`super::ResponseExt::redirects`]).

use std::fmt;
use std::sync::Arc;

use http::header::{self, HeaderMap};
use http::{Method, StatusCode, Uri};

/// One redirect about to be followed: the next request as the client will send it, which a
/// [`Policy::custom`] may change (Go's `CheckRedirect(req, via)` has the request in hand).
///
/// The headers are the ones the client will send: body fields already gone when the body
/// is (301/302/303), `Authorization`, `Cookie` and `Host` already gone when the host changes
/// or https turns into http. What the policy leaves is sent, so it may put credentials back
/// for a host it trusts — and a policy that points `next` at another host takes care of the
/// credentials itself: they were judged against the `Location`, not its new URL. The
/// client's default headers (`User-Agent`) are added when it is sent, for names not set
/// here. The body follows the status's rule (kept for 307/308, dropped otherwise), whatever
/// the method is set to.
///
/// ```
/// use nethttp::client::redirect::{Action, Policy};
/// use nethttp::http::header::AUTHORIZATION;
///
/// // Follow within one site only, and keep the token on its API host.
/// let policy = Policy::custom(|attempt| {
///     if attempt.previous.len() > 5 {
///         return Action::Error;
///     }
///     match attempt.next.host() {
///         Some("api.example.com") => {
///             attempt.headers.insert(AUTHORIZATION, "Bearer t0k3n".parse().unwrap());
///             Action::Follow
///         }
///         Some(h) if h.ends_with(".example.com") => Action::Follow,
///         _ => Action::Stop,
///     }
/// });
/// # let _ = policy;
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct Attempt<'a> {
    /// The redirect's status.
    pub status: StatusCode,
    /// Where it points, resolved to an absolute URL; the URL requested next.
    pub next: &'a mut Uri,
    /// The next request's method: GET after a 301/302/303 (HEAD stays HEAD), the same after
    /// a 307/308.
    pub method: &'a mut Method,
    /// The next request's header fields.
    pub headers: &'a mut HeaderMap,
    /// The URLs requested so far, the first one first; the last one answered this redirect.
    pub previous: &'a [Uri],
}

/// What a policy decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Request the next URL.
    Follow,
    /// Return the redirect response to the caller as it is.
    Stop,
    /// Fail with a redirect error.
    Error,
}

/// Which redirects a client follows. Default: up to 10 in a row, then an error (Go's rule).
#[derive(Clone)]
pub struct Policy(Inner);

#[derive(Clone)]
enum Inner {
    Limited(usize),
    Never,
    Custom(Arc<dyn Fn(&mut Attempt<'_>) -> Action + Send + Sync>),
}

impl Policy {
    /// Follow up to `max` redirects; one more is an error.
    pub fn limited(max: usize) -> Policy {
        Policy(Inner::Limited(max))
    }

    /// Follow none: every redirect response is returned as is.
    pub fn none() -> Policy {
        Policy(Inner::Never)
    }

    /// Decide per redirect, and edit the next request's URL, method or headers if need be
    /// (see [`Attempt`]). No limit applies but the policy's own: count
    /// [`Attempt::previous`].
    pub fn custom(f: impl Fn(&mut Attempt<'_>) -> Action + Send + Sync + 'static) -> Policy {
        Policy(Inner::Custom(Arc::new(f)))
    }

    pub(crate) fn decide(&self, attempt: &mut Attempt<'_>) -> Action {
        match &self.0 {
            Inner::Limited(max) if attempt.previous.len() > *max => Action::Error,
            Inner::Limited(_) => Action::Follow,
            Inner::Never => Action::Stop,
            Inner::Custom(f) => f(attempt),
        }
    }

    /// The message of the error when the policy answers [`Action::Error`].
    pub(crate) fn refusal(&self) -> &'static str {
        match self.0 {
            Inner::Custom(_) => "the redirect policy refused to follow",
            _ => "stopped after too many redirects",
        }
    }

    pub(crate) fn is_never(&self) -> bool {
        matches!(self.0, Inner::Never)
    }
}

impl Default for Policy {
    fn default() -> Self {
        Policy::limited(10)
    }
}

impl fmt::Debug for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Inner::Limited(n) => write!(f, "Policy::limited({n})"),
            Inner::Never => f.write_str("Policy::none()"),
            Inner::Custom(_) => f.write_str("Policy::custom(..)"),
        }
    }
}

/// The URLs a response's request went through, in the response's extensions when at least
/// one redirect was followed (so a response without redirects pays nothing): every URL
/// requested, the first one first, the response's own last.
#[derive(Clone, Debug)]
pub(crate) struct RedirectChain(pub(crate) Vec<Uri>);

/// How the method and body change for a redirect with `status`. `None`: not a redirect the
/// client follows (300, 304, 305, ...).
pub(crate) fn next_method(status: StatusCode, method: &Method) -> Option<(Method, bool)> {
    match status.as_u16() {
        // Browsers and Go turn these into GET; RFC 9110 §15.4.2-4 allows it for 301/302 and
        // asks it for 303. HEAD stays HEAD.
        301..=303 => Some(if *method == Method::HEAD {
            (Method::HEAD, false)
        } else {
            (Method::GET, false)
        }),
        // Same method, same body.
        307 | 308 => Some((method.clone(), true)),
        _ => None,
    }
}

/// Adjusts headers for the next request: body headers go when the body does; credentials and
/// cookies go when the host changes or the scheme downgrades from https.
pub(crate) fn next_headers(headers: &mut HeaderMap, from: &Uri, to: &Uri, keeps_body: bool) {
    if !keeps_body {
        for h in [
            header::CONTENT_TYPE,
            header::CONTENT_LENGTH,
            header::CONTENT_ENCODING,
            header::TRANSFER_ENCODING,
            header::EXPECT,
        ] {
            headers.remove(h);
        }
    }
    let same_host = from
        .host()
        .zip(to.host())
        .is_some_and(|(a, b)| a.eq_ignore_ascii_case(b))
        && from.port_u16() == to.port_u16();
    let downgrade = from.scheme_str() == Some("https") && to.scheme_str() != Some("https");
    if !same_host || downgrade {
        for h in [
            header::AUTHORIZATION,
            header::PROXY_AUTHORIZATION,
            header::COOKIE,
            header::WWW_AUTHENTICATE,
        ] {
            headers.remove(h);
        }
        // A Host the caller chose was for the first server.
        headers.remove(header::HOST);
    }
}

/// Resolves a `Location` value against the URL it came from (RFC 3986 §5.2.2), dropping any
/// fragment. `None` if the result is not a usable absolute http(s) URL.
pub(crate) fn resolve(base: &Uri, location: &str) -> Option<Uri> {
    let location = location.trim();
    let location = location.split('#').next().unwrap_or("");
    let scheme_end = location.find(':').filter(|&i| {
        i > 0
            && location[..i]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
            && location.as_bytes()[0].is_ascii_alphabetic()
    });
    let base_scheme = base.scheme_str()?;
    let base_auth = base.authority()?.as_str();
    let target = if scheme_end.is_some() {
        location.to_owned()
    } else if let Some(rest) = location.strip_prefix("//") {
        format!("{base_scheme}://{rest}")
    } else {
        let (path, query) = match location.find('?') {
            Some(q) => (&location[..q], Some(&location[q + 1..])),
            None => (location, None),
        };
        let base_path = base.path();
        let merged = if path.is_empty() {
            base_path.to_owned()
        } else if path.starts_with('/') {
            path.to_owned()
        } else {
            // §5.2.3: everything of the base path up to its last '/', then the reference.
            let dir = base_path.rfind('/').map_or("/", |i| &base_path[..=i]);
            format!("{dir}{path}")
        };
        let query = match query {
            Some(q) => Some(q),
            None if path.is_empty() => base.query(),
            None => None,
        };
        let mut out = format!(
            "{base_scheme}://{base_auth}{}",
            remove_dot_segments(&merged)
        );
        if let Some(q) = query {
            out.push('?');
            out.push_str(q);
        }
        out
    };
    let uri: Uri = target.parse().ok()?;
    match uri.scheme_str() {
        Some(s) if s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https") => {}
        _ => return None,
    }
    uri.host().filter(|h| !h.is_empty())?;
    Some(uri)
}

/// RFC 3986 §5.2.4.
fn remove_dot_segments(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').collect();
    let last = segments.len() - 1;
    for (i, seg) in segments.iter().enumerate() {
        match *seg {
            "." => {
                if i == last {
                    out.push("");
                }
            }
            ".." => {
                if out.len() > 1 {
                    out.pop();
                }
                if i == last {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    let joined = out.join("/");
    if joined.starts_with('/') {
        joined
    } else {
        format!("/{joined}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_references_like_rfc_3986_section_5_4() {
        let base: Uri = "http://a/b/c/d;p?q".parse().unwrap();
        for (reference, expected) in [
            ("g", "http://a/b/c/g"),
            ("./g", "http://a/b/c/g"),
            ("g/", "http://a/b/c/g/"),
            ("/g", "http://a/g"),
            ("//g", "http://g/"),
            ("?y", "http://a/b/c/d;p?y"),
            ("g?y", "http://a/b/c/g?y"),
            ("#s", "http://a/b/c/d;p?q"),
            ("g#s", "http://a/b/c/g"),
            ("", "http://a/b/c/d;p?q"),
            (".", "http://a/b/c/"),
            ("..", "http://a/b/"),
            ("../g", "http://a/b/g"),
            ("../..", "http://a/"),
            ("../../g", "http://a/g"),
            ("../../../g", "http://a/g"),
            ("https://other:8443/x?y", "https://other:8443/x?y"),
        ] {
            assert_eq!(
                resolve(&base, reference).map(|u| u.to_string()),
                Some(expected.to_owned()),
                "{reference}"
            );
        }
        assert_eq!(resolve(&base, "ftp://x/"), None);
        assert_eq!(resolve(&base, "mailto:x@y"), None);
    }

    #[test]
    fn method_changes() {
        assert_eq!(
            next_method(StatusCode::FOUND, &Method::POST),
            Some((Method::GET, false))
        );
        assert_eq!(
            next_method(StatusCode::SEE_OTHER, &Method::HEAD),
            Some((Method::HEAD, false))
        );
        assert_eq!(
            next_method(StatusCode::PERMANENT_REDIRECT, &Method::POST),
            Some((Method::POST, true))
        );
        assert_eq!(next_method(StatusCode::NOT_MODIFIED, &Method::GET), None);
    }

    #[test]
    fn credentials_stay_with_their_host() {
        let mut h = HeaderMap::new();
        h.insert("authorization", "secret".parse().unwrap());
        h.insert("cookie", "a=b".parse().unwrap());
        h.insert("content-type", "text/plain".parse().unwrap());
        let from: Uri = "https://a.example/x".parse().unwrap();
        next_headers(&mut h, &from, &"https://A.example/y".parse().unwrap(), true);
        assert!(h.contains_key("authorization") && h.contains_key("content-type"));
        next_headers(
            &mut h,
            &from,
            &"https://a.example/y".parse().unwrap(),
            false,
        );
        assert!(h.contains_key("authorization") && !h.contains_key("content-type"));
        next_headers(&mut h, &from, &"http://a.example/y".parse().unwrap(), false);
        assert!(!h.contains_key("authorization") && !h.contains_key("cookie"));
        h.insert("authorization", "secret".parse().unwrap());
        next_headers(
            &mut h,
            &from,
            &"https://b.example/y".parse().unwrap(),
            false,
        );
        assert!(!h.contains_key("authorization"));
    }

    #[test]
    fn policies() {
        let prev = vec![Uri::from_static("http://h/"); 11];
        let decide = |p: &Policy, n: usize| {
            let mut next = Uri::from_static("http://h/");
            let mut method = Method::GET;
            let mut headers = HeaderMap::new();
            p.decide(&mut Attempt {
                status: StatusCode::FOUND,
                next: &mut next,
                method: &mut method,
                headers: &mut headers,
                previous: &prev[..n],
            })
        };
        assert_eq!(decide(&Policy::default(), 10), Action::Follow);
        assert_eq!(decide(&Policy::default(), 11), Action::Error);
        assert_eq!(decide(&Policy::none(), 1), Action::Stop);
        let p = Policy::custom(|a| {
            if a.next.host() == Some("h") {
                Action::Stop
            } else {
                Action::Follow
            }
        });
        assert_eq!(decide(&p, 1), Action::Stop);
    }

    #[test]
    fn a_custom_policy_edits_the_next_request() {
        let p = Policy::custom(|a| {
            *a.next = Uri::from_static("http://other/x");
            *a.method = Method::PUT;
            a.headers.insert("x-hop", a.previous.len().into());
            Action::Follow
        });
        let mut next = Uri::from_static("http://h/");
        let mut method = Method::GET;
        let mut headers = HeaderMap::new();
        let prev = [Uri::from_static("http://h/0")];
        let action = p.decide(&mut Attempt {
            status: StatusCode::TEMPORARY_REDIRECT,
            next: &mut next,
            method: &mut method,
            headers: &mut headers,
            previous: &prev,
        });
        assert_eq!(action, Action::Follow);
        assert_eq!(
            (next, method),
            (Uri::from_static("http://other/x"), Method::PUT)
        );
        assert_eq!(headers["x-hop"], "1");
    }
}
