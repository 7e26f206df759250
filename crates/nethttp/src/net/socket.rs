//! Socket options applied to every accepted and dialed connection (TCP_NODELAY, keepalive)
//! and the classification of accept errors into "temporary, back off" and "fatal".

use std::io;
use std::time::Duration;

use socket2::{SockRef, TcpKeepalive};
use tokio::net::TcpStream;

/// Options set on each accepted or dialed socket.
#[derive(Debug, Clone)]
pub struct SocketOptions {
    /// TCP_NODELAY. Default: on (responses are written whole, so Nagle only adds latency).
    pub nodelay: bool,
    /// TCP keepalive idle time before the first probe. Default: 15 s, like Go's
    /// `net.ListenConfig`. `None` turns keepalive off.
    pub keepalive: Option<Duration>,
}

impl Default for SocketOptions {
    fn default() -> Self {
        SocketOptions {
            nodelay: true,
            keepalive: Some(Duration::from_secs(15)),
        }
    }
}

impl SocketOptions {
    /// Applies the options; failures are returned but callers treat them as non-fatal.
    pub fn apply(&self, stream: &TcpStream) -> io::Result<()> {
        if self.nodelay {
            stream.set_nodelay(true)?;
        }
        if let Some(idle) = self.keepalive {
            let ka = TcpKeepalive::new().with_time(idle).with_interval(idle);
            SockRef::from(stream).set_tcp_keepalive(&ka)?;
        }
        Ok(())
    }
}

/// Whether bytes are waiting to be read on `fd`, without consuming them (a non-blocking
/// `MSG_PEEK`). Used before closing a connection thought idle: a request that already
/// arrived must be answered, not dropped with the connection.
pub(crate) fn has_pending_input(fd: std::os::fd::RawFd) -> bool {
    let mut byte = 0u8;
    // SAFETY: `recv` writes at most 1 byte into `byte`, which outlives the call; an invalid
    // or closed fd only makes it return -1.
    let n = unsafe {
        libc::recv(
            fd,
            (&mut byte as *mut u8).cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    n > 0
}

/// What a non-blocking look at a connected socket shows, consuming nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PeerState {
    /// Nothing to read, and the peer has not closed: the connection is as it was left.
    Silent,
    /// Bytes are waiting.
    Data,
    /// The peer closed its side (FIN), or reset the connection (RST), or the socket failed.
    Closed,
}

/// Asks the kernel, with one non-blocking `recv(MSG_PEEK)`, whether the peer of `fd` sent
/// anything or closed. Unlike the runtime's readiness, which lags until its reactor next
/// polls, this sees a FIN or RST the moment the kernel has it.
pub(crate) fn peer_state(fd: std::os::fd::RawFd) -> PeerState {
    let mut byte = 0u8;
    // SAFETY: `recv` writes at most 1 byte into `byte`, which outlives the call; an invalid
    // or closed fd only makes it return -1.
    let n = unsafe {
        libc::recv(
            fd,
            (&mut byte as *mut u8).cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    match n {
        0 => PeerState::Closed,
        n if n > 0 => PeerState::Data,
        _ => match io::Error::last_os_error().kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => PeerState::Silent,
            _ => PeerState::Closed,
        },
    }
}

/// Whether the peer of `fd` has closed its sending side or the connection failed (FIN, RST),
/// asked with a non-blocking `poll(POLLRDHUP)`: unlike a peek, it sees a FIN behind data
/// not yet read.
pub(crate) fn peer_hung_up(fd: std::os::fd::RawFd) -> bool {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLRDHUP,
        revents: 0,
    };
    // SAFETY: one valid `pollfd` that outlives the call; a zero timeout never blocks.
    let n = unsafe { libc::poll(&mut pfd, 1, 0) };
    n > 0 && pfd.revents & (libc::POLLRDHUP | libc::POLLHUP | libc::POLLERR) != 0
}

/// Copies the bytes waiting on `fd` into `buf` without consuming them (`recv(MSG_PEEK)`,
/// non-blocking): `WouldBlock` when none are there, `Ok(0)` when the peer closed.
pub(crate) fn peek_now(fd: std::os::fd::RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `recv` writes at most `buf.len()` bytes into `buf`, which outlives the call; an
    // invalid or closed fd only makes it return -1.
    let n = unsafe {
        libc::recv(
            fd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

/// Writes `buf` to the socket `fd` (non-blocking) telling the kernel more follows at once
/// (`MSG_MORE`): TCP holds a part-filled segment for the next send instead of pushing it.
pub(crate) fn send_more(fd: std::os::fd::RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `send` reads at most `buf.len()` bytes from `buf`, which outlives the call; an
    // invalid or closed fd only makes it return -1.
    let n = unsafe {
        libc::send(
            fd,
            buf.as_ptr().cast(),
            buf.len(),
            libc::MSG_MORE | libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
        )
    };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

/// Sends up to `len` bytes of the file `file` from `offset` to the socket `sock` with
/// `sendfile(2)` (non-blocking on the socket's side): how many went, `WouldBlock` when the
/// socket's buffer is full, `Ok(0)` when the file ends at `offset`.
pub(crate) fn send_file(
    sock: std::os::fd::RawFd,
    file: std::os::fd::RawFd,
    offset: u64,
    len: usize,
) -> io::Result<usize> {
    let mut off = libc::off_t::try_from(offset)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "file offset out of range"))?;
    // At most this much per call (Linux sends no more than 0x7ffff000 bytes per call anyway).
    let len = len.min(1 << 30);
    // SAFETY: `sendfile` reads `off` and writes the advanced offset back through the pointer,
    // which points at a live local for the whole call; it touches no other memory of ours.
    // Invalid or closed descriptors only make it return -1.
    let n = unsafe { libc::sendfile(sock, file, &mut off, len) };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

/// Whether an `accept(2)` error is temporary: the listener is fine and the loop should back
/// off and try again. Resource exhaustion (EMFILE, ENFILE, ENOBUFS, ENOMEM) clears when other
/// connections close; a connection reset or aborted before we accepted it (ECONNABORTED,
/// ECONNRESET, EPROTO, EPERM from a firewall) concerns only that connection.
pub fn is_temporary_accept_error(err: &io::Error) -> bool {
    match err.raw_os_error() {
        Some(code) => matches!(
            code,
            libc::EMFILE
                | libc::ENFILE
                | libc::ENOBUFS
                | libc::ENOMEM
                | libc::ECONNABORTED
                | libc::ECONNRESET
                | libc::EPROTO
                | libc::EPERM
                | libc::EINTR
                | libc::EAGAIN
                | libc::ENETDOWN
                | libc::ENOPROTOOPT
                | libc::EHOSTDOWN
                | libc::ENONET
                | libc::EHOSTUNREACH
                | libc::EOPNOTSUPP
                | libc::ENETUNREACH
                | libc::ETIMEDOUT
        ),
        None => matches!(
            err.kind(),
            io::ErrorKind::ConnectionAborted
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::Interrupted
                | io::ErrorKind::WouldBlock
                | io::ErrorKind::TimedOut
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fd_exhaustion_is_temporary() {
        for code in [
            libc::EMFILE,
            libc::ENFILE,
            libc::ENOBUFS,
            libc::ENOMEM,
            libc::ECONNABORTED,
        ] {
            assert!(
                is_temporary_accept_error(&io::Error::from_raw_os_error(code)),
                "{code}"
            );
        }
    }

    #[test]
    fn bad_descriptor_is_fatal() {
        assert!(!is_temporary_accept_error(&io::Error::from_raw_os_error(
            libc::EBADF
        )));
        assert!(!is_temporary_accept_error(&io::Error::from_raw_os_error(
            libc::EINVAL
        )));
    }
}
