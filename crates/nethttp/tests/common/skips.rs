//! The note a test binary leaves when it skipped interop tests because their peers (curl,
//! nginx, tinyproxy, nghttp2's tools, Python's `h2`) are missing: printed once, after the
//! binary's results, naming each missing peer, the tests it cost, and the one command that
//! installs them. Shared by the `peers` helpers of the library's and the CLI's tests.
//!
//! A skipped test passes, and libtest keeps the output of passing tests to itself: what it
//! prints through `eprintln!` is captured (only `--nocapture` shows it). So the skips are
//! recorded, and a function registered with `atexit` writes the note straight to standard
//! error when the binary exits, where `cargo test` shows it below the binary's
//! `test result:` line, whether the run passed or failed.
#![allow(dead_code)]

use std::io::Write as _;
use std::sync::{Mutex, Once};

/// The command that installs every peer (Debian or Ubuntu, as root).
pub const INSTALL: &str = "sudo bash .ci/install-peers";

struct Skip {
    /// Why the test could not run: which peer is missing, and how.
    why: String,
    /// The test, as libtest names the thread that runs it.
    test: String,
}

static SKIPS: Mutex<Vec<Skip>> = Mutex::new(Vec::new());
static AT_EXIT: Once = Once::new();

/// Records that the running test is skipped because of `why`, and makes sure the note is
/// printed when the binary exits.
pub fn record(why: &str) {
    let test = std::thread::current().name().unwrap_or("a test").to_owned();
    SKIPS.lock().unwrap_or_else(|p| p.into_inner()).push(Skip {
        why: why.to_owned(),
        test,
    });
    AT_EXIT.call_once(|| {
        // SAFETY: atexit(3) registers a function that takes no arguments and captures no
        // state; it runs once, on the main thread, as the process exits.
        unsafe {
            libc::atexit(print_note);
        }
    });
}

extern "C" fn print_note() {
    // A test thread still holding the lock at exit (it panicked mid-record) costs the note,
    // not a deadlock.
    let Ok(skips) = SKIPS.try_lock() else {
        return;
    };
    if skips.is_empty() {
        return;
    }
    let _ = std::io::stderr().write_all(note(&skips).as_bytes());
}

/// The note: how many tests were skipped, grouped by the missing peer, and how to install.
fn note(skips: &[Skip]) -> String {
    let mut whys: Vec<&str> = skips.iter().map(|s| s.why.as_str()).collect();
    whys.sort_unstable();
    whys.dedup();
    let n = skips.len();
    let mut out = format!(
        "note: {n} test{} in this binary skipped, interop peers missing:\n",
        if n == 1 { "" } else { "s" }
    );
    for why in whys {
        let mut tests: Vec<&str> = skips
            .iter()
            .filter(|s| s.why == why)
            .map(|s| s.test.as_str())
            .collect();
        tests.sort_unstable();
        out.push_str(&format!("  {why}: {}\n", tests.join(", ")));
    }
    out.push_str(&format!(
        "  install them with `{INSTALL}`; with CI=true a missing peer fails its test instead\n\n"
    ));
    out
}
