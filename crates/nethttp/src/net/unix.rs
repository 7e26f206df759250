//! Listening on a Unix domain socket: binding a path (a socket file left behind by a server
//! that is gone is replaced, a live one is not), its permissions set before anyone can
//! connect, the file removed when the listener goes, or a name in Linux's abstract namespace
//! (no file at all); and an `accept` that backs off on temporary errors as the TCP
//! [`Listener`](super::Listener) does.

use std::io;
use std::os::unix::ffi::OsStrExt;
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
    /// The name, for a socket in the abstract namespace.
    abstract_name: Option<Box<[u8]>>,
    /// The socket file's (device, inode), to remove it on drop only if it is still ours.
    owned: Option<(u64, u64)>,
}

impl UnixListener {
    /// Creates, binds and listens on the socket file `path`, as `opts` says. Must be called
    /// inside a tokio runtime.
    ///
    /// A `path` whose first byte is NUL (`"\0app"`) names a socket in Linux's abstract
    /// namespace instead, as std's, tokio's and socket2's addresses take it (and systemd's
    /// and Go's `@app`): no file is made, checked or removed, the name is free again when the
    /// listener closes, and any process in the same network namespace may connect (there
    /// are no file permissions: `mode` is an `InvalidInput` error; check
    /// [`crate::ConnInfo`]'s peer credentials instead).
    ///
    /// Errors: `AddrInUse` when a server is listening on `path` (or holds the abstract name),
    /// `AlreadyExists` when `path` is a file of another kind (or a stale socket and
    /// `replace_stale` is off), and what `bind(2)` reports (a missing directory, no
    /// permission, a path over the 107 bytes a socket address holds).
    pub fn bind(path: impl AsRef<Path>, opts: &UnixBindOptions) -> io::Result<UnixListener> {
        let path = path.as_ref();
        if let Some(name) = path.as_os_str().as_bytes().strip_prefix(b"\0") {
            return Self::bind_abstract(path, name, opts);
        }
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
            abstract_name: None,
            owned,
        })
    }

    /// [`UnixListener::bind`] for an abstract name (`path` is NUL, then `name`).
    fn bind_abstract(path: &Path, name: &[u8], opts: &UnixBindOptions) -> io::Result<Self> {
        if opts.mode.is_some() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "an abstract socket has no file, so no permission bits to set",
            ));
        }
        let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
        socket.set_nonblocking(true)?;
        // socket2 reads the leading NUL as the abstract namespace, and sizes the address to
        // the name (abstract names are not NUL-terminated: "app" and "app\0" differ).
        socket.bind(&SockAddr::unix(path)?)?;
        socket.listen(opts.backlog.min(i32::MAX as u32) as i32)?;
        let std: std::os::unix::net::UnixListener = socket.into();
        Ok(UnixListener {
            inner: tokio::net::UnixListener::from_std(std)?,
            backoff: Backoff::new(),
            path: None,
            abstract_name: Some(name.into()),
            owned: None,
        })
    }

    /// Wraps a listener the caller already bound (one inherited from a supervisor, say). It
    /// is switched to non-blocking mode; its file is never removed by this listener.
    pub fn from_std(listener: std::os::unix::net::UnixListener) -> io::Result<UnixListener> {
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr().ok();
        let path = addr
            .as_ref()
            .and_then(|a| a.as_pathname().map(Path::to_path_buf));
        let abstract_name = addr.as_ref().and_then(abstract_name_of);
        Ok(UnixListener {
            inner: tokio::net::UnixListener::from_std(listener)?,
            backoff: Backoff::new(),
            path,
            abstract_name,
            owned: None,
        })
    }

    /// The socket file's path (`None` for an unnamed or abstract socket).
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The socket's name in Linux's abstract namespace, without the leading NUL (`None` for
    /// a socket file or an unnamed socket).
    pub fn abstract_name(&self) -> Option<&[u8]> {
        self.abstract_name.as_deref()
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

/// The abstract name of an address, where the platform has the namespace.
fn abstract_name_of(addr: &std::os::unix::net::SocketAddr) -> Option<Box<[u8]>> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        #[cfg(target_os = "android")]
        use std::os::android::net::SocketAddrExt;
        #[cfg(target_os = "linux")]
        use std::os::linux::net::SocketAddrExt;
        addr.as_abstract_name().map(Box::from)
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        let _ = addr;
        None
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

    /// A name no other test (or process) uses.
    #[cfg(target_os = "linux")]
    fn abstract_path(what: &str) -> (PathBuf, Vec<u8>) {
        let name = format!("nethttp-test-{}-{what}", std::process::id()).into_bytes();
        let mut path = vec![0u8];
        path.extend_from_slice(&name);
        (PathBuf::from(std::ffi::OsStr::from_bytes(&path)), name)
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn an_abstract_name_binds_without_a_file_and_is_free_again_when_dropped() {
        use std::os::linux::net::SocketAddrExt;
        let (path, name) = abstract_path("bind");
        let mut listener = UnixListener::bind(&path, &UnixBindOptions::default()).unwrap();
        assert_eq!(listener.path(), None);
        assert_eq!(listener.abstract_name(), Some(&name[..]));
        // A client reaches it by the name alone (std's abstract address, not a path).
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(&name).unwrap();
        let client = std::os::unix::net::UnixStream::connect_addr(&addr).unwrap();
        let accepted = listener.accept().await.unwrap();
        assert_eq!(
            accepted.peer_addr().unwrap().as_pathname(),
            None,
            "an unnamed client"
        );
        drop((client, accepted));
        // The name is taken while it listens.
        let e = UnixListener::bind(&path, &UnixBindOptions::default()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AddrInUse, "{e}");
        // Handed over as a std listener (a successor's view), it still knows its name.
        let fd = std::os::fd::AsFd::as_fd(&listener)
            .try_clone_to_owned()
            .unwrap();
        let again = UnixListener::from_std(fd.into()).unwrap();
        assert_eq!(again.abstract_name(), Some(&name[..]));
        drop((again, listener));
        let rebound = UnixListener::bind(&path, &UnixBindOptions::default()).unwrap();
        assert_eq!(rebound.abstract_name(), Some(&name[..]));
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn an_abstract_name_refuses_permission_bits() {
        let (path, _) = abstract_path("mode");
        let opts = UnixBindOptions {
            mode: Some(0o600),
            ..Default::default()
        };
        let e = UnixListener::bind(&path, &opts).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
    }

    #[tokio::test]
    async fn a_path_too_long_for_a_socket_address_is_an_error() {
        let dir = temp_dir();
        let path = dir.path().join("x".repeat(200));
        assert!(UnixListener::bind(&path, &UnixBindOptions::default()).is_err());
    }
}
