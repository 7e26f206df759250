//! Protocol engines. `h1` is the HTTP/1.1 codec and connection state machine; the rest of the
//! crate talks to it through `Handler` and `Body`.

pub(crate) mod h1;
