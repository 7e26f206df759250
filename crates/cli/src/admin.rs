//! `serve` and `proxy`'s operator listeners, apart from the public one: `--metrics-addr`
//! (Prometheus text at `/metrics`) and `--debug-addr` (the live connections page at `/`, its
//! JSON at `/?format=json`). The same address for both (a fixed port) serves both.

use clap::Args;
use nethttp::mux::ServeMux;
use nethttp::net::BindOptions;
use nethttp::{debug, Server, ServerHandle};

use crate::listen_addr;

#[derive(Args, Debug, Clone, Default)]
pub struct AdminArgs {
    /// Serve Prometheus metrics at http://ADDR/metrics, on a listener of its own (never the
    /// public one): requests, durations, rejections, connections, TLS failures, client pools.
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<String>,
    /// Serve the live connections page at http://ADDR/ (and its JSON at /?format=json), on a
    /// listener of its own: every open connection, its state and current request. It shows
    /// client addresses: keep ADDR on loopback or behind authentication.
    #[arg(long, value_name = "ADDR")]
    pub debug_addr: Option<String>,
}

impl AdminArgs {
    /// Whether the public server must keep live records of its connections.
    pub fn tracks(&self) -> bool {
        self.metrics_addr.is_some() || self.debug_addr.is_some()
    }

    /// Starts the operator listeners asked for; their handles keep them serving.
    pub fn start(&self) -> Result<Vec<ServerHandle>, String> {
        let mut handles = Vec::new();
        // Port 0 twice means two free ports, not one.
        let same = self.metrics_addr.is_some()
            && self.metrics_addr == self.debug_addr
            && !self
                .metrics_addr
                .as_deref()
                .is_some_and(|a| a.ends_with(":0"));
        if let Some(addr) = &self.metrics_addr {
            let mut mux = ServeMux::new();
            mux.handle("GET /metrics", debug::metrics())
                .map_err(|e| e.to_string())?;
            if same {
                mux.handle("GET /{$}", debug::handler())
                    .map_err(|e| e.to_string())?;
            }
            let h = listen(addr, mux, "--metrics-addr")?;
            tracing::info!("metrics on http://{}/metrics", h.local_addr());
            if same {
                tracing::info!("debug page on http://{}/", h.local_addr());
            }
            handles.push(h);
        }
        if let (Some(addr), false) = (&self.debug_addr, same) {
            let mut mux = ServeMux::new();
            mux.handle("GET /{$}", debug::handler())
                .map_err(|e| e.to_string())?;
            let h = listen(addr, mux, "--debug-addr")?;
            tracing::info!("debug page on http://{}/", h.local_addr());
            handles.push(h);
        }
        Ok(handles)
    }
}

/// Serves `mux` on the first of `addr`'s candidates that binds, with SO_REUSEPORT: a
/// successor started by SIGUSR2 binds the same address while this process drains.
fn listen(addr: &str, mux: ServeMux, flag: &str) -> Result<ServerHandle, String> {
    let server = Server::new().bind_options(BindOptions {
        reuse_port: true,
        ..BindOptions::default()
    });
    let mut last = None;
    for a in listen_addr::resolve(addr)? {
        match server.bind(a) {
            Ok(l) => return Ok(server.serve(l, mux)),
            Err(e) => last = Some(e),
        }
    }
    let e = last.map_or_else(|| "no address".to_owned(), |e| e.to_string());
    Err(format!("{flag} {addr}: {e}"))
}
