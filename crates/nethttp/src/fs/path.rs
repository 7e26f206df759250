//! From a request path to a file under the root, refusing every way out: each segment is
//! percent-decoded once and checked on its own, so `..` (also as `%2e%2e`), a `/` or `\`
//! hidden in an escape, and NUL never reach the file system; `.` and empty segments are
//! skipped; dotfiles are not served unless allowed. Symlinks are checked by the caller once
//! the file is found (`FileServer` resolves it and compares with the root).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// Why a path is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The path is malformed or tries to leave the root: `400`.
    BadRequest(&'static str),
    /// The path names something not served (a dotfile): `404`, as if it did not exist.
    Hidden,
}

/// The relative path `url_path` (a request's path, still percent-encoded) names, and
/// whether it ended with `/`.
pub(crate) fn relative(url_path: &str, dotfiles: bool) -> Result<(PathBuf, bool), Refused> {
    let Some(rest) = url_path.strip_prefix('/') else {
        return Err(Refused::BadRequest("the path must start with /"));
    };
    let mut out = PathBuf::new();
    for raw in rest.split('/') {
        let seg = crate::percent::decode(raw).ok_or(Refused::BadRequest("malformed escape"))?;
        if seg.contains(&0) {
            return Err(Refused::BadRequest("NUL in the path"));
        }
        if seg.contains(&b'/') || seg.contains(&b'\\') {
            return Err(Refused::BadRequest("a separator inside a path segment"));
        }
        match seg.as_slice() {
            b"" | b"." => continue,
            b".." => return Err(Refused::BadRequest("'..' in the path")),
            s if s[0] == b'.' && !dotfiles => return Err(Refused::Hidden),
            s => out.push(OsStr::from_bytes(s)),
        }
    }
    Ok((out, url_path.ends_with('/')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_and_escapes() {
        assert_eq!(relative("/", false).unwrap(), (PathBuf::new(), true));
        assert_eq!(
            relative("/a/b%20c.txt", false).unwrap(),
            (PathBuf::from("a/b c.txt"), false)
        );
        assert_eq!(
            relative("/a//./b/", false).unwrap(),
            (PathBuf::from("a/b"), true)
        );
    }

    #[test]
    fn ways_out_are_refused() {
        for p in [
            "/../etc/passwd",
            "/a/../../b",
            "/%2e%2e/etc/passwd",
            "/%2E%2E/x",
            "/a/%2e%2e%2f%2e%2e/x",
            "/a%2fb",
            "/a%5c..%5cb",
            "/a\\b",
            "/a%00b",
            "/%zz",
            "relative",
        ] {
            assert!(
                matches!(relative(p, true), Err(Refused::BadRequest(_))),
                "{p}"
            );
        }
    }

    #[test]
    fn dotfiles_are_hidden_unless_allowed() {
        assert_eq!(relative("/.env", false), Err(Refused::Hidden));
        assert_eq!(relative("/a/.git/config", false), Err(Refused::Hidden));
        assert_eq!(relative("/%2egit/config", false), Err(Refused::Hidden));
        assert_eq!(
            relative("/.well-known/x", true).unwrap().0,
            PathBuf::from(".well-known/x")
        );
    }
}
