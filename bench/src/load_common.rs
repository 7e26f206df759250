//! The shared frame of the client load generators (`nethttp-load`, `reqwest-load`): flags,
//! runtime, the closed loop of C workers, CPU accounting and the one-line JSON report. Each
//! binary supplies only [`Fetch`], one GET with its whole body read, so the two clients are
//! driven by exactly the same code.
//!
//! Usage: NAME URL [-c 64] [-m 1] [--http2] [-d 10] [--threads 1]
//!   URL        http://HOST:PORT/PATH, requested with GET over and over
//!   -c N       connections (default 64). Without `--http2` also the requests in flight:
//!              N workers, each sends its next request when the last one's body has been
//!              read
//!   -m S       HTTP/2 streams per connection (default 1; only with `--http2`): N × S
//!              workers, so N × S requests in flight (as h2load's `-c N -m S`)
//!   --http2    h2c by prior knowledge: HTTP/2 without an upgrade, on plain `http` URLs;
//!              each client is told to use at most N connections where it can be
//!   -d SECS    duration: no request starts after it (default 10; "10s" also accepted)
//!   --threads  1 = tokio current_thread runtime; N > 1 = multi-thread runtime with N
//!              workers (default 1)
//!
//! Prints one JSON line on stdout: client, threads, http2, conns_asked, streams,
//! concurrency (requests in flight), requests, errors, bytes,
//! duration_s, rps, conns (TCP connections the client says it opened, or null when it cannot
//! tell), cpu_s (user + system time of the whole process over the run, getrusage) and
//! cpu_us_per_req. The first error, if any, goes to stderr.

use std::future::Future;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Longest run accepted, so a typo cannot start an endless load.
const MAX_SECS: u64 = 3600;
/// Most workers accepted (connections × streams).
const MAX_CONCURRENCY: usize = 100_000;

/// One request: GET the URL and read the whole body. Ok carries the body length.
pub trait Fetch: Clone + Send + Sync + 'static {
    fn fetch(&self) -> impl Future<Output = Result<usize, String>> + Send;
}

/// The command line.
pub struct Args {
    pub url: String,
    /// Requests in flight: `conns` × `streams`.
    pub concurrency: usize,
    /// Connections asked for (`-c`).
    pub conns: usize,
    /// HTTP/2 streams per connection (`-m`); 1 without `--http2`.
    pub streams: usize,
    /// h2c by prior knowledge.
    pub http2: bool,
    pub duration: Duration,
    pub threads: usize,
}

fn usage(name: &str) -> ! {
    eprintln!("usage: {name} URL [-c 64] [-m 1] [--http2] [-d 10] [--threads 1]");
    std::process::exit(2);
}

/// Parses the flags; exits with a usage message on anything unknown.
pub fn parse_args(name: &str) -> Args {
    let mut url = None;
    let mut conns = 64usize;
    let mut streams = 1usize;
    let mut http2 = false;
    let mut secs = 10u64;
    let mut threads = 1usize;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        // "-c64", "-c 64", "-m32", "--threads=2", "--threads 2"
        let (key, inline) = if let Some((k, v)) = a.split_once('=') {
            (k.to_string(), Some(v.to_string()))
        } else if a.len() > 2
            && (a.starts_with("-c") || a.starts_with("-d") || a.starts_with("-m"))
            && !a.starts_with("--")
        {
            (a[..2].to_string(), Some(a[2..].to_string()))
        } else {
            (a.clone(), None)
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| it.next())
                .unwrap_or_else(|| usage(name))
        };
        let number = |v: String| -> u64 {
            v.trim_end_matches('s').parse().unwrap_or_else(|_| {
                eprintln!("{name}: not a number: {v:?}");
                usage(name)
            })
        };
        match key.as_str() {
            "-c" | "--concurrency" | "--conns" => conns = number(value()) as usize,
            "-m" | "--streams" => streams = number(value()) as usize,
            "--http2" => http2 = true,
            "-d" | "--duration" => secs = number(value()),
            "--threads" => threads = number(value()) as usize,
            "-h" | "--help" => usage(name),
            _ if !a.starts_with('-') && url.is_none() => url = Some(a.clone()),
            _ => {
                eprintln!("{name}: unknown argument {a:?}");
                usage(name)
            }
        }
    }
    let Some(url) = url else { usage(name) };
    if streams != 1 && !http2 {
        eprintln!("{name}: -m (streams per connection) needs --http2");
        usage(name);
    }
    let concurrency = conns.saturating_mul(streams);
    if conns == 0 || streams == 0 {
        eprintln!("{name}: -c and -m must be >= 1");
        usage(name);
    }
    if !(1..=MAX_CONCURRENCY).contains(&concurrency) || !(1..=MAX_SECS).contains(&secs) {
        eprintln!("{name}: -c × -m must be 1..={MAX_CONCURRENCY} and -d 1..={MAX_SECS}");
        usage(name);
    }
    if threads == 0 {
        eprintln!("{name}: --threads must be >= 1");
        usage(name);
    }
    Args {
        url,
        concurrency,
        conns,
        streams,
        http2,
        duration: Duration::from_secs(secs),
        threads,
    }
}

/// Builds the runtime `--threads` asks for.
pub fn runtime(threads: usize) -> std::io::Result<tokio::runtime::Runtime> {
    if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    }
}

/// User + system CPU time of the whole process (every thread) so far.
pub fn cpu_time() -> Duration {
    // SAFETY: getrusage only writes the struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return Duration::ZERO;
    }
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// What the workers did.
#[derive(Default)]
pub struct Totals {
    pub requests: u64,
    pub errors: u64,
    pub bytes: u64,
    pub first_error: Option<String>,
    pub elapsed: Duration,
    pub cpu: Duration,
}

/// One worker: requests back to back until the deadline.
async fn worker<F: Fetch>(f: F, deadline: Instant) -> Totals {
    let mut t = Totals::default();
    while Instant::now() < deadline {
        match f.fetch().await {
            Ok(n) => {
                t.requests += 1;
                t.bytes += n as u64;
            }
            Err(e) => {
                t.errors += 1;
                t.first_error.get_or_insert(e);
                // A dead server fails at once; don't spin on it.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    t
}

/// Runs `concurrency` workers for the duration and sums what they did. Elapsed time and
/// CPU time cover the start of the first request to the end of the last one.
pub async fn drive<F: Fetch>(f: F, args: &Args) -> Totals {
    let cpu0 = cpu_time();
    let start = Instant::now();
    let deadline = start + args.duration;
    let handles: Vec<_> = (0..args.concurrency)
        .map(|_| tokio::spawn(worker(f.clone(), deadline)))
        .collect();
    let mut sum = Totals::default();
    for h in handles {
        match h.await {
            Ok(t) => {
                sum.requests += t.requests;
                sum.errors += t.errors;
                sum.bytes += t.bytes;
                if sum.first_error.is_none() {
                    sum.first_error = t.first_error;
                }
            }
            Err(e) => {
                sum.errors += 1;
                sum.first_error
                    .get_or_insert(format!("worker panicked: {e}"));
            }
        }
    }
    sum.elapsed = start.elapsed();
    sum.cpu = cpu_time().saturating_sub(cpu0);
    sum
}

/// Prints the JSON line (and the first error on stderr); fails when nothing succeeded.
pub fn report(client: &str, args: &Args, t: &Totals, conns: Option<u64>) -> ExitCode {
    let secs = t.elapsed.as_secs_f64();
    let rps = if secs > 0.0 {
        t.requests as f64 / secs
    } else {
        0.0
    };
    let cpu_us_per_req = if t.requests > 0 {
        t.cpu.as_secs_f64() * 1e6 / t.requests as f64
    } else {
        0.0
    };
    let conns = conns.map_or("null".to_string(), |n| n.to_string());
    println!(
        "{{\"client\":\"{client}\",\"threads\":{},\"http2\":{},\"conns_asked\":{},\"streams\":{},\
         \"concurrency\":{},\"requests\":{},\
         \"errors\":{},\"bytes\":{},\"duration_s\":{secs:.3},\"rps\":{rps:.1},\"conns\":{conns},\
         \"cpu_s\":{:.3},\"cpu_us_per_req\":{cpu_us_per_req:.3}}}",
        args.threads,
        args.http2,
        args.conns,
        args.streams,
        args.concurrency,
        t.requests,
        t.errors,
        t.bytes,
        t.cpu.as_secs_f64(),
    );
    if let Some(e) = &t.first_error {
        eprintln!("{client}: first error: {e}");
    }
    if t.requests == 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
