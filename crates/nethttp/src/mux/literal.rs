//! The literal patterns' table: a request whose clean path is exactly the path of a
//! registered pattern without wildcards (`/`, `GET /{$}`, `/items/new`) is routed by one
//! binary search instead of the tree walk, when the answer is provably the tree's.
//!
//! Why it is the tree's: the tree searches the request's method, then GET for HEAD, then the
//! patterns without a method, and within each the first full match of a literal path is that
//! literal pattern (a literal child comes before `{name}` and `{name...}`); this table looks in
//! the same order. A pattern the tree searches earlier that matched the path without being
//! this literal one would name a more specific method and a less specific path: the two would
//! conflict, and registration refuses that. Patterns with a host are not taken (with any of
//! them registered the table is not used: a host pattern beats every other), nor are literals
//! holding `%` or `/` once decoded, whose raw form a request could spell differently.

use http::Method;

use super::pattern::{Pattern, Segment};
use super::tree::RouteId;

/// Registered literal patterns, by path.
#[derive(Debug, Default)]
pub(crate) struct Literals {
    /// Sorted by path.
    paths: Vec<(Box<str>, ByMethod)>,
}

/// One path's literal patterns, by method (`None`: any method).
type ByMethod = Vec<(Option<Method>, RouteId)>;

impl Literals {
    /// Keeps a registered pattern if it is a literal one.
    pub(crate) fn insert(&mut self, pattern: &Pattern, id: RouteId) {
        if pattern.host.is_some() {
            return;
        }
        let Some(path) = literal_path(&pattern.segments) else {
            return;
        };
        let entry = (pattern.method.clone(), id);
        match self.paths.binary_search_by(|(p, _)| (**p).cmp(&*path)) {
            Ok(i) => self.paths[i].1.push(entry),
            Err(i) => self.paths.insert(i, (path.into(), vec![entry])),
        }
    }

    /// The route for a request with this method and (clean, origin-form) path, if a literal
    /// pattern is what the tree would find; `None` leaves the request to the tree.
    pub(crate) fn find(&self, method: &Method, path: &str) -> Option<RouteId> {
        let i = self.paths.binary_search_by(|(p, _)| (**p).cmp(path)).ok()?;
        let entries = &self.paths[i].1;
        let with = |m: Option<&Method>| {
            entries
                .iter()
                .find(|(k, _)| k.as_ref() == m)
                .map(|&(_, id)| id)
        };
        with(Some(method))
            .or_else(|| {
                if *method == Method::HEAD {
                    with(Some(&Method::GET))
                } else {
                    None
                }
            })
            .or_else(|| with(None))
    }
}

/// The one path a pattern's segments match, if they are all literals (without `%` or `/`),
/// possibly ending in `{$}`.
fn literal_path(segments: &[Segment]) -> Option<String> {
    let mut path = String::new();
    for (i, segment) in segments.iter().enumerate() {
        match segment {
            Segment::Literal(lit) if !lit.contains(['%', '/']) => {
                path.push('/');
                path.push_str(lit);
            }
            Segment::End if i + 1 == segments.len() => path.push('/'),
            _ => return None,
        }
    }
    (!path.is_empty()).then_some(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mux::path::{clean_path, ReqPath};
    use crate::mux::precedence::conflicts;
    use crate::mux::tree::Tree;
    use proptest::prelude::*;

    const METHODS: [&str; 4] = ["", "GET ", "HEAD ", "POST "];
    const PATHS: [&str; 16] = [
        "/",
        "/{$}",
        "/a",
        "/a/",
        "/a/{$}",
        "/a/b",
        "/{x}",
        "/{x}/b",
        "/a/{y}",
        "/{z...}",
        "/a/{z...}",
        "/b",
        "/b/{$}",
        "/a%2Fb",
        "/a/b/{$}",
        "/%61",
    ];
    const REQUEST_PATHS: [&str; 11] = [
        "/", "/a", "/a/", "/a/b", "/b", "/b/", "/c", "/a/b/", "/a%2Fb", "/a/c", "/%61",
    ];

    /// The registered patterns in `order` that conflict with none before them, in a tree
    /// and the table.
    fn build(order: &[(usize, usize)]) -> (Tree, Literals, Vec<String>) {
        let (mut tree, mut literals, mut kept) = (Tree::default(), Literals::default(), vec![]);
        let mut patterns: Vec<Pattern> = Vec::new();
        for &(m, p) in order {
            let text = format!("{}{}", METHODS[m], PATHS[p]);
            let Ok(pattern) = Pattern::parse(&text) else {
                continue;
            };
            if patterns.iter().any(|q| conflicts(&pattern, q)) {
                continue;
            }
            tree.insert(&pattern, patterns.len());
            literals.insert(&pattern, patterns.len());
            patterns.push(pattern);
            kept.push(text);
        }
        (tree, literals, kept)
    }

    #[test]
    fn a_literal_route_is_found_without_the_tree() {
        let (tree, literals, _) = build(&[(1, 1), (0, 0), (0, 5), (3, 2)]);
        assert_eq!(literals.find(&Method::GET, "/"), Some(0));
        assert_eq!(literals.find(&Method::HEAD, "/"), Some(0));
        assert_eq!(literals.find(&Method::POST, "/a"), Some(3));
        // No GET pattern matches `/a/b`: the one without a method does.
        assert_eq!(literals.find(&Method::GET, "/a/b"), Some(2));
        assert_eq!(tree.find("", &Method::GET, ReqPath::new("/a/b")), Some(2));
        // Not literal: POST for `/` (the `/` subtree's), and a path no literal pattern has.
        assert_eq!(literals.find(&Method::POST, "/"), None);
        assert_eq!(tree.find("", &Method::POST, ReqPath::new("/")), Some(1));
        assert_eq!(literals.find(&Method::GET, "/c"), None);
        // With no method named anywhere, a literal without one answers every method.
        let (_, literals, _) = build(&[(0, 5), (0, 0)]);
        assert_eq!(literals.find(&Method::PUT, "/a/b"), Some(0));
        assert_eq!(literals.find(&Method::HEAD, "/a/b"), Some(0));
        assert_eq!(literals.find(&Method::PUT, "/a"), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        /// Whatever literal route the table finds is the one the tree finds.
        #[test]
        fn the_table_agrees_with_the_tree(
            order in proptest::collection::vec((0..METHODS.len(), 0..PATHS.len()), 1..10),
            requests in proptest::collection::vec((0..4usize, 0..REQUEST_PATHS.len()), 1..12),
        ) {
            let (tree, literals, kept) = build(&order);
            for (m, p) in requests {
                let method = [Method::GET, Method::HEAD, Method::POST, Method::PUT][m].clone();
                let path = REQUEST_PATHS[p];
                prop_assume!(clean_path(path) == path);
                if let Some(id) = literals.find(&method, path) {
                    prop_assert_eq!(
                        tree.find("", &method, ReqPath::new(path)),
                        Some(id),
                        "{} {} with {:?}", method, path, kept
                    );
                }
            }
        }
    }
}
