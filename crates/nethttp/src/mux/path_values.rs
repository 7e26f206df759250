//! Wildcard values captured by a match, and how handlers read them: Go's `Request.PathValue`
//! as the [`PathValue`] extension trait (or the [`path_value`] function) over a [`PathValues`]
//! stored in the request's extensions.

use std::sync::Arc;

use http::request::Parts;
use http::{Extensions, Request};

use super::path::{decode, ReqPath, Seg};
use super::pattern::{Pattern, Segment};

/// The values of the wildcards of the pattern that matched a request, by name.
///
/// [`ServeMux`](super::ServeMux) stores one in the request's extensions before calling a
/// handler whose pattern has wildcards, and removes any previous one otherwise (so a mux
/// nested in another sees only its own pattern's values, as in Go). Values are percent-decoded;
/// a segment whose escapes are malformed, or decode to invalid UTF-8, is kept as it was sent.
/// A `{name...}` value is the rest of the path without its leading slash, and may be empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PathValues {
    entries: Vec<(Arc<str>, String)>,
}

impl PathValues {
    /// No values.
    pub fn new() -> PathValues {
        PathValues::default()
    }

    /// The value of wildcard `name`, if the pattern had one by that name.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(n, _)| **n == *name)
            .map(|(_, v)| v.as_str())
    }

    /// Sets wildcard `name` to `value`, replacing any value it had (Go's `SetPathValue`).
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        let value = value.into();
        match self.entries.iter_mut().find(|(n, _)| **n == *name) {
            Some((_, v)) => *v = value,
            None => self.entries.push((name.into(), value)),
        }
    }

    /// The `(name, value)` pairs, in the order the wildcards appear in the pattern.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.entries.iter().map(|(n, v)| (&**n, v.as_str()))
    }

    /// How many values there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The values `pattern` captures from `path`, which it is known to match; `None` when the
    /// pattern has no named wildcards (nothing is allocated then).
    pub(crate) fn capture(pattern: &Pattern, path: &str) -> Option<PathValues> {
        let count = pattern.wildcard_names().count();
        if count == 0 {
            return None;
        }
        let mut entries = Vec::with_capacity(count);
        let mut rest = ReqPath::new(path);
        for segment in &pattern.segments {
            match segment {
                Segment::Multi(name) => {
                    if let Some(name) = name {
                        let value = decode(&rest.remainder()).into_owned();
                        entries.push((name.clone(), value));
                    }
                    break;
                }
                Segment::End => break,
                Segment::Literal(_) | Segment::Wild(_) => {}
            }
            if rest.is_empty() {
                // Not reachable for a path the pattern matched; stop rather than misreport.
                break;
            }
            let (seg, next) = rest.split_first();
            rest = next;
            if let (Segment::Wild(name), Seg::Text(raw)) = (segment, seg) {
                entries.push((name.clone(), decode(raw).into_owned()));
            }
        }
        Some(PathValues { entries })
    }
}

/// Reading wildcard values from a request, like Go's `req.PathValue("id")`:
///
/// ```
/// use nethttp::mux::PathValue;
/// use nethttp::{http::Request, Body};
///
/// let mut req = Request::new(Body::empty());
/// assert_eq!(req.path_value("id"), None);
/// req.set_path_value("id", "42");
/// assert_eq!(req.path_value("id"), Some("42"));
/// ```
///
/// Implemented for [`Request`], [`request::Parts`](Parts) and [`Extensions`]; sealed.
pub trait PathValue: sealed::Sealed {
    /// The value of wildcard `name` in the pattern that matched, if it had one.
    fn path_value(&self, name: &str) -> Option<&str>;

    /// Sets wildcard `name` to `value`, as if a pattern had captured it (Go's
    /// `SetPathValue`); for tests and middleware.
    fn set_path_value(&mut self, name: &str, value: impl Into<String>);
}

impl PathValue for Extensions {
    fn path_value(&self, name: &str) -> Option<&str> {
        self.get::<PathValues>()?.get(name)
    }

    fn set_path_value(&mut self, name: &str, value: impl Into<String>) {
        match self.get_mut::<PathValues>() {
            Some(values) => values.set(name, value),
            None => {
                let mut values = PathValues::new();
                values.set(name, value);
                self.insert(values);
            }
        }
    }
}

impl<B> PathValue for Request<B> {
    fn path_value(&self, name: &str) -> Option<&str> {
        self.extensions().path_value(name)
    }

    fn set_path_value(&mut self, name: &str, value: impl Into<String>) {
        self.extensions_mut().set_path_value(name, value);
    }
}

impl PathValue for Parts {
    fn path_value(&self, name: &str) -> Option<&str> {
        self.extensions.path_value(name)
    }

    fn set_path_value(&mut self, name: &str, value: impl Into<String>) {
        self.extensions.set_path_value(name, value);
    }
}

/// The value of wildcard `name` in the pattern that matched `req`; the function form of
/// [`PathValue::path_value`].
pub fn path_value<'r, B>(req: &'r Request<B>, name: &str) -> Option<&'r str> {
    req.path_value(name)
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for http::Extensions {}
    impl<B> Sealed for http::Request<B> {}
    impl Sealed for http::request::Parts {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capture(pattern: &str, path: &str) -> Option<Vec<(String, String)>> {
        let p = Pattern::parse(pattern).unwrap();
        PathValues::capture(&p, path).map(|v| {
            v.iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect()
        })
    }

    fn pairs(list: &[(&str, &str)]) -> Option<Vec<(String, String)>> {
        Some(
            list.iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn captures() {
        assert_eq!(capture("/a/b", "/a/b"), None);
        assert_eq!(capture("/a/", "/a/b/c"), None);
        assert_eq!(capture("/a/{$}", "/a/"), None);
        assert_eq!(capture("/items/{id}", "/items/42"), pairs(&[("id", "42")]));
        assert_eq!(
            capture("/{a}/x/{b}/", "/1/x/2/3/4"),
            pairs(&[("a", "1"), ("b", "2")])
        );
        assert_eq!(
            capture("/files/{rest...}", "/files/a/b.txt"),
            pairs(&[("rest", "a/b.txt")])
        );
        assert_eq!(
            capture("/files/{rest...}", "/files/"),
            pairs(&[("rest", "")])
        );
        assert_eq!(capture("/{rest...}", "/"), pairs(&[("rest", "")]));
        assert_eq!(capture("/{x}/{$}", "/1/"), pairs(&[("x", "1")]));
    }

    #[test]
    fn captured_values_are_decoded() {
        assert_eq!(
            capture("/u/{name}", "/u/J%C3%BCrgen%20K"),
            pairs(&[("name", "Jürgen K")])
        );
        assert_eq!(capture("/u/{name}", "/u/a%2Fb"), pairs(&[("name", "a/b")]));
        assert_eq!(
            capture("/f/{p...}", "/f/a%20b/c%2Fd"),
            pairs(&[("p", "a b/c/d")])
        );
        // Undecodable text is kept as sent.
        assert_eq!(capture("/u/{name}", "/u/100%"), pairs(&[("name", "100%")]));
        assert_eq!(capture("/u/{name}", "/u/%ff"), pairs(&[("name", "%ff")]));
    }

    #[test]
    fn get_and_set() {
        let mut v = PathValues::new();
        assert!(v.is_empty());
        v.set("a", "1");
        v.set("b", String::from("2"));
        v.set("a", "3");
        assert_eq!(v.get("a"), Some("3"));
        assert_eq!(v.get("b"), Some("2"));
        assert_eq!(v.get("c"), None);
        assert_eq!(v.len(), 2);
        assert_eq!(v.iter().collect::<Vec<_>>(), [("a", "3"), ("b", "2")]);
    }

    #[test]
    fn request_extension_trait() {
        let mut req = Request::new(());
        assert_eq!(req.path_value("id"), None);
        assert_eq!(path_value(&req, "id"), None);
        req.set_path_value("id", "7");
        assert_eq!(req.path_value("id"), Some("7"));
        assert_eq!(path_value(&req, "id"), Some("7"));
        let (mut parts, ()) = req.into_parts();
        assert_eq!(parts.path_value("id"), Some("7"));
        parts.set_path_value("id", "8");
        assert_eq!(parts.extensions.path_value("id"), Some("8"));
    }
}
