//! The deployment shapes the README gives, run as written: N `nethttp serve --reuseport 1`
//! processes sharing one port (the kernel spreads connections over them), and backends behind
//! nginx (`upstream` with keepalive; passive checks: `max_fails`, `proxy_next_upstream`) and
//! behind HAProxy (active checks: `option httpchk`) where one backend dies under load (SIGKILL)
//! and the balancer's clients see no error.

mod common;

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use common::restart::{assert_clean, bench};
use common::{haproxy, http_get, nginx, Served};

/// `nethttp serve` on `addr` with `extra` flags.
fn serve(addr: &str, extra: &[&str]) -> Served {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nethttp"));
    cmd.args(["serve", "--addr", addr]).args(extra);
    Served::spawn(cmd)
}

/// The `GET 2xx` requests a server's `/metrics` counts.
fn served_gets(metrics: SocketAddr) -> u64 {
    let text = http_get(metrics, "/metrics");
    let line = "nethttp_server_requests_total{method=\"GET\",status=\"2xx\"} ";
    text.lines()
        .find_map(|l| l.strip_prefix(line))
        .map_or(0, |n| n.trim().parse().unwrap())
}

#[test]
fn reuseport_processes_share_one_port() {
    let port = common::free_port();
    let addr = format!("127.0.0.1:{port}");
    let procs: Vec<Served> = (0..3)
        .map(|_| {
            serve(
                &addr,
                &["--reuseport", "1", "--metrics-addr", "127.0.0.1:0"],
            )
        })
        .collect();
    let metrics: Vec<SocketAddr> = procs.iter().map(|p| p.logged_addr("metrics")).collect();
    let target: SocketAddr = addr.parse().unwrap();
    for _ in 0..60 {
        assert!(http_get(target, "/").starts_with("HTTP/1.1 200 "));
    }
    let counts: Vec<u64> = metrics.iter().map(|m| served_gets(*m)).collect();
    assert_eq!(counts.iter().sum::<u64>(), 60, "{counts:?}");
    // Sixty connections over three listeners: each gets some (the chance that one gets none
    // is 3 × (2/3)^60, about 10^-10).
    assert!(counts.iter().all(|&n| n > 0), "{counts:?}");
}

/// `bench -c 8 -d 4s` against `url`, with `victim` SIGKILLed 1.5 s in: bench's report.
fn kill_under_load(url: String, victim: &mut Served) -> serde_json::Value {
    let load = bench(url, &["-c", "8", "-d", "4s"], Duration::from_secs(30));
    std::thread::sleep(Duration::from_millis(1500));
    victim.child.kill().unwrap();
    victim.child.wait().unwrap();
    load.join().unwrap()
}

#[test]
fn behind_nginx_a_backend_killed_under_load_costs_no_5xx() {
    let Some(bin) = nginx::bin() else { return };
    let a = serve("127.0.0.1:0", &[]);
    let mut b = serve("127.0.0.1:0", &[]);
    let ngx = nginx::Nginx::start(&bin, &[a.addr, b.addr]);
    let report = kill_under_load(ngx.url("/"), &mut b);
    assert_clean(&report);
    let (all, five, retried) = nginx::tally(&ngx.access_log());
    eprintln!("nginx: {all} responses, {five} 5xx, {retried} retried on the other backend");
    assert_eq!(five, 0, "{}", ngx.error_log());
    // nginx also logs what was in flight when bench stopped at its deadline (at most one per
    // connection), which bench does not count.
    let done = report["requests"].as_u64().unwrap();
    assert!(
        (done..=done + 8).contains(&all),
        "{all} logged, {done} completed"
    );
}

#[test]
fn behind_haproxy_health_checks_take_a_killed_backend_out_without_an_error() {
    let Some(bin) = haproxy::bin() else { return };
    let a = serve("127.0.0.1:0", &[]);
    let mut b = serve("127.0.0.1:0", &[]);
    let lb = haproxy::Haproxy::start(&bin, &[a.addr, b.addr]);
    // Both backends up (checked) before the load.
    std::thread::sleep(Duration::from_millis(600));
    let report = kill_under_load(lb.url("/"), &mut b);
    assert_clean(&report);
    let log = lb.log();
    assert!(log.contains("app/s1 is DOWN"), "the check saw it: {log}");
    // After the run, every request goes to the backend left.
    for _ in 0..10 {
        assert!(http_get(lb.addr, "/").starts_with("HTTP/1.1 200 "));
    }
}
