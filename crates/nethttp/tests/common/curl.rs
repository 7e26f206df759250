//! Running curl (and other command-line peers) from the request-helper tests: the flags every
//! run wants (quiet but showing errors, no proxy, a hard time limit) and a bounded wait for
//! its output, so a hung peer fails the test instead of hanging it.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

/// `curl -sS --noproxy '*' --max-time 12`, to which a test adds its own arguments.
pub fn curl(bin: &Path) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(bin);
    cmd.args(["-sS", "--noproxy", "*", "--max-time", "12"]);
    cmd
}

/// Runs `cmd` to its end (at most 20 s), asserting it exited with success.
pub async fn run(mut cmd: tokio::process::Command, what: &str) -> Output {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(20), cmd.output())
        .await
        .unwrap_or_else(|_| panic!("{what}: did not finish within 20 s"))
        .unwrap_or_else(|e| panic!("{what}: spawn failed: {e}"));
    assert!(
        out.status.success(),
        "{what}: exited with {}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs curl with `args` plus `-w '\n%{http_code}'`; returns (status, body).
pub async fn status_and_body(bin: &Path, args: &[&str]) -> (u16, String) {
    let mut cmd = curl(bin);
    cmd.args(args).args(["-w", "\n%{http_code}"]);
    let out = run(cmd, &format!("curl {args:?}")).await;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').expect("curl printed the status");
    (code.parse().expect("a status code"), body.to_owned())
}
