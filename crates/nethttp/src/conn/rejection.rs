//! What a server reports of a request it answered itself, before any handler saw it (a
//! malformed head, a head too large, one that did not arrive in time): for access logs and
//! alerts, which otherwise never hear of such requests.

use std::net::SocketAddr;
use std::sync::Arc;

use http::StatusCode;

/// A request the server refused before any handler saw it, as
/// [`crate::Server::rejection_hook`] is told of it. The connection closes after the answer.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Rejection<'a> {
    /// The client's address (after a PROXY header, the one it names); `None` when the peer
    /// has no IP address (a Unix socket).
    pub remote: Option<SocketAddr>,
    /// The status answered: `400`, `408`, `413`, `414`, `431`, `501`, `505`. (An HTTP/2
    /// request that is malformed is reset, not answered, and told as `400`.)
    pub status: StatusCode,
    /// Why, in a few words (the answer's body, without its newline).
    pub reason: &'static str,
    /// The request line as it came, without its line end, or as much of it as came (at most
    /// [`Rejection::MAX_LINE`] bytes); empty when nothing came that looks like one. Over
    /// HTTP/2, made from the pseudo-header fields (`GET /x HTTP/2.0`). Bytes the client
    /// chose: escape them before writing them anywhere.
    pub request_line: &'a [u8],
    /// The length of the answer's body.
    pub body_bytes: u64,
}

impl Rejection<'_> {
    /// The most of a request line a rejection carries.
    pub const MAX_LINE: usize = 2048;
}

/// A callback told of every request a server refuses before its handler: see
/// [`crate::Server::rejection_hook`]. It runs on the connection's task: keep it short and
/// never block.
pub type RejectionHook = Arc<dyn Fn(&Rejection<'_>) + Send + Sync>;

/// A [`RejectionHook`] in a configuration that is `Debug`.
#[derive(Clone)]
pub(crate) struct Hook(pub(crate) RejectionHook);

impl std::fmt::Debug for Hook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RejectionHook")
    }
}

/// The request line at the start of `buf` (a head as far as it came), without its line end,
/// cut at [`Rejection::MAX_LINE`].
pub(crate) fn request_line(buf: &[u8]) -> &[u8] {
    // RFC 9112 §2.2: empty lines before the request line are ignored.
    let start = buf
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(buf.len());
    let line = &buf[start..];
    let end = line
        .iter()
        .take(Rejection::MAX_LINE)
        .position(|&b| b == b'\n')
        .unwrap_or(line.len().min(Rejection::MAX_LINE));
    let line = &line[..end];
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_line_as_it_came() {
        assert_eq!(
            request_line(b"GET / HTTP/1.1\r\nHost: x\r\n"),
            b"GET / HTTP/1.1"
        );
        assert_eq!(
            request_line(b"\r\n\r\nGET /a HTTP/1.1\nX"),
            b"GET /a HTTP/1.1"
        );
        assert_eq!(request_line(b"GET /unfinished"), b"GET /unfinished");
        assert_eq!(request_line(b""), b"");
        assert_eq!(request_line(b"\r\n"), b"");
        let long = [b'a'; 5000];
        assert_eq!(request_line(&long).len(), Rejection::MAX_LINE);
    }
}
