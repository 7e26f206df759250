//! Unix socket paths as the command line writes them: `@NAME` (Go's and systemd's form) or
//! `--abstract-unix-socket NAME` (curl's) for a socket in Linux's abstract namespace, which
//! the library takes as a path whose first byte is NUL; and how such a path is shown again.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// The longest path a Unix socket address holds (`sun_path` is 108 bytes, with the path's
/// terminating NUL or the abstract name's leading one).
pub const MAX_SOCKET_PATH: usize = 107;

/// A path, or `@NAME` for the abstract name `NAME`.
pub fn parse(s: &str) -> Result<PathBuf, String> {
    match s.strip_prefix('@') {
        Some(name) => abstract_name(name).map_err(|e| format!("@NAME: {e}")),
        None => Ok(PathBuf::from(s)),
    }
}

/// The abstract name `name`, as a path: a NUL, then the name.
pub fn abstract_name(name: &str) -> Result<PathBuf, String> {
    if name.is_empty() {
        return Err("the name is empty".to_owned());
    }
    if name.len() > MAX_SOCKET_PATH {
        return Err(format!(
            "the name is {} bytes long; an abstract socket's may be {MAX_SOCKET_PATH} at most",
            name.len()
        ));
    }
    let mut bytes = vec![0u8];
    bytes.extend_from_slice(name.as_bytes());
    Ok(PathBuf::from(OsString::from_vec(bytes)))
}

/// `path` as the operator wrote it: `@NAME` for an abstract name.
pub fn shown(path: &Path) -> String {
    match path.as_os_str().as_bytes().strip_prefix(b"\0") {
        Some(name) => shown_abstract(name),
        None => path.display().to_string(),
    }
}

/// The abstract name `name` (without its NUL) as the operator writes it: `@NAME`.
pub fn shown_abstract(name: &[u8]) -> String {
    format!("@{}", String::from_utf8_lossy(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_names_the_abstract_namespace_and_shows_back() {
        let p = parse("@app").unwrap();
        assert_eq!(p.as_os_str().as_bytes(), b"\0app");
        assert_eq!(shown(&p), "@app");
        assert_eq!(parse("/run/app.sock").unwrap(), Path::new("/run/app.sock"));
        assert_eq!(shown(Path::new("/run/app.sock")), "/run/app.sock");
        assert!(parse("@").is_err());
    }

    #[test]
    fn abstract_names_fit_sun_path() {
        assert!(abstract_name(&"x".repeat(MAX_SOCKET_PATH)).is_ok());
        assert!(abstract_name(&"x".repeat(MAX_SOCKET_PATH + 1)).is_err());
        assert!(abstract_name("").is_err());
    }
}
