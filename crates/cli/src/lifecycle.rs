//! A server command's life once it listens (`serve`, `proxy`): the signals it acts on, the
//! listeners systemd or a predecessor passed, the pid file, telling a predecessor it serves,
//! and then serving until SIGINT/SIGTERM (a graceful drain) or a SIGUSR2 hand-over to a new
//! process of the same program (`handover`), after which this one drains and exits.

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::time::Duration;

use nethttp::access_log::AccessLog;
use nethttp::net::{InheritedListener, InheritedSocket, Listener, ReadyNotifier, UnixListener};
use nethttp::{Handler, Server, ServerHandle};
use tokio::signal::unix::{signal, Signal, SignalKind};

use crate::handover::Relaunch;
use crate::owned_file::OwnedFile;
use crate::server_args::ServerArgs;

/// What a predecessor (or systemd) passed this process: listeners, and the pipe on which to
/// say it serves. Taken before the runtime starts its threads: both read and remove
/// environment variables, and own descriptors from 3 on that nothing else may have taken.
pub struct Inherited {
    pub listeners: Vec<InheritedListener>,
    pub ready: Option<ReadyNotifier>,
}

impl Inherited {
    pub fn take() -> Result<Inherited, String> {
        Ok(Inherited {
            listeners: nethttp::net::inherited_listeners()
                .map_err(|e| format!("inherited listeners (LISTEN_FDS): {e}"))?,
            ready: nethttp::net::ready_notifier()
                .map_err(|e| format!("readiness pipe ({}): {e}", nethttp::net::READY_FD_VAR))?,
        })
    }
}

/// A running server and what a hand-over or the exit needs of it.
pub struct Listening {
    pub handle: ServerHandle,
    /// Copies of the listening sockets, passed to a successor on SIGUSR2.
    pub fds: Vec<OwnedFd>,
    /// The Unix socket file this process created.
    pub socket_file: Option<OwnedFile>,
    /// The access log the handler writes to: reopened on SIGUSR1, flushed at exit.
    pub access_log: Option<AccessLog>,
}

/// Serves `listening` until stopped: installs the signal handlers, writes the pid file (if
/// asked), tells a predecessor this process serves, then runs until SIGINT/SIGTERM (drains
/// within `grace`) or a SIGUSR2 hand-over succeeds (drains while the successor serves). At
/// exit the socket and pid files are removed, unless a successor now has them.
pub async fn serve_until_stopped(
    listening: Listening,
    pid_file: Option<&Path>,
    ready: Option<ReadyNotifier>,
    grace: Duration,
) -> Result<(), String> {
    // Before a predecessor learns that this process serves, and before the pid file names
    // it: SIGUSR2's default action would kill it.
    let mut signals = Signals::new().map_err(|e| format!("installing signal handlers: {e}"))?;
    let pid_file = match pid_file {
        Some(path) => Some(
            OwnedFile::write_pid(path)
                .map_err(|e| format!("--pid-file {}: {e}", path.display()))?,
        ),
        None => None,
    };
    if let Some(ready) = ready {
        if let Err(e) = ready.notify() {
            tracing::warn!(error = %e, "could not tell the predecessor this process serves");
        }
    }
    let relaunch = Relaunch::from_env();
    let handed_over = until_stopped(
        listening.handle.clone(),
        listening.fds,
        listening.access_log.as_ref(),
        &relaunch,
        &mut signals,
        grace,
    )
    .await;
    if let Some(log) = &listening.access_log {
        // The last requests' lines, before the process ends; a disk that takes nothing
        // (a hung mount) holds the exit up for `FLUSH_WAIT` at most.
        if !log.flush() {
            tracing::warn!("access log: lines still queued at exit were not written");
        }
    }
    // After a hand-over the socket file and the pid file belong to the successor (a new pid
    // file is a new file, so that one would be left alone anyway).
    if !matches!(handed_over, Ok(true)) {
        for file in [&listening.socket_file, &pid_file].into_iter().flatten() {
            file.remove_if_unchanged();
        }
    }
    handed_over.map(|_| ())
}

/// Serves on the listeners systemd or a predecessor passed, if there are any, else on
/// `--addr` (with `reuseport` SO_REUSEPORT listeners, if more than 0), and says where.
pub fn listen<H: Handler>(
    args: &ServerArgs,
    server: &Server,
    inherited: Vec<InheritedListener>,
    reuseport: usize,
    make: impl FnOnce() -> H,
) -> Result<Listening, String> {
    let Some(log) = args.access_log.open()? else {
        return listen_as(args, server, inherited, reuseport, make);
    };
    let lines = log.clone();
    let server = &logging_rejections(server, &log);
    let mut listening = listen_as(args, server, inherited, reuseport, move || {
        lines.handler(make())
    })?;
    listening.access_log = Some(log);
    Ok(listening)
}

/// `server`, telling `log` of the requests it refuses before the handler (nginx logs them).
pub fn logging_rejections(server: &Server, log: &AccessLog) -> Server {
    server.clone().rejection_hook(log.rejection_hook())
}

/// [`listen`], with the handler as `make` gives it.
fn listen_as<H: Handler>(
    args: &ServerArgs,
    server: &Server,
    inherited: Vec<InheritedListener>,
    reuseport: usize,
    make: impl FnOnce() -> H,
) -> Result<Listening, String> {
    let scheme = args.scheme();
    if !inherited.is_empty() {
        return listen_inherited(server, inherited, scheme, make);
    }
    let (handle, fds) = args.listen_tcp(server, reuseport, make)?;
    tracing::info!("listening on {} ({scheme})", handle.local_addr());
    Ok(Listening {
        handle,
        fds,
        socket_file: None,
        access_log: None,
    })
}

/// Serves on listeners systemd or a predecessor passed (all TCP, or all Unix).
fn listen_inherited<H: Handler>(
    server: &Server,
    inherited: Vec<InheritedListener>,
    scheme: &str,
    make: impl FnOnce() -> H,
) -> Result<Listening, String> {
    let count = inherited.len();
    let (mut tcp, mut unix) = (Vec::new(), Vec::new());
    for l in inherited {
        let wrapped = match l.socket {
            InheritedSocket::Tcp(s) => Listener::from_std(s).map(|s| tcp.push(s)),
            InheritedSocket::Unix(s) => UnixListener::from_std(s).map(|s| unix.push(s)),
        };
        wrapped.map_err(|e| format!("inherited listener: {e}"))?;
    }
    let fds = tcp
        .iter()
        .map(copy)
        .chain(unix.iter().map(copy))
        .collect::<Result<Vec<_>, _>>()?;
    let handle = if unix.is_empty() {
        let addrs: Vec<String> = tcp
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .map(|a| a.to_string())
            .collect();
        let handle = server.serve_many(tcp, make());
        tracing::info!(
            "listening on {} ({scheme}, {count} inherited listener(s))",
            addrs.join(", ")
        );
        handle
    } else if tcp.is_empty() {
        let paths: Vec<String> = unix
            .iter()
            .map(|l| match (l.path(), l.abstract_name()) {
                (Some(p), _) => p.display().to_string(),
                (None, Some(name)) => crate::unix_path::shown_abstract(name),
                (None, None) => "(unnamed)".into(),
            })
            .collect();
        let handle = server.serve_many(unix, make());
        tracing::info!(
            "listening on unix:{} ({scheme}, {count} inherited listener(s))",
            paths.join(", unix:")
        );
        handle
    } else {
        return Err(
            "inherited both TCP and Unix listeners: serve takes one kind (start one per kind)"
                .into(),
        );
    };
    Ok(Listening {
        handle,
        fds,
        socket_file: None,
        access_log: None,
    })
}

/// A copy of a listening socket, kept for a hand-over.
pub fn copy(listener: &impl AsFd) -> Result<OwnedFd, String> {
    listener
        .as_fd()
        .try_clone_to_owned()
        .map_err(|e| format!("copying the listening socket: {e}"))
}

/// The signals a server command acts on: SIGINT and SIGTERM, and SIGUSR2 (the hand-over),
/// whose default action would kill it.
struct Signals {
    term: Signal,
    int: Signal,
    usr2: Signal,
    /// Reopens the access log (nginx's SIGUSR1), whose default action would kill.
    usr1: Signal,
}

impl Signals {
    fn new() -> std::io::Result<Signals> {
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            usr2: signal(SignalKind::user_defined2())?,
            usr1: signal(SignalKind::user_defined1())?,
        })
    }

    /// SIGINT or SIGTERM.
    async fn stop(&mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
    }
}

/// Serves until the server fails, SIGINT/SIGTERM arrives (then drains), or a SIGUSR2
/// hand-over succeeds (then drains while the successor serves): `Ok(true)` after a
/// hand-over. A failed hand-over is logged and serving goes on.
async fn until_stopped(
    handle: ServerHandle,
    mut fds: Vec<OwnedFd>,
    access_log: Option<&AccessLog>,
    relaunch: &Relaunch,
    signals: &mut Signals,
    grace: Duration,
) -> Result<bool, String> {
    // Pinned once: `wait` must not be restarted for every signal.
    let mut failed = std::pin::pin!(handle.wait());
    let handed_over = loop {
        tokio::select! {
            r = &mut failed => return r.map(|()| false).map_err(|e| format!("server failed: {e}")),
            _ = signals.term.recv() => break false,
            _ = signals.int.recv() => break false,
            _ = signals.usr1.recv() => if let Some(log) = access_log {
                log.reopen();
                tracing::info!("access log reopened");
            },
            _ = signals.usr2.recv() => match relaunch.start(&fds).await {
                Ok(pid) => {
                    tracing::info!(successor = pid, "hand-over: the successor serves; this process stops accepting and drains");
                    break true;
                }
                Err(e) => tracing::warn!(error = %e, "hand-over failed; this process keeps serving"),
            },
        }
    };
    // The copies go first: a listener left open would keep a SO_REUSEPORT group sending it
    // connections nobody accepts.
    fds.clear();
    drain(&handle, grace, signals).await;
    Ok(handed_over)
}

/// Graceful shutdown within `grace`; another SIGINT/SIGTERM closes every connection at once.
async fn drain(handle: &ServerHandle, grace: Duration, signals: &mut Signals) {
    tracing::info!(timeout = ?grace, "shutting down: finishing in-flight requests (signal again to stop now)");
    tokio::select! {
        report = handle.shutdown(grace) => {
            if report.forced > 0 {
                tracing::warn!(
                    forced = report.forced,
                    "closed connections still busy at the deadline"
                );
            }
        }
        _ = signals.stop() => {
            let forced = handle.live_connections();
            tracing::warn!(forced, "second signal: closing every connection now");
            handle.close().await;
        }
    }
    tracing::info!("stopped");
}
