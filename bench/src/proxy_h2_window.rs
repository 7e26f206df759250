//! The reverse proxy's download speed through an HTTP/2 upstream connection, by the stream
//! window the proxy grants the upstream: an upstream (nethttp, h2c) streams `--mib` MiB in
//! 64 KiB chunks, a `ReverseProxy` with `default_transport` and h2c by prior knowledge sits
//! in front, and our client downloads through it over HTTP/1.1, `--rounds` times, all on one
//! current-thread runtime (one core). Prints MB/s and CPU µs per MiB for each window.
//! `--direct` downloads from the upstream itself over h2c instead (the window then does not
//! apply): the HTTP/2 receive path alone.
//!
//! Usage: proxy-h2-window [--mib 256] [--rounds 5] [--windows 262144,2097152] [--direct]

use std::time::Instant;

// For its `cpu_time` alone; the rest is the load generators'.
#[allow(dead_code)]
#[path = "load_common.rs"]
mod load_common;

use bytes::Bytes;
use http_body_util::BodyExt;
use nethttp::proxy::ReverseProxy;
use nethttp::{Body, HttpRequest, HttpResponse, Server};

fn arg(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| default.to_owned())
}

fn main() {
    let mib: usize = arg("--mib", "256").parse().unwrap();
    let rounds: usize = arg("--rounds", "5").parse().unwrap();
    let windows: Vec<u32> = arg("--windows", "262144,2097152")
        .split(',')
        .map(|w| w.parse().unwrap())
        .collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let upstream = Server::new();
        let listener = upstream.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let up_addr = listener.local_addr().unwrap();
        let _up = upstream.serve(listener, move |_req: HttpRequest| async move {
            let (tx, body) = Body::channel(4);
            tokio::spawn(async move {
                let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
                for _ in 0..mib * 16 {
                    if tx.send_data(chunk.clone()).await.is_err() {
                        return;
                    }
                }
            });
            HttpResponse::new(body)
        });
        let client = if std::env::args().any(|a| a == "--direct") {
            nethttp::Client::builder()
                .transport(|t| t.http2_prior_knowledge(true))
                .build()
                .unwrap()
        } else {
            nethttp::Client::new()
        };
        for &window in &windows {
            let transport = ReverseProxy::default_transport()
                .http2_prior_knowledge(true)
                .http2_initial_window_sizes(window, nethttp::client::DEFAULT_HTTP2_CONN_WINDOW)
                .build()
                .unwrap();
            let proxy = ReverseProxy::builder()
                .upstream(&format!("http://{up_addr}"))
                .transport(transport)
                .build()
                .unwrap();
            let server = Server::new();
            let listener = server.bind("127.0.0.1:0".parse().unwrap()).unwrap();
            let addr = listener.local_addr().unwrap();
            let _proxy = server.serve(listener, proxy);
            let url = if std::env::args().any(|a| a == "--direct") {
                format!("http://{up_addr}/")
            } else {
                format!("http://{addr}/")
            };
            let mut rates = Vec::new();
            let mut cpus = Vec::new();
            for _ in 0..rounds {
                let (t0, c0) = (Instant::now(), load_common::cpu_time());
                let res = client.get(&url).send().await.unwrap();
                let mut body = res.into_body();
                let mut got = 0;
                while let Some(frame) = body.frame().await {
                    if let Ok(data) = frame.unwrap().into_data() {
                        got += data.len();
                    }
                }
                assert_eq!(got, mib << 20);
                let secs = t0.elapsed().as_secs_f64();
                let cpu = (load_common::cpu_time() - c0).as_secs_f64();
                rates.push(mib as f64 * 1.048576 / secs);
                cpus.push(cpu * 1e6 / mib as f64);
            }
            rates.sort_by(f64::total_cmp);
            cpus.sort_by(f64::total_cmp);
            println!(
                "window {window}: median {:.0} MB/s, {:.0} CPU µs per MiB ({rounds} rounds of {mib} MiB)",
                rates[rounds / 2],
                cpus[rounds / 2]
            );
        }
    });
}
