//! The `nethttp` command, on the library's public API: `serve` runs the demo server, `get`
//! makes one request, `bench` loads a server with many.

mod bench;
mod duration;
mod get;
mod routes;
mod runtime;
mod serve;
mod tls_args;

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
}

/// A command that failed: the line to print and the exit status (1, unless a flag borrowed
/// from curl says otherwise: 63 for `get --max-filesize`).
pub struct Failure {
    pub status: u8,
    pub msg: String,
}

impl From<String> for Failure {
    fn from(msg: String) -> Failure {
        Failure { status: 1, msg }
    }
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::run(args).map_err(Failure::from),
        Command::Get(args) => get::run(args),
        Command::Bench(args) => bench::run(args).map_err(Failure::from),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("nethttp: {}", f.msg);
            std::process::ExitCode::from(f.status)
        }
    }
}
