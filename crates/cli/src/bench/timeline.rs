//! Requests completed (and failed) per interval of a `nethttp bench` run, for the req/s-over-time
//! plot of `--html`: counters indexed by the second a request ended in, updated under the lock
//! the recorder already takes per request, and never more than `MAX_BUCKETS` of them: a run
//! longer than that many seconds doubles the bucket width and merges neighbours.

use std::time::Duration;

use tokio::time::Instant;

/// Most buckets kept; a longer run coalesces pairs (1 s buckets become 2 s, then 4 s, ...).
pub const MAX_BUCKETS: usize = 600;

/// Counts per bucket of `width_s` seconds since the run started.
#[derive(Clone, Debug)]
pub struct Timeline {
    /// When the run started; nothing is recorded before that is known.
    origin: Option<Instant>,
    /// Width of each bucket in seconds, a power of two.
    width_s: u64,
    /// Requests completed in each bucket.
    completed: Vec<u64>,
    /// Requests failed in each bucket (same length as `completed`).
    errors: Vec<u64>,
}

/// One bucket as shown: where it starts, how long it covers, and what ended in it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bucket {
    /// Seconds since the start of the run.
    pub start_s: f64,
    /// Seconds of the run it covers (less than the width for the last, partial one).
    pub covered_s: f64,
    pub completed: u64,
    pub errors: u64,
}

impl Bucket {
    /// Completed requests per second over the time this bucket covers.
    pub fn rps(&self) -> f64 {
        if self.covered_s > 0.0 {
            self.completed as f64 / self.covered_s
        } else {
            0.0
        }
    }

    /// Failed requests per second over the time this bucket covers.
    pub fn errors_per_s(&self) -> f64 {
        if self.covered_s > 0.0 {
            self.errors as f64 / self.covered_s
        } else {
            0.0
        }
    }
}

impl Timeline {
    pub fn new() -> Timeline {
        Timeline {
            origin: None,
            width_s: 1,
            completed: Vec::new(),
            errors: Vec::new(),
        }
    }

    /// Marks the start of the run: buckets count from here.
    pub fn start(&mut self, at: Instant) {
        self.origin = Some(at);
    }

    /// Counts one request that ended at `at`, completed (`ok`) or failed.
    pub fn record(&mut self, at: Instant, ok: bool) {
        let Some(origin) = self.origin else { return };
        let secs = at.saturating_duration_since(origin).as_secs();
        let i = self.index_for(secs);
        if self.completed.len() <= i {
            self.completed.resize(i + 1, 0);
            self.errors.resize(i + 1, 0);
        }
        if ok {
            self.completed[i] += 1;
        } else {
            self.errors[i] += 1;
        }
    }

    /// The bucket for `secs` after the start, coalescing until it fits under the cap.
    fn index_for(&mut self, secs: u64) -> usize {
        while secs / self.width_s >= MAX_BUCKETS as u64 {
            self.coalesce();
        }
        usize::try_from(secs / self.width_s).expect("below MAX_BUCKETS")
    }

    /// Doubles the bucket width, merging neighbouring buckets.
    fn coalesce(&mut self) {
        let pairs = |v: &[u64]| -> Vec<u64> { v.chunks(2).map(|c| c.iter().sum()).collect() };
        self.completed = pairs(&self.completed);
        self.errors = pairs(&self.errors);
        self.width_s = self.width_s.saturating_mul(2);
    }

    /// The bucket width (s) and the buckets of a run that lasted `elapsed`: every interval up
    /// to the end, empty ones included, the last one partial. A last bucket covering under a
    /// quarter of the width is folded into the one before (a few stragglers over a sliver of
    /// time are not a rate).
    pub fn buckets(&self, elapsed: Duration) -> (u64, Vec<Bucket>) {
        let mut t = self.clone();
        let secs = elapsed.as_secs_f64();
        // Enough buckets to reach the end of the run, still under the cap.
        while (secs / t.width_s as f64).ceil() > MAX_BUCKETS as f64 {
            t.coalesce();
        }
        let width = t.width_s as f64;
        let n = ((secs / width).ceil() as usize)
            .max(t.completed.len())
            .max(1);
        let mut out: Vec<Bucket> = (0..n)
            .map(|i| {
                let start_s = i as f64 * width;
                Bucket {
                    start_s,
                    covered_s: (secs - start_s).clamp(0.0, width),
                    completed: t.completed.get(i).copied().unwrap_or(0),
                    errors: t.errors.get(i).copied().unwrap_or(0),
                }
            })
            .collect();
        if out.len() > 1 {
            let last = out[out.len() - 1];
            if last.covered_s < width / 4.0 {
                out.pop();
                let prev = out.last_mut().expect("more than one bucket");
                prev.covered_s += last.covered_s;
                prev.completed += last.completed;
                prev.errors += last.errors;
            }
        }
        (t.width_s, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(origin: Instant, ms: u64) -> Instant {
        origin + Duration::from_millis(ms)
    }

    #[test]
    fn counts_land_in_the_second_they_ended_in() {
        let o = Instant::now();
        let mut t = Timeline::new();
        t.start(o);
        for ms in [0, 10, 999, 1000, 2500] {
            t.record(at(o, ms), true);
        }
        t.record(at(o, 1500), false);
        let b = t.buckets(Duration::from_millis(3000)).1;
        let counts: Vec<(u64, u64)> = b.iter().map(|b| (b.completed, b.errors)).collect();
        assert_eq!(counts, [(3, 0), (1, 1), (1, 0)]);
        assert_eq!(b[0].rps(), 3.0);
    }

    #[test]
    fn a_long_run_coalesces_under_the_cap_and_keeps_every_count() {
        let o = Instant::now();
        let mut t = Timeline::new();
        t.start(o);
        let hours = 5 * 3600;
        for s in 0..hours {
            t.record(at(o, s * 1000), true);
        }
        assert!(t.completed.len() <= MAX_BUCKETS, "{}", t.completed.len());
        assert_eq!(t.width_s, 32);
        let (width, b) = t.buckets(Duration::from_secs(hours));
        assert_eq!(width, 32);
        assert!(b.len() <= MAX_BUCKETS);
        assert_eq!(b.iter().map(|b| b.completed).sum::<u64>(), hours);
        assert!((b[0].rps() - 1.0).abs() < 1e-9);
    }

    #[test]
    fn a_sliver_at_the_end_joins_the_bucket_before() {
        let o = Instant::now();
        let mut t = Timeline::new();
        t.start(o);
        t.record(at(o, 500), true);
        t.record(at(o, 1001), true);
        let b = t.buckets(Duration::from_millis(1002)).1;
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].completed, 2);
        assert!((b[0].covered_s - 1.002).abs() < 1e-9);
    }

    #[test]
    fn quiet_seconds_are_shown_empty_and_a_short_run_has_one_bucket() {
        let o = Instant::now();
        let mut t = Timeline::new();
        t.start(o);
        t.record(at(o, 100), true);
        assert_eq!(t.buckets(Duration::from_secs(4)).1.len(), 4);
        let short = t.buckets(Duration::from_millis(200)).1;
        assert_eq!(short.len(), 1);
        assert!((short[0].rps() - 5.0).abs() < 1e-9);
    }
}
