//! `nethttp serve`: flags → `Server` config (TLS, HTTP/2), a runtime, the demo routes (or a
//! directory's files with --dir) on a TCP address, a Unix socket, or the listeners systemd or
//! a predecessor passed (socket activation); then `lifecycle`: graceful shutdown on
//! SIGINT/SIGTERM, and the SIGUSR2 hand-over.

use std::path::PathBuf;

use clap::Args;
use nethttp::fs::FileServer;
use nethttp::net::{InheritedListener, UnixBindOptions, UnixListener};
use nethttp::{Handler, Server};

use crate::lifecycle::{self, copy, Inherited, Listening};
use crate::owned_file::OwnedFile;
use crate::server_args::ServerArgs;

#[derive(Args, Debug)]
pub struct ServeArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// Listen on this Unix domain socket path instead of TCP (what nginx's
    /// `proxy_pass http://unix:PATH:` and `curl --unix-socket PATH` connect to). A stale socket
    /// file is replaced, a live one is an error; the file is removed at exit (unless a
    /// successor took the socket over). `@NAME` is a name in Linux's abstract namespace
    /// instead (no file; `curl --abstract-unix-socket NAME`), as Go and systemd write it.
    #[arg(long, value_name = "PATH", conflicts_with = "addr", value_parser = crate::unix_path::parse)]
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
    let inherited = Inherited::take()?;
    let rt = crate::runtime::build(args.server.threads)?;
    rt.block_on(serve(args, inherited))
}

async fn serve(args: ServeArgs, inherited: Inherited) -> Result<(), String> {
    // Serving on the --unix socket (not on sockets systemd or a predecessor passed).
    if args.unix.is_some() && inherited.listeners.is_empty() {
        args.server.check_unix()?;
    }
    let server = args.server.server()?;
    let Inherited { listeners, ready } = inherited;
    let layers = args.server.layers();
    let mut listening = match (&args.dir, layers) {
        (Some(dir), layers) => {
            let files =
                FileServer::new(dir).map_err(|e| format!("--dir {}: {e}", dir.display()))?;
            tracing::info!("serving files under {}", dir.display());
            match layers {
                Some(l) => listen(&args, &server, listeners, move || l.apply(files.clone()))?,
                None => listen(&args, &server, listeners, move || files.clone())?,
            }
        }
        (None, Some(l)) => listen(&args, &server, listeners, move || {
            l.apply(crate::routes::demo())
        })?,
        (None, None) => listen(&args, &server, listeners, crate::routes::demo)?,
    };
    // A predecessor (same arguments) handed its --unix socket over: its file is now ours
    // to remove at exit. A socket systemd passed stays systemd's.
    if let (Some(path), true, None) = (&args.unix, ready.is_some(), &listening.socket_file) {
        listening.socket_file = OwnedFile::at(path).ok();
    }
    // The operator listeners bind with SO_REUSEPORT, so a successor can bind them while
    // this process still answers on them (until it has drained).
    let _admin = args.server.admin.start()?;
    lifecycle::serve_until_stopped(
        listening,
        args.pid_file.as_deref(),
        ready,
        args.server.shutdown_timeout,
    )
    .await
}

/// Serves what `make` gives on the --unix socket (unless systemd or a predecessor passed
/// listeners), else as every server command does (`lifecycle::listen`), and says where.
fn listen<H: Handler>(
    args: &ServeArgs,
    server: &Server,
    inherited: Vec<InheritedListener>,
    make: impl FnOnce() -> H,
) -> Result<Listening, String> {
    let Some(path) = args.unix.as_ref().filter(|_| inherited.is_empty()) else {
        return lifecycle::listen(&args.server, server, inherited, args.reuseport, make);
    };
    let Some(log) = args.server.access_log.open()? else {
        return listen_unix(args, path, server, make);
    };
    let lines = log.clone();
    let server = &lifecycle::logging_rejections(server, &log);
    let mut listening = listen_unix(args, path, server, move || lines.handler(make()))?;
    listening.access_log = Some(log);
    Ok(listening)
}

/// Serves what `make` gives on the --unix socket at `path`.
fn listen_unix<H: Handler>(
    args: &ServeArgs,
    path: &std::path::Path,
    server: &Server,
    make: impl FnOnce() -> H,
) -> Result<Listening, String> {
    let opts = UnixBindOptions {
        backlog: args.server.backlog,
        mode: args.unix_mode,
        // Removed at exit unless a successor took the socket over.
        remove_on_drop: false,
        ..UnixBindOptions::default()
    };
    let shown = crate::unix_path::shown(path);
    let listener =
        UnixListener::bind(path, &opts).map_err(|e| format!("listening on unix:{shown}: {e}"))?;
    // An abstract name has no file.
    let socket_file = listener.path().and_then(|p| OwnedFile::at(p).ok());
    let fds = vec![copy(&listener)?];
    let handle = server.serve(listener, make());
    tracing::info!("listening on unix:{shown} ({})", args.server.scheme());
    Ok(Listening {
        handle,
        fds,
        socket_file,
        access_log: None,
    })
}

/// `--unix-mode`: octal permission bits, at most 0o777.
fn parse_mode(s: &str) -> Result<u32, String> {
    let digits = s.strip_prefix("0o").unwrap_or(s);
    match u32::from_str_radix(digits, 8) {
        Ok(mode) if mode <= 0o777 => Ok(mode),
        _ => Err(format!("{s:?} is not an octal mode such as 660")),
    }
}
