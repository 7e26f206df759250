//! What a connection reports upward, whichever engine serves it: its states (Go's
//! `ConnState`) and addresses (`state`), the shutdown phase it watches (`phase`), the
//! requests refused before a handler (`rejection`), and the per-connection bookkeeping an
//! engine carries (`events`). It sits below both `proto` (the
//! HTTP/1.1 and HTTP/2 engines report through it) and `server` (which creates it per
//! connection and moves the phase), so neither imports the other for it.

mod events;
mod metrics;
mod phase;
mod rejection;
pub(crate) mod spans;
mod state;
pub(crate) mod track;

pub(crate) use events::{Attached, ConnEvents};
pub(crate) use phase::Phase;
pub(crate) use rejection::{request_line, Hook as RejectionHookCfg};
pub use rejection::{Rejection, RejectionHook};
pub(crate) use state::NO_ADDR;
pub use state::{ConnInfo, ConnState, ConnStateHook, Peer, PeerCred};
