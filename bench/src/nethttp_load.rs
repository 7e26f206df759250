//! nethttp-load: nethttp's client in a closed loop — C workers, each sending `GET URL` and
//! reading the whole body, then the next. The frame (flags, runtime, counting, JSON line) is
//! `load_common.rs`, shared with `reqwest-load`, so only the client differs.
//!
//! Usage: nethttp-load URL [-c 64] [-m 1] [--http2] [-d 10] [--threads 1]
//!
//! Each request is `client.execute(Request)` with the URL parsed once up front and the body
//! read with `to_bytes`. `conns` in the report is the pool's own count of TCP dials.
//!
//! `--http2`: the transport gets `http2_prior_knowledge(true)` (h2c) and
//! `max_conns_per_host(C)`; `-c C -m S` runs C × S workers, which share the HTTP/2
//! connections (one carries up to the server's MAX_CONCURRENT_STREAMS requests at once).

#[path = "load_common.rs"]
mod load_common;

use std::process::ExitCode;

use load_common::{drive, parse_args, report, runtime, Fetch};
use nethttp::http::{Request, StatusCode, Uri};
use nethttp::{Body, Client};

/// Largest body read; the benchmark's bodies are a few bytes.
const MAX_BODY: usize = 1 << 20;

#[derive(Clone)]
struct NethttpFetch {
    client: Client,
    uri: Uri,
}

impl Fetch for NethttpFetch {
    async fn fetch(&self) -> Result<usize, String> {
        let mut req = Request::new(Body::empty());
        *req.uri_mut() = self.uri.clone();
        let res = self.client.execute(req).await.map_err(|e| e.to_string())?;
        let status = res.status();
        let body = res
            .into_body()
            .to_bytes(MAX_BODY)
            .await
            .map_err(|e| e.to_string())?;
        if status != StatusCode::OK {
            return Err(format!("status {status}"));
        }
        Ok(body.len())
    }
}

fn main() -> ExitCode {
    let args = parse_args("nethttp-load");
    let uri: Uri = match args.url.parse() {
        Ok(u) => u,
        Err(e) => {
            eprintln!("nethttp-load: bad URL {:?}: {e}", args.url);
            return ExitCode::from(2);
        }
    };
    let rt = match runtime(args.threads) {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("nethttp-load: runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let client = if args.http2 {
        let conns = args.conns;
        Client::builder()
            .transport(|t| t.http2_prior_knowledge(true).max_conns_per_host(conns))
            .build()
    } else {
        Ok(Client::new())
    };
    let client = match client {
        Ok(c) => c,
        Err(e) => {
            eprintln!("nethttp-load: client: {e}");
            return ExitCode::FAILURE;
        }
    };
    let f = NethttpFetch {
        client: client.clone(),
        uri,
    };
    let totals = rt.block_on(drive(f, &args));
    let dials = client.pool_stats().dials;
    report("nethttp", &args, &totals, Some(dials))
}
