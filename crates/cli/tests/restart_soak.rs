//! The long hand-over runs, ignored by a plain `cargo test` (run them with
//! `cargo test -p nethttp-cli --test restart_soak -- --ignored --nocapture`): 20 s of
//! `nethttp bench -c 64` against `serve` replaced three times by SIGUSR2, and 20 s through
//! nginx while its two backends hand over one by one, twice each. The short versions are in
//! `restart_cli`.

mod common;

use std::time::Duration;

use common::restart;

#[test]
#[ignore = "20 s soak: cargo test -p nethttp-cli --test restart_soak -- --ignored"]
fn restart_soak_three_handovers_under_load() {
    let (report, tally) = restart::handovers_under_load(Duration::from_secs(20), 3);
    eprintln!("bench: {report}\nfresh connections: {tally:?}");
}

#[test]
#[ignore = "20 s soak: cargo test -p nethttp-cli --test restart_soak -- --ignored"]
fn restart_soak_behind_nginx() {
    if let Some((counts, report)) = restart::handovers_behind_nginx(Duration::from_secs(20), 2) {
        eprintln!("nginx (responses, 5xx, retried): {counts:?}\nbench: {report}");
    }
}
