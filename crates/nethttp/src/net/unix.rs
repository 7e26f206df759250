//! Listening on a Unix domain socket: binding a path (a socket file left behind by a server
//! that is gone is replaced, a live one is not), its permissions set before anyone can
//! connect, the file removed when the listener goes, and an `accept` that backs off on
//! temporary errors as the TCP [`Listener`](super::Listener) does.

use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use socket2::{Domain, SockAddr, Socket, Type};
use tokio::net::UnixStream;

use super::listener::Backoff;
use super::socket::is_temporary_accept_error;
use super::Accept;

/// How to create a listening Unix domain socket.
#[derive(Debug, Clone)]
pub struct UnixBindOptions {
    /// The `listen(2)` backlog. Default: 1024.
    pub backlog: u32,
    /// The socket file's permission bits (`0o660` lets the owner and the group connect).
    /// Set between `bind(2)` and `listen(2)`, so no client connects while the file has the
    /// process umask's permissions. Default: `None`, whatever the umask gives.
    pub mode: Option<u32>,
    /// Remove a socket file at the path that nothing listens on any more (left by a server
    /// that crashed) before binding. A file that is not a socket is never removed, and a
    /// socket something still listens on is an `AddrInUse` error. Default: on.
    pub replace_stale: bool,
    /// Remove the socket file when the listener is dropped, if it is still the one this
    /// listener created (a newer server's socket at the same path is left alone).
    /// Default: on.
    pub remove_on_drop: bool,
}

impl Default for UnixBindOptions {
    fn default() -> Self {
        UnixBindOptions {
            backlog: 1024,
            mode: None,
            replace_stale: true,
            remove_on_drop: true,
        }
    }
}

/// A listening Unix domain socket whose `accept` never fails on a temporary error. Serve it
/// with [`crate::Server::serve`]: its connections get everything the TCP ones do except
/// the TCP socket options, and requests learn the peer's credentials through
/// [`crate::ConnInfo`].
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// use nethttp::net::{UnixBindOptions, UnixListener};
/// let opts = UnixBindOptions { mode: Some(0o660), ..Default::default() };
/// let listener = UnixListener::bind("/run/app/http.sock", &opts)?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct UnixListener {
    inner: tokio::net::UnixListener,
    backoff: Backoff,
    path: Option<PathBuf>,
    /// The socket file's (device, inode), to remove it on drop only if it is still ours.
    owned: Option<(u64, u64)>,
}

impl UnixListener {
    /// Creates, binds and listens on the socket file `path`, as `opts` says. Must be called
    /// inside a tokio runtime.
    ///
    /// Errors: `AddrInUse` when a server is listening on `path`, `AlreadyExists` when `path`
    /// is a file of another kind (or a stale socket and `replace_stale` is off), and what
    /// `bind(2)` reports (a missing directory, no permission, a path over the 107 bytes a
    /// socket address holds).
    pub fn bind(path: impl AsRef<Path>, opts: &UnixBindOptions) -> io::Result<UnixListener> {
        let path = path.as_ref();
        clear_path(path, opts.replace_stale)?;
        let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
        socket.set_nonblocking(true)?;
        socket.bind(&SockAddr::unix(path)?)?;
        let meta = std::fs::symlink_metadata(path)?;
        let owned = opts.remove_on_drop.then(|| (meta.dev(), meta.ino()));
        let listening = (|| {
            if let Some(mode) = opts.mode {
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
            }
            socket.listen(opts.backlog.min(i32::MAX as u32) as i32)
        })();
        if let Err(e) = listening {
            let _ = std::fs::remove_file(path);
            return Err(e);
        }
        let std: std::os::unix::net::UnixListener = socket.into();
        Ok(UnixListener {
            inner: tokio::net::UnixListener::from_std(std)?,
            backoff: Backoff::new(),
            path: Some(path.to_path_buf()),
            owned,
        })
    }

    /// Wraps a listener the caller already bound (one inherited from a supervisor, say). It
    /// is switched to non-blocking mode; its file is never removed by this listener.
    pub fn from_std(listener: std::os::unix::net::UnixListener) -> io::Result<UnixListener> {
        listener.set_nonblocking(true)?;
        let path = listener
            .local_addr()
            .ok()
            .and_then(|a| a.as_pathname().map(Path::to_path_buf));
        Ok(UnixListener {
            inner: tokio::net::UnixListener::from_std(listener)?,
            backoff: Backoff::new(),
            path,
            owned: None,
        })
    }

    /// The socket file's path (`None` for an unnamed or abstract socket).
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Accepts the next connection. Temporary errors (descriptor exhaustion) are logged and
    /// retried after a backoff; only errors that mean the listener itself is broken are
    /// returned.
    pub async fn accept(&mut self) -> io::Result<UnixStream> {
        loop {
            match self.inner.accept().await {
                Ok((stream, _)) => {
                    self.backoff.reset();
                    return Ok(stream);
                }
                Err(e) if is_temporary_accept_error(&e) => {
                    let delay = self.backoff.fail();
                    tracing::warn!(error = %e, ?delay, "accept failed; retrying after backoff");
                    tokio::time::sleep(delay).await;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

impl Drop for UnixListener {
    fn drop(&mut self) {
        let (Some(path), Some((dev, ino))) = (&self.path, self.owned) else {
            return;
        };
        // Only our own file: a server started since may have replaced it with its socket.
        if let Ok(meta) = std::fs::symlink_metadata(path) {
            if meta.dev() == dev && meta.ino() == ino {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

/// The listening socket, to pass to a successor process (see [`super::spawn_successor`]).
impl std::os::fd::AsFd for UnixListener {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        std::os::fd::AsFd::as_fd(&self.inner)
    }
}

impl Accept for UnixListener {
    type Io = UnixStream;

    const UNIX_ONLY: bool = true;

    async fn accept(&mut self) -> io::Result<(UnixStream, Option<std::net::SocketAddr>)> {
        Ok((UnixListener::accept(self).await?, None))
    }
}

/// Makes `path` free to bind: nothing there, or a stale socket removed when allowed.
fn clear_path(path: &Path, replace_stale: bool) -> io::Result<()> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if !meta.file_type().is_socket() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} exists and is not a socket", path.display()),
        ));
    }
    match std::os::unix::net::UnixStream::connect(path) {
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!("a server is listening on {}", path.display()),
        )),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
            if !replace_stale {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{} is a stale socket file", path.display()),
                ));
            }
            tracing::info!(path = %path.display(), "removing a stale socket file");
            match std::fs::remove_file(path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            }
        }
        // Anything else (no permission to connect, say) is left for bind to report.
        Err(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }

    #[tokio::test]
    async fn binds_sets_the_mode_before_listening_and_removes_its_file() {
        let dir = temp_dir();
        let path = dir.path().join("s.sock");
        let opts = UnixBindOptions {
            mode: Some(0o600),
            ..Default::default()
        };
        let listener = UnixListener::bind(&path, &opts).unwrap();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        assert!(meta.file_type().is_socket());
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(listener.path(), Some(path.as_path()));
        drop(listener);
        assert!(!path.exists(), "socket file left behind");
    }

    #[tokio::test]
    async fn a_stale_socket_is_replaced_and_a_live_one_is_in_use() {
        let dir = temp_dir();
        let path = dir.path().join("s.sock");
        // A socket file nothing listens on: what a crashed server leaves.
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        assert!(path.exists());
        let keep = UnixBindOptions {
            replace_stale: false,
            ..Default::default()
        };
        let e = UnixListener::bind(&path, &keep).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists, "{e}");
        let live = UnixListener::bind(&path, &UnixBindOptions::default()).unwrap();
        let e = UnixListener::bind(&path, &UnixBindOptions::default()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AddrInUse, "{e}");
        assert!(path.exists(), "the live socket's file was removed");
        drop(live);
    }

    #[tokio::test]
    async fn a_file_that_is_not_a_socket_is_never_removed() {
        let dir = temp_dir();
        let path = dir.path().join("data");
        std::fs::write(&path, b"keep me").unwrap();
        let e = UnixListener::bind(&path, &UnixBindOptions::default()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists, "{e}");
        assert_eq!(std::fs::read(&path).unwrap(), b"keep me");
    }

    #[tokio::test]
    async fn a_newer_servers_socket_survives_the_old_listener() {
        let dir = temp_dir();
        let path = dir.path().join("s.sock");
        let old = UnixListener::bind(&path, &UnixBindOptions::default()).unwrap();
        // The new server takes the path over (as a restart that unlinks first would).
        std::fs::remove_file(&path).unwrap();
        let new = UnixListener::bind(&path, &UnixBindOptions::default()).unwrap();
        drop(old);
        assert!(
            path.exists(),
            "the old listener removed the new one's socket"
        );
        drop(new);
        assert!(!path.exists());
    }

    #[tokio::test]
    async fn a_path_too_long_for_a_socket_address_is_an_error() {
        let dir = temp_dir();
        let path = dir.path().join("x".repeat(200));
        assert!(UnixListener::bind(&path, &UnixBindOptions::default()).is_err());
    }
}
