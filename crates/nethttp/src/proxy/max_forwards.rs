//! `Max-Forwards` (RFC 9110 §7.6.2): on `TRACE` and `OPTIONS`, a proxy that receives it at
//! `0` answers the request itself instead of forwarding it, and otherwise forwards it one
//! lower. Other methods ignore it.

use http::header::{self, HeaderMap, HeaderValue};
use http::request::Parts;
use http::{Method, StatusCode};

use crate::handler::HttpResponse;

/// What to do with a request's `Max-Forwards`.
pub(crate) enum Hop {
    /// Forward it (the outbound `Max-Forwards` already lowered, if there was one).
    Forward,
    /// Answer it here: the count reached this proxy.
    Answer(HttpResponse),
}

/// Checks `inbound`'s `Max-Forwards` and lowers the one in `out_headers` by one.
pub(crate) fn check(inbound: &Parts, out_headers: &mut HeaderMap) -> Hop {
    if inbound.method != Method::TRACE && inbound.method != Method::OPTIONS {
        return Hop::Forward;
    }
    let Some(n) = inbound
        .headers
        .get(header::MAX_FORWARDS)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
    else {
        return Hop::Forward;
    };
    if n > 0 {
        out_headers.insert(header::MAX_FORWARDS, HeaderValue::from(n - 1));
        return Hop::Forward;
    }
    Hop::Answer(answer(inbound))
}

/// The proxy as the final recipient: `OPTIONS` gets `200` with no content; `TRACE` gets its
/// request head back as `message/http` (RFC 9110 §9.3.8), without the fields that carry
/// credentials, which the RFC says a reflection should leave out.
fn answer(inbound: &Parts) -> HttpResponse {
    let mut resp = HttpResponse::new(crate::body::Body::empty());
    *resp.status_mut() = StatusCode::OK;
    if inbound.method == Method::OPTIONS {
        return resp;
    }
    let mut text = format!("TRACE {} HTTP/1.1\r\n", inbound.uri);
    for (name, value) in &inbound.headers {
        if matches!(
            *name,
            header::AUTHORIZATION | header::PROXY_AUTHORIZATION | header::COOKIE
        ) {
            continue;
        }
        text.push_str(name.as_str());
        text.push_str(": ");
        text.push_str(&String::from_utf8_lossy(value.as_bytes()));
        text.push_str("\r\n");
    }
    text.push_str("\r\n");
    *resp.body_mut() = text.into();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("message/http"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(method: Method, mf: Option<&str>) -> Parts {
        let mut b = http::Request::builder().method(method).uri("/x");
        if let Some(v) = mf {
            b = b.header("max-forwards", v);
        }
        b.header("cookie", "secret=1")
            .header("x-a", "b")
            .body(())
            .unwrap()
            .into_parts()
            .0
    }

    #[test]
    fn lowers_or_answers_trace_and_options_only() {
        let mut out = HeaderMap::new();
        assert!(matches!(
            check(&parts(Method::OPTIONS, Some("3")), &mut out),
            Hop::Forward
        ));
        assert_eq!(out["max-forwards"], "2");
        let mut out = HeaderMap::new();
        assert!(matches!(
            check(&parts(Method::GET, Some("0")), &mut out),
            Hop::Forward
        ));
        assert!(out.is_empty());
        let Hop::Answer(r) = check(&parts(Method::OPTIONS, Some("0")), &mut out) else {
            panic!("OPTIONS at 0 is answered");
        };
        assert_eq!(r.status(), 200);
        let Hop::Answer(r) = check(&parts(Method::TRACE, Some("0")), &mut out) else {
            panic!("TRACE at 0 is answered");
        };
        assert_eq!(r.headers()["content-type"], "message/http");
        let Hop::Answer(mut r) = check(&parts(Method::TRACE, Some("0")), &mut out) else {
            unreachable!()
        };
        let body = r.body_mut().take_full().unwrap();
        let text = String::from_utf8_lossy(&body);
        assert!(text.starts_with("TRACE /x HTTP/1.1\r\n"), "{text}");
        assert!(
            text.contains("x-a: b\r\n") && !text.contains("secret"),
            "{text}"
        );
    }
}
