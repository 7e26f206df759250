//! From a request path to a file under the root, refusing every way out: each segment is
//! percent-decoded once and checked on its own, so `..` (also as `%2e%2e`), a `/` or `\`
//! hidden in an escape, and NUL never reach the file system; `.` and empty segments are
//! skipped; dotfiles are not served unless allowed. Symlinks are the opening's concern
//! (`open`: the kernel keeps the lookup beneath the root).

/// Why a path is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The path is malformed or tries to leave the root: `400`.
    BadRequest(&'static str),
    /// The path names something not served (a dotfile): `404`, as if it did not exist.
    Hidden,
}

/// Room left at the end of a relative path for what is appended to it before it is opened
/// (`/index.html`, `.br`, the NUL), so that costs no second allocation.
const SPARE: usize = 16;

/// The relative path `url_path` (a request's path, still percent-encoded) names, as bytes
/// (`a/b c.txt`; empty for the root itself), and whether it ended with `/`. Each segment is
/// decoded straight into the result and checked there: one allocation per request.
pub(crate) fn relative(url_path: &str, dotfiles: bool) -> Result<(Vec<u8>, bool), Refused> {
    let Some(rest) = url_path.strip_prefix('/') else {
        return Err(Refused::BadRequest("the path must start with /"));
    };
    let mut out = Vec::with_capacity(rest.len() + SPARE);
    for raw in rest.split('/') {
        let before = out.len();
        if before > 0 {
            out.push(b'/');
        }
        let at = out.len();
        decode_into(raw.as_bytes(), &mut out).ok_or(Refused::BadRequest("malformed escape"))?;
        let seg = &out[at..];
        if seg.contains(&0) {
            return Err(Refused::BadRequest("NUL in the path"));
        }
        if seg.contains(&b'/') || seg.contains(&b'\\') {
            return Err(Refused::BadRequest("a separator inside a path segment"));
        }
        match seg {
            b"" | b"." => out.truncate(before),
            b".." => return Err(Refused::BadRequest("'..' in the path")),
            s if s[0] == b'.' && !dotfiles => return Err(Refused::Hidden),
            _ => {}
        }
    }
    Ok((out, url_path.ends_with('/')))
}

/// Appends `raw` with its `%XX` escapes decoded; `None` if one is malformed.
fn decode_into(raw: &[u8], out: &mut Vec<u8>) -> Option<()> {
    if !raw.contains(&b'%') {
        out.extend_from_slice(raw);
        return Some(());
    }
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' {
            let hi = hex(*raw.get(i + 1)?)?;
            let lo = hex(*raw.get(i + 2)?)?;
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(raw[i]);
            i += 1;
        }
    }
    Some(())
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_and_escapes() {
        assert_eq!(relative("/", false).unwrap(), (Vec::new(), true));
        assert_eq!(
            relative("/a/b%20c.txt", false).unwrap(),
            (b"a/b c.txt".to_vec(), false)
        );
        assert_eq!(
            relative("/a//./b/", false).unwrap(),
            (b"a/b".to_vec(), true)
        );
        assert_eq!(
            relative("/./a/%2E/b", false).unwrap(),
            (b"a/b".to_vec(), false)
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
            b".well-known/x".to_vec()
        );
    }
}
