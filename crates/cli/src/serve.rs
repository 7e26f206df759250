//! `nethttp serve`: flags → `Server` config (TLS, HTTP/2), a runtime, the demo routes (or a
//! directory's files with --dir) on a TCP address or a Unix socket, and graceful shutdown on
//! SIGINT/SIGTERM.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use nethttp::fs::FileServer;
use nethttp::net::{UnixBindOptions, UnixListener};
use nethttp::{Handler, Server, ServerHandle};

use crate::server_args::ServerArgs;

#[derive(Args, Debug)]
pub struct ServeArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// Listen on this Unix domain socket path instead of TCP (what nginx's
    /// `proxy_pass http://unix:PATH:` and `curl --unix-socket PATH` connect to). A stale socket
    /// file is replaced, a live one is an error; the file is removed at exit.
    #[arg(long, value_name = "PATH", conflicts_with = "addr")]
    unix: Option<PathBuf>,
    /// Permission bits of the --unix socket file, in octal (660: owner and group may
    /// connect). Default: what the umask gives.
    #[arg(long, value_name = "OCTAL", requires = "unix", value_parser = parse_mode)]
    unix_mode: Option<u32>,
    /// Accept loops on separate SO_REUSEPORT listeners; 0 or 1 means one plain listener.
    #[arg(long, default_value_t = 0)]
    reuseport: usize,
    /// Serve the files under this directory instead of the demo routes: ranges, conditional
    /// requests, index.html and listings, precompressed .br/.gz siblings; dotfiles and
    /// symlinks leading out of it are not served.
    #[arg(long, value_name = "PATH")]
    dir: Option<PathBuf>,
}

pub fn run(args: ServeArgs) -> Result<(), String> {
    let rt = crate::runtime::build(args.server.threads)?;
    rt.block_on(serve(args))
}

async fn serve(args: ServeArgs) -> Result<(), String> {
    let server = args.server.server()?;
    let handle = match &args.dir {
        Some(dir) => {
            let files =
                FileServer::new(dir).map_err(|e| format!("--dir {}: {e}", dir.display()))?;
            tracing::info!("serving files under {}", dir.display());
            listen(&args, &server, move || files.clone())?
        }
        None => listen(&args, &server, crate::routes::demo)?,
    };
    let _admin = args.server.admin.start()?;
    until_signalled(&handle, args.server.shutdown_timeout).await
}

/// Serves what `make` gives on the --unix socket or the --addr address, and says where.
fn listen<H: Handler>(
    args: &ServeArgs,
    server: &Server,
    mut make: impl FnMut() -> H,
) -> Result<ServerHandle, String> {
    let scheme = args.server.scheme();
    match &args.unix {
        Some(path) => {
            let opts = UnixBindOptions {
                backlog: args.server.backlog,
                mode: args.unix_mode,
                ..UnixBindOptions::default()
            };
            let listener = UnixListener::bind(path, &opts)
                .map_err(|e| format!("listening on unix:{}: {e}", path.display()))?;
            let handle = server.serve(listener, make());
            tracing::info!("listening on unix:{} ({scheme})", path.display());
            Ok(handle)
        }
        None => {
            let handle = args.server.listen_tcp(server, args.reuseport, make)?;
            tracing::info!("listening on {} ({scheme})", handle.local_addr());
            Ok(handle)
        }
    }
}

/// Runs until the server fails or SIGINT/SIGTERM arrives, then shuts down gracefully within
/// `grace`; a second signal closes every connection at once.
pub async fn until_signalled(handle: &ServerHandle, grace: Duration) -> Result<(), String> {
    let stopped = tokio::select! {
        r = handle.wait() => Some(r),
        _ = shutdown_signal() => None,
    };
    match stopped {
        Some(r) => r.map_err(|e| format!("server failed: {e}")),
        None => {
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
                // A second SIGINT/SIGTERM: the operator will not wait for the grace period.
                _ = shutdown_signal() => {
                    let forced = handle.live_connections();
                    tracing::warn!(forced, "second signal: closing every connection now");
                    handle.close().await;
                }
            }
            tracing::info!("stopped");
            Ok(())
        }
    }
}

/// `--unix-mode`: octal permission bits, at most 0o777.
fn parse_mode(s: &str) -> Result<u32, String> {
    let digits = s.strip_prefix("0o").unwrap_or(s);
    match u32::from_str_radix(digits, 8) {
        Ok(mode) if mode <= 0o777 => Ok(mode),
        _ => Err(format!("{s:?} is not an octal mode such as 660")),
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
