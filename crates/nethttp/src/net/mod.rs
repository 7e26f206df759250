//! The socket layer: binding and listening (TCP, and Unix domain sockets) with an explicit
//! backlog, listeners inherited from a supervisor or handed to a successor, the accept loop's temporary-error backoff, the `Accept` trait any listener serves
//! through, options on accepted sockets, name resolution and dialing out, and watching a
//! connection's writes for a peer that stopped reading. Knows nothing of HTTP.

mod accept;
mod dialer;
mod handover;
mod inherit;
mod listener;
mod resolve;
mod socket;
pub(crate) mod stall;
pub(crate) mod tcp_info;
mod unix;

pub use accept::Accept;
pub use dialer::{DialEvents, Dialer};
pub use handover::{ready_notifier, spawn_successor, ReadyNotifier, Successor, READY_FD_VAR};
pub use inherit::{inherited_listeners, InheritedListener, InheritedSocket, LISTEN_FDS_START};
pub use listener::{Backoff, BindOptions, Listener};
pub(crate) use resolve::Overrides;
pub use resolve::{Resolve, Resolving, SystemResolver};
pub(crate) use socket::{
    has_pending_input, peek_now, peer_hung_up, peer_state, send_file, send_more, PeerState,
};
pub use socket::{is_temporary_accept_error, SocketOptions};
pub use unix::{UnixBindOptions, UnixListener};
