//! reqwest-load: reqwest's client in a closed loop — C workers, each sending `GET URL` and
//! reading the whole body, then the next. The frame (flags, runtime, counting, JSON line) is
//! `load_common.rs`, shared with `nethttp-load`, so only the client differs.
//!
//! Usage: reqwest-load URL [-c 64] [-m 1] [--http2] [-d 10] [--threads 1]
//!
//! Each request is `client.get(url).send()` with the URL parsed once up front and the body
//! read with `bytes()`. reqwest cannot say how many TCP connections it opened: `conns` in the
//! report is null, and the benchmark counts them at the server.
//!
//! `--http2`: `ClientBuilder::http2_prior_knowledge()` (h2c); `-c C -m S` runs C × S workers.
//! reqwest has no per-host connection cap: its pool shares one HTTP/2 connection per host
//! (requests past the server's MAX_CONCURRENT_STREAMS wait for a stream on it), so `-c`
//! only sets the number of workers together with `-m`.

#[path = "load_common.rs"]
mod load_common;

use std::process::ExitCode;

use load_common::{drive, parse_args, report, runtime, Fetch};

#[derive(Clone)]
struct ReqwestFetch {
    client: reqwest::Client,
    url: reqwest::Url,
}

impl Fetch for ReqwestFetch {
    async fn fetch(&self) -> Result<usize, String> {
        let res = self
            .client
            .get(self.url.clone())
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = res.status();
        let body = res.bytes().await.map_err(|e| e.to_string())?;
        if status != reqwest::StatusCode::OK {
            return Err(format!("status {status}"));
        }
        Ok(body.len())
    }
}

fn main() -> ExitCode {
    let args = parse_args("reqwest-load");
    let url = match reqwest::Url::parse(&args.url) {
        Ok(u) => u,
        Err(e) => {
            eprintln!("reqwest-load: bad URL {:?}: {e}", args.url);
            return ExitCode::from(2);
        }
    };
    let rt = match runtime(args.threads) {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("reqwest-load: runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Built inside the runtime (reqwest's pool spawns on it); no proxy from the environment,
    // as nethttp's client, which uses one only when told to.
    let http2 = args.http2;
    let client = match rt.block_on(async {
        let b = reqwest::Client::builder().no_proxy();
        let b = if http2 { b.http2_prior_knowledge() } else { b };
        b.build()
    }) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("reqwest-load: client: {e}");
            return ExitCode::FAILURE;
        }
    };
    let f = ReqwestFetch { client, url };
    let totals = rt.block_on(drive(f, &args));
    report("reqwest", &args, &totals, None)
}
