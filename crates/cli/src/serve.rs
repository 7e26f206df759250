//! `nethttp serve`: flags → `Server` config (TLS, HTTP/2), a runtime, the demo routes on a TCP
//! address or a Unix socket, and graceful shutdown on SIGINT/SIGTERM.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use nethttp::net::{BindOptions, UnixBindOptions, UnixListener};
use nethttp::{Server, ServerHandle, ServerTls};

use crate::{duration, listen_addr};

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on, as Go takes it: HOST:PORT, [IPv6]:PORT, :PORT for every
    /// interface, or a name such as localhost:PORT (resolved, IPv4 first). Port 0 picks a free
    /// port (the log line shows which).
    #[arg(long, default_value = "127.0.0.1:8080", conflicts_with = "unix")]
    addr: String,
    /// Listen on this Unix domain socket path instead of TCP (what nginx's
    /// `proxy_pass http://unix:PATH:` and `curl --unix-socket PATH` connect to). A stale socket
    /// file is replaced, a live one is an error; the file is removed at exit.
    #[arg(long, value_name = "PATH")]
    unix: Option<PathBuf>,
    /// Permission bits of the --unix socket file, in octal (660: owner and group may
    /// connect). Default: what the umask gives.
    #[arg(long, value_name = "OCTAL", requires = "unix", value_parser = parse_mode)]
    unix_mode: Option<u32>,
    /// Time allowed to read a request head.
    #[arg(long, default_value = "10s", value_parser = duration::parse)]
    read_header_timeout: Duration,
    /// Time allowed to read a whole request, head and body.
    #[arg(long, default_value = "300s", value_parser = duration::parse)]
    read_timeout: Duration,
    /// Time a response write may wait for the client to read.
    #[arg(long, default_value = "30s", value_parser = duration::parse)]
    write_timeout: Duration,
    /// How long a keep-alive connection may sit idle.
    #[arg(long, default_value = "60s", value_parser = duration::parse)]
    idle_timeout: Duration,
    /// Largest request head accepted (431 beyond).
    #[arg(long, default_value_t = 65536)]
    max_header_bytes: usize,
    /// Largest request body accepted (413 beyond). The default is the library's, 64 MiB; 0
    /// means no limit, so /echo takes any size.
    #[arg(long, default_value_t = nethttp::server::DEFAULT_MAX_BODY_BYTES)]
    max_body_bytes: u64,
    /// Most connections open at once; 0 means no limit.
    #[arg(long, default_value_t = 0)]
    max_connections: usize,
    /// How long in-flight requests may run after SIGINT/SIGTERM before they are cut.
    #[arg(long, default_value = "30s", value_parser = duration::parse)]
    shutdown_timeout: Duration,
    /// Runtime worker threads; 0 means one per CPU, 1 a single-threaded runtime.
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Accept loops on separate SO_REUSEPORT listeners; 0 or 1 means one plain listener.
    #[arg(long, default_value_t = 0)]
    reuseport: usize,
    /// listen(2) backlog.
    #[arg(long, default_value_t = 1024)]
    backlog: u32,
    /// PEM certificate chain: serve HTTPS (HTTP/2 and HTTP/1.1 by ALPN). Needs --tls-key.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Speak HTTP/1.1 only: no h2 in ALPN, no h2c prior knowledge on plain TCP.
    #[arg(long)]
    no_http2: bool,
    /// Most concurrent streams per HTTP/2 connection.
    #[arg(long, default_value_t = 250)]
    http2_max_streams: u32,
}

pub fn run(args: ServeArgs) -> Result<(), String> {
    let rt = crate::runtime::build(args.threads)?;
    rt.block_on(serve(args))
}

async fn serve(args: ServeArgs) -> Result<(), String> {
    let server = Server::new()
        // An unspecified IPv6 address (`:PORT`) takes IPv4 too, as Go's listener does.
        .bind_options(BindOptions {
            only_v6: Some(false),
            ..BindOptions::default()
        })
        .read_header_timeout(args.read_header_timeout)
        .read_timeout(args.read_timeout)
        .write_timeout(args.write_timeout)
        .idle_timeout(args.idle_timeout)
        .max_header_bytes(args.max_header_bytes)
        .max_body_bytes((args.max_body_bytes > 0).then_some(args.max_body_bytes))
        .max_connections((args.max_connections > 0).then_some(args.max_connections))
        .backlog(args.backlog)
        .http2(!args.no_http2)
        .http2_max_concurrent_streams(args.http2_max_streams);
    let server = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            server.tls(ServerTls::from_pem_files(cert, key).map_err(|e| format!("TLS setup: {e}"))?)
        }
        _ => server,
    };
    let scheme = if args.tls_cert.is_some() {
        "https"
    } else {
        "http"
    };
    let handle = match &args.unix {
        Some(path) => {
            let opts = UnixBindOptions {
                backlog: args.backlog,
                mode: args.unix_mode,
                ..UnixBindOptions::default()
            };
            let listener = UnixListener::bind(path, &opts)
                .map_err(|e| format!("listening on unix:{}: {e}", path.display()))?;
            let handle = server.serve(listener, crate::routes::demo());
            tracing::info!("listening on unix:{} ({scheme})", path.display());
            handle
        }
        None => {
            let handle = listen_tcp(&server, &args)?;
            tracing::info!("listening on {} ({scheme})", handle.local_addr());
            handle
        }
    };

    until_signalled(&handle, args.shutdown_timeout).await
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

/// Binds the first of `--addr`'s candidates that binds, and serves it.
fn listen_tcp(server: &Server, args: &ServeArgs) -> Result<ServerHandle, String> {
    let addrs = listen_addr::resolve(&args.addr)?;
    let mut last_error = None;
    for addr in addrs {
        let bound = if args.reuseport > 1 {
            server.serve_reuseport(addr, args.reuseport, crate::routes::demo())
        } else {
            server
                .bind(addr)
                .map(|listener| server.serve(listener, crate::routes::demo()))
        };
        match bound {
            Ok(h) => return Ok(h),
            Err(e) => last_error = Some(e),
        }
    }
    let e = last_error.map_or_else(|| "no address".to_owned(), |e| e.to_string());
    Err(format!("listening on {}: {e}", args.addr))
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
