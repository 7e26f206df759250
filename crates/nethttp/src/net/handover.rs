//! Handing listening sockets to a successor process, as nginx's binary upgrade does: the
//! successor is started with the sockets as fds 3.. and `LISTEN_FDS` (the socket activation
//! protocol `inherit` reads), plus the write end of a readiness pipe; it says `READY=1` on
//! the pipe once it serves, and only then does the predecessor stop accepting. Both share
//! one socket (one accept queue), so no connection is refused or reset in between.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;

use super::inherit::{take_fd, LISTEN_FDS_START};

/// The variable that tells a successor which descriptor is its readiness pipe.
pub const READY_FD_VAR: &str = "NETHTTP_READY_FD";

/// The line a successor writes when it is ready (systemd's sd_notify word).
const READY: &[u8] = b"READY=1\n";

/// Whether the readiness pipe was taken already.
static READY_TAKEN: AtomicBool = AtomicBool::new(false);

/// A successor process started with inherited listeners, not yet known to be ready.
#[derive(Debug)]
pub struct Successor {
    child: std::process::Child,
    ready: pipe::Receiver,
}

/// Starts `cmd` with `listeners` as its fds 3, 4, ... (`LISTEN_FDS` set to their count,
/// `LISTEN_PID` and `LISTEN_FDNAMES` removed) and a readiness pipe after them
/// ([`READY_FD_VAR`]). Only the child gets the descriptors without FD_CLOEXEC: this
/// process's copies keep it, so nothing else it starts inherits them. Must be called inside
/// a tokio runtime.
pub fn spawn_successor(
    cmd: &mut std::process::Command,
    listeners: &[BorrowedFd<'_>],
) -> io::Result<Successor> {
    let count = RawFd::try_from(listeners.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "too many listeners"))?;
    let ready_target = LISTEN_FDS_START + count;
    // Copies numbered above every target, so no dup2 in the child overwrites a source it
    // has not copied yet.
    let above = ready_target + 1;
    let mut sources = listeners
        .iter()
        .map(|fd| dup_above(fd.as_raw_fd(), above))
        .collect::<io::Result<Vec<OwnedFd>>>()?;
    let (read, write) = pipe_cloexec()?;
    sources.push(dup_above(write.as_raw_fd(), above)?);
    drop(write);
    let moves: Vec<(RawFd, RawFd)> = sources
        .iter()
        .zip(LISTEN_FDS_START..)
        .map(|(src, target)| (src.as_raw_fd(), target))
        .collect();
    cmd.env("LISTEN_FDS", count.to_string())
        .env_remove("LISTEN_PID")
        .env_remove("LISTEN_FDNAMES")
        .env(READY_FD_VAR, ready_target.to_string());
    // SAFETY: the closure runs in the forked child before exec, where only async-signal-safe
    // calls are allowed: it calls dup2(2) alone (on the signal-safety(7) list), reads `moves`,
    // allocated before the fork, and allocates nothing (`last_os_error` is a plain code).
    // Each source is open in the child: fork copied the descriptor table, and `sources`
    // keeps this process's copies open until `spawn` has returned. dup2 gives the target no
    // FD_CLOEXEC, so it survives exec; what a target number held in the child is closed by
    // dup2, and held only this process's FD_CLOEXEC descriptors, which exec would close
    // anyway (if one was std's exec-error pipe, a failed exec shows as a successor that
    // exited before it was ready instead of as a spawn error).
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(cmd, move || {
            for &(src, target) in &moves {
                if libc::dup2(src, target) < 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let child = cmd.spawn()?;
    // This process's copies of the pipe's write end must go, or EOF never comes.
    drop(sources);
    Ok(Successor {
        child,
        ready: pipe::Receiver::from_owned_fd(read)?,
    })
}

impl Successor {
    /// The successor's process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Waits up to `within` for the successor to say it is ready, and returns its pid. If
    /// it exits, closes the pipe, or is not ready in time, it is killed (it may hold the
    /// listeners half set up) and reaped, and the error says which.
    pub async fn wait_ready(mut self, within: Duration) -> io::Result<u32> {
        let pid = self.child.id();
        let said = tokio::time::timeout(within, read_ready(&mut self.ready)).await;
        let why = match said {
            Ok(Ok(true)) => return Ok(pid),
            Ok(Ok(false)) => "closed its readiness pipe without saying READY=1".to_owned(),
            Ok(Err(e)) => format!("readiness pipe failed: {e}"),
            Err(_) => format!("was not ready within {within:?}"),
        };
        let _ = self.child.kill();
        let status = reap(&mut self.child).await;
        Err(io::Error::other(format!(
            "successor {pid} {why} (exit: {status})"
        )))
    }
}

/// Waits (bounded: 5 s, polling) for a killed child to exit, and says how it ended.
async fn reap(child: &mut std::process::Child) -> String {
    for _ in 0..500 {
        match child.try_wait() {
            Ok(Some(status)) => return status.to_string(),
            Ok(None) => tokio::time::sleep(Duration::from_millis(10)).await,
            Err(e) => return e.to_string(),
        }
    }
    "still running".to_owned()
}

/// Reads the pipe until `READY=1` (true) or EOF (false).
async fn read_ready(pipe: &mut pipe::Receiver) -> io::Result<bool> {
    let mut got = Vec::new();
    let mut buf = [0u8; 64];
    loop {
        let n = pipe.read(&mut buf).await?;
        if n == 0 {
            return Ok(false);
        }
        got.extend_from_slice(&buf[..n]);
        if got.windows(READY.len()).any(|w| w == READY) {
            return Ok(true);
        }
        if got.len() > 4096 {
            return Ok(false);
        }
    }
}

/// The readiness pipe a predecessor passed ([`READY_FD_VAR`]): tell it when serving.
#[derive(Debug)]
pub struct ReadyNotifier {
    fd: OwnedFd,
}

/// Takes the readiness pipe a predecessor passed, if any, and removes [`READY_FD_VAR`] from
/// the environment. Call it with [`super::inherited_listeners`], first thing in `main`,
/// before other threads run. Errors: the variable names no open pipe.
pub fn ready_notifier() -> io::Result<Option<ReadyNotifier>> {
    let var = std::env::var(READY_FD_VAR).ok();
    std::env::remove_var(READY_FD_VAR);
    let Some(var) = var else { return Ok(None) };
    let fd: RawFd = var.trim().parse().map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{READY_FD_VAR}={var:?} is not a descriptor"),
        )
    })?;
    if fd < LISTEN_FDS_START || READY_TAKEN.swap(true, Ordering::AcqRel) {
        return Ok(None);
    }
    let fd = take_fd(fd, READY_FD_VAR)?;
    let file = std::fs::File::from(fd);
    let meta = file.metadata()?;
    if !std::os::unix::fs::FileTypeExt::is_fifo(&meta.file_type()) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{READY_FD_VAR} names fd {var}, which is not a pipe"),
        ));
    }
    let fd = OwnedFd::from(file);
    set_cloexec(fd.as_raw_fd())?;
    Ok(Some(ReadyNotifier { fd }))
}

impl ReadyNotifier {
    /// Says `READY=1` and closes the pipe. A predecessor that is gone is not an error.
    pub fn notify(self) -> io::Result<()> {
        use std::io::Write;
        let mut file = std::fs::File::from(self.fd);
        match file.write_all(READY) {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
            r => r,
        }
    }
}

/// A copy of `fd` numbered `min` or above, with FD_CLOEXEC.
fn dup_above(fd: RawFd, min: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: fcntl(F_DUPFD_CLOEXEC) reads no memory of ours; `fd` is borrowed open.
    let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, min) };
    if new < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `new` was just returned by fcntl, open, and owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// A pipe (read end, write end), both with FD_CLOEXEC.
fn pipe_cloexec() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: pipe2 writes two descriptors into the two-element array it is given.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both were just created by pipe2 and are owned by nothing else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

fn set_cloexec(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl(F_SETFD) changes a flag of an open descriptor; no memory is involved.
    if unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_successor_that_exits_is_reported_and_one_that_says_ready_is_not() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let fd = std::os::fd::AsFd::as_fd(&listener);
        let mut cmd = std::process::Command::new("sh");
        cmd.args(["-c", "exit 3"]);
        let e = spawn_successor(&mut cmd, &[fd])
            .unwrap()
            .wait_ready(Duration::from_secs(10))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("without saying READY=1"), "{e}");
        // The shell sees the listener as fd 3 and the pipe as fd 4.
        let mut cmd = std::process::Command::new("sh");
        cmd.args([
            "-c",
            r#"[ "$LISTEN_FDS" = 1 ] && [ -e /proc/self/fd/3 ] && printf 'READY=1\n' >&$NETHTTP_READY_FD"#,
        ]);
        let pid = spawn_successor(&mut cmd, &[fd])
            .unwrap()
            .wait_ready(Duration::from_secs(10))
            .await
            .unwrap();
        assert!(pid > 0);
    }
}
