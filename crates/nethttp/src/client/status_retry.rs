//! Retrying a response that says "not now" (`429 Too Many Requests`, `503 Service
//! Unavailable`): opt-in, honouring `Retry-After` (RFC 9110 §10.2.3: seconds or a date),
//! with exponential backoff and jitter when there is none, under the transport's retry
//! budget, within the request's total timeout, and only for requests that are safe to send
//! again (idempotent, or carrying an `Idempotency-Key`, with a body that can be produced
//! again).

use std::time::{Duration, SystemTime};

use http::{header, HeaderMap, StatusCode};

/// When and how a [`crate::Client`] sends a request again after a `429` or `503`
/// ([`crate::client::ClientBuilder::retry_status`]). Off unless set.
///
/// A retry happens only if all hold: the status is one of [`StatusRetry::statuses`]; fewer
/// than [`StatusRetry::max_retries`] were made for this request; the method is idempotent
/// (RFC 9110 §9.2.2) or the request has an `Idempotency-Key`; its body is empty or in memory;
/// the wait (the server's `Retry-After`, else the backoff) is at most
/// [`StatusRetry::max_wait`] and ends before the request's total timeout; and the transport's
/// retry budget has room (so a struggling host sees at most ~20 % more requests, never a
/// storm). Otherwise the response is returned as it is.
#[derive(Debug, Clone)]
pub struct StatusRetry {
    /// Retries after the first response. Default: 2.
    pub max_retries: u32,
    /// The statuses retried. Default: 429 and 503.
    pub statuses: Vec<StatusCode>,
    /// Backoff before the first retry when the server gives no `Retry-After`; doubles for
    /// each further one, with jitter. Default: 200 ms.
    pub base_delay: Duration,
    /// Largest backoff. Default: 5 s.
    pub max_delay: Duration,
    /// The longest wait, `Retry-After` included: a server asking for more gets its response
    /// handed back instead. Default: 30 s.
    pub max_wait: Duration,
}

impl Default for StatusRetry {
    fn default() -> Self {
        StatusRetry {
            max_retries: 2,
            statuses: vec![
                StatusCode::TOO_MANY_REQUESTS,
                StatusCode::SERVICE_UNAVAILABLE,
            ],
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            max_wait: Duration::from_secs(30),
        }
    }
}

impl StatusRetry {
    /// The defaults: 2 retries of 429 and 503, `Retry-After` honoured up to 30 s, else
    /// 200 ms doubling to 5 s with jitter.
    pub fn new() -> Self {
        StatusRetry::default()
    }

    /// How long to wait before retry number `done` (0-based) of a response with `status`
    /// and `headers`; `None` when it is not to be retried (not a listed status, retries
    /// spent, or the server asks for longer than `max_wait`).
    pub(crate) fn wait(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
        done: u32,
        now: SystemTime,
    ) -> Option<Duration> {
        if done >= self.max_retries || !self.statuses.contains(&status) {
            return None;
        }
        let wait = match retry_after(headers, now) {
            Some(d) => d,
            None => super::retry::jittered_backoff(self.base_delay, self.max_delay, done),
        };
        (wait <= self.max_wait).then_some(wait)
    }
}

/// `Retry-After` (RFC 9110 §10.2.3): delay-seconds, or an HTTP-date (a date in the past is
/// no wait). `None` when absent or unreadable, so the backoff applies.
fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let v = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        // More digits than a u64 holds: as good as forever.
        return Some(Duration::from_secs(v.parse().unwrap_or(u64::MAX)));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(retry_after: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(v) = retry_after {
            h.insert(header::RETRY_AFTER, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let p = StatusRetry::new();
        let w = |v| p.wait(StatusCode::SERVICE_UNAVAILABLE, &headers(Some(v)), 0, now);
        assert_eq!(w("3"), Some(Duration::from_secs(3)));
        assert_eq!(w("0"), Some(Duration::ZERO));
        let in_7 = httpdate::fmt_http_date(now + Duration::from_secs(7));
        assert_eq!(w(&in_7), Some(Duration::from_secs(7)));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(60));
        assert_eq!(w(&past), Some(Duration::ZERO));
        // Longer than max_wait: the response is handed back instead.
        assert_eq!(w("31"), None);
        assert_eq!(w("99999999999999999999999"), None);
    }

    #[test]
    fn without_retry_after_the_backoff_doubles_with_jitter() {
        let now = SystemTime::now();
        let p = StatusRetry {
            max_retries: 5,
            ..StatusRetry::new()
        };
        for (done, full) in [(0u32, 200u64), (1, 400), (2, 800), (3, 1600)] {
            for _ in 0..20 {
                let w = p
                    .wait(StatusCode::TOO_MANY_REQUESTS, &headers(None), done, now)
                    .unwrap();
                assert!(
                    w >= Duration::from_millis(full / 2) && w <= Duration::from_millis(full),
                    "{done}: {w:?}"
                );
            }
        }
        // Unreadable Retry-After: the backoff too.
        let w = p.wait(
            StatusCode::TOO_MANY_REQUESTS,
            &headers(Some("soon")),
            0,
            now,
        );
        assert!(w.unwrap() <= Duration::from_millis(200));
    }

    #[test]
    fn other_statuses_and_spent_retries_are_not_retried() {
        let now = SystemTime::now();
        let p = StatusRetry::new();
        let h = headers(Some("1"));
        assert_eq!(p.wait(StatusCode::INTERNAL_SERVER_ERROR, &h, 0, now), None);
        assert_eq!(p.wait(StatusCode::BAD_GATEWAY, &h, 0, now), None);
        assert!(p
            .wait(StatusCode::SERVICE_UNAVAILABLE, &h, 1, now)
            .is_some());
        assert_eq!(p.wait(StatusCode::SERVICE_UNAVAILABLE, &h, 2, now), None);
    }
}
