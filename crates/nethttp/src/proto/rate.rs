//! The minimum data rate a request body must keep while its handler waits for it, on
//! HTTP/1.1 and HTTP/2 alike: a client trickling a body (slow POST) is cut off once the time
//! spent waiting exceeds the grace period plus what the bytes received so far have earned.

use std::time::Duration;

/// A minimum request-body data rate: after `grace`, the client must have delivered at least
/// `bytes_per_sec` for every second the server spent waiting for body bytes. Time the handler
/// spends not reading does not count against the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinDataRate {
    /// Required average rate, bytes per second.
    pub bytes_per_sec: u64,
    /// Waiting time allowed before the rate applies.
    pub grace: Duration,
}

impl MinDataRate {
    /// How long the server may wait in all for body bytes, having received `received` of
    /// them: the grace period plus what they earned. `None` when the rate is zero (no
    /// minimum).
    pub(crate) fn allowed_wait(&self, received: u64) -> Option<Duration> {
        if self.bytes_per_sec == 0 {
            return None;
        }
        let earned = Duration::from_secs_f64(received as f64 / self.bytes_per_sec as f64);
        Some(self.grace + earned)
    }
}
