//! Where a server (or a connection served on its own) is in its life: running, draining
//! after a graceful shutdown began, or closing. Connection engines watch it through a
//! `tokio::sync::watch` receiver; the server's handle moves it, forward only.

/// Where the server is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Running,
    /// No new connections; connections close after their current response.
    Draining,
    /// Every connection closes now.
    Closing,
}
