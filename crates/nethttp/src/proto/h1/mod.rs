//! HTTP/1.1 (RFC 9112), split by job: `parse` reads and validates a request head, `decode`
//! frames request bodies (Content-Length, chunked), `encode` writes response heads and chunked
//! bodies, `date` caches the Date header, `recv` is the request body a handler reads, and
//! `server` is the per-connection state machine that ties them together.

pub(crate) mod date;
pub(crate) mod decode;
pub(crate) mod encode;
pub(crate) mod io;
pub(crate) mod parse;
pub(crate) mod pool;
pub(crate) mod recv;
pub(crate) mod server;
