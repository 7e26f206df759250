//! The result of a `nethttp bench` run, as a human summary or as one JSON object: requests/s,
//! latency percentiles, status counts, errors by kind, the protocol the responses came on, and
//! TCP connections opened; the summary ends with a latency histogram (see `histogram`).

use std::fmt::Write as _;
use std::time::Duration;

use http::Version;
use serde_json::{json, Map, Value};

use super::histogram;
use super::load::Recorder;

/// Everything the summary shows.
pub struct Report<'a> {
    pub url: &'a str,
    pub method: &'a str,
    pub connections: usize,
    /// Requests in flight per connection (`--streams`).
    pub streams: usize,
    pub threads: usize,
    /// The request budget (`-n`), if any.
    pub requests: Option<u64>,
    /// The run's time limit (`-d`, or the default), if any.
    pub duration: Option<Duration>,
    pub elapsed: Duration,
    pub recorder: &'a Recorder,
    /// TCP connections the client opened (the pool's dial count).
    pub connections_opened: u64,
    /// Requests served on a connection taken from the pool.
    pub reuses: u64,
}

/// The latency percentiles reported, with their JSON names, labels, and whether the one-line
/// summary shows them (the JSON and the HTML report show them all).
pub const PERCENTILES: [(&str, &str, f64, bool); 6] = [
    ("p50", "p50", 50.0, true),
    ("p75", "p75", 75.0, false),
    ("p90", "p90", 90.0, true),
    ("p99", "p99", 99.0, true),
    ("p999", "p99.9", 99.9, true),
    ("p9999", "p99.99", 99.99, false),
];

impl Report<'_> {
    pub(super) fn rps(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.recorder.completed as f64 / secs
        } else {
            0.0
        }
    }

    /// Latency at percentile `p`, in milliseconds (only asked when something completed).
    pub(super) fn latency_ms(&self, p: f64) -> f64 {
        let h = &self.recorder.latency_us;
        if h.is_empty() {
            0.0
        } else {
            h.value_at_percentile(p) as f64 / 1e3
        }
    }

    /// The protocol of the responses: `HTTP/2`, `HTTP/1.1`, or several joined by `+` (sorted);
    /// `None` when nothing completed.
    pub(super) fn protocol(&self) -> Option<String> {
        let mut versions: Vec<&str> = self
            .recorder
            .versions
            .iter()
            .map(|(v, _)| version_name(*v))
            .collect();
        versions.sort_unstable();
        versions.dedup();
        (!versions.is_empty()).then(|| versions.join("+"))
    }

    pub(super) fn max_ms(&self) -> f64 {
        self.recorder.latency_us.max() as f64 / 1e3
    }

    pub(super) fn mean_ms(&self) -> f64 {
        self.recorder.latency_us.mean() / 1e3
    }

    /// Body bytes read per second, in MiB.
    pub(super) fn mib_per_s(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.recorder.body_bytes as f64 / secs / (1024.0 * 1024.0)
        } else {
            0.0
        }
    }

    /// The summary printed after a run, its histogram bars fitting `columns`.
    pub fn text(&self, columns: usize) -> String {
        let r = self.recorder;
        let secs = self.elapsed.as_secs_f64();
        let mut s = String::new();
        let threads = if self.threads == 1 {
            "1 thread".to_owned()
        } else if self.threads == 0 {
            "one thread per CPU".to_owned()
        } else {
            format!("{} threads", self.threads)
        };
        let streams = if self.streams == 1 {
            String::new()
        } else {
            format!(" × {} streams", self.streams)
        };
        let _ = writeln!(
            s,
            "{} {}: {} connections{streams}, {threads}",
            self.method, self.url, self.connections
        );
        let _ = writeln!(
            s,
            "  requests     {} in {secs:.2} s, {:.1} req/s, {} body bytes ({:.2} MiB/s)",
            r.completed,
            self.rps(),
            r.body_bytes,
            self.mib_per_s()
        );
        if r.latency_us.is_empty() {
            // Nothing was measured: zeros here would read as a very fast server.
            let _ = writeln!(s, "  latency      none (no response)");
        } else {
            let _ = write!(s, "  latency     ");
            for (_, label, p, _) in PERCENTILES.iter().filter(|p| p.3) {
                let _ = write!(s, " {label} {:.3} ms ", self.latency_ms(*p));
            }
            let _ = writeln!(
                s,
                " max {:.3} ms  mean {:.3} ms",
                self.max_ms(),
                self.mean_ms()
            );
        }
        let mut statuses = r.statuses.clone();
        statuses.sort_unstable();
        let statuses: Vec<String> = statuses.iter().map(|(c, n)| format!("{c}: {n}")).collect();
        let _ = writeln!(
            s,
            "  status       {}",
            if statuses.is_empty() {
                "none".to_owned()
            } else {
                statuses.join(", ")
            }
        );
        if r.errors_by_kind.is_empty() {
            let _ = writeln!(s, "  errors       0");
        } else {
            let _ = writeln!(s, "  errors       {}", r.errors);
            for (kind, n, example) in &r.errors_by_kind {
                let _ = writeln!(s, "    {kind}: {n} (first: {example})");
            }
        }
        let protocol = match self.protocol() {
            None => "none (no response)".to_owned(),
            Some(p) if r.versions.len() == 1 => p,
            Some(_) => {
                let mut by: Vec<String> = r
                    .versions
                    .iter()
                    .map(|(v, n)| format!("{}: {n}", version_name(*v)))
                    .collect();
                by.sort_unstable();
                by.join(", ")
            }
        };
        let _ = writeln!(s, "  protocol     {protocol}");
        let _ = writeln!(
            s,
            "  connections  {} opened, {} requests on reused ones",
            self.connections_opened, self.reuses
        );
        s.push_str(&histogram::render(&r.latency_us, columns));
        s
    }

    /// The `--json` report: one object.
    pub fn json(&self) -> Value {
        let r = self.recorder;
        // null when nothing was measured, rather than zeros that look measured.
        let latency = (!r.latency_us.is_empty()).then(|| {
            let mut latency = Map::new();
            for (name, _, p, _) in PERCENTILES {
                latency.insert(name.to_owned(), json!(self.latency_ms(p)));
            }
            latency.insert("max".to_owned(), json!(self.max_ms()));
            latency.insert("mean".to_owned(), json!(self.mean_ms()));
            latency
        });
        let status: Map<String, Value> = r
            .statuses
            .iter()
            .map(|(c, n)| (c.to_string(), json!(n)))
            .collect();
        let errors_by_kind: Map<String, Value> = r
            .errors_by_kind
            .iter()
            .map(|(k, n, _)| (k.as_str().to_owned(), json!(n)))
            .collect();
        let protocols: Map<String, Value> = r
            .versions
            .iter()
            .map(|(v, n)| (version_name(*v).to_owned(), json!(n)))
            .collect();
        json!({
            "url": self.url,
            "method": self.method,
            "concurrency": self.connections.saturating_mul(self.streams),
            "connections": self.connections,
            "streams": self.streams,
            "protocol": self.protocol(),
            "protocols": protocols,
            "threads": self.threads,
            "requests": r.completed,
            "errors": r.errors,
            "errors_by_kind": errors_by_kind,
            "connections_opened": self.connections_opened,
            "reuses": self.reuses,
            "duration_s": self.elapsed.as_secs_f64(),
            "rps": self.rps(),
            "body_bytes": r.body_bytes,
            "latency_ms": latency,
            "status": status,
        })
    }
}

/// How a protocol version is shown.
pub(super) fn version_name(v: Version) -> &'static str {
    match v {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_11 => "HTTP/1.1",
        Version::HTTP_2 => "HTTP/2",
        Version::HTTP_3 => "HTTP/3",
        _ => "HTTP/?",
    }
}
