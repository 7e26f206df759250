//! Listening sockets this process inherited instead of binding: systemd's socket activation
//! protocol (sd_listen_fds(3): `LISTEN_FDS` descriptors from fd 3, meant for the process
//! `LISTEN_PID` names when it is set, named by the optional `LISTEN_FDNAMES`), which the
//! hand-over to a successor in `handover` speaks too. The first step of the server path when
//! a supervisor or a predecessor has already bound and listened.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};

use socket2::{Domain, Socket, Type};

/// The first inherited descriptor, as sd_listen_fds(3) fixes it.
pub const LISTEN_FDS_START: RawFd = 3;

/// The most descriptors taken from `LISTEN_FDS`: a larger count is a garbled variable.
const MAX_LISTEN_FDS: RawFd = 1024;

/// The environment variables of the protocol, removed once read.
const VARS: [&str; 3] = ["LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"];

/// Whether the descriptors were taken already: they are owned once per process.
static TAKEN: AtomicBool = AtomicBool::new(false);

/// One inherited listening socket.
#[derive(Debug)]
pub struct InheritedListener {
    /// Its name from `LISTEN_FDNAMES` (systemd's `FileDescriptorName=`), if one was given.
    pub name: Option<String>,
    /// The socket, still in the (blocking) mode it came in: wrap it with
    /// [`super::Listener::from_std`] or [`super::UnixListener::from_std`].
    pub socket: InheritedSocket,
}

/// The kind of an inherited listening socket.
#[derive(Debug)]
pub enum InheritedSocket {
    /// A TCP listener (IPv4 or IPv6).
    Tcp(std::net::TcpListener),
    /// A Unix domain stream listener.
    Unix(std::os::unix::net::UnixListener),
}

/// Takes the listening sockets passed as in sd_listen_fds(3): none when `LISTEN_FDS` is
/// unset, or when `LISTEN_PID` is set to another process's id (the variables were meant for
/// a parent that passed its environment on). `LISTEN_PID` may be absent: a parent that
/// starts its successor cannot know the child's pid before it forks, and setting variables
/// between fork and exec is not safe in a threaded program. The variables are removed in
/// every case, so processes this one starts do not take descriptors that are not theirs;
/// each descriptor gets FD_CLOEXEC for the same reason.
///
/// Call it once, first thing in `main`, before other threads run (it changes the
/// environment) and before anything else in the process could have taken fds from 3 on.
/// A second call returns no sockets. Errors: a `LISTEN_FDS` that is not a count, a
/// descriptor that is not open or is not a listening stream socket.
pub fn inherited_listeners() -> io::Result<Vec<InheritedListener>> {
    let fds = std::env::var("LISTEN_FDS").ok();
    let pid = std::env::var("LISTEN_PID").ok();
    let names = std::env::var("LISTEN_FDNAMES").ok();
    for var in VARS {
        std::env::remove_var(var);
    }
    let Some(fds) = fds else {
        return Ok(Vec::new());
    };
    if let Some(pid) = pid {
        if pid.trim().parse::<u32>().ok() != Some(std::process::id()) {
            tracing::info!(
                listen_pid = %pid,
                "ignoring LISTEN_FDS: LISTEN_PID names another process"
            );
            return Ok(Vec::new());
        }
    }
    let count: RawFd = match fds.trim().parse() {
        Ok(n) if (0..=MAX_LISTEN_FDS).contains(&n) => n,
        _ => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("LISTEN_FDS={fds:?} is not a descriptor count"),
            ))
        }
    };
    if TAKEN.swap(true, Ordering::AcqRel) {
        return Ok(Vec::new());
    }
    let mut names = names.as_deref().unwrap_or("").split(':');
    (LISTEN_FDS_START..LISTEN_FDS_START + count)
        .map(|fd| {
            let name = names.next().filter(|n| !n.is_empty()).map(str::to_owned);
            Ok(InheritedListener {
                name,
                socket: take_listener(fd)?,
            })
        })
        .collect()
}

/// Takes ownership of `fd` if it is an open listening stream socket.
fn take_listener(fd: RawFd) -> io::Result<InheritedSocket> {
    let fd = take_fd(fd, "LISTEN_FDS")?;
    let socket = Socket::from(fd);
    socket.set_cloexec(true)?;
    let listening = socket.r#type()? == Type::STREAM && socket.is_listener()?;
    if !listening {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "an inherited descriptor is not a listening stream socket",
        ));
    }
    match socket.domain()? {
        Domain::IPV4 | Domain::IPV6 => Ok(InheritedSocket::Tcp(socket.into())),
        Domain::UNIX => Ok(InheritedSocket::Unix(socket.into())),
        d => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("an inherited listening socket has an unsupported domain {d:?}"),
        )),
    }
}

/// Owns the inherited descriptor `fd`, after checking it is open. `what` names the variable
/// that passed it, for the error.
pub(super) fn take_fd(fd: RawFd, what: &str) -> io::Result<OwnedFd> {
    // SAFETY: fcntl(F_GETFD) reads the descriptor's flags; it touches no memory of ours and
    // fails with EBADF for a number that is not open.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{what} names fd {fd}, which is not open"),
        ));
    }
    // SAFETY: `fd` is open (checked above) and nothing else in the process owns it: the
    // protocol hands descriptors from 3 on to this process at exec, the callers take them
    // before anything else runs (documented on the public functions), and each is taken at
    // most once (the variables are removed and `TAKEN`/`READY_TAKEN` guard a second call).
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}
