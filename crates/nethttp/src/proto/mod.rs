//! Protocol engines. `h1` is the HTTP/1.1 codec and connection state machine; `h2` is the glue
//! between the `h2` crate and our `Body`/`Handler` types. What both apply to the fields they
//! carry lives beside them: `host` (the authority a request names) and `trailers` (which fields
//! may be trailers). The rest of the crate talks to them through `Handler` and `Body`.

pub(crate) mod date;
pub(crate) mod h1;
pub(crate) mod h2;
pub(crate) mod host;
pub(crate) mod trailers;
