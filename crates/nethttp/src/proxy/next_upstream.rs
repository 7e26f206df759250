//! When a request that failed at one upstream of a group may go to the next (nginx's
//! `proxy_next_upstream error timeout`, its default), and how a failed exchange counts
//! toward the upstream's health.
//!
//! - Nothing was sent (no connection could be had: refused, unreachable, a TLS failure, a
//!   connect timeout, the upstream's connections all busy): any request goes to the next,
//!   its body as it was (the transport gives an unsent body back).
//! - The request went out and no response head came back (the connection broke, or the
//!   response header timeout passed): only an idempotent request (RFC 9110 §9.2.2) whose
//!   body the proxy still has whole (none, or one read whole before it was sent) goes
//!   again, as nginx does not pass a non-idempotent request on once sent (since 1.9.13).
//!   A client's `Idempotency-Key` does not change that here (our client honours it for its
//!   own resends): whether an upstream dedupes by it is the operator's knowledge, not the
//!   client's to claim.
//! - A response head came back: it goes to the client, unless its status is one the proxy
//!   was told to move on from (`next_upstream_statuses`) and the request is idempotent with
//!   its body whole.

use bytes::Bytes;
use http::{Method, StatusCode};

use super::upstreams::Outcome;
use crate::body::Body;
use crate::error::{Error, Kind};

/// How the request's body can be made again for another upstream.
pub(crate) enum Again {
    /// No body.
    Empty,
    /// The whole body, read before the first attempt.
    Whole(Bytes),
    /// A streamed body: only an unsent one can go again.
    Streamed,
}

impl Again {
    /// The body for another attempt after one that sent the request.
    pub(crate) fn body(&self) -> Option<Body> {
        match self {
            Again::Empty => Some(Body::empty()),
            Again::Whole(b) => Some(Body::from(b.clone())),
            Again::Streamed => None,
        }
    }
}

/// What a failed exchange says of the upstream: a failure of the upstream, or nothing (the
/// pool's limit, a request the transport refused to send).
pub(crate) fn outcome(err: &Error) -> Outcome {
    match err.kind() {
        Kind::Io
        | Kind::Timeout
        | Kind::IncompleteMessage
        | Kind::ResponseHeaderTimeout
        | Kind::Connect
        | Kind::ConnectTimeout
        | Kind::Tls
        | Kind::Certificate
        | Kind::TlsHandshakeTimeout
        | Kind::Parse => Outcome::Failed,
        _ => Outcome::Neither,
    }
}

/// What an answer whose status is among the proxy's `next_upstream_statuses` says of the
/// upstream: a failure, except `403` and `404`, which are the application's (as nginx).
pub(crate) fn status_outcome(status: StatusCode) -> Outcome {
    match status {
        StatusCode::FORBIDDEN | StatusCode::NOT_FOUND => Outcome::Neither,
        _ => Outcome::Failed,
    }
}

/// Whether a request answered with one of the proxy's `next_upstream_statuses` may go to
/// the next upstream (its body whole is checked by the caller): an idempotent method, as
/// after a failed exchange.
pub(crate) fn may_resend_answered(method: &Method) -> bool {
    crate::client::is_idempotent(method)
}

/// Whether a request that was sent (at least in part) may go to the next upstream after
/// `err`: an idempotent method, and an error that is nginx's `error` or `timeout` (the
/// connection failed, or no response head in time), not a malformed answer.
pub(crate) fn may_resend(method: &Method, err: &Error) -> bool {
    crate::client::is_idempotent(method)
        && matches!(
            err.kind(),
            Kind::Io | Kind::Timeout | Kind::IncompleteMessage | Kind::ResponseHeaderTimeout
        )
}

/// The error when every upstream is left out after failing.
pub(crate) fn no_live_upstreams() -> Error {
    Error::new(
        Kind::Connect,
        "no live upstreams: every upstream failed recently and is left out for its fail_timeout",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_idempotent_requests_go_again_once_sent_and_only_after_the_connection_failed() {
        let broke = Error::new(Kind::IncompleteMessage, "closed");
        let slow = Error::new(Kind::ResponseHeaderTimeout, "slow");
        let bad = Error::new(Kind::Parse, "garbage");
        for m in [
            Method::GET,
            Method::HEAD,
            Method::PUT,
            Method::DELETE,
            Method::OPTIONS,
        ] {
            assert!(may_resend(&m, &broke), "{m}");
            assert!(may_resend(&m, &slow), "{m}");
            assert!(!may_resend(&m, &bad), "{m}");
        }
        for m in [Method::POST, Method::PATCH, Method::CONNECT] {
            assert!(!may_resend(&m, &broke), "{m}");
            assert!(!may_resend(&m, &slow), "{m}");
        }
    }

    #[test]
    fn the_upstreams_failures_count_against_it_and_the_pools_limit_does_not() {
        assert_eq!(
            outcome(&Error::new(Kind::Connect, "refused")),
            Outcome::Failed
        );
        assert_eq!(
            outcome(&Error::new(Kind::ConnectTimeout, "t")),
            Outcome::Failed
        );
        assert_eq!(
            outcome(&Error::new(Kind::IncompleteMessage, "c")),
            Outcome::Failed
        );
        assert_eq!(
            outcome(&Error::new(Kind::PoolTimeout, "full")),
            Outcome::Neither
        );
        assert_eq!(outcome(&Error::new(Kind::Usage, "bad")), Outcome::Neither);
    }
}
