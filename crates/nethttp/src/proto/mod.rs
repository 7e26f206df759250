//! Protocol engines, over any connection IO. `h1` is the HTTP/1.1 codec and connection state
//! machine; `h2` is the glue between the `h2` crate and our `Body`/`Handler` types. `io` is the
//! connection IO they take, with TCP-only tricks as optional capabilities, and `sniff` tells
//! which of them a plain connection speaks. What both engines share lives beside them, one
//! file each: `host` (the authority a request names), `accept_encoding` (the codings a
//! request takes), `trailers` (which fields may
//! be trailers), `date` (the cached `Date` value), `rate` (the minimum body data rate),
//! `timeout` (deadlines armed only when needed), and `events` (what a client exchange tells
//! its observers). The rest of the crate talks to them through `Handler` and `Body`.

pub(crate) mod accept_encoding;
pub(crate) mod date;
pub(crate) mod events;
pub(crate) mod h1;
pub(crate) mod h2;
pub(crate) mod host;
pub(crate) mod io;
pub(crate) mod rate;
pub(crate) mod sniff;
pub(crate) mod swar;
pub(crate) mod timeout;
pub(crate) mod trailers;
