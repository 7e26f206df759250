//! The operator's view of a running process, served on a listener of its own (never the
//! public one): [`handler`] is a live page of every open server connection and every client
//! pool (Go's `/debug/vars`, but about connections), and with the `metrics` feature
//! [`metrics()`] is the Prometheus exposition of the counters the server and client keep.
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use nethttp::{debug, Server};
//!
//! let public = Server::new().track_connections(true);
//! let app = public.serve(public.bind("0.0.0.0:8080".parse().unwrap())?, |_req| async { "hi" });
//! // The page on loopback only: it shows client addresses and request targets.
//! let admin = Server::new();
//! let page = admin.serve(admin.bind("127.0.0.1:6060".parse().unwrap())?, debug::handler());
//! # let _ = (app, page);
//! # Ok(())
//! # }
//! ```

mod json;
mod page;
#[cfg(feature = "metrics")]
mod prometheus;
pub(crate) mod registry;

#[cfg(feature = "metrics")]
pub use prometheus::{metrics, refresh_gauges};

/// Installs the Prometheus recorder behind `metrics()` (feature `metrics`), if the process
/// has none yet; without the feature, nothing.
pub(crate) fn install_recorder() {
    #[cfg(feature = "metrics")]
    let _ = prometheus::install();
}

use http::{header, HeaderValue, StatusCode};

use crate::handler::Handler;
use crate::request::RequestExt;
use crate::{Body, HttpRequest, HttpResponse};

/// The live connections page: `GET` with no query is the HTML page, which refreshes itself
/// every second from `?format=json`; the JSON lists, for every server started with
/// [`crate::Server::track_connections`], its open connections (remote address, protocol,
/// state, age, requests served, bytes each way and round-trip time from the kernel's
/// `TCP_INFO`, the request in progress and for how long), and for every client transport its
/// pool (per host: idle, active, waiting, HTTP/2 streams in use).
///
/// It shows client addresses and request targets: serve it on a listener of its own, on
/// loopback or behind authentication, never on the public one (`nethttp serve
/// --debug-addr`).
pub fn handler() -> impl Handler + Clone {
    |req: HttpRequest| async move { answer(&req) }
}

fn answer(req: &HttpRequest) -> HttpResponse {
    let format = req
        .query_pairs()
        .find(|(k, _)| k == "format")
        .map(|(_, v)| v.into_owned());
    match format.as_deref() {
        Some("json") => {
            let pools: Vec<_> = registry::pools()
                .into_iter()
                .map(|(id, p)| (id, p.stats()))
                .collect();
            let groups: Vec<_> = registry::groups()
                .into_iter()
                .map(|(id, g)| (id, g.stats()))
                .collect();
            let doc = json::document(&registry::servers(), &pools, &groups);
            with_type(doc.into(), "application/json")
        }
        Some("js") => with_type(page::SCRIPT.into(), "text/javascript; charset=utf-8"),
        None => with_type(page::HTML.into(), "text/html; charset=utf-8"),
        Some(_) => crate::text_response(
            StatusCode::BAD_REQUEST,
            "format is json, or js for the page's script, or none for the page\n",
        ),
    }
}

fn with_type(body: Body, content_type: &'static str) -> HttpResponse {
    let mut resp = HttpResponse::new(body);
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // Only the page's own script runs, and it may only fetch from here.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; \
             frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    resp
}
