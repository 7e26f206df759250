//! `nethttp bench`: a load generator on the pooled `Client`. Flags → a plan (one parsed URL,
//! one shared body, a request budget or a deadline, the clients), a runtime, the workers, and
//! the report; without a URL it loads the `serve` demo routes started in-process.
//!
//! `-c` is the number of connections, `-m`/`--streams` the requests in flight on each.
//! HTTP/1.1 carries one request at a time per connection, so `-m` above 1 needs HTTP/2
//! (`--http2` for h2c on http URLs; https offers h2 by default). One `Client` carries the
//! whole load: its pool is capped at `-c` connections and, on HTTP/2, at `-m` streams per
//! connection, so it opens exactly `-c` connections of `-m` streams each. `--unix-socket` and
//! `--resolve` choose where the connections go, as in `get`.
//!
//! The summary ends with a latency histogram; `--html FILE` also writes a self-contained page
//! with the percentiles plotted and the request rate over the run (with `--json` as well).

mod histogram;
mod html;
mod load;
mod local_server;
mod progress;
mod report;
mod timeline;

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use clap::Args;
use http::{Method, Uri};
use nethttp::Client;

use crate::dial_args::DialArgs;
use crate::duration;
use crate::tls_args::TlsArgs;
use load::{Load, Plan};
use local_server::LocalServer;
use progress::Goal;
use report::Report;

/// How long a run lasts when neither `-n` nor `-d` is given.
const DEFAULT_DURATION: Duration = Duration::from_secs(10);

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// The URL to load (http:// or https://, with a host); without one, the `serve` demo
    /// routes are started in-process on a free loopback port and `GET /` is loaded.
    #[arg(value_parser = loadable_url)]
    url: Option<String>,
    /// Connections, each kept for the whole run (the pool is capped at this many).
    #[arg(short = 'c', long = "connections", default_value_t = 50)]
    connections: usize,
    /// Requests in flight on each connection (h2load's -m): -c × -m workers in all. Above 1
    /// needs HTTP/2 (--http2, or an https URL whose server picks h2); plain HTTP/1.1 is refused.
    #[arg(short = 'm', long, value_name = "N", default_value_t = 1)]
    streams: usize,
    /// HTTP/2: on http URLs by prior knowledge (h2c, which `nethttp serve` speaks); on https
    /// URLs h2 is offered by ALPN anyway (the default), so this changes nothing there.
    #[arg(long, conflicts_with = "no_http2")]
    http2: bool,
    /// HTTP/1.1 only: https offers only `http/1.1` in ALPN.
    #[arg(long)]
    no_http2: bool,
    /// Total requests to send, at least 1. With -d as well, whichever ends first stops the run.
    #[arg(short = 'n', long = "requests", value_parser = clap::value_parser!(u64).range(1..))]
    requests: Option<u64>,
    /// How long to run, more than 0. Default: 10s, unless -n is given.
    #[arg(short = 'd', long = "duration", value_parser = duration::parse_positive)]
    duration: Option<Duration>,
    /// Request method.
    #[arg(short = 'X', long = "method", default_value = "GET")]
    method: Method,
    /// Sends a request body of this many bytes (the same buffer each time).
    #[arg(long, default_value_t = 0)]
    body_size: usize,
    /// Total time allowed for one request (connect, head and body); a slower one counts as a
    /// TotalTimeout error. 0 sets none (each phase keeps the client's own finite timeout).
    #[arg(long, default_value = "30s", value_parser = duration::parse)]
    timeout: Duration,
    /// Runtime threads for the load: 1 runs every worker on one thread (the fastest on few
    /// cores: no cross-thread wake-ups), 0 one thread per CPU, N a work-stealing pool of N.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Prints one JSON object on stdout instead of the summary, and no progress bar.
    #[arg(long)]
    json: bool,
    /// Also writes a self-contained HTML report to FILE: the parameters, the totals, the
    /// latency percentiles (table and plot), and requests per second over the run.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    #[command(flatten)]
    tls: TlsArgs,
    #[command(flatten)]
    dial: DialArgs,
}

pub fn run(args: BenchArgs) -> Result<(), String> {
    if args.connections == 0 {
        return Err("-c must be at least 1".to_owned());
    }
    if args.streams == 0 {
        return Err("--streams must be at least 1".to_owned());
    }
    // The in-process server (if any) gets its own thread, so it and the load each have a core.
    let (local, url) = match &args.url {
        Some(u) => (None, u.clone()),
        None => {
            let server = LocalServer::start()?;
            let url = format!("http://{}/", server.addr());
            (Some(server), url)
        }
    };
    let uri: Uri = url
        .parse()
        .map_err(|e| format!("invalid URL {url:?}: {e}"))?;
    if args.streams > 1 && !may_use_http2(&args, &uri) {
        return Err(format!(
            "--streams {} needs HTTP/2, and this run speaks HTTP/1.1 (one request at a time \
             per connection): add --http2 (h2c) or use an https URL without --no-http2; for \
             more HTTP/1.1 concurrency raise -c instead",
            args.streams
        ));
    }

    let rt = crate::runtime::build(args.threads)?;
    let result = rt.block_on(bench(&args, &url, uri));
    drop(rt);
    drop(local);
    result
}

/// A URL a load can be sent to: http or https, with a host. Checked before anything starts,
/// so a typo is a usage error instead of a run of instant failures.
fn loadable_url(s: &str) -> Result<String, String> {
    let uri: Uri = s.parse().map_err(|e| format!("not a URL: {e}"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        Some(other) => return Err(format!("scheme {other:?} is not http or https")),
        None => return Err("the URL must start with http:// or https://".to_owned()),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err("the URL has no host".to_owned());
    }
    Ok(s.to_owned())
}

/// Whether the run may speak HTTP/2: h2c was asked for, or https offers h2.
fn may_use_http2(args: &BenchArgs, uri: &Uri) -> bool {
    let https = uri.scheme_str() == Some("https");
    args.http2 || (https && !args.no_http2)
}

/// The client the workers share (a list of one, as the load plan takes a list).
fn clients(args: &BenchArgs) -> Result<Vec<Client>, String> {
    let tls = args.tls.client_tls()?;
    let conns = args.connections;
    let mut client = Client::builder();
    if !args.timeout.is_zero() {
        client = client.timeout(args.timeout);
    }
    let client = client
        .transport(|t| {
            let t = args
                .dial
                .apply(t)
                .max_conns_per_host(conns)
                .max_idle_per_host(conns)
                .max_idle(conns.max(1024))
                .http2(!args.no_http2)
                .http2_prior_knowledge(args.http2)
                .http2_max_streams_per_connection(args.streams);
            match tls {
                Some(tls) => t.tls(tls),
                None => t,
            }
        })
        .build()
        .map_err(|e| e.to_string())?;
    Ok(vec![client])
}

async fn bench(args: &BenchArgs, url: &str, uri: Uri) -> Result<(), String> {
    let conns = args.connections;
    let clients = clients(args)?;
    // -n alone runs until the budget is spent; otherwise there is always a deadline.
    let (goal, duration) = match (args.requests, args.duration) {
        (Some(n), d) => (Goal::Requests(n), d),
        (None, d) => {
            let d = d.unwrap_or(DEFAULT_DURATION);
            (Goal::Duration(d), Some(d))
        }
    };
    let concurrency = conns.saturating_mul(args.streams);
    let workers = match args.requests {
        Some(n) => concurrency.min(usize::try_from(n).unwrap_or(usize::MAX)),
        None => concurrency,
    };
    let load = Load::new(Plan {
        clients,
        method: args.method.clone(),
        uri,
        body: Bytes::from(vec![b'x'; args.body_size]),
        requests: args.requests,
        deadline: duration.map(|d| tokio::time::Instant::now() + d),
    });

    let bar = progress::spawn(load.clone(), goal, !args.json);
    let elapsed = load.run(workers).await;
    if let Some(bar) = bar {
        bar.finish();
    }

    let (dials, reuses) = load.plan().clients.iter().fold((0, 0), |(d, r), c| {
        let stats = c.pool_stats();
        (d + stats.dials, r + stats.reuses)
    });
    let recorder = load.recorder();
    let report = Report {
        url,
        method: load.plan().method.as_str(),
        connections: conns,
        streams: args.streams,
        threads: args.threads,
        requests: args.requests,
        duration,
        elapsed,
        recorder: &recorder,
        connections_opened: dials,
        reuses,
    };
    if args.json {
        println!("{}", report.json());
    } else {
        print!("{}", report.text(histogram::terminal_columns()));
    }
    // After the summary, so a path that cannot be written does not cost the run's results.
    if let Some(path) = &args.html {
        std::fs::write(path, html::render(&report))
            .map_err(|e| format!("writing the HTML report to {}: {e}", path.display()))?;
    }
    if recorder.completed == 0 && recorder.errors > 0 {
        let first = recorder
            .errors_by_kind
            .first()
            .map(|(_, _, msg)| msg.as_str())
            .unwrap_or_default();
        return Err(format!("every request failed; the first: {first}"));
    }
    Ok(())
}
