//! A server command's hand-over on SIGUSR2 (`serve`, `proxy`), nginx's binary upgrade: start
//! a successor (the program at the path this process was started from, so a replaced binary
//! is the one that runs, with the same arguments) that inherits the listening sockets, and
//! wait, bounded, until it says it serves. The caller then drains and exits; if the
//! successor fails, the caller keeps serving.

use std::ffi::OsString;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Duration;

/// How long a successor may take to start serving before it is given up (and killed).
pub const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// How to start this program again.
#[derive(Debug)]
pub struct Relaunch {
    program: OsString,
    args: Vec<OsString>,
}

impl Relaunch {
    /// This process's own command line. The program is argv[0] as given (looked up on `PATH`
    /// when it has no slash), not /proc/self/exe, which keeps naming the old binary after
    /// the file was replaced. A relative argv[0] works as long as the working directory does
    /// not change, and `serve` never changes it.
    pub fn from_env() -> Relaunch {
        let mut argv = std::env::args_os();
        let program = argv.next().unwrap_or_else(|| "nethttp".into());
        Relaunch {
            program,
            args: argv.collect(),
        }
    }

    /// Starts the successor with `listeners` and waits until it is ready; its pid.
    pub async fn start(&self, listeners: &[OwnedFd]) -> io::Result<u32> {
        let mut cmd = std::process::Command::new(&self.program);
        cmd.args(&self.args);
        let fds: Vec<BorrowedFd<'_>> = listeners.iter().map(AsFd::as_fd).collect();
        let successor = nethttp::net::spawn_successor(&mut cmd, &fds).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("starting {}: {e}", self.program.to_string_lossy()),
            )
        })?;
        tracing::info!(
            pid = successor.id(),
            program = %self.program.to_string_lossy(),
            "hand-over: started a successor, waiting until it serves"
        );
        successor.wait_ready(READY_TIMEOUT).await
    }
}
