//! Parsing a pattern string `[METHOD ][HOST]/[PATH]` into its method, host and path segments,
//! rejecting patterns that are malformed or could never match.

use std::fmt;
use std::sync::Arc;

use http::Method;

use super::path::{clean_path, decode};
use crate::error::{Error, Kind};

/// A parsed route pattern.
#[derive(Debug, Clone)]
pub(crate) struct Pattern {
    /// The pattern as registered, for messages.
    pub(super) text: Box<str>,
    /// `None`: matches every method.
    pub(super) method: Option<Method>,
    /// `None`: matches every host. Lowercase, without brackets for IPv6.
    pub(super) host: Option<Box<str>>,
    /// The path, one entry per segment. Never empty: the shortest pattern, `/`, is one
    /// anonymous [`Segment::Multi`].
    pub(super) segments: Vec<Segment>,
}

/// One segment of a pattern's path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Segment {
    /// Matches a request segment equal to this text after percent-decoding both.
    Literal(Box<str>),
    /// `{name}`: matches any one segment.
    Wild(Arc<str>),
    /// `{name...}`, or `None` for the implicit wildcard after a trailing `/`: matches the rest
    /// of the path, including nothing after the `/`. Always last.
    Multi(Option<Arc<str>>),
    /// `{$}`: matches only the final `/` of a path. Always last.
    End,
}

impl Pattern {
    /// Parses `text`, failing with a [`Kind::Usage`] error that quotes it and says why.
    pub(crate) fn parse(text: &str) -> Result<Pattern, Error> {
        parse(text).map_err(|reason| {
            Error::with_cause(
                Kind::Usage,
                "invalid pattern",
                format!("{text:?}: {reason}"),
            )
        })
    }

    /// Whether the last segment is a `{name...}` or trailing-slash wildcard.
    pub(crate) fn ends_in_multi(&self) -> bool {
        matches!(self.segments.last(), Some(Segment::Multi(_)))
    }

    /// The wildcard names, in the order their values appear in the path.
    pub(crate) fn wildcard_names(&self) -> impl Iterator<Item = &Arc<str>> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Wild(name) | Segment::Multi(Some(name)) => Some(name),
            _ => None,
        })
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn parse(text: &str) -> Result<Pattern, String> {
    if text.is_empty() {
        return Err("empty pattern".into());
    }

    // `METHOD rest`: the method ends at the first blank, and any run of blanks follows it.
    let (method, rest) = match text.find([' ', '\t']) {
        Some(i) => {
            let name = &text[..i];
            let method = Method::from_bytes(name.as_bytes())
                .map_err(|_| format!("invalid method {name:?}"))?;
            (Some(method), text[i..].trim_start_matches([' ', '\t']))
        }
        None => (None, text),
    };

    // `host/path`: the host is everything before the first `/`.
    let Some(slash) = rest.find('/') else {
        return Err("host/path missing /".into());
    };
    let host = parse_host(&rest[..slash])?;
    let path = &rest[slash..];

    // Request paths are cleaned before matching (except for CONNECT), so a pattern whose path
    // is not clean could never match a request that names its method.
    if method.as_ref().is_some_and(|m| *m != Method::CONNECT) && clean_path(path) != path {
        return Err("non-CONNECT pattern with unclean path can never match".into());
    }

    Ok(Pattern {
        text: text.into(),
        method,
        host,
        segments: parse_segments(path)?,
    })
}

/// Validates and normalizes the host part (empty: no host).
fn parse_host(host: &str) -> Result<Option<Box<str>>, String> {
    if host.is_empty() {
        return Ok(None);
    }
    if host.contains('{') {
        return Err("host contains '{' (missing initial '/'?)".into());
    }
    // `GET/x` parses as host `GET`: surely a missing blank, not a host.
    const METHODS: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
    ];
    if METHODS.contains(&host) {
        return Err(format!(
            "host {host:?} looks like a method (missing blank after it?)"
        ));
    }
    let unbracketed = match host.strip_prefix('[') {
        Some(inner) => inner
            .strip_suffix(']')
            .ok_or_else(|| format!("bad IPv6 host {host:?}"))?,
        None => {
            // One colon is `name:port`; a bare IPv6 address has several.
            if host.bytes().filter(|&b| b == b':').count() == 1 {
                return Err(format!(
                    "host {host:?} has a port, but request hosts are matched without their port"
                ));
            }
            host
        }
    };
    // RFC 3986 reg-name characters, plus `:` for IPv6 literals.
    let valid = |b: u8| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=%:".contains(&b);
    if unbracketed.is_empty() || !unbracketed.bytes().all(valid) {
        return Err(format!("invalid host {host:?}"));
    }
    Ok(Some(unbracketed.to_ascii_lowercase().into()))
}

/// Splits a path that starts with `/` into segments (Go's rules, wildcard by wildcard).
fn parse_segments(path: &str) -> Result<Vec<Segment>, String> {
    let mut segments = Vec::new();
    let mut names: Vec<&str> = Vec::new();
    let mut rest = path;
    while let Some(after_slash) = rest.strip_prefix('/') {
        if after_slash.is_empty() {
            // A trailing slash: the pattern matches the whole subtree.
            segments.push(Segment::Multi(None));
            break;
        }
        let end = after_slash.find('/').unwrap_or(after_slash.len());
        let seg = &after_slash[..end];
        rest = &after_slash[end..];

        let Some(brace) = seg.find('{') else {
            segments.push(Segment::Literal(decode(seg).into()));
            continue;
        };
        if brace != 0 {
            return Err(format!(
                "bad wildcard segment {seg:?} (must start with '{{')"
            ));
        }
        let Some(inner) = seg[1..].strip_suffix('}') else {
            return Err(format!("bad wildcard segment {seg:?} (must end with '}}')"));
        };
        if inner == "$" {
            if !rest.is_empty() {
                return Err("{$} not at end".into());
            }
            segments.push(Segment::End);
            break;
        }
        let (name, multi) = match inner.strip_suffix("...") {
            Some(name) => (name, true),
            None => (inner, false),
        };
        if multi && !rest.is_empty() {
            return Err(format!("{seg} wildcard not at end"));
        }
        if name.is_empty() {
            return Err("empty wildcard name".into());
        }
        if !is_identifier(name) {
            return Err(format!("bad wildcard name {name:?}"));
        }
        if names.contains(&name) {
            return Err(format!("duplicate wildcard name {name:?}"));
        }
        names.push(name);
        let name: Arc<str> = name.into();
        segments.push(if multi {
            Segment::Multi(Some(name))
        } else {
            Segment::Wild(name)
        });
    }
    Ok(segments)
}

/// A wildcard name is an identifier: a letter or `_`, then letters, digits or `_`.
fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(s: &str) -> Segment {
        Segment::Literal(s.into())
    }
    fn wild(s: &str) -> Segment {
        Segment::Wild(s.into())
    }
    fn multi(s: &str) -> Segment {
        Segment::Multi(Some(s.into()))
    }
    const SUBTREE: Segment = Segment::Multi(None);

    fn parse_ok(text: &str) -> Pattern {
        Pattern::parse(text).unwrap_or_else(|e| panic!("{text:?} should parse: {e}"))
    }

    fn parse_err(text: &str) -> String {
        let err = Pattern::parse(text).expect_err(text);
        assert_eq!(err.kind(), Kind::Usage);
        err.to_string()
    }

    #[test]
    fn valid_patterns() {
        // (pattern, method, host, segments)
        type Case = (
            &'static str,
            Option<&'static str>,
            Option<&'static str>,
            Vec<Segment>,
        );
        let cases: &[Case] = &[
            ("/", None, None, vec![SUBTREE]),
            ("/a", None, None, vec![lit("a")]),
            ("/a/", None, None, vec![lit("a"), SUBTREE]),
            ("/a/b", None, None, vec![lit("a"), lit("b")]),
            ("/{$}", None, None, vec![Segment::End]),
            ("/a/{$}", None, None, vec![lit("a"), Segment::End]),
            ("GET /", Some("GET"), None, vec![SUBTREE]),
            (
                "POST\t /items/{id}",
                Some("POST"),
                None,
                vec![lit("items"), wild("id")],
            ),
            (
                "/files/{path...}",
                None,
                None,
                vec![lit("files"), multi("path")],
            ),
            ("/{a}/{b}/", None, None, vec![wild("a"), wild("b"), SUBTREE]),
            ("/{_x9}", None, None, vec![wild("_x9")]),
            ("/{été}", None, None, vec![wild("été")]),
            ("example.com/", None, Some("example.com"), vec![SUBTREE]),
            ("Example.COM/a", None, Some("example.com"), vec![lit("a")]),
            (
                "GET api.example.com/x",
                Some("GET"),
                Some("api.example.com"),
                vec![lit("x")],
            ),
            ("[::1]/", None, Some("::1"), vec![SUBTREE]),
            ("::1/", None, Some("::1"), vec![SUBTREE]),
            ("/a%20b/%7Bx%7D", None, None, vec![lit("a b"), lit("{x}")]),
            ("/a}b", None, None, vec![lit("a}b")]),
            ("PURGE /cache", Some("PURGE"), None, vec![lit("cache")]),
            // CONNECT (and method-less) patterns may be unclean: CONNECT paths are not cleaned.
            (
                "CONNECT /a//b",
                Some("CONNECT"),
                None,
                vec![lit("a"), lit(""), lit("b")],
            ),
            ("/a/../b", None, None, vec![lit("a"), lit(".."), lit("b")]),
        ];
        for (text, method, host, segments) in cases {
            let p = parse_ok(text);
            assert_eq!(p.method.as_ref().map(Method::as_str), *method, "{text}");
            assert_eq!(p.host.as_deref(), *host, "{text}");
            assert_eq!(&p.segments, segments, "{text}");
            assert_eq!(p.to_string(), *text);
        }
    }

    #[test]
    fn invalid_patterns() {
        let cases = [
            ("", "empty pattern"),
            ("GET", "missing /"),
            ("example.com", "missing /"),
            ("GET{x}/", "host contains '{'"),
            ("{x}/", "host contains '{'"),
            ("G(T /", "invalid method"),
            ("/a{x}", "must start with '{'"),
            ("/{x}a", "must end with '}'"),
            ("/{x", "must end with '}'"),
            ("/{}", "empty wildcard"),
            ("/{...}", "empty wildcard"),
            ("/{1x}", "bad wildcard name"),
            ("/{a-b}", "bad wildcard name"),
            // A blank ends the method, as in Go, so this "method" is `/{a`.
            ("/{a b}", "invalid method"),
            ("GET/x", "looks like a method"),
            ("POST/", "looks like a method"),
            ("/{x}/{x}", "duplicate wildcard name"),
            ("/{x}/{x...}", "duplicate wildcard name"),
            ("/{$}/a", "{$} not at end"),
            ("/{$}/", "{$} not at end"),
            ("/{rest...}/a", "not at end"),
            ("/{rest...}/", "not at end"),
            ("GET /a//b", "unclean path"),
            ("GET /a/./b", "unclean path"),
            ("GET /a/../b", "unclean path"),
            ("GET /a/.", "unclean path"),
            ("example.com:8080/", "has a port"),
            ("[::1]:80/", "bad IPv6 host"),
            ("[::1/", "bad IPv6 host"),
            ("a<b.com/", "invalid host"),
            ("GET a\"b/", "invalid host"),
            ("GET example.com /x", "invalid host"),
        ];
        for (text, want) in cases {
            let msg = parse_err(text);
            assert!(
                msg.contains(want),
                "{text:?}: got {msg:?}, want it to mention {want:?}"
            );
            assert!(msg.starts_with("invalid pattern: "), "{msg}");
        }
    }

    #[test]
    fn wildcard_names_in_order() {
        let p = parse_ok("/{a}/b/{c}/{d...}");
        let names: Vec<&str> = p.wildcard_names().map(|n| &**n).collect();
        assert_eq!(names, ["a", "c", "d"]);
        assert!(p.ends_in_multi());
        assert!(!parse_ok("/a/{$}").ends_in_multi());
        assert!(parse_ok("/a/").ends_in_multi());
    }
}
