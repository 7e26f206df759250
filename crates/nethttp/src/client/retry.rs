//! When to try again: the request retry rule (Go's `shouldRetryRequest`, in one function),
//! dial retry with exponential backoff and jitter, and the retry budget that keeps retries
//! from multiplying the load on a host that is already failing.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Duration;

use http::{HeaderMap, Method};
use tokio::time::Instant;

use crate::error::{Error, Kind};

/// What is known of a failed attempt, whatever the protocol.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Failure<'a> {
    pub error: &'a Error,
    /// Not one byte of the request was accepted by the socket: the server cannot have seen it.
    pub nothing_written: bool,
    /// Not one byte of a response arrived.
    pub no_response: bool,
    /// The server said it did not process the request: an HTTP/2 stream refused
    /// (REFUSED_STREAM) or beyond a GOAWAY's last stream id (RFC 9113 §8.7).
    pub unprocessed: bool,
}

/// Whether a request that failed may be sent again on another connection.
///
/// - Never for a usage error (the request itself is wrong), nor after a timeout: the server
///   may still be working on the request.
/// - A request the server said it did not process is safe to resend whatever its method and
///   connection, if its body can be produced again.
/// - Only a failure on a *reused* connection is retried: a server that closed a connection
///   while it sat idle is the expected cause, and a fresh connection fixes it. A failure on a
///   fresh connection is the server's answer.
/// - Only if no byte of a response arrived: after that, the server has acted on the request.
/// - Only if the body can be produced again (none, or held in memory).
/// - Then: a request of which not one byte was written is always safe to resend. Otherwise
///   the method must be idempotent (RFC 9110 §9.2.2: GET, HEAD, OPTIONS, TRACE, PUT, DELETE)
///   or the request must carry an `Idempotency-Key`. A POST is never sent twice.
pub(crate) fn should_retry(
    method: &Method,
    headers: &HeaderMap,
    replayable: bool,
    reused: bool,
    err: &Failure<'_>,
) -> Result<(), NoRetry> {
    if err.error.kind() == Kind::Usage {
        return Err(NoRetry::Usage);
    }
    if err.error.is_timeout() {
        return Err(NoRetry::TimedOut);
    }
    if err.unprocessed {
        return if replayable {
            Ok(())
        } else {
            Err(NoRetry::NotReplayable)
        };
    }
    if !reused {
        return Err(NoRetry::FreshConnection);
    }
    if !err.no_response {
        return Err(NoRetry::ResponseStarted);
    }
    if !replayable {
        return Err(NoRetry::NotReplayable);
    }
    if err.nothing_written || method_allows_resend(method, headers) {
        return Ok(());
    }
    Err(NoRetry::NotIdempotent)
}

/// Whether a request may be sent twice as far as its method goes: idempotent (RFC 9110
/// §9.2.2), or carrying an `Idempotency-Key` (the header is looked up only for the others).
pub(crate) fn method_allows_resend(method: &Method, headers: &HeaderMap) -> bool {
    is_idempotent(method) || headers.contains_key("idempotency-key")
}

/// Whether a failure is a reused connection's end of life rather than the host failing: it
/// came on a connection that had already carried a request, before any byte of a response,
/// as the connection's end (EOF) or a reset. A server closes connections it keeps alive
/// whenever it likes (idle timeouts, request limits, or after every response without saying
/// so); a request caught by that close is resent on a new connection without drawing on the
/// retry budget. That resend is bounded by itself: its failure on the new connection is final
/// (`FreshConnection`), so a host that fails every request sees one resend per request at
/// most, never a retry loop.
pub(crate) fn is_lifecycle_failure(reused: bool, err: &Failure<'_>) -> bool {
    reused
        && err.no_response
        && !err.unprocessed
        && matches!(err.error.kind(), Kind::IncompleteMessage | Kind::Io)
}

/// Why a failed request was not sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoRetry {
    /// The request itself is wrong: sending it again would fail the same way.
    Usage,
    /// A timeout: the server may still be working on the request.
    TimedOut,
    /// The connection was new: its failure is the server's answer.
    FreshConnection,
    /// Part of a response arrived: the server acted on the request.
    ResponseStarted,
    /// The body was streamed and cannot be produced again.
    NotReplayable,
    /// Not idempotent and no `Idempotency-Key`.
    NotIdempotent,
}

impl NoRetry {
    /// What to tell the caller, when the reason is worth telling: a reused connection failed
    /// and the request could have been resent but for this. `None` when the original error
    /// says it all (a timeout, a failure on a new connection).
    pub(crate) fn explanation(self) -> Option<&'static str> {
        match self {
            NoRetry::Usage | NoRetry::TimedOut | NoRetry::FreshConnection => None,
            NoRetry::ResponseStarted => Some("reused connection failed after the response began"),
            NoRetry::NotReplayable => {
                Some("reused connection failed; not retried because the body cannot be sent again")
            }
            NoRetry::NotIdempotent => {
                Some("reused connection failed; not retried because the method is not idempotent")
            }
        }
    }
}

/// RFC 9110 §9.2.2.
pub(crate) fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    )
}

/// How dials are retried.
#[derive(Debug, Clone)]
pub struct DialRetry {
    /// Retries after the first attempt, for errors where the server was not reached
    /// (connection refused or reset while connecting). Default: 2. Zero disables.
    pub max_retries: u32,
    /// Backoff before the first retry; doubles for each further one. Default: 50 ms.
    pub base_delay: Duration,
    /// Largest backoff. Default: 1 s.
    pub max_delay: Duration,
}

impl Default for DialRetry {
    fn default() -> Self {
        DialRetry {
            max_retries: 2,
            base_delay: Duration::from_millis(50),
            max_delay: Duration::from_secs(1),
        }
    }
}

impl DialRetry {
    /// The wait before retry number `attempt` (0-based): exponential, with "full jitter"
    /// (a uniform draw between half and all of it), so clients that failed together do not
    /// retry together.
    pub(crate) fn backoff(&self, attempt: u32) -> Duration {
        jittered_backoff(self.base_delay, self.max_delay, attempt)
    }
}

/// `base * 2^attempt`, capped at `max`, then a uniform draw between half and all of it
/// ("full jitter"), for every retry the client makes: dials and statuses alike.
pub(crate) fn jittered_backoff(base: Duration, max: Duration, attempt: u32) -> Duration {
    let exp = base
        .saturating_mul(1u32.checked_shl(attempt.min(16)).unwrap_or(u32::MAX))
        .min(max);
    let half = exp / 2;
    half + half.mul_f64(fastrand::f64())
}

/// Dial errors worth retrying: the host answered "not now" rather than "no".
pub(crate) fn is_retryable_dial_error(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::ConnectionAborted
    )
}

/// Limits retries to a fraction of recent requests, plus a small floor, over a sliding
/// window: with `ratio` 0.2 a failing host sees at most 20% more attempts than requests,
/// never a retry storm.
#[derive(Debug)]
pub struct RetryBudget {
    ratio: f64,
    floor: u64,
    window: Duration,
    requests: AtomicU64,
    state: Mutex<BudgetWindow>,
}

#[derive(Debug)]
struct BudgetWindow {
    started: Instant,
    requests_at_start: u64,
    retries: u64,
}

impl RetryBudget {
    /// A budget allowing `floor` retries per `window` plus `ratio` times the requests made in
    /// it. Defaults: ratio 0.2, floor 10, window 10 s.
    pub fn new(ratio: f64, floor: u64, window: Duration) -> RetryBudget {
        RetryBudget {
            ratio: ratio.max(0.0),
            floor,
            window,
            requests: AtomicU64::new(0),
            state: Mutex::new(BudgetWindow {
                started: Instant::now(),
                requests_at_start: 0,
                retries: 0,
            }),
        }
    }

    /// Counts one request.
    pub(crate) fn deposit(&self) {
        self.requests.fetch_add(1, Relaxed);
    }

    /// Takes one retry from the budget; false when it is spent.
    pub(crate) fn withdraw(&self) -> bool {
        let requests = self.requests.load(Relaxed);
        let mut w = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if w.started.elapsed() >= self.window {
            w.started = Instant::now();
            w.requests_at_start = requests;
            w.retries = 0;
        }
        let made = requests - w.requests_at_start;
        let allowed = self.floor + (made as f64 * self.ratio) as u64;
        if w.retries < allowed {
            w.retries += 1;
            true
        } else {
            false
        }
    }
}

impl Default for RetryBudget {
    fn default() -> Self {
        RetryBudget::new(0.2, 10, Duration::from_secs(10))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(error: &Error, nothing_written: bool, no_response: bool) -> Failure<'_> {
        Failure {
            error,
            nothing_written,
            no_response,
            unprocessed: false,
        }
    }

    fn incomplete() -> Error {
        Error::new(Kind::IncompleteMessage, "x")
    }

    #[test]
    fn go_retry_rules() {
        let e = incomplete();
        let err = |w, r| failure(&e, w, r);
        let h = HeaderMap::new();
        assert!(should_retry(&Method::GET, &h, true, true, &err(false, true)).is_ok());
        assert!(should_retry(&Method::GET, &h, true, false, &err(false, true)).is_err());
        assert!(should_retry(&Method::GET, &h, true, true, &err(false, false)).is_err());
        assert!(should_retry(&Method::PUT, &h, false, true, &err(false, true)).is_err());
        assert_eq!(
            should_retry(&Method::POST, &h, true, true, &err(false, true)),
            Err(NoRetry::NotIdempotent)
        );
        assert!(should_retry(&Method::POST, &h, true, true, &err(true, true)).is_ok());
        let mut keyed = HeaderMap::new();
        keyed.insert("idempotency-key", "abc".parse().unwrap());
        assert!(should_retry(&Method::POST, &keyed, true, true, &err(false, true)).is_ok());
    }

    #[test]
    fn only_a_reused_connection_dying_before_a_response_is_its_lifecycle() {
        let eof = incomplete();
        let reset = Error::new(Kind::Io, "reset");
        let timeout = Error::new(Kind::ResponseHeaderTimeout, "x");
        let parse = Error::new(Kind::Parse, "x");
        assert!(is_lifecycle_failure(true, &failure(&eof, false, true)));
        assert!(is_lifecycle_failure(true, &failure(&reset, true, true)));
        // A new connection failing is the server's answer; a response begun is acted on.
        assert!(!is_lifecycle_failure(false, &failure(&eof, false, true)));
        assert!(!is_lifecycle_failure(true, &failure(&eof, false, false)));
        assert!(!is_lifecycle_failure(true, &failure(&timeout, false, true)));
        assert!(!is_lifecycle_failure(true, &failure(&parse, false, true)));
    }

    #[test]
    fn timeouts_are_never_resent() {
        let e = Error::new(Kind::ResponseHeaderTimeout, "x");
        let h = HeaderMap::new();
        assert_eq!(
            should_retry(&Method::GET, &h, true, true, &failure(&e, false, true)),
            Err(NoRetry::TimedOut)
        );
    }

    #[test]
    fn usage_errors_are_never_resent() {
        let e = Error::new(Kind::Usage, "x");
        let h = HeaderMap::new();
        assert_eq!(
            should_retry(&Method::GET, &h, true, true, &failure(&e, true, true)),
            Err(NoRetry::Usage)
        );
    }

    #[test]
    fn unprocessed_requests_are_resent_whatever_the_method_and_connection() {
        let e = Error::new(Kind::Http2, "refused");
        let refused = Failure {
            unprocessed: true,
            ..failure(&e, false, true)
        };
        let h = HeaderMap::new();
        assert!(should_retry(&Method::POST, &h, true, false, &refused).is_ok());
        assert_eq!(
            should_retry(&Method::POST, &h, false, false, &refused),
            Err(NoRetry::NotReplayable)
        );
        // Without the server's word, a POST on a fresh connection is not resent.
        assert!(should_retry(&Method::POST, &h, true, false, &failure(&e, false, true)).is_err());
    }

    #[test]
    fn backoff_grows_with_jitter_and_caps() {
        let r = DialRetry::default();
        for attempt in 0..10 {
            let d = r.backoff(attempt);
            let full = (r.base_delay * 2u32.pow(attempt)).min(r.max_delay);
            assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?}");
        }
    }

    #[test]
    fn budget_allows_floor_plus_ratio() {
        let b = RetryBudget::new(0.5, 2, Duration::from_secs(60));
        assert!(b.withdraw());
        assert!(b.withdraw());
        assert!(!b.withdraw());
        for _ in 0..4 {
            b.deposit();
        }
        assert!(b.withdraw());
        assert!(b.withdraw());
        assert!(!b.withdraw());
    }
}
