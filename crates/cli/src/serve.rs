//! `nethttp serve`: flags → `Server` config (TLS, HTTP/2), a runtime, the demo routes (or a
//! directory's files with --dir) on a TCP address, a Unix socket, or the listeners systemd or
//! a predecessor passed (socket activation); graceful shutdown on SIGINT/SIGTERM, and on
//! SIGUSR2 a hand-over of the listeners to a new process of the same program (`handover`),
//! after which this one drains and exits.

use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use nethttp::fs::FileServer;
use nethttp::net::{
    InheritedListener, InheritedSocket, Listener, ReadyNotifier, UnixBindOptions, UnixListener,
};
use nethttp::{Handler, Server, ServerHandle};
use tokio::signal::unix::{signal, Signal, SignalKind};

use crate::handover::Relaunch;
use crate::owned_file::OwnedFile;
use crate::server_args::ServerArgs;

#[derive(Args, Debug)]
pub struct ServeArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// Listen on this Unix domain socket path instead of TCP (what nginx's
    /// `proxy_pass http://unix:PATH:` and `curl --unix-socket PATH` connect to). A stale socket
    /// file is replaced, a live one is an error; the file is removed at exit (unless a
    /// successor took the socket over).
    #[arg(long, value_name = "PATH", conflicts_with = "addr")]
    unix: Option<PathBuf>,
    /// Permission bits of the --unix socket file, in octal (660: owner and group may
    /// connect). Default: what the umask gives.
    #[arg(long, value_name = "OCTAL", requires = "unix", value_parser = parse_mode)]
    unix_mode: Option<u32>,
    /// Accept loops on this many SO_REUSEPORT listeners, so another process can listen on
    /// the same address too (start the new one, then SIGTERM the old; see the README on what
    /// that costs); 0 means one plain listener.
    #[arg(long, default_value_t = 0)]
    reuseport: usize,
    /// Serve the files under this directory instead of the demo routes: ranges, conditional
    /// requests, index.html and listings, precompressed .br/.gz siblings; dotfiles and
    /// symlinks leading out of it are not served.
    #[arg(long, value_name = "PATH")]
    dir: Option<PathBuf>,
    /// Write the process id to this file once serving (replaced atomically; a successor
    /// started by SIGUSR2 writes its own), and remove it at exit if it is still this one's.
    #[arg(long, value_name = "PATH")]
    pid_file: Option<PathBuf>,
}

pub fn run(args: ServeArgs) -> Result<(), String> {
    // Before the runtime starts its threads: both read and remove environment variables,
    // and own descriptors from 3 on that nothing else may have taken yet.
    let inherited = nethttp::net::inherited_listeners()
        .map_err(|e| format!("inherited listeners (LISTEN_FDS): {e}"))?;
    let ready = nethttp::net::ready_notifier()
        .map_err(|e| format!("readiness pipe ({}): {e}", nethttp::net::READY_FD_VAR))?;
    let rt = crate::runtime::build(args.server.threads)?;
    rt.block_on(serve(args, inherited, ready))
}

/// A running server and what a hand-over or the exit needs of it.
struct Listening {
    handle: ServerHandle,
    /// Copies of the listening sockets, passed to a successor on SIGUSR2.
    fds: Vec<OwnedFd>,
    /// The --unix socket file this process created.
    socket_file: Option<OwnedFile>,
}

async fn serve(
    args: ServeArgs,
    inherited: Vec<InheritedListener>,
    ready: Option<ReadyNotifier>,
) -> Result<(), String> {
    // Before a predecessor learns that this process serves, and before the pid file names
    // it: SIGUSR2's default action would kill it.
    let mut signals = Signals::new(true).map_err(|e| format!("installing signal handlers: {e}"))?;
    let server = args.server.server()?;
    let mut listening = match &args.dir {
        Some(dir) => {
            let files =
                FileServer::new(dir).map_err(|e| format!("--dir {}: {e}", dir.display()))?;
            tracing::info!("serving files under {}", dir.display());
            listen(&args, &server, inherited, move || files.clone())?
        }
        None => listen(&args, &server, inherited, crate::routes::demo)?,
    };
    // A predecessor (same arguments) handed its --unix socket over: its file is now ours
    // to remove at exit. A socket systemd passed stays systemd's.
    if let (Some(path), true, None) = (&args.unix, ready.is_some(), &listening.socket_file) {
        listening.socket_file = OwnedFile::at(path).ok();
    }
    // The operator listeners bind with SO_REUSEPORT, so a successor can bind them while
    // this process still answers on them (until it has drained).
    let _admin = args.server.admin.start()?;
    let pid_file = match &args.pid_file {
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
        &relaunch,
        &mut signals,
        args.server.shutdown_timeout,
    )
    .await;
    // After a hand-over the socket file and the pid file belong to the successor (a new pid
    // file is a new file, so that one would be left alone anyway).
    if !matches!(handed_over, Ok(true)) {
        for file in [&listening.socket_file, &pid_file].into_iter().flatten() {
            file.remove_if_unchanged();
        }
    }
    handed_over.map(|_| ())
}

/// Serves what `make` gives on the inherited listeners, the --unix socket or the --addr
/// address, and says where.
fn listen<H: Handler>(
    args: &ServeArgs,
    server: &Server,
    inherited: Vec<InheritedListener>,
    make: impl FnOnce() -> H,
) -> Result<Listening, String> {
    let scheme = args.server.scheme();
    if !inherited.is_empty() {
        return listen_inherited(server, inherited, scheme, make);
    }
    match &args.unix {
        Some(path) => {
            let opts = UnixBindOptions {
                backlog: args.server.backlog,
                mode: args.unix_mode,
                // Removed below at exit unless a successor took the socket over.
                remove_on_drop: false,
                ..UnixBindOptions::default()
            };
            let listener = UnixListener::bind(path, &opts)
                .map_err(|e| format!("listening on unix:{}: {e}", path.display()))?;
            let socket_file = OwnedFile::at(path).ok();
            let fds = vec![copy(&listener)?];
            let handle = server.serve(listener, make());
            tracing::info!("listening on unix:{} ({scheme})", path.display());
            Ok(Listening {
                handle,
                fds,
                socket_file,
            })
        }
        None => {
            let (handle, fds) = args.server.listen_tcp(server, args.reuseport, make)?;
            tracing::info!("listening on {} ({scheme})", handle.local_addr());
            Ok(Listening {
                handle,
                fds,
                socket_file: None,
            })
        }
    }
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
            .map(|l| {
                l.path()
                    .map_or("(unnamed)".into(), |p| p.display().to_string())
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
    })
}

/// A copy of a listening socket, kept for a hand-over.
fn copy(listener: &impl AsFd) -> Result<OwnedFd, String> {
    listener
        .as_fd()
        .try_clone_to_owned()
        .map_err(|e| format!("copying the listening socket: {e}"))
}

/// The signals a server command acts on, installed at start: SIGINT and SIGTERM, and
/// SIGUSR2 (the hand-over) where the command takes it; without it SIGUSR2 keeps its default
/// action.
struct Signals {
    term: Signal,
    int: Signal,
    usr2: Option<Signal>,
}

impl Signals {
    fn new(hand_over: bool) -> std::io::Result<Signals> {
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            usr2: match hand_over {
                true => Some(signal(SignalKind::user_defined2())?),
                false => None,
            },
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

/// SIGUSR2; never, where the command does not take it.
async fn hand_over(usr2: &mut Option<Signal>) {
    match usr2 {
        Some(usr2) => {
            usr2.recv().await;
        }
        None => std::future::pending().await,
    }
}

/// Serves until the server fails, SIGINT/SIGTERM arrives (then drains), or a SIGUSR2
/// hand-over succeeds (then drains while the successor serves): `Ok(true)` after a
/// hand-over. A failed hand-over is logged and serving goes on.
async fn until_stopped(
    handle: ServerHandle,
    mut fds: Vec<OwnedFd>,
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
            _ = hand_over(&mut signals.usr2) => match relaunch.start(&fds).await {
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

/// Runs until the server fails or SIGINT/SIGTERM arrives, then shuts down gracefully within
/// `grace`; a second signal closes every connection at once. For commands without the
/// SIGUSR2 hand-over (`proxy`).
pub async fn until_signalled(handle: &ServerHandle, grace: Duration) -> Result<(), String> {
    let mut signals =
        Signals::new(false).map_err(|e| format!("installing signal handlers: {e}"))?;
    tokio::select! {
        r = handle.wait() => return r.map_err(|e| format!("server failed: {e}")),
        _ = signals.stop() => {}
    }
    drain(handle, grace, &mut signals).await;
    Ok(())
}

/// `--unix-mode`: octal permission bits, at most 0o777.
fn parse_mode(s: &str) -> Result<u32, String> {
    let digits = s.strip_prefix("0o").unwrap_or(s);
    match u32::from_str_radix(digits, 8) {
        Ok(mode) if mode <= 0o777 => Ok(mode),
        _ => Err(format!("{s:?} is not an octal mode such as 660")),
    }
}
