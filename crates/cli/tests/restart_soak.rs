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

/// SO_REUSEPORT start-then-drain, measured: `serve --reuseport 1` on a port, then a second
/// one on the same port, then SIGTERM to the first, four times, under 8 threads of fresh
/// connections. Linux resets the connections still queued on a closing reuseport listener
/// unless `net.ipv4.tcp_migrate_req` is 1 (Linux 5.14+): with it on, nothing may fail; with
/// it off, the losses are printed, not asserted (that is the kernel's behaviour, and why
/// SIGUSR2 or socket activation, which keep one queue, are the zero-refusal path).
#[test]
#[ignore = "measurement: cargo test -p nethttp-cli --test restart_soak -- --ignored --nocapture"]
fn reuseport_start_then_drain() {
    let migrate = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_migrate_req")
        .map(|s| s.trim() == "1")
        .unwrap_or(false);
    let spawn = |addr: &str| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_nethttp"));
        cmd.args(["serve", "--reuseport", "1", "--addr", addr]);
        common::Served::spawn(cmd)
    };
    let mut old = spawn("127.0.0.1:0");
    let addr = old.addr;
    let run = Duration::from_secs(10);
    let load: Vec<_> = (0..8)
        .map(|_| restart::fresh_connections(addr, run))
        .collect();
    for _ in 0..4 {
        std::thread::sleep(Duration::from_secs(2));
        let new = spawn(&addr.to_string());
        old.signal(libc::SIGTERM);
        assert!(old.wait_exit(Duration::from_secs(15)).is_some());
        old = new;
    }
    let mut total = restart::Tally::default();
    for t in load {
        let t = t.join().expect("connection thread");
        total.ok += t.ok;
        total.refused += t.refused;
        total.broken += t.broken;
    }
    eprintln!("reuseport start-then-drain, tcp_migrate_req={migrate}: {total:?}");
    assert!(total.ok > 0);
    if migrate {
        assert_eq!((total.refused, total.broken), (0, 0), "{total:?}");
    }
}
