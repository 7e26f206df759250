//! Finding an external program a test checks against (curl), with the CI rule: under
//! `CI=true` a missing or broken one fails the test, elsewhere the test is skipped, and the
//! binary names the skipped tests and the missing peers after its results (see
//! `common::skips`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// `name` on `PATH`, if it runs (`version_arg` succeeds). Missing or broken: panics if
/// `CI=true`, else prints a note and returns `None` so the test can skip.
pub fn peer(name: &str, version_arg: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p));
    let runs = found.as_ref().is_some_and(|p| {
        Command::new(p)
            .arg(version_arg)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    if runs {
        return found;
    }
    let why = match &found {
        Some(p) => format!("`{}` does not run (`{version_arg}` failed)", p.display()),
        None => format!("`{name}` is not on PATH"),
    };
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!(
            "test peer missing: {why}; CI=true requires it (`{}` installs it)",
            super::skips::INSTALL
        );
    }
    eprintln!("note: skipping this test: {why} (with CI=true this is a failure)");
    super::skips::record(&why);
    None
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
