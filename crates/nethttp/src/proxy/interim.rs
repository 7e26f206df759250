//! Interim (1xx) responses from the upstream passed on to the client while the final one is
//! awaited: `103 Early Hints` and `102 Processing` reach the browser through the proxy, as
//! with Go's `ReverseProxy`. The client's trace hook hears them ([`Trace::got_1xx_response`])
//! and the server's [`crate::interim`] sender writes them, hop-by-hop fields removed. `100
//! Continue` stays with each hop (the proxy's own server sends it when the body is read) and
//! a `101` is an upgrade's final answer.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use http::request::Parts;
use http::{HeaderMap, StatusCode, Uri};

use super::hop;
use crate::client::{ConnectKey, GotConn, Trace, TraceHook};
use crate::error::Error;
use crate::interim::InterimSender;

/// The trace hook that passes the upstream's interim responses on to the client the handler
/// is answering, when its protocol takes them ([`crate::interim::sender`]); the outbound
/// request goes with it (`Transport::round_trip_traced`), not with it in its extensions,
/// whose map would cost three allocations per request. A trace the request already carries
/// (set by a rewrite hook) is taken out and still hears everything.
pub(crate) fn pass_on(out: &mut Parts) -> Option<TraceHook> {
    let sender = crate::interim::sender()?;
    let inner = out.extensions.remove::<TraceHook>().map(|h| h.0);
    Some(TraceHook(Arc::new(PassOn { sender, inner })))
}

struct PassOn {
    sender: InterimSender,
    inner: Option<Arc<dyn Trace>>,
}

impl Trace for PassOn {
    fn got_1xx_response(&self, status: StatusCode, headers: &HeaderMap) {
        if let Some(t) = &self.inner {
            t.got_1xx_response(status, headers);
        }
        if status == StatusCode::CONTINUE || status == StatusCode::SWITCHING_PROTOCOLS {
            return;
        }
        let mut headers = headers.clone();
        hop::remove(&mut headers);
        // Queued, not awaited: the connection writes it ahead of the final response. A
        // client gone, or an upstream sending more than the queue holds, loses hints only.
        if let Err(e) = self.sender.try_send(status, headers) {
            tracing::debug!(error = %e, %status, "interim response not passed on");
        }
    }

    fn get_conn(&self, key: &ConnectKey) {
        if let Some(t) = &self.inner {
            t.get_conn(key)
        }
    }
    fn got_conn(&self, info: &GotConn) {
        if let Some(t) = &self.inner {
            t.got_conn(info)
        }
    }
    fn dns_start(&self, host: &str) {
        if let Some(t) = &self.inner {
            t.dns_start(host)
        }
    }
    fn dns_done(&self, addrs: &[SocketAddr], err: Option<&io::Error>) {
        if let Some(t) = &self.inner {
            t.dns_done(addrs, err)
        }
    }
    fn connect_start(&self, addr: SocketAddr) {
        if let Some(t) = &self.inner {
            t.connect_start(addr)
        }
    }
    fn connect_done(&self, addr: SocketAddr, err: Option<&io::Error>) {
        if let Some(t) = &self.inner {
            t.connect_done(addr, err)
        }
    }
    fn tls_handshake_start(&self) {
        if let Some(t) = &self.inner {
            t.tls_handshake_start()
        }
    }
    fn tls_handshake_done(&self, alpn: Option<&[u8]>, err: Option<&Error>) {
        if let Some(t) = &self.inner {
            t.tls_handshake_done(alpn, err)
        }
    }
    fn wrote_request(&self, err: Option<&Error>) {
        if let Some(t) = &self.inner {
            t.wrote_request(err)
        }
    }
    fn got_first_response_byte(&self) {
        if let Some(t) = &self.inner {
            t.got_first_response_byte()
        }
    }
    fn redirect(&self, status: StatusCode, next: &Uri) {
        if let Some(t) = &self.inner {
            t.redirect(status, next)
        }
    }
}
