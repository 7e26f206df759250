//! What the client is told when the upstream exchange fails: `502 Bad Gateway` when the
//! upstream could not be reached or broke the protocol, `504 Gateway Timeout` when it did not
//! answer in time (RFC 9110 §15.6.3, §15.6.5), `400` when the client's own request body was
//! the failure; and the hook that replaces that answer.

use std::sync::Arc;

use http::StatusCode;

use crate::error::{Error, Kind};
use crate::handler::{text_response, HttpResponse};

/// The error hook of [`super::ReverseProxyBuilder::error_handler`]: turns a failed upstream
/// exchange into the response the client gets (Go's `ReverseProxy.ErrorHandler`).
pub type ErrorHandler = Arc<dyn Fn(&Error) -> HttpResponse + Send + Sync>;

/// The status a failed upstream exchange is answered with.
///
/// - a deadline of the exchange (connect, a connection from the pool, the response head, the
///   total): `504 Gateway Timeout`;
/// - the inbound request's own body failed (malformed, too slow, over the limit, the client
///   went away): `400 Bad Request` (the server replaces it with `413` for a body over its
///   limit, and writes nothing to a client that left);
/// - anything else (refused or failed dial, TLS, a response that is not valid HTTP, the
///   upstream closing or resetting mid-exchange): `502 Bad Gateway`.
pub fn status_for(err: &Error) -> StatusCode {
    if err.is_timeout() {
        return StatusCode::GATEWAY_TIMEOUT;
    }
    match err.kind() {
        Kind::Body if err.cause().is_some_and(|c| c.is::<InboundBodyFailed>()) => {
            StatusCode::BAD_REQUEST
        }
        _ => StatusCode::BAD_GATEWAY,
    }
}

/// The default error hook: logs the error (at debug when the client's own body failed, at
/// warn otherwise) and answers [`status_for`]'s status with a short text body that names the
/// kind of failure, never the upstream's address.
pub fn default_error_response(err: &Error) -> HttpResponse {
    let status = status_for(err);
    if status == StatusCode::BAD_REQUEST {
        tracing::debug!(error = %err, "proxy: the client's request body failed");
    } else {
        tracing::warn!(error = %err, kind = %err.kind(), "proxy: upstream exchange failed");
    }
    let reason = status.canonical_reason().unwrap_or("error");
    text_response(status, format!("{reason}\n"))
}

/// The cause the proxy gives a failure of the inbound request body, so the error hook can
/// tell it from an upstream failure ([`status_for`] answers it `400`).
#[derive(Debug)]
pub(crate) struct InboundBodyFailed(pub Error);

impl std::fmt::Display for InboundBodyFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the client's request body failed: {}", self.0)
    }
}

impl std::error::Error for InboundBodyFailed {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_502_504_and_400() {
        let cases = [
            (Error::new(Kind::Connect, "refused"), 502),
            (Error::new(Kind::ConnectTimeout, "slow dial"), 504),
            (Error::new(Kind::ResponseHeaderTimeout, "silent"), 504),
            (Error::new(Kind::PoolTimeout, "busy"), 504),
            (Error::new(Kind::Parse, "bad response"), 502),
            (Error::new(Kind::IncompleteMessage, "closed"), 502),
            (Error::new(Kind::Http2, "reset"), 502),
            (Error::user("a producer failed"), 502),
            (
                Error::user(InboundBodyFailed(Error::new(Kind::Parse, "bad chunk"))),
                400,
            ),
        ];
        for (err, want) in cases {
            assert_eq!(status_for(&err).as_u16(), want, "{err:?}");
        }
    }
}
