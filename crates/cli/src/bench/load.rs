//! The load itself: workers that each loop request → read the whole body → record, on pooled
//! `Client`s (worker i uses client i mod their number), until the request budget or the
//! deadline runs out; and the `Recorder` that collects latencies (microseconds, HDR
//! histogram), status counts, protocol versions, errors by kind, and requests per second over
//! the run (`Timeline`).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use hdrhistogram::Histogram;
use http::{Method, Request, StatusCode, Uri, Version};
use http_body_util::BodyExt;
use nethttp::{Body, Client, ErrorKind};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::timeline::Timeline;

/// Longest latency the histogram tells apart (1 hour in µs); longer ones count as this.
const MAX_LATENCY_US: u64 = 3_600_000_000;

/// What every worker sends, prepared once so the loop only clones cheap handles.
pub struct Plan {
    /// The workers spread over these evenly (one per connection for HTTP/2, or one shared).
    pub clients: Vec<Client>,
    pub method: Method,
    /// Parsed once; cloning a `Uri` shares its bytes.
    pub uri: Uri,
    /// The request body (shared, never copied); empty means none.
    pub body: Bytes,
    /// Stop after this many requests in total, if set.
    pub requests: Option<u64>,
    /// Stop at this instant, if set; requests in flight then are abandoned, not counted.
    pub deadline: Option<Instant>,
}

/// Results so far; workers lock it once per request, for a few counter updates.
pub struct Recorder {
    /// Latency of each completed request (head and whole body), in microseconds.
    pub latency_us: Histogram<u64>,
    /// Requests answered and read to the end.
    pub completed: u64,
    /// Response body bytes read.
    pub body_bytes: u64,
    /// (status code, count), in order of first appearance.
    pub statuses: Vec<(u16, u64)>,
    /// (protocol version, responses), in order of first appearance.
    pub versions: Vec<(Version, u64)>,
    /// Requests that failed in transport.
    pub errors: u64,
    /// (kind, count, the first such error's message), in order of first appearance.
    pub errors_by_kind: Vec<(ErrorKind, u64, String)>,
    /// Completed and failed requests by the second they ended in.
    pub timeline: Timeline,
}

impl Recorder {
    fn new() -> Recorder {
        Recorder {
            latency_us: Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
                .expect("static histogram bounds are valid"),
            completed: 0,
            body_bytes: 0,
            statuses: Vec::new(),
            versions: Vec::new(),
            errors: 0,
            errors_by_kind: Vec::new(),
            timeline: Timeline::new(),
        }
    }

    /// Counts one request that took `took` and ended at `done`.
    fn record(&mut self, outcome: Result<Answer, nethttp::Error>, took: Duration, done: Instant) {
        self.timeline.record(done, outcome.is_ok());
        match outcome {
            Ok(Answer {
                status,
                version,
                bytes,
            }) => {
                let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
                self.latency_us.saturating_record(us.max(1));
                self.completed += 1;
                self.body_bytes += bytes;
                let code = status.as_u16();
                match self.statuses.iter_mut().find(|(c, _)| *c == code) {
                    Some((_, n)) => *n += 1,
                    None => self.statuses.push((code, 1)),
                }
                match self.versions.iter_mut().find(|(v, _)| *v == version) {
                    Some((_, n)) => *n += 1,
                    None => self.versions.push((version, 1)),
                }
            }
            Err(e) => {
                self.errors += 1;
                let kind = e.kind();
                match self.errors_by_kind.iter_mut().find(|(k, ..)| *k == kind) {
                    Some((_, n, _)) => *n += 1,
                    None => self
                        .errors_by_kind
                        .push((kind, 1, crate::tls_args::describe(&e))),
                }
            }
        }
    }
}

/// What one completed request gave.
struct Answer {
    status: StatusCode,
    version: Version,
    /// Response body bytes.
    bytes: u64,
}

/// The state every worker shares.
pub struct Load {
    plan: Plan,
    /// Requests started, to stop at `plan.requests`.
    issued: AtomicU64,
    recorder: Mutex<Recorder>,
}

impl Load {
    pub fn new(plan: Plan) -> Arc<Load> {
        Arc::new(Load {
            plan,
            issued: AtomicU64::new(0),
            recorder: Mutex::new(Recorder::new()),
        })
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The results so far (the progress bar reads them while workers run).
    pub fn recorder(&self) -> MutexGuard<'_, Recorder> {
        // A worker cannot panic while holding the lock, but a poisoned lock still holds
        // valid counters.
        self.recorder.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `workers` workers until the budget or the deadline ends them; returns how long
    /// the load ran.
    pub async fn run(self: &Arc<Self>, workers: usize) -> Duration {
        let start = Instant::now();
        self.recorder().timeline.start(start);
        let mut set = JoinSet::new();
        for i in 0..workers {
            let client = self.plan.clients[i % self.plan.clients.len()].clone();
            set.spawn(self.clone().worker(client));
        }
        let all_done = async {
            while let Some(r) = set.join_next().await {
                if let Err(e) = r {
                    if e.is_panic() {
                        std::panic::resume_unwind(e.into_panic());
                    }
                }
            }
        };
        match self.plan.deadline {
            Some(deadline) => {
                let _ = tokio::time::timeout_at(deadline, all_done).await;
            }
            None => all_done.await,
        }
        let elapsed = start.elapsed();
        // Requests still in flight at the deadline are abandoned.
        set.shutdown().await;
        elapsed
    }

    async fn worker(self: Arc<Self>, client: Client) {
        let plan = &self.plan;
        loop {
            if let Some(limit) = plan.requests {
                if self.issued.fetch_add(1, Relaxed) >= limit {
                    return;
                }
            }
            let start = Instant::now();
            if plan.deadline.is_some_and(|d| start >= d) {
                return;
            }
            let outcome = self.one(&client).await;
            let done = Instant::now();
            self.recorder().record(outcome, done - start, done);
        }
    }

    /// One request, its body read to the end and discarded.
    async fn one(&self, client: &Client) -> Result<Answer, nethttp::Error> {
        let plan = &self.plan;
        let body = if plan.body.is_empty() {
            Body::empty()
        } else {
            Body::from(plan.body.clone())
        };
        let mut req = Request::new(body);
        *req.method_mut() = plan.method.clone();
        *req.uri_mut() = plan.uri.clone();
        let res = client.execute(req).await?;
        let (status, version) = (res.status(), res.version());
        let mut body = res.into_body();
        let mut bytes = 0u64;
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame?.into_data() {
                bytes += data.len() as u64;
            }
        }
        Ok(Answer {
            status,
            version,
            bytes,
        })
    }
}
