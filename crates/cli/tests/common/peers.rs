//! Finding an external program a test checks against (curl, microsocks), with the CI rule: under
//! `CI=true` a missing or broken one fails the test, elsewhere the test is skipped, and the
//! binary names the skipped tests and the missing peers after its results (see
//! `common::skips`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// `name` on `PATH`, if it runs (`version_arg` succeeds). Missing or broken: panics if
/// `CI=true`, else prints a note and returns `None` so the test can skip.
pub fn peer(name: &str, version_arg: &str) -> Option<PathBuf> {
    let runs = |p: &Path| {
        Command::new(p)
            .arg(version_arg)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    peer_checked(name, &format!("`{version_arg}` failed"), runs)
}

/// `name` on `PATH`, for a program with no option that exits 0 without starting it
/// (microsocks): `runs` checks it, `broken` says what failed. By the same CI rule.
pub fn peer_checked(name: &str, broken: &str, runs: impl Fn(&Path) -> bool) -> Option<PathBuf> {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p));
    if found.as_deref().is_some_and(runs) {
        return found;
    }
    let why = match &found {
        Some(p) => format!("`{}` does not run ({broken})", p.display()),
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
