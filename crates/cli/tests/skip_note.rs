//! A test skipped for a missing interop peer is not silent: this binary runs itself on one
//! test that asks for a peer that does not exist, output captured as `cargo test` does, and
//! the run must pass and end with a note naming the peer, the test and the install command.

mod common;

use std::process::Command;

/// Set only for the inner run, so the probe does nothing in a normal `cargo test`.
const PROBE: &str = "NETHTTP_SKIP_NOTE_PROBE";

#[test]
fn probe_asks_for_a_missing_peer() {
    if std::env::var_os(PROBE).is_none() {
        return;
    }
    assert!(common::peers::peer("nethttp-no-such-peer", "--version").is_none());
}

#[test]
fn a_skip_is_named_after_the_results_with_output_captured() {
    let out = Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", "probe_asks_for_a_missing_peer"])
        .env(PROBE, "1")
        // Under CI=true the probe would fail instead of skipping.
        .env_remove("CI")
        .output()
        .expect("run the test binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("test result: ok. 1 passed"), "{stdout}");
    // libtest kept the passing test's own `eprintln!` to itself...
    assert!(!stderr.contains("note: skipping this test"), "{stderr}");
    // ...and the note came anyway, naming the peer, the test and the command.
    assert!(
        stderr.contains("note: 1 test in this binary skipped, interop peers missing:"),
        "{stderr}"
    );
    assert!(
        stderr.contains("`nethttp-no-such-peer` is not on PATH: probe_asks_for_a_missing_peer"),
        "{stderr}"
    );
    assert!(
        stderr.contains("install them with `sudo bash .ci/install-peers`"),
        "{stderr}"
    );
}
