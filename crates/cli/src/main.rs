//! The `nethttp` command, on the library's public API: `serve` runs the demo server, `get`
//! makes one request, `bench` loads a server with many, `proxy` reverse-proxies to an upstream.
// The flags' doc comments are their `--help` text, where `[SCHEME://]` or `[::1]` is usage
// syntax, not a link.
#![allow(rustdoc::broken_intra_doc_links)]

mod access_log_args;
mod admin;
mod bench;
mod dial_args;
mod duration;
mod get;
mod handover;
mod layers;
mod lifecycle;
mod listen_addr;
mod owned_file;
mod proxy;
mod routes;
mod runtime;
mod serve;
mod server_args;
mod tls_args;
mod unix_path;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "nethttp",
    version,
    about = "HTTP server and client tools built on the nethttp library"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve the demo routes: GET /, POST /echo, GET /stream/N, GET /delay/MS, GET /status/CODE.
    Serve(serve::ServeArgs),
    /// Make one request and stream the response body to stdout (-i adds the head, -v traces
    /// each phase on stderr).
    Get(get::GetArgs),
    /// Load a URL (or the demo routes, started in-process) and report requests/s, latency
    /// percentiles, status counts, errors and connections opened.
    Bench(bench::BenchArgs),
    /// Reverse-proxy every request to one upstream (--to http://HOST:PORT or unix:PATH),
    /// adding X-Forwarded-For/-Host/-Proto and streaming both ways.
    Proxy(proxy::ProxyArgs),
}

/// Why a subcommand failed: the line for stderr, and the exit status (1 unless the
/// subcommand says otherwise, as curl's exit statuses: `get --fail`'s 22, `get
/// --max-filesize`'s 63).
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl From<String> for Failure {
    fn from(message: String) -> Failure {
        Failure { code: 1, message }
    }
}

fn main() -> std::process::ExitCode {
    // Colour codes only for a person at a terminal: a log piped to a file or another program
    // stays plain text. NO_COLOR (no-color.org) turns them off at a terminal too.
    let stderr_is_terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(stderr_is_terminal && !no_color)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::run(args).map_err(Failure::from),
        Command::Get(args) => get::run(args),
        Command::Bench(args) => bench::run(args).map_err(Failure::from),
        Command::Proxy(args) => proxy::run(args).map_err(Failure::from),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nethttp: {}", e.message);
            std::process::ExitCode::from(e.code)
        }
    }
}
