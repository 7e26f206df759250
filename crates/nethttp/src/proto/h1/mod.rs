//! HTTP/1.1 (RFC 9112), split by job. Server side: `scan` splits a common request head in one
//! pass, `parse` reads and validates a request head (through httparse when `scan` declines),
//! `encode` writes response heads and chunked bodies, `date` caches the Date header, `recv` is
//! the request body a handler reads, `server` is the per-connection state machine and `wait`
//! tells its shutdown watch what it waits for. Client
//! side: `encode_request` writes request heads, `parse_response` reads response heads,
//! `client` runs one exchange on a pooled connection, and `upload` keeps sending a request
//! body while its response streams. Both sides frame bodies with `decode` and take header
//! fields out of httparse with `fields`.

pub(crate) mod client;
pub(crate) mod decode;
pub(crate) mod encode;
pub(crate) mod encode_request;
pub(crate) mod fields;
pub(crate) mod io;
pub(crate) mod parse;
pub(crate) mod parse_response;
pub(crate) mod recv;
pub(crate) mod recycle;
pub(crate) mod scan;
pub(crate) mod server;
pub(crate) mod upload;
pub(crate) mod wait;
