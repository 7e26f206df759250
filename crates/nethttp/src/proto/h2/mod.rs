//! HTTP/2 through the `h2` crate (frames, HPACK, flow control), glued to our `Body` and
//! `Handler`: `server` serves one connection with a task per stream, `client` opens and
//! drives client connections, `recv` and `send` move bodies between `h2` streams and `Body`,
//! `budget` bounds the response data a connection queues, `tunnel` is a stream as a byte
//! stream (CONNECT and extended CONNECT), `preface` checks the server's connection preface.

pub(crate) mod budget;
pub(crate) mod client;
pub(crate) mod preface;
pub(crate) mod recv;
pub(crate) mod send;
pub(crate) mod server;
mod tunnel;

use crate::error::{Error, Kind};

/// The client connection preface (RFC 9113 §3.4): what a plain connection starts with when
/// the client speaks HTTP/2 by prior knowledge.
pub(crate) const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Our error for an `h2` one: I/O failures stay I/O, the rest are HTTP/2 errors — and so is
/// a server's invalid connection preface, which reaches `h2` as an I/O error.
pub(crate) fn error(msg: &'static str, e: h2::Error) -> Error {
    if e.get_io().is_some_and(preface::is_invalid_preface) {
        return Error::with_cause(Kind::Http2, msg, e);
    }
    if e.is_io() {
        let kind = e
            .get_io()
            .map_or(std::io::ErrorKind::Other, std::io::Error::kind);
        let io = e.into_io().unwrap_or_else(|| kind.into());
        return Error::io(msg, io);
    }
    Error::with_cause(Kind::Http2, msg, e)
}
