//! `nethttp bench` over HTTP/2 and TLS against a spawned `nethttp serve`: `--http2` with
//! `-c` connections × `--streams` streams (exact request counts, exactly `-c` connections),
//! the in-process demo server over h2c, https with `--cacert` (h2 by ALPN), `--insecure`
//! with `--no-http2`, and `--streams` refused where only HTTP/1.1 is possible.

mod common;

use std::time::Duration;

use common::tls::{https_url, serve_plain, serve_tls, TestCert};
use common::Ran;
use serde_json::{json, Value};

/// Bound on any single `nethttp bench` run.
const TIMEOUT: Duration = Duration::from_secs(60);

fn bench(args: &[&str]) -> Ran {
    common::run_bench(args, TIMEOUT)
}

/// The single JSON object `--json` prints, from a run that succeeded.
fn report(ran: &Ran) -> Value {
    ran.assert_success();
    let out = ran.stdout_str();
    assert_eq!(out.lines().count(), 1, "one line of JSON expected: {out:?}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out:?}"))
}

#[test]
fn h2c_streams_share_exactly_c_connections() {
    let server = serve_plain();
    let url = server.url("/");
    let ran = bench(&[
        "--http2",
        "-c",
        "2",
        "--streams",
        "8",
        "-n",
        "200",
        "--json",
        &url,
    ]);
    let r = report(&ran);
    assert_eq!(r["requests"], 200, "{r}");
    assert_eq!(r["errors"], 0, "{r}");
    assert_eq!(r["status"], json!({"200": 200}), "{r}");
    assert_eq!(r["protocol"], "HTTP/2", "{r}");
    assert_eq!(r["protocols"], json!({"HTTP/2": 200}), "{r}");
    assert_eq!(r["connections_opened"], 2, "{r}");
    assert_eq!(r["connections"], 2, "{r}");
    assert_eq!(r["streams"], 8, "{r}");
    assert_eq!(r["concurrency"], 16, "{r}");
}

#[test]
fn h2c_summary_names_the_protocol_and_streams() {
    let server = serve_plain();
    let ran = bench(&[
        "--http2",
        "-c",
        "2",
        "--streams",
        "4",
        "-n",
        "80",
        &server.url("/"),
    ]);
    ran.assert_success();
    let out = ran.stdout_str();
    for needle in [
        ": 2 connections × 4 streams, 1 thread",
        "80 in ",
        "200: 80",
        "errors       0",
        "protocol     HTTP/2\n",
        "connections  2 opened",
    ] {
        assert!(out.contains(needle), "no {needle:?} in:\n{out}");
    }
}

#[test]
fn in_process_demo_server_over_h2c() {
    let ran = bench(&["--http2", "-c", "1", "--streams", "4", "-n", "50", "--json"]);
    let r = report(&ran);
    assert_eq!(r["requests"], 50, "{r}");
    assert_eq!(r["errors"], 0, "{r}");
    assert_eq!(r["protocol"], "HTTP/2", "{r}");
    assert_eq!(r["connections_opened"], 1, "{r}");
}

#[test]
fn https_with_cacert_uses_http2_by_default() {
    let cert = TestCert::new();
    let server = serve_tls(&cert, &[]);
    let ran = bench(&[
        "--cacert",
        &cert.cert_path(),
        "-c",
        "2",
        "--streams",
        "4",
        "-n",
        "100",
        "--json",
        &https_url(&server, "/"),
    ]);
    let r = report(&ran);
    assert_eq!(r["requests"], 100, "{r}");
    assert_eq!(r["errors"], 0, "{r}");
    assert_eq!(r["protocol"], "HTTP/2", "{r}");
    assert_eq!(r["connections_opened"], 2, "{r}");
}

#[test]
fn https_insecure_on_http1() {
    let cert = TestCert::new();
    let server = serve_tls(&cert, &[]);
    let ran = bench(&[
        "--insecure",
        "--no-http2",
        "-c",
        "3",
        "-n",
        "60",
        "--json",
        &https_url(&server, "/"),
    ]);
    let r = report(&ran);
    assert_eq!(r["requests"], 60, "{r}");
    assert_eq!(r["errors"], 0, "{r}");
    assert_eq!(r["protocol"], "HTTP/1.1", "{r}");
    assert_eq!(r["connections_opened"], 3, "{r}");
}

#[test]
fn https_without_trust_counts_certificate_errors() {
    let cert = TestCert::new();
    let server = serve_tls(&cert, &[]);
    let ran = bench(&["-c", "1", "-n", "3", "--json", &https_url(&server, "/")]);
    assert!(!ran.status.success(), "exit status {}", ran.status);
    let out = ran.stdout_str();
    let r: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out:?}"));
    assert_eq!(r["requests"], 0, "{r}");
    assert_eq!(r["errors"], 3, "{r}");
    assert_eq!(r["errors_by_kind"], json!({"certificate": 3}), "{r}");
    assert_eq!(r["protocol"], Value::Null, "{r}");
    assert!(ran.stderr.contains("certificate"), "{}", ran.stderr);
}

#[test]
fn streams_on_http1_are_refused() {
    let server = serve_plain();
    let url = server.url("/");
    for args in [
        vec!["--streams", "8", "-n", "10", url.as_str()],
        vec![
            "--no-http2",
            "--streams",
            "2",
            "-n",
            "10",
            "https://localhost:1/",
        ],
    ] {
        let ran = bench(&args);
        assert!(
            !ran.status.success(),
            "{args:?}: exit status {}",
            ran.status
        );
        assert!(ran.stdout.is_empty(), "{args:?}: {}", ran.stdout_str());
        assert!(
            ran.stderr.starts_with("nethttp: --streams ") && ran.stderr.contains("HTTP/2"),
            "{args:?}: {}",
            ran.stderr
        );
    }
}
