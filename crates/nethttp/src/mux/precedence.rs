//! Precedence between patterns: how the request sets of two patterns relate (Go's
//! `pattern.go` rules), which pairs conflict, and the message that explains a conflict.
//!
//! The routing tree relies on these rules: because conflicting patterns are refused at
//! registration, every request that two registered patterns both match has one most specific
//! pattern, and the tree's search order (literal, then `{name}`, then `{name...}`; exact
//! method, then GET for HEAD, then any method; exact host, then any host) finds it.

use http::Method;

use super::pattern::{Pattern, Segment};

/// How the set of requests matched by one pattern relates to another's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Relation {
    /// Both match exactly the same requests.
    Equivalent,
    /// The first matches a strict superset of the second's requests.
    MoreGeneral,
    /// The first matches a strict subset of the second's requests.
    MoreSpecific,
    /// No request matches both.
    Disjoint,
    /// Some requests match both, and each matches some the other does not.
    Overlaps,
}

use Relation::*;

impl Relation {
    /// The relation of two patterns given the relations of two independent parts of them
    /// (methods and paths, or one path segment and the next).
    fn combine(self, other: Relation) -> Relation {
        match (self, other) {
            (Disjoint, _) | (_, Disjoint) => Disjoint,
            (Equivalent, r) | (r, Equivalent) => r,
            (Overlaps, _) | (_, Overlaps) => Overlaps,
            // Both are MoreGeneral or MoreSpecific: agreeing keeps it, disagreeing overlaps.
            (a, b) if a == b => a,
            _ => Overlaps,
        }
    }
}

/// Whether two patterns may not both be registered: they have the same host (a host-specific
/// pattern always beats a host-less one, by rule) and neither is more specific than the other.
pub(crate) fn conflicts(p1: &Pattern, p2: &Pattern) -> bool {
    p1.host == p2.host && matches!(compare_methods_and_paths(p1, p2), Equivalent | Overlaps)
}

/// Explains why two patterns conflict, naming both.
pub(crate) fn describe_conflict(p1: &Pattern, p2: &Pattern) -> String {
    let methods = compare_methods(&p1.method, &p2.method);
    let paths = compare_paths(&p1.segments, &p2.segments);
    let (new, old) = (&*p1.text, &*p2.text);
    let why = match (methods, paths) {
        (Equivalent, Equivalent) => format!("{new:?} matches the same requests as {old:?}"),
        (_, Overlaps) => format!(
            "both match some paths, like {:?}, but neither is more specific than the other",
            common_path(&p1.segments, &p2.segments)
        ),
        (MoreGeneral, _) => {
            format!("{new:?} matches more methods than {old:?}, but has a more specific path")
        }
        (MoreSpecific, _) => {
            format!("{new:?} matches fewer methods than {old:?}, but has a more general path")
        }
        _ => "they match some of the same requests".to_string(),
    };
    format!("pattern {new:?} conflicts with pattern {old:?}: {why}")
}

fn compare_methods_and_paths(p1: &Pattern, p2: &Pattern) -> Relation {
    let methods = compare_methods(&p1.method, &p2.method);
    if methods == Disjoint {
        return Disjoint;
    }
    methods.combine(compare_paths(&p1.segments, &p2.segments))
}

fn compare_methods(m1: &Option<Method>, m2: &Option<Method>) -> Relation {
    match (m1, m2) {
        (m1, m2) if m1 == m2 => Equivalent,
        (None, _) => MoreGeneral,
        (_, None) => MoreSpecific,
        // A GET pattern also serves HEAD.
        (Some(a), Some(b)) if *a == Method::GET && *b == Method::HEAD => MoreGeneral,
        (Some(a), Some(b)) if *a == Method::HEAD && *b == Method::GET => MoreSpecific,
        _ => Disjoint,
    }
}

fn compare_paths(s1: &[Segment], s2: &[Segment]) -> Relation {
    let multi1 = matches!(s1.last(), Some(Segment::Multi(_)));
    let multi2 = matches!(s2.last(), Some(Segment::Multi(_)));
    // Without a `{...}` at the end, a pattern matches paths of exactly its segment count.
    if s1.len() != s2.len() && !multi1 && !multi2 {
        return Disjoint;
    }
    let mut rel = Equivalent;
    for (a, b) in s1.iter().zip(s2) {
        rel = rel.combine(compare_segments(a, b));
        if rel == Disjoint {
            return Disjoint;
        }
    }
    // Segments past the shorter pattern's end can only be matched by its final `{...}`.
    match s1.len().cmp(&s2.len()) {
        std::cmp::Ordering::Equal => rel,
        std::cmp::Ordering::Less if multi1 => rel.combine(MoreGeneral),
        std::cmp::Ordering::Greater if multi2 => rel.combine(MoreSpecific),
        _ => Disjoint,
    }
}

fn compare_segments(a: &Segment, b: &Segment) -> Relation {
    use Segment::*;
    match (a, b) {
        (Multi(_), Multi(_)) => Equivalent,
        (Multi(_), _) => MoreGeneral,
        (_, Multi(_)) => MoreSpecific,
        (Wild(_), Wild(_)) | (End, End) => Equivalent,
        // A `{name}` never matches the final slash that `{$}` matches.
        (Wild(_), End) | (End, Wild(_)) => Disjoint,
        (Wild(_), Literal(_)) => MoreGeneral,
        (Literal(_), Wild(_)) => MoreSpecific,
        (Literal(x), Literal(y)) if x == y => Equivalent,
        (Literal(_), _) | (End, Literal(_)) => Disjoint,
    }
}

/// A path that both patterns match (they must overlap), for conflict messages: at each
/// position, the more specific segment of the two, with wildcards shown by name.
fn common_path(s1: &[Segment], s2: &[Segment]) -> String {
    fn rank(s: &Segment) -> u8 {
        match s {
            Segment::Literal(_) | Segment::End => 0,
            Segment::Wild(_) => 1,
            Segment::Multi(_) => 2,
        }
    }
    let shared = s1.len().min(s2.len());
    let longer = if s1.len() >= s2.len() { s1 } else { s2 };
    let picks = s1
        .iter()
        .zip(s2)
        .map(|(a, b)| if rank(b) < rank(a) { b } else { a })
        .chain(&longer[shared..]);
    let mut out = String::new();
    for seg in picks {
        out.push('/');
        match seg {
            Segment::Literal(s) => out.push_str(s),
            Segment::Wild(name) => out.push_str(name),
            // A final `{...}` or `{$}`: the example path can end here.
            Segment::Multi(name) => {
                out.push_str(name.as_deref().unwrap_or(""));
                break;
            }
            Segment::End => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Pattern {
        Pattern::parse(text).unwrap()
    }

    fn inverse(r: Relation) -> Relation {
        match r {
            MoreGeneral => MoreSpecific,
            MoreSpecific => MoreGeneral,
            r => r,
        }
    }

    fn relation(a: &str, b: &str) -> Relation {
        compare_methods_and_paths(&p(a), &p(b))
    }

    #[test]
    fn relations_from_go() {
        let cases = [
            // Paths.
            ("/a", "/a", Equivalent),
            ("/a", "/b", Disjoint),
            ("/a", "/", MoreSpecific),
            ("/", "/a", MoreGeneral),
            ("/a/", "/a", Disjoint),
            ("/a/", "/a/b", MoreGeneral),
            ("/{x}", "/a", MoreGeneral),
            ("/{x}", "/{y}", Equivalent),
            ("/{x}", "/", MoreSpecific),
            ("/{x}/", "/{y}/", Equivalent),
            ("/b/{x}", "/{x}/b", Overlaps),
            ("/{x}/b", "/a/{y}", Overlaps),
            ("/a/{x...}", "/a/", Equivalent),
            ("/a/{x...}", "/a/b/{y...}", MoreGeneral),
            ("/a/{x...}", "/a/{y}", MoreGeneral),
            ("/{$}", "/", MoreSpecific),
            ("/a/{$}", "/a/", MoreSpecific),
            ("/a/{$}", "/a/{x}", Disjoint),
            ("/a/{$}", "/a/{$}", Equivalent),
            ("/a/{$}", "/a/b", Disjoint),
            ("/a/{$}", "/a", Disjoint),
            ("/a/b/c", "/a/{x...}", MoreSpecific),
            ("/{x}/{y}", "/{x}/{y}/{z}", Disjoint),
            // Methods.
            ("GET /a", "/a", MoreSpecific),
            ("GET /a", "POST /a", Disjoint),
            ("GET /a", "HEAD /a", MoreGeneral),
            ("HEAD /a", "GET /a", MoreSpecific),
            ("HEAD /a", "POST /", Disjoint),
            // Methods and paths pulling different ways.
            ("GET /", "/index.html", Overlaps),
            ("POST /a", "/{x}", MoreSpecific),
            ("POST /{x}", "/a", Overlaps),
            ("GET /", "/{$}", Overlaps),
            ("GET /a/{x}", "/a/b", Overlaps),
            ("GET /a/b", "/a/{x}", MoreSpecific),
        ];
        for (a, b, want) in cases {
            assert_eq!(relation(a, b), want, "{a:?} vs {b:?}");
            assert_eq!(relation(b, a), inverse(want), "{b:?} vs {a:?}");
        }
    }

    #[test]
    fn combine_is_commutative() {
        let all = [Equivalent, MoreGeneral, MoreSpecific, Disjoint, Overlaps];
        for a in all {
            for b in all {
                assert_eq!(a.combine(b), b.combine(a), "{a:?} {b:?}");
            }
        }
        assert_eq!(MoreGeneral.combine(MoreSpecific), Overlaps);
        assert_eq!(Overlaps.combine(Disjoint), Disjoint);
    }

    #[test]
    fn hosts_never_conflict_with_host_less_patterns() {
        assert!(!conflicts(&p("example.com/"), &p("/")));
        assert!(!conflicts(&p("example.com/a"), &p("/{x}")));
        assert!(!conflicts(&p("a.com/"), &p("b.com/")));
        assert!(conflicts(&p("example.com/"), &p("EXAMPLE.com/")));
        assert!(conflicts(&p("/a"), &p("/a")));
        assert!(!conflicts(&p("/a"), &p("/a/")));
    }

    #[test]
    fn conflict_messages_name_both_patterns() {
        let msg = describe_conflict(&p("/a/{x}"), &p("/a/{y}"));
        assert_eq!(
            msg,
            r#"pattern "/a/{x}" conflicts with pattern "/a/{y}": "/a/{x}" matches the same requests as "/a/{y}""#
        );
        let msg = describe_conflict(&p("/b/{x}"), &p("/{y}/b"));
        assert!(msg.contains(r#"like "/b/b""#), "{msg}");
        let msg = describe_conflict(&p("GET /"), &p("/index.html"));
        assert!(
            msg.contains("more methods") || msg.contains("fewer methods"),
            "{msg}"
        );
        assert!(
            msg.contains(r#""GET /""#) && msg.contains(r#""/index.html""#),
            "{msg}"
        );
        let msg = describe_conflict(&p("/index.html"), &p("GET /"));
        assert!(msg.contains("more methods than"), "{msg}");
    }

    #[test]
    fn common_paths() {
        let cases = [
            ("/b/{x}", "/{x}/b", "/b/b"),
            ("/a/{x...}", "/{y}/b", "/a/b"),
            ("/{x}/", "/a/{$}", "/a/"),
            ("/{x}/{y}", "/{z}/c", "/x/c"),
            ("/a/{x...}", "/{y}/b/{z...}", "/a/b/z"),
            ("/{x...}", "/{y...}", "/x"),
        ];
        for (a, b, want) in cases {
            let a = p(a);
            let b = p(b);
            assert_eq!(common_path(&a.segments, &b.segments), want);
        }
    }
}
