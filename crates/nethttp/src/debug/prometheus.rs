//! The Prometheus side of the `metrics` feature: the recorder (metrics-exporter-prometheus,
//! installed once per process unless another recorder is there first), its upkeep, the
//! exposition handler, and the gauges read off the live records when it renders: open
//! server connections by protocol and state, every client pool's hosts and totals, and every
//! reverse proxy upstream's requests, failures, requests in flight and whether it is in.

use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use http::{header, HeaderValue, StatusCode};
use metrics::{counter, gauge};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use metrics_util::MetricKindMask;

use super::registry;
use crate::conn::track::state_name;
use crate::conn::ConnState;
use crate::handler::Handler;
use crate::{HttpRequest, HttpResponse};

/// Request duration buckets, in seconds: 1 ms to 60 s.
const BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0,
];

/// How often samples are folded into the histograms when nobody scrapes, so that they never
/// pile up between scrapes.
const UPKEEP: Duration = Duration::from_secs(5);

/// How long a gauge nobody sets any more stays in the exposition: a client pool's host that
/// has had no connection for this long leaves it, so the hosts a long-running client has
/// talked to do not pile up as series. (Gauges are set at every render, so live ones never
/// reach it; counters are never dropped, the server's handles are held for its life.)
const GAUGE_IDLE: Duration = Duration::from_secs(300);

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The client pool hosts the last refresh reported, as (pool, host) labels.
static REPORTED_HOSTS: Mutex<Vec<[(&'static str, String); 2]>> = Mutex::new(Vec::new());

/// Installs our Prometheus recorder as the process's, once; `None` if another recorder was
/// installed first (it then receives every metric, and [`metrics`] says so).
pub(crate) fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &BUCKETS)
                .ok()?
                .idle_timeout(MetricKindMask::GAUGE, Some(GAUGE_IDLE));
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            let upkeep = handle.clone();
            let spawned = std::thread::Builder::new()
                .name("nethttp-metrics-upkeep".into())
                .spawn(move || loop {
                    std::thread::sleep(UPKEEP);
                    upkeep.run_upkeep();
                });
            if let Err(e) = spawned {
                tracing::warn!(error = %e, "metrics upkeep thread failed to start");
            }
            Some(handle)
        })
        .as_ref()
}

/// Sets the gauges that describe the present: open connections of every server that tracks
/// them, by protocol and state; each client pool's hosts (idle, active, waiting) and its
/// totals (dials, reuses, closes, stale). [`metrics()`] calls it before each render; with
/// another recorder, call it before that recorder is read (or every few seconds).
pub fn refresh_gauges() {
    let states = [
        ConnState::New,
        ConnState::Active,
        ConnState::Idle,
        ConnState::Upgraded,
    ];
    let mut counts = [[0u64; 4]; 3];
    for table in registry::servers() {
        for c in table.view() {
            if let Some(s) = states.iter().position(|s| *s == c.state) {
                counts[c.proto as usize][s] += 1;
            }
        }
    }
    for (p, proto) in ["unknown", "http1", "h2"].iter().enumerate() {
        for (s, state) in states.iter().enumerate() {
            gauge!("nethttp_server_connections", "protocol" => *proto, "state" => state_name(*state))
                .set(counts[p][s] as f64);
        }
    }
    let mut reported = Vec::new();
    for (id, pool) in registry::pools() {
        let stats = pool.stats();
        let id = id.to_string();
        counter!("nethttp_client_dials_total", "pool" => id.clone()).absolute(stats.dials);
        counter!("nethttp_client_reuses_total", "pool" => id.clone()).absolute(stats.reuses);
        counter!("nethttp_client_closes_total", "pool" => id.clone()).absolute(stats.closes);
        counter!("nethttp_client_stale_total", "pool" => id.clone()).absolute(stats.stale);
        for h in &stats.hosts {
            let labels = [("pool", id.clone()), ("host", h.key.clone())];
            let streams: usize = h.http2_streams.iter().sum();
            set_host_gauges(&labels, [h.idle, h.active, h.waiting, streams]);
            reported.push(labels);
        }
    }
    for (id, group) in registry::groups() {
        let id = id.to_string();
        for u in group.stats() {
            let labels = [("group", id.clone()), ("upstream", u.url)];
            counter!("nethttp_proxy_upstream_requests_total", &labels).absolute(u.requests);
            counter!("nethttp_proxy_upstream_failures_total", &labels).absolute(u.failures);
            gauge!("nethttp_proxy_upstream_in_flight", &labels).set(f64::from(u.in_flight));
            gauge!("nethttp_proxy_upstream_available", &labels).set(if u.available {
                1.0
            } else {
                0.0
            });
        }
    }
    // A host the pool no longer lists has no connection and no waiter: its gauges read 0 at
    // once (not their last value), until GAUGE_IDLE drops them.
    let mut last = REPORTED_HOSTS.lock().unwrap_or_else(|p| p.into_inner());
    for gone in last.iter().filter(|l| !reported.contains(l)) {
        set_host_gauges(gone, [0; 4]);
    }
    *last = reported;
}

/// A client pool host's gauges: idle, active, waiting, HTTP/2 streams.
fn set_host_gauges(labels: &[(&'static str, String); 2], values: [usize; 4]) {
    let names = [
        "nethttp_client_idle_connections",
        "nethttp_client_active_connections",
        "nethttp_client_waiting_requests",
        "nethttp_client_h2_streams",
    ];
    for (name, value) in names.into_iter().zip(values) {
        gauge!(name, labels).set(value as f64);
    }
}

/// The Prometheus text exposition (format 0.0.4) of every metric the process records: the
/// server's and client's (with [`crate::Server::metrics`]) and anything else sent through
/// the `metrics` facade. Installs the recorder if none is installed. Serve it on a listener
/// of its own, at `/metrics` (`nethttp serve --metrics-addr`). If the process installed
/// another recorder first, it answers 503 saying so: read that recorder instead.
pub fn metrics() -> impl Handler + Clone {
    install();
    |_req: HttpRequest| async move { exposition() }
}

fn exposition() -> HttpResponse {
    let Some(handle) = install() else {
        return crate::text_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "another metrics recorder is installed in this process: read it instead\n",
        );
    };
    refresh_gauges();
    let mut resp = HttpResponse::new(handle.render().into());
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    resp
}
