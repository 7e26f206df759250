//! `nethttp bench`: a load generator on the pooled `Client`. Flags → a plan (one parsed URL,
//! one shared body, a request budget or a deadline), a runtime, the workers, and the report;
//! without a URL it loads the `serve` demo routes started in-process.

mod load;
mod local_server;
mod progress;
mod report;

use std::time::Duration;

use bytes::Bytes;
use clap::Args;
use http::{Method, Uri};
use nethttp::Client;

use crate::duration;
use load::{Load, Plan};
use local_server::LocalServer;
use progress::Goal;
use report::Report;

/// How long a run lasts when neither `-n` nor `-d` is given.
const DEFAULT_DURATION: Duration = Duration::from_secs(10);

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// The URL to load; without one, the `serve` demo routes are started in-process on a free
    /// loopback port and `GET /` is loaded.
    url: Option<String>,
    /// Concurrent workers, each with its own connection (the pool is capped at this many).
    #[arg(short = 'c', long = "connections", default_value_t = 50)]
    connections: usize,
    /// Total requests to send. With -d as well, whichever ends first stops the run.
    #[arg(short = 'n', long = "requests")]
    requests: Option<u64>,
    /// How long to run. Default: 10s, unless -n is given.
    #[arg(short = 'd', long = "duration", value_parser = duration::parse)]
    duration: Option<Duration>,
    /// Request method.
    #[arg(short = 'm', long = "method", default_value = "GET")]
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
}

pub fn run(args: BenchArgs) -> Result<(), String> {
    if args.connections == 0 {
        return Err("-c must be at least 1".to_owned());
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

    let rt = crate::runtime::build(args.threads)?;
    let result = rt.block_on(bench(&args, &url, uri));
    drop(rt);
    drop(local);
    result
}

async fn bench(args: &BenchArgs, url: &str, uri: Uri) -> Result<(), String> {
    let conns = args.connections;
    let mut client = Client::builder();
    if !args.timeout.is_zero() {
        client = client.timeout(args.timeout);
    }
    let client = client
        .transport(|t| {
            t.max_conns_per_host(conns)
                .max_idle_per_host(conns)
                .max_idle(conns.max(1024))
        })
        .build()
        .map_err(|e| e.to_string())?;
    // -n alone runs until the budget is spent; otherwise there is always a deadline.
    let (goal, duration) = match (args.requests, args.duration) {
        (Some(n), d) => (Goal::Requests(n), d),
        (None, d) => {
            let d = d.unwrap_or(DEFAULT_DURATION);
            (Goal::Duration(d), Some(d))
        }
    };
    let workers = match args.requests {
        Some(n) => conns.min(usize::try_from(n).unwrap_or(usize::MAX)),
        None => conns,
    };
    let load = Load::new(Plan {
        client: client.clone(),
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

    let stats = client.pool_stats();
    let recorder = load.recorder();
    let report = Report {
        url,
        method: load.plan().method.as_str(),
        connections: conns,
        threads: args.threads,
        elapsed,
        recorder: &recorder,
        connections_opened: stats.dials,
        reuses: stats.reuses,
    };
    if args.json {
        println!("{}", report.json());
    } else {
        print!("{}", report.text());
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
