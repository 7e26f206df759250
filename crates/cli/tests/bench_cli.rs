//! `nethttp bench` end to end: a request budget against a spawned `nethttp serve` (exact counts
//! in the JSON report, one connection per worker), the in-process demo server when no URL is
//! given, a duration that stops the run by itself even with requests in flight, the human
//! summary, and failed requests counted by kind. Against a raw server that closes every
//! connection right after its response without saying so: no GET fails, no POST arrives
//! twice, at most one POST per connection is lost.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use common::{run_nethttp, Ran};
use serde_json::Value;

/// Bound on any single `nethttp bench` run.
const TIMEOUT: Duration = Duration::from_secs(30);

fn bench(args: &[&str]) -> Ran {
    common::run_bench(args, TIMEOUT)
}

/// The single JSON object `--json` prints.
fn report(ran: &Ran) -> Value {
    let out = ran.stdout_str();
    assert_eq!(out.lines().count(), 1, "one line of JSON expected: {out:?}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out:?}"))
}

fn assert_latency_fields(r: &Value) {
    for key in ["p50", "p90", "p99", "p999", "max"] {
        let v = r["latency_ms"][key]
            .as_f64()
            .unwrap_or_else(|| panic!("latency_ms.{key} missing: {r}"));
        assert!(v >= 0.0, "latency_ms.{key} = {v}");
    }
    let p50 = r["latency_ms"]["p50"].as_f64().unwrap();
    let max = r["latency_ms"]["max"].as_f64().unwrap();
    assert!(p50 <= max, "p50 {p50} > max {max}");
}

#[test]
fn request_budget_against_a_server_is_exact() {
    let server = common::serve_plain();
    let ran = bench(&["-n", "200", "-c", "4", "--json", &server.url("/")]);
    ran.assert_success();
    let r = report(&ran);
    assert_eq!(r["requests"], 200, "{r}");
    assert_eq!(r["errors"], 0, "{r}");
    // Each worker keeps its connection for the whole run.
    assert_eq!(r["connections_opened"], 4, "{r}");
    assert_eq!(r["status"], serde_json::json!({"200": 200}), "{r}");
    assert!(r["duration_s"].as_f64().unwrap() > 0.0, "{r}");
    assert!(r["rps"].as_f64().unwrap() > 0.0, "{r}");
    assert_eq!(r["body_bytes"], 200 * "Hello, World!".len(), "{r}");
    assert_latency_fields(&r);
}

#[test]
fn without_a_url_it_loads_the_demo_routes_in_process() {
    let ran = bench(&["-n", "100", "--json"]);
    ran.assert_success();
    let r = report(&ran);
    assert_eq!(r["requests"], 100, "{r}");
    assert_eq!(r["errors"], 0, "{r}");
    assert_eq!(r["status"], serde_json::json!({"200": 100}), "{r}");
    let url = r["url"].as_str().unwrap();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert_latency_fields(&r);
}

#[test]
fn duration_stops_the_run_by_itself() {
    let ran = bench(&["-d", "1s", "-c", "2", "--json"]);
    ran.assert_success();
    let r = report(&ran);
    assert!(r["requests"].as_u64().unwrap() > 0, "{r}");
    assert_eq!(r["errors"], 0, "{r}");
    let secs = r["duration_s"].as_f64().unwrap();
    assert!(secs >= 0.99, "ran {secs} s");
}

#[test]
fn duration_cuts_requests_still_in_flight() {
    let server = common::serve_plain();
    // Each request would take a minute; the run must still end at its deadline, with the
    // abandoned requests counted neither as completed nor as errors.
    let ran = bench(&["-d", "1s", "-c", "2", "--json", &server.url("/delay/60000")]);
    ran.assert_success();
    let r = report(&ran);
    assert_eq!(r["requests"], 0, "{r}");
    assert_eq!(r["errors"], 0, "{r}");
    assert_eq!(r["connections_opened"], 2, "{r}");
}

#[test]
fn summary_without_json_and_no_progress_bar_off_a_terminal() {
    let server = common::serve_plain();
    let ran = bench(&["-n", "50", "-c", "2", &server.url("/")]);
    ran.assert_success();
    let out = ran.stdout_str();
    for needle in [
        "50 in ",
        "req/s",
        "p50",
        "p99.9",
        "max",
        "200: 50",
        "errors       0",
        "2 opened",
    ] {
        assert!(out.contains(needle), "no {needle:?} in:\n{out}");
    }
    assert!(
        ran.stderr.is_empty(),
        "stderr is not a terminal, so nothing is drawn there:\n{}",
        ran.stderr
    );
}

#[test]
fn failed_requests_are_counted_by_kind() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("local addr").port()
    };
    let ran = bench(&[
        "-n",
        "5",
        "-c",
        "1",
        "--json",
        &format!("http://127.0.0.1:{port}/"),
    ]);
    // Nothing completed: the report still comes, and the exit status says it failed.
    assert!(!ran.status.success(), "exit status {}", ran.status);
    let r = report(&ran);
    assert_eq!(r["requests"], 0, "{r}");
    assert_eq!(r["errors"], 5, "{r}");
    assert_eq!(
        r["errors_by_kind"],
        serde_json::json!({"connect": 5}),
        "{r}"
    );
    assert!(
        ran.stderr.starts_with("nethttp: ") && ran.stderr.contains("refused"),
        "{}",
        ran.stderr
    );
}

/// Requests a [`closing_server`] read, by method.
#[derive(Default)]
struct Counts {
    gets: AtomicUsize,
    posts: AtomicUsize,
}

/// A loopback server that reads one request per connection, answers `200 OK` (a
/// `Content-Length` body, no `Connection: close`), and closes 300 µs later: the client's next
/// request on that connection goes out before the FIN exists. Threads and blocking sockets,
/// as a server in another process; each read bounded by 5 s.
fn closing_server() -> (String, Arc<Counts>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/", listener.local_addr().expect("addr"));
    let seen = Arc::new(Counts::default());
    let s = seen.clone();
    // The accept thread lives as long as the test process; the listener is never reused.
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let s = s.clone();
            std::thread::spawn(move || answer_then_close(stream, &s));
        }
    });
    (url, seen)
}

fn answer_then_close(mut stream: TcpStream, seen: &Counts) {
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let len: usize = head
        .split("\r\n")
        .find_map(|l| l.strip_prefix("content-length:"))
        .map_or(0, |v| v.trim().parse().expect("content-length"));
    while buf.len() < head_end + len {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let counter = if head.starts_with("post ") {
        &seen.posts
    } else {
        &seen.gets
    };
    counter.fetch_add(1, SeqCst);
    let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    std::thread::sleep(Duration::from_micros(300));
}

#[test]
fn a_server_closing_after_every_response_loses_no_get_and_duplicates_no_post() {
    let (url, seen) = closing_server();
    let ran = bench(&["-c", "2", "-n", "400", "--json", &url]);
    ran.assert_success();
    let r = report(&ran);
    assert_eq!(
        (r["requests"].as_u64(), r["errors"].as_u64()),
        (Some(400), Some(0)),
        "{r}"
    );
    assert_eq!(seen.gets.load(SeqCst), 400);

    let ran = bench(&[
        "-c",
        "2",
        "-n",
        "400",
        "-X",
        "POST",
        "--body-size",
        "10",
        "--json",
        &url,
    ]);
    ran.assert_success();
    let r = report(&ran);
    let (done, errors) = (
        r["requests"].as_u64().unwrap(),
        r["errors"].as_u64().unwrap(),
    );
    eprintln!(
        "POST: {done} completed, {errors} failed: {}",
        r["errors_by_kind"]
    );
    assert_eq!(done + errors, 400, "{r}");
    // One per connection at most: the one in flight when the client learnt that this host
    // closes connections after responses.
    assert!(errors <= 2, "{r}");
    assert_eq!(
        seen.posts.load(SeqCst) as u64,
        done,
        "a POST reached the server twice, or a failed one reached it: {r}"
    );
}

/// A port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("local addr").port()
}

/// Exit status 2 and a message naming the flag or value, at once (no load started).
fn usage_error(ran: &Ran, needle: &str) {
    assert_eq!(
        ran.status.code(),
        Some(2),
        "exit status {}; stderr:\n{}",
        ran.status,
        ran.stderr
    );
    assert!(ran.stdout.is_empty(), "{}", ran.stdout_str());
    assert!(
        ran.stderr.contains(needle),
        "no {needle:?} in:\n{}",
        ran.stderr
    );
}

#[test]
fn a_url_that_cannot_be_loaded_is_a_usage_error_before_any_load() {
    for url in [
        "notaurl",
        "ftp://127.0.0.1/",
        "127.0.0.1:8080/",
        "http://",
        "http:///path",
        "http://exa mple/",
    ] {
        // Well within the 10 s a run would last.
        let ran = run_nethttp(&["bench", url], Duration::from_secs(5));
        usage_error(&ran, url);
    }
}

#[test]
fn zero_requests_or_zero_duration_is_a_usage_error() {
    let url = format!("http://127.0.0.1:{}/", closed_port());
    usage_error(&bench(&["-n", "0", &url]), "--requests");
    usage_error(&bench(&["-d", "0s", &url]), "--duration");
    usage_error(&bench(&["-d", "0", &url]), "--duration");
}

#[test]
fn a_run_without_a_response_shows_no_latency_figures() {
    let url = format!("http://127.0.0.1:{}/", closed_port());
    let ran = bench(&["-n", "3", "-c", "1", &url]);
    assert!(!ran.status.success(), "every request failed: exit non-zero");
    let out = ran.stdout_str();
    let latency = out
        .lines()
        .find(|l| l.trim_start().starts_with("latency"))
        .unwrap_or_else(|| panic!("no latency line in:\n{out}"));
    assert_eq!(
        latency.split_whitespace().collect::<Vec<_>>(),
        ["latency", "none", "(no", "response)"],
        "{out}"
    );
    assert!(!out.contains(" ms"), "figures that look measured:\n{out}");
    assert!(out.contains("errors       3"), "{out}");

    let ran = bench(&["-n", "3", "-c", "1", "--json", &url]);
    assert!(!ran.status.success(), "every request failed: exit non-zero");
    let r = report(&ran);
    assert_eq!(r["latency_ms"], Value::Null, "{r}");
    assert_eq!(r["requests"], 0, "{r}");
    assert_eq!(r["errors"], 3, "{r}");
}
