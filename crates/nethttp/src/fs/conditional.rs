//! Conditional requests (RFC 9110 §13): evaluating `If-Match`, `If-Unmodified-Since`,
//! `If-None-Match`, `If-Modified-Since` and `If-Range` against a representation's validators
//! (its `ETag` and `Last-Modified`), in the order §13.2.2 gives, as Go's `checkPreconditions`.

use std::time::SystemTime;

use http::{HeaderMap, Method};

/// What the preconditions decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Go on and send the representation (or the ranges asked for).
    Proceed,
    /// `304 Not Modified`: the client's copy is current.
    NotModified,
    /// `412 Precondition Failed`.
    Failed,
}

/// A representation's validators.
#[derive(Debug, Clone)]
pub(crate) struct Validators<'a> {
    /// The entity tag, quoted (`"..."`, strong) or `W/"..."`; `None` if there is none.
    pub etag: Option<&'a str>,
    /// Last modification, whole seconds (as `Last-Modified` can say it); `None` if unknown.
    pub modified: Option<SystemTime>,
}

/// RFC 9110 §13.2.2's order: `If-Match`, else `If-Unmodified-Since`; then `If-None-Match`,
/// else `If-Modified-Since` (GET and HEAD only). `If-Range` is decided separately
/// ([`range_applies`]).
pub(crate) fn evaluate(method: &Method, headers: &HeaderMap, v: &Validators<'_>) -> Outcome {
    let get_or_head = method == Method::GET || method == Method::HEAD;
    // Step 1 and 2.
    if let Some(im) = field(headers, http::header::IF_MATCH) {
        if !matches_any(im, v.etag, Comparison::Strong) {
            return Outcome::Failed;
        }
    } else if let Some(date) = date_field(headers, http::header::IF_UNMODIFIED_SINCE) {
        // Unknown modification time: the condition cannot be evaluated, so it is ignored.
        if v.modified.is_some_and(|m| m > date) {
            return Outcome::Failed;
        }
    }
    // Step 3 and 4.
    if let Some(inm) = field(headers, http::header::IF_NONE_MATCH) {
        if matches_any(inm, v.etag, Comparison::Weak) {
            return if get_or_head {
                Outcome::NotModified
            } else {
                Outcome::Failed
            };
        }
    } else if get_or_head {
        if let Some(date) = date_field(headers, http::header::IF_MODIFIED_SINCE) {
            if v.modified.is_some_and(|m| m <= date) {
                return Outcome::NotModified;
            }
        }
    }
    Outcome::Proceed
}

/// Whether a `Range` is honoured given `If-Range` (RFC 9110 §13.1.5): without `If-Range`,
/// yes; with an entity tag, only if it matches ours strongly; with a date, only if it is
/// exactly our `Last-Modified`. A weak tag never matches.
pub(crate) fn range_applies(headers: &HeaderMap, v: &Validators<'_>) -> bool {
    let Some(ir) = field(headers, http::header::IF_RANGE) else {
        return true;
    };
    let ir = ir.trim();
    if ir.starts_with('"') || ir.starts_with("W/") {
        return v
            .etag
            .is_some_and(|ours| !ir.starts_with("W/") && !ours.starts_with("W/") && ir == ours);
    }
    match (httpdate::parse_http_date(ir), v.modified) {
        (Ok(date), Some(m)) => date == m,
        _ => false,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Comparison {
    /// Both tags strong and identical (RFC 9110 §8.8.3.2).
    Strong,
    /// Identical once the `W/` prefixes are set aside.
    Weak,
}

/// Whether the `If-Match`/`If-None-Match` list `value` (`*` or entity tags) names `ours`.
/// `*` matches any current representation (one that has a tag, here: a file).
fn matches_any(value: &str, ours: Option<&str>, how: Comparison) -> bool {
    let Some(ours) = ours else {
        // No tag of ours: only `*` can match (the representation exists).
        return value.trim() == "*";
    };
    if value.trim() == "*" {
        return true;
    }
    for tag in list(value) {
        let ok = match how {
            Comparison::Strong => !tag.starts_with("W/") && !ours.starts_with("W/") && tag == ours,
            Comparison::Weak => strip_weak(tag) == strip_weak(ours),
        };
        if ok {
            return true;
        }
    }
    false
}

fn strip_weak(tag: &str) -> &str {
    tag.strip_prefix("W/").unwrap_or(tag)
}

/// The entity tags of a list, each `"..."` or `W/"..."` (commas inside quotes kept).
fn list(value: &str) -> impl Iterator<Item = &str> {
    let mut rest = value;
    std::iter::from_fn(move || loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        if rest.is_empty() {
            return None;
        }
        let weak = rest.starts_with("W/");
        let body = if weak { &rest[2..] } else { rest };
        if !body.starts_with('"') {
            // Not an entity tag: skip to the next comma.
            let end = rest.find(',').unwrap_or(rest.len());
            rest = &rest[end..];
            continue;
        }
        let close = body[1..].find('"').map(|i| i + 2);
        let Some(close) = close else {
            rest = "";
            return None;
        };
        let len = close + if weak { 2 } else { 0 };
        let tag = &rest[..len];
        rest = &rest[len..];
        return Some(tag);
    })
}

fn field(headers: &HeaderMap, name: http::header::HeaderName) -> Option<&str> {
    // Several lines of a list field are one list (RFC 9110 §5.3); entity-tag lists are
    // rarely split, and the first line is what Go reads too.
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn date_field(headers: &HeaderMap, name: http::header::HeaderName) -> Option<SystemTime> {
    // An invalid date is ignored (RFC 9110 §13.1.3, §13.1.4).
    field(headers, name).and_then(|v| httpdate::parse_http_date(v.trim()).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    const DATE: &str = "Sun, 06 Nov 1994 08:49:37 GMT";

    fn at() -> SystemTime {
        httpdate::parse_http_date(DATE).unwrap()
    }

    fn v() -> Validators<'static> {
        Validators {
            etag: Some("\"abc\""),
            modified: Some(at()),
        }
    }

    fn eval(method: Method, fields: &[(&str, &str)]) -> Outcome {
        let mut h = HeaderMap::new();
        for (k, val) in fields {
            h.append(
                http::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                val.parse().unwrap(),
            );
        }
        evaluate(&method, &h, &v())
    }

    #[test]
    fn if_none_match_and_if_modified_since() {
        use Outcome::*;
        assert_eq!(
            eval(Method::GET, &[("if-none-match", "\"abc\"")]),
            NotModified
        );
        assert_eq!(
            eval(Method::GET, &[("if-none-match", "W/\"abc\"")]),
            NotModified
        );
        assert_eq!(
            eval(Method::GET, &[("if-none-match", "\"x\", \"abc\"")]),
            NotModified
        );
        assert_eq!(eval(Method::GET, &[("if-none-match", "*")]), NotModified);
        assert_eq!(eval(Method::GET, &[("if-none-match", "\"x\"")]), Proceed);
        assert_eq!(eval(Method::POST, &[("if-none-match", "\"abc\"")]), Failed);
        assert_eq!(
            eval(Method::GET, &[("if-modified-since", DATE)]),
            NotModified
        );
        let later = httpdate::fmt_http_date(at() + Duration::from_secs(1));
        assert_eq!(
            eval(Method::GET, &[("if-modified-since", &later)]),
            NotModified
        );
        let earlier = httpdate::fmt_http_date(at() - Duration::from_secs(1));
        assert_eq!(
            eval(Method::GET, &[("if-modified-since", &earlier)]),
            Proceed
        );
        assert_eq!(
            eval(Method::GET, &[("if-modified-since", "yesterday")]),
            Proceed
        );
        // If-None-Match present: If-Modified-Since is not looked at.
        assert_eq!(
            eval(
                Method::GET,
                &[("if-none-match", "\"x\""), ("if-modified-since", DATE)]
            ),
            Proceed
        );
        // Not for other methods.
        assert_eq!(eval(Method::POST, &[("if-modified-since", DATE)]), Proceed);
    }

    #[test]
    fn if_match_and_if_unmodified_since() {
        use Outcome::*;
        assert_eq!(eval(Method::GET, &[("if-match", "\"abc\"")]), Proceed);
        assert_eq!(eval(Method::PUT, &[("if-match", "*")]), Proceed);
        // Strong comparison: a weak tag never matches.
        assert_eq!(eval(Method::GET, &[("if-match", "W/\"abc\"")]), Failed);
        assert_eq!(eval(Method::GET, &[("if-match", "\"x\"")]), Failed);
        let earlier = httpdate::fmt_http_date(at() - Duration::from_secs(1));
        assert_eq!(
            eval(Method::GET, &[("if-unmodified-since", &earlier)]),
            Failed
        );
        assert_eq!(eval(Method::GET, &[("if-unmodified-since", DATE)]), Proceed);
        // If-Match present: If-Unmodified-Since is not looked at.
        assert_eq!(
            eval(
                Method::GET,
                &[("if-match", "\"abc\""), ("if-unmodified-since", &earlier)]
            ),
            Proceed
        );
        // If-Match failing wins over If-None-Match.
        assert_eq!(
            eval(
                Method::GET,
                &[("if-match", "\"x\""), ("if-none-match", "\"abc\"")]
            ),
            Failed
        );
    }

    #[test]
    fn if_range_with_a_tag_or_a_date() {
        let mut h = HeaderMap::new();
        assert!(range_applies(&h, &v()));
        h.insert(http::header::IF_RANGE, "\"abc\"".parse().unwrap());
        assert!(range_applies(&h, &v()));
        h.insert(http::header::IF_RANGE, "W/\"abc\"".parse().unwrap());
        assert!(!range_applies(&h, &v()));
        h.insert(http::header::IF_RANGE, "\"other\"".parse().unwrap());
        assert!(!range_applies(&h, &v()));
        h.insert(http::header::IF_RANGE, DATE.parse().unwrap());
        assert!(range_applies(&h, &v()));
        let other = httpdate::fmt_http_date(UNIX_EPOCH);
        h.insert(http::header::IF_RANGE, other.parse().unwrap());
        assert!(!range_applies(&h, &v()));
    }

    #[test]
    fn entity_tag_lists_keep_commas_inside_quotes() {
        let tags: Vec<&str> = list("\"a,b\", W/\"c\" ,junk, \"d\"").collect();
        assert_eq!(tags, ["\"a,b\"", "W/\"c\"", "\"d\""]);
    }
}
