//! What a client exchange tells its observers as it goes (the client's trace hooks listen):
//! the request written, an interim (1xx) response, the first response byte. The HTTP/1.1 and HTTP/2 exchanges report the
//! same events.

use crate::error::Error;

/// Observers of an exchange's progress, for tracing.
pub(crate) trait ExchangeEvents: Send + Sync {
    fn wrote_request(&self, err: Option<&Error>);
    fn got_first_response_byte(&self);
    fn got_1xx_response(&self, status: http::StatusCode, headers: &http::HeaderMap);
}
