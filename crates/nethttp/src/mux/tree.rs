//! The routing tree: registered patterns indexed by host, then method, then path segment, and
//! the search that finds the most specific pattern for a request without allocating.
//!
//! The search order is what makes "most specific wins" hold: an exact host before any host, the
//! exact method before GET-for-HEAD before any method, and at each path segment a literal before
//! `{name}` before `{name...}`. Registration refuses conflicting patterns (see `precedence`),
//! so the first pattern this order finds is the most specific one that matches.

use http::Method;

use super::path::{decode, ReqPath, Seg};
use super::pattern::{Pattern, Segment};

/// Index of a route in the mux's route table.
pub(crate) type RouteId = usize;

/// All registered patterns.
#[derive(Debug, Default)]
pub(crate) struct Tree {
    /// Patterns with a host, sorted by (lowercase) host.
    hosts: Vec<(Box<str>, MethodTable)>,
    /// Patterns without a host.
    any_host: MethodTable,
}

/// The patterns of one host (or of no host), by method.
#[derive(Debug, Default)]
struct MethodTable {
    /// Patterns with a method; few in practice, so a list.
    methods: Vec<(Method, Node)>,
    /// Patterns without a method.
    any_method: Node,
}

/// A position in the path of one or more patterns.
#[derive(Debug, Default)]
struct Node {
    /// The pattern whose segments end exactly here.
    route: Option<RouteId>,
    /// Literal next segments (percent-decoded), sorted for binary search.
    literals: Vec<(Box<str>, Node)>,
    /// Patterns with a `{name}` next.
    wild: Option<Box<Node>>,
    /// The pattern with `{$}` next.
    end: Option<RouteId>,
    /// The pattern with `{name...}` or a trailing slash next.
    multi: Option<RouteId>,
}

impl Tree {
    /// Adds a pattern. The caller has checked that it conflicts with no registered pattern, so
    /// its slot is free (an equivalent pattern would have been a conflict).
    pub(crate) fn insert(&mut self, pattern: &Pattern, id: RouteId) {
        let table = match &pattern.host {
            None => &mut self.any_host,
            Some(host) => {
                let i = match self.hosts.binary_search_by(|(h, _)| (**h).cmp(host)) {
                    Ok(i) => i,
                    Err(i) => {
                        self.hosts.insert(i, (host.clone(), MethodTable::default()));
                        i
                    }
                };
                &mut self.hosts[i].1
            }
        };
        let node = match &pattern.method {
            None => &mut table.any_method,
            Some(method) => {
                let i = match table.methods.iter().position(|(m, _)| m == method) {
                    Some(i) => i,
                    None => {
                        table.methods.push((method.clone(), Node::default()));
                        table.methods.len() - 1
                    }
                };
                &mut table.methods[i].1
            }
        };
        node.insert(&pattern.segments, id);
    }

    /// The most specific pattern matching a request. `host` is the request's host without its
    /// port (any ASCII case; empty when the request named none).
    /// Whether any pattern names a host; if none does, callers need not look the host up.
    pub(crate) fn has_hosts(&self) -> bool {
        !self.hosts.is_empty()
    }

    pub(crate) fn find(&self, host: &str, method: &Method, path: ReqPath<'_>) -> Option<RouteId> {
        self.host_table(host)
            .and_then(|t| t.find(method, path))
            .or_else(|| self.any_host.find(method, path))
    }

    /// The methods of the patterns that match `path` (or `path/`, which would redirect) on
    /// `host`, for a 405's `Allow` header: sorted, and with HEAD wherever GET is allowed.
    pub(crate) fn allowed_methods(&self, host: &str, path: &str) -> Vec<&str> {
        let mut allowed = Vec::new();
        let tables = self.host_table(host).into_iter().chain([&self.any_host]);
        for table in tables {
            for (method, node) in &table.methods {
                let matches = node.find(ReqPath::new(path)).is_some()
                    || (!path.ends_with('/')
                        && node.find(ReqPath::with_trailing_slash(path)).is_some());
                if matches {
                    allowed.push(method.as_str());
                }
            }
        }
        if allowed.contains(&"GET") {
            allowed.push("HEAD");
        }
        allowed.sort_unstable();
        allowed.dedup();
        allowed
    }

    fn host_table(&self, host: &str) -> Option<&MethodTable> {
        if host.is_empty() || self.hosts.is_empty() {
            return None;
        }
        // Registered hosts are lowercase; compare the request's lowercased on the fly.
        let cmp = |stored: &str| {
            stored
                .bytes()
                .cmp(host.bytes().map(|b| b.to_ascii_lowercase()))
        };
        let i = self.hosts.binary_search_by(|(h, _)| cmp(h)).ok()?;
        Some(&self.hosts[i].1)
    }
}

/// Whether a pattern matches a path without anything left over for its final `{...}`: the
/// pattern is the "directory" itself. `/a/` and `/a/{rest...}` match `/a/` exactly, but `/`
/// does not. Decides the `/dir` -> `/dir/` redirect.
pub(crate) fn is_exact(pattern: &Pattern, path: ReqPath<'_>) -> bool {
    if !pattern.ends_in_multi() {
        return true;
    }
    // The final `{...}` matched nothing iff the path ends in the `/` before it, which is the
    // path's last slash: so the path has one slash per pattern segment.
    path.ends_with_slash() && path.slash_count() == pattern.segments.len()
}

impl MethodTable {
    fn find(&self, method: &Method, path: ReqPath<'_>) -> Option<RouteId> {
        let by_method = |m: &Method| {
            self.methods
                .iter()
                .find(|(k, _)| k == m)
                .and_then(|(_, node)| node.find(path))
        };
        by_method(method)
            .or_else(|| {
                if *method == Method::HEAD {
                    by_method(&Method::GET)
                } else {
                    None
                }
            })
            .or_else(|| self.any_method.find(path))
    }
}

impl Node {
    fn insert(&mut self, segments: &[Segment], id: RouteId) {
        let slot = match segments.split_first() {
            None => &mut self.route,
            Some((Segment::Literal(lit), rest)) => {
                let i = match self.literals.binary_search_by(|(k, _)| (**k).cmp(lit)) {
                    Ok(i) => i,
                    Err(i) => {
                        self.literals.insert(i, (lit.clone(), Node::default()));
                        i
                    }
                };
                return self.literals[i].1.insert(rest, id);
            }
            Some((Segment::Wild(_), rest)) => {
                return self.wild.get_or_insert_with(Box::default).insert(rest, id);
            }
            // Both are always the last segment.
            Some((Segment::Multi(_), _)) => &mut self.multi,
            Some((Segment::End, _)) => &mut self.end,
        };
        debug_assert!(slot.is_none(), "conflicting patterns reached the tree");
        *slot = Some(id);
    }

    /// The most specific pattern at or below this node matching `path`. Backtracks: a literal
    /// child that leads nowhere gives way to the `{name}` child, then to `{name...}`. The depth
    /// of recursion is bounded by the depth of the tree, not by the request.
    fn find(&self, path: ReqPath<'_>) -> Option<RouteId> {
        if path.is_empty() {
            return self.route;
        }
        let (seg, rest) = path.split_first();
        match seg {
            // Only `{$}` and `{...}` match the final slash; `{name}` does not.
            Seg::TrailingSlash => {
                if self.end.is_some() {
                    return self.end;
                }
            }
            Seg::Text(raw) => {
                if !self.literals.is_empty() {
                    let seg = decode(raw);
                    if let Some(id) = self.literal(&seg).and_then(|child| child.find(rest)) {
                        return Some(id);
                    }
                }
                if let Some(id) = self.wild.as_ref().and_then(|child| child.find(rest)) {
                    return Some(id);
                }
            }
        }
        self.multi
    }

    fn literal(&self, seg: &str) -> Option<&Node> {
        let i = self
            .literals
            .binary_search_by(|(k, _)| (**k).cmp(seg))
            .ok()?;
        Some(&self.literals[i].1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tree of `patterns`, each one's id its index.
    fn tree(patterns: &[&str]) -> (Tree, Vec<Pattern>) {
        let mut tree = Tree::default();
        let parsed: Vec<Pattern> = patterns
            .iter()
            .map(|p| Pattern::parse(p).unwrap())
            .collect();
        for (id, p) in parsed.iter().enumerate() {
            tree.insert(p, id);
        }
        (tree, parsed)
    }

    /// Which pattern serves `method host path`, by text.
    fn lookup<'p>(
        (tree, patterns): &'p (Tree, Vec<Pattern>),
        method: &str,
        host: &str,
        path: &str,
    ) -> Option<&'p str> {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        tree.find(host, &method, ReqPath::new(path))
            .map(|id| &*patterns[id].text)
    }

    #[test]
    fn most_specific_wins() {
        // The examples of Go's ServeMux documentation, plus the neighbours they imply.
        let t = tree(&[
            "/",
            "/index.html",
            "/images/",
            "/images/thumbnails/",
            "GET /posts/{id}",
            "GET /posts/latest",
            "POST /posts/{id}",
            "/b/{bucket}/o/{objectname...}",
            "/b/{bucket}/o/default",
            "/{$}",
            "/files/{$}",
            "/files/{path...}",
            "HEAD /head",
            "GET /head",
            "/head",
        ]);
        let cases = [
            ("GET", "/", Some("/{$}")),
            ("GET", "/nothing/here", Some("/")),
            ("GET", "/index.html", Some("/index.html")),
            ("GET", "/images/", Some("/images/")),
            ("GET", "/images/a.png", Some("/images/")),
            (
                "GET",
                "/images/thumbnails/a.png",
                Some("/images/thumbnails/"),
            ),
            ("GET", "/images", Some("/")),
            ("GET", "/posts/latest", Some("GET /posts/latest")),
            ("GET", "/posts/7", Some("GET /posts/{id}")),
            ("HEAD", "/posts/7", Some("GET /posts/{id}")),
            ("POST", "/posts/7", Some("POST /posts/{id}")),
            ("POST", "/posts/latest", Some("POST /posts/{id}")),
            ("PUT", "/posts/7", Some("/")),
            ("GET", "/b/x/o/default", Some("/b/{bucket}/o/default")),
            ("GET", "/b/x/o/a/b/c", Some("/b/{bucket}/o/{objectname...}")),
            ("GET", "/b/x/o/", Some("/b/{bucket}/o/{objectname...}")),
            ("GET", "/b/x/o", Some("/")),
            ("GET", "/files/", Some("/files/{$}")),
            ("GET", "/files/a", Some("/files/{path...}")),
            ("HEAD", "/head", Some("HEAD /head")),
            ("GET", "/head", Some("GET /head")),
            ("DELETE", "/head", Some("/head")),
        ];
        for (method, path, want) in cases {
            assert_eq!(lookup(&t, method, "", path), want, "{method} {path}");
        }
    }

    #[test]
    fn literal_dead_end_backtracks_to_wildcard() {
        let t = tree(&["/a/b/c", "/a/{x}/d", "/a/"]);
        assert_eq!(lookup(&t, "GET", "", "/a/b/c"), Some("/a/b/c"));
        // `b` leads to `/a/b/c` only; `/a/b/d` must come back up and try `{x}`.
        assert_eq!(lookup(&t, "GET", "", "/a/b/d"), Some("/a/{x}/d"));
        assert_eq!(lookup(&t, "GET", "", "/a/b/e"), Some("/a/"));
        assert_eq!(lookup(&t, "GET", "", "/a"), None);
    }

    #[test]
    fn wildcards_do_not_match_the_trailing_slash() {
        let t = tree(&["/a/{x}", "/b/{x}/"]);
        assert_eq!(lookup(&t, "GET", "", "/a/1"), Some("/a/{x}"));
        assert_eq!(lookup(&t, "GET", "", "/a/"), None);
        assert_eq!(lookup(&t, "GET", "", "/a/1/"), None);
        assert_eq!(lookup(&t, "GET", "", "/b/1/"), Some("/b/{x}/"));
        assert_eq!(lookup(&t, "GET", "", "/b/1/2/3"), Some("/b/{x}/"));
        assert_eq!(lookup(&t, "GET", "", "/b/1"), None);
    }

    #[test]
    fn literals_match_after_percent_decoding() {
        let t = tree(&["/a%20b/c", "/x%2Fy", "/caf%C3%A9"]);
        assert_eq!(lookup(&t, "GET", "", "/a%20b/c"), Some("/a%20b/c"));
        assert_eq!(lookup(&t, "GET", "", "/a%20b/%63"), Some("/a%20b/c"));
        // An encoded slash is part of the segment, not a separator.
        assert_eq!(lookup(&t, "GET", "", "/x%2fy"), Some("/x%2Fy"));
        assert_eq!(lookup(&t, "GET", "", "/x/y"), None);
        assert_eq!(lookup(&t, "GET", "", "/caf%c3%a9"), Some("/caf%C3%A9"));
        // Malformed escapes simply do not match (and do not panic).
        assert_eq!(lookup(&t, "GET", "", "/a%2/c"), None);
        assert_eq!(lookup(&t, "GET", "", "/%"), None);
    }

    #[test]
    fn hosts() {
        let t = tree(&[
            "/",
            "example.com/",
            "example.com/api/",
            "GET other.org/x",
            "::1/",
        ]);
        assert_eq!(lookup(&t, "GET", "example.com", "/x"), Some("example.com/"));
        assert_eq!(
            lookup(&t, "GET", "EXAMPLE.Com", "/api/v1"),
            Some("example.com/api/")
        );
        assert_eq!(lookup(&t, "GET", "elsewhere.com", "/x"), Some("/"));
        assert_eq!(lookup(&t, "GET", "", "/x"), Some("/"));
        assert_eq!(
            lookup(&t, "GET", "other.org", "/x"),
            Some("GET other.org/x")
        );
        // A host-specific pattern that does not match falls back to the host-less ones.
        assert_eq!(lookup(&t, "POST", "other.org", "/x"), Some("/"));
        assert_eq!(lookup(&t, "GET", "::1", "/"), Some("::1/"));
    }

    #[test]
    fn allowed_methods_for_405() {
        let (t, _) = tree(&["GET /a", "POST /a", "DELETE /a/", "PUT /b/{x}", "h.com/c"]);
        assert_eq!(
            t.allowed_methods("", "/a"),
            ["DELETE", "GET", "HEAD", "POST"]
        );
        assert_eq!(t.allowed_methods("", "/a/"), ["DELETE"]);
        assert_eq!(t.allowed_methods("", "/b/1"), ["PUT"]);
        assert!(t.allowed_methods("", "/c").is_empty());
        assert!(t.allowed_methods("h.com", "/c").is_empty());
        assert!(t.allowed_methods("", "/zzz").is_empty());
    }

    #[test]
    fn exactness() {
        let p = |s: &str| Pattern::parse(s).unwrap();
        assert!(is_exact(&p("/a"), ReqPath::new("/a")));
        assert!(is_exact(&p("/a/"), ReqPath::new("/a/")));
        assert!(is_exact(&p("/a/{rest...}"), ReqPath::new("/a/")));
        assert!(!is_exact(&p("/a/"), ReqPath::new("/a/b")));
        assert!(!is_exact(&p("/a/"), ReqPath::new("/a/b/")));
        assert!(!is_exact(&p("/"), ReqPath::new("/a/")));
        assert!(is_exact(&p("/a/"), ReqPath::with_trailing_slash("/a")));
        assert!(is_exact(&p("/a/{$}"), ReqPath::new("/a/")));
    }
}
