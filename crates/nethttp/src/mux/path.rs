//! Request-side text handling for the router: path cleaning, per-segment percent-decoding,
//! walking a path one segment at a time, and normalizing the `Host` for matching.
//!
//! Everything here borrows from the request and allocates only when it must produce text the
//! request does not contain (a cleaned path, a decoded segment with `%` escapes in it).

use std::borrow::Cow;

/// Go's `cleanPath`: the canonical form of a request path. Adds a leading `/`, collapses `//`,
/// removes `.` segments and resolves `..` segments (never above the root), and keeps a trailing
/// slash if the input had one. Works on the escaped path, so `%2e%2e` is not `..`.
///
/// Returns the input unchanged (borrowed) when it is already clean, the common case.
pub(crate) fn clean_path(p: &str) -> Cow<'_, str> {
    if is_clean(p) {
        return Cow::Borrowed(p);
    }
    let mut out: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    let mut cleaned = String::with_capacity(p.len() + 1);
    for seg in &out {
        cleaned.push('/');
        cleaned.push_str(seg);
    }
    // Only a path that literally ends in `/` keeps its trailing slash: `/a/.` cleans to `/a`.
    if cleaned.is_empty() || p.ends_with('/') {
        cleaned.push('/');
    }
    Cow::Owned(cleaned)
}

/// True when `clean_path(p) == p`: a leading `/`, no empty segment except a final one (the
/// trailing slash), and no `.` or `..` segment.
pub(crate) fn is_clean(p: &str) -> bool {
    let Some(rest) = p.strip_prefix('/') else {
        return false;
    };
    if rest.is_empty() {
        return true;
    }
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    rest.split('/').all(|seg| !matches!(seg, "" | "." | ".."))
}

/// Percent-decodes one path segment (Go's `pathUnescape`: `+` stays `+`). If the segment has a
/// malformed escape, or decodes to bytes that are not UTF-8, it is returned as is: such a
/// segment can still match a literal written the same way, and never causes an error.
pub(crate) fn decode(s: &str) -> Cow<'_, str> {
    if !s.contains('%') {
        return Cow::Borrowed(s);
    }
    match crate::percent::decode(s).map(String::from_utf8) {
        Some(Ok(decoded)) => Cow::Owned(decoded),
        _ => Cow::Borrowed(s),
    }
}

/// One step of a request path, as the routing tree sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Seg<'a> {
    /// A segment's raw (still escaped) text; may be empty for `//` in an uncleaned path.
    Text(&'a str),
    /// The path's final `/`, which only `{$}`, a subtree pattern or `{name...}` match.
    TrailingSlash,
}

/// The unmatched rest of a request path: empty, or text starting with `/`.
///
/// `slash` appends a virtual `/` after `s`. It lets the router ask "would `/dir/` match?" for a
/// request to `/dir` without building the string `/dir/`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReqPath<'a> {
    s: &'a str,
    slash: bool,
}

impl<'a> ReqPath<'a> {
    /// A path to match; `s` must be empty or start with `/`.
    pub(crate) fn new(s: &'a str) -> Self {
        debug_assert!(s.is_empty() || s.starts_with('/'));
        ReqPath { s, slash: false }
    }

    /// `s` followed by a `/` that is not in the request (`s` must not end in `/`).
    pub(crate) fn with_trailing_slash(s: &'a str) -> Self {
        debug_assert!(!s.ends_with('/'));
        ReqPath { s, slash: true }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.s.is_empty() && !self.slash
    }

    /// Splits off the first segment. Must not be called on an empty path.
    pub(crate) fn split_first(self) -> (Seg<'a>, ReqPath<'a>) {
        let empty = ReqPath {
            s: "",
            slash: false,
        };
        if self.s.is_empty() || (self.s == "/" && !self.slash) {
            // Either the virtual slash or the real final one.
            return (Seg::TrailingSlash, empty);
        }
        let body = &self.s[1..];
        let end = body.find('/').unwrap_or(body.len());
        (
            Seg::Text(&body[..end]),
            ReqPath {
                s: &body[end..],
                slash: self.slash,
            },
        )
    }

    /// The remaining text without its leading `/`: the value of a `{name...}` wildcard.
    pub(crate) fn remainder(&self) -> Cow<'a, str> {
        match (self.s.strip_prefix('/'), self.slash) {
            (Some(body), false) => Cow::Borrowed(body),
            (Some(body), true) => Cow::Owned(format!("{body}/")),
            // Only the virtual slash is left (or nothing at all).
            (None, _) => Cow::Borrowed(""),
        }
    }

    /// How many `/` the full path has; a subtree match is exact when the pattern has as many
    /// segments (see `tree::Tree::is_exact`).
    pub(crate) fn slash_count(&self) -> usize {
        self.s.bytes().filter(|&b| b == b'/').count() + usize::from(self.slash)
    }

    pub(crate) fn ends_with_slash(&self) -> bool {
        self.slash || self.s.ends_with('/')
    }
}

/// Normalizes a request's host for matching: drops a `:port`, and the brackets of an IPv6
/// literal (`[::1]:8080` becomes `::1`). Case is left alone; lookups ignore ASCII case.
pub(crate) fn strip_port(host: &str) -> &str {
    if let Some(inner) = host.strip_prefix('[') {
        // `[v6]` or `[v6]:port`; anything malformed is used as is and simply matches nothing.
        return match inner.find(']') {
            Some(end) => &inner[..end],
            None => host,
        };
    }
    match host.split_once(':') {
        // Exactly one colon: `name:port`. More than one: a bare IPv6 address, no port.
        Some((name, port)) if !port.contains(':') => name,
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A direct transcription of Go's `cleanPath` + `path.Clean`, to check the fast path against.
    fn reference_clean(p: &str) -> String {
        let p = if p.starts_with('/') {
            p.to_string()
        } else {
            format!("/{p}")
        };
        let mut stack: Vec<&str> = Vec::new();
        for seg in p.split('/') {
            match seg {
                "" | "." => {}
                ".." => {
                    stack.pop();
                }
                s => stack.push(s),
            }
        }
        let mut np = format!("/{}", stack.join("/"));
        if p.ends_with('/') && np != "/" {
            np.push('/');
        }
        np
    }

    #[test]
    fn clean_path_matches_go() {
        let cases = [
            ("", "/"),
            ("/", "/"),
            ("a", "/a"),
            ("a/", "/a/"),
            ("//", "/"),
            ("/a//b", "/a/b"),
            ("/a/./b", "/a/b"),
            ("/a/../b", "/b"),
            ("/../a", "/a"),
            ("/a/b/..", "/a"),
            ("/a/b/../", "/a/"),
            ("/a/.", "/a"),
            ("/a/./", "/a/"),
            ("/.", "/"),
            ("/..", "/"),
            ("/a/b/", "/a/b/"),
            ("/a%2e%2e/b", "/a%2e%2e/b"),
            ("/%2e%2e/b", "/%2e%2e/b"),
            ("/a/..b/c.", "/a/..b/c."),
            ("///a///", "/a/"),
        ];
        for (input, want) in cases {
            assert_eq!(clean_path(input), want, "clean_path({input:?})");
            assert_eq!(reference_clean(input), want, "reference({input:?})");
            assert_eq!(is_clean(input), input == want, "is_clean({input:?})");
        }
    }

    #[test]
    fn clean_path_exhaustive_small_inputs() {
        // Every string of up to 6 characters over the alphabet that matters.
        let alphabet = ['/', '.', 'a'];
        let mut level = vec![String::new()];
        let mut inputs = level.clone();
        for _ in 0..6 {
            level = level
                .iter()
                .flat_map(|s| alphabet.iter().map(move |c| format!("{s}{c}")))
                .collect();
            inputs.extend(level.iter().cloned());
        }
        assert_eq!(inputs.len(), (0..=6).map(|n| 3usize.pow(n)).sum::<usize>());
        for input in &inputs {
            let want = reference_clean(input);
            assert_eq!(clean_path(input), want, "clean_path({input:?})");
            assert_eq!(is_clean(input), *input == want, "is_clean({input:?})");
        }
    }

    #[test]
    fn clean_path_borrows_when_clean() {
        assert!(matches!(clean_path("/a/b/"), Cow::Borrowed(_)));
        assert!(matches!(clean_path("/a//b"), Cow::Owned(_)));
    }

    #[test]
    fn decode_segments() {
        assert_eq!(decode("plain"), "plain");
        assert!(matches!(decode("plain"), Cow::Borrowed(_)));
        assert_eq!(decode("a%20b"), "a b");
        assert_eq!(decode("a%2Fb"), "a/b");
        assert_eq!(decode("%e2%82%AC"), "€");
        assert_eq!(decode("a+b"), "a+b");
        // Malformed escapes and non-UTF-8 results leave the text as it was.
        assert_eq!(decode("100%"), "100%");
        assert_eq!(decode("%zz"), "%zz");
        assert_eq!(decode("%4"), "%4");
        assert_eq!(decode("%ff"), "%ff");
    }

    #[test]
    fn split_segments() {
        let mut p = ReqPath::new("/a/b%20c/");
        let mut segs = Vec::new();
        while !p.is_empty() {
            let (seg, rest) = p.split_first();
            segs.push(seg);
            p = rest;
        }
        assert_eq!(
            segs,
            [Seg::Text("a"), Seg::Text("b%20c"), Seg::TrailingSlash]
        );

        let (seg, rest) = ReqPath::new("/").split_first();
        assert_eq!(seg, Seg::TrailingSlash);
        assert!(rest.is_empty());

        // `//` in an uncleaned (CONNECT) path is an empty segment.
        let (seg, rest) = ReqPath::new("//x").split_first();
        assert_eq!(seg, Seg::Text(""));
        assert_eq!(rest.split_first().0, Seg::Text("x"));
    }

    #[test]
    fn virtual_trailing_slash() {
        let p = ReqPath::with_trailing_slash("/a");
        assert_eq!(p.slash_count(), 2);
        assert!(p.ends_with_slash());
        let (seg, rest) = p.split_first();
        assert_eq!(seg, Seg::Text("a"));
        assert_eq!(rest.remainder(), "");
        assert_eq!(p.remainder(), "a/");
        let (seg, rest) = rest.split_first();
        assert_eq!(seg, Seg::TrailingSlash);
        assert!(rest.is_empty());
        assert_eq!(
            ReqPath::with_trailing_slash("").split_first().0,
            Seg::TrailingSlash
        );
    }

    #[test]
    fn remainder_drops_leading_slash() {
        assert_eq!(ReqPath::new("/a/b").remainder(), "a/b");
        assert_eq!(ReqPath::new("/").remainder(), "");
        assert_eq!(ReqPath::new("").remainder(), "");
    }

    #[test]
    fn host_ports() {
        assert_eq!(strip_port("example.com"), "example.com");
        assert_eq!(strip_port("example.com:8080"), "example.com");
        assert_eq!(strip_port("Example.COM:"), "Example.COM");
        assert_eq!(strip_port("[::1]:80"), "::1");
        assert_eq!(strip_port("[::1]"), "::1");
        assert_eq!(strip_port("::1"), "::1");
        assert_eq!(strip_port("[::1"), "[::1");
        assert_eq!(strip_port(""), "");
        assert_eq!(strip_port(":80"), "");
    }
}
