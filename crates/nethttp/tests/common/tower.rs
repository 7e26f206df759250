//! What the tower-bridge tests share (`tower_axum.rs`, `tower_mux.rs`): the tower-http layer
//! stack both apps run under, the routes both apps answer the same way, the checks made
//! through our client and through curl, and a tracing layer that counts TraceLayer's spans.
//! Included by those test files only (`#[path]`), so other test binaries do not build it.
#![allow(dead_code)]

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;
use std::time::{Duration, Instant};

use nethttp::client::Decompressed;
use nethttp::http::{header, Method, Request, StatusCode, Version};
use nethttp::{Body, Client};

/// `RequestBodyLimitLayer`'s limit.
pub const BODY_LIMIT: usize = 1024;
/// `TimeoutLayer`'s deadline; `/slow` takes [`SLOW_ROUTE`].
pub const SLOW_TIMEOUT: Duration = Duration::from_millis(300);
pub const SLOW_ROUTE: Duration = Duration::from_secs(5);
/// The origin the CORS layer allows.
pub const ORIGIN: &str = "http://example.test";
/// Bound on any one exchange, so a bug fails a test instead of hanging it.
pub const TIMEOUT: Duration = Duration::from_secs(15);

/// The compressible body of `/big`.
pub fn big() -> String {
    "nethttp serves this through the tower bridge.\n".repeat(400)
}

/// The JSON `/api/items/{id}?verbose=...` answers, with `greeting` from the app's state.
pub fn item_json(id: u32, verbose: bool) -> serde_json::Value {
    serde_json::json!({ "id": id, "verbose": verbose, "greeting": "hi" })
}

/// The stack of tower-http layers both apps run under, outermost first: TraceLayer,
/// compression, a body limit of [`BODY_LIMIT`], CORS for [`ORIGIN`], and a timeout of
/// [`SLOW_TIMEOUT`] answering 408. (CORS and the timeout make responses of their own, so
/// they sit where the response body type is still the app's, which has a `Default`.)
macro_rules! http_layers {
    () => {
        tower::ServiceBuilder::new()
            .layer(tower_http::trace::TraceLayer::new_for_http())
            .layer(tower_http::compression::CompressionLayer::new())
            .layer(tower_http::limit::RequestBodyLimitLayer::new(
                tower_common::BODY_LIMIT,
            ))
            .layer(
                tower_http::cors::CorsLayer::new()
                    .allow_origin(nethttp::http::HeaderValue::from_static(
                        tower_common::ORIGIN,
                    ))
                    .allow_methods([nethttp::http::Method::GET, nethttp::http::Method::POST])
                    .allow_headers([nethttp::http::header::CONTENT_TYPE])
                    .max_age(std::time::Duration::from_secs(600)),
            )
            .layer(tower_http::timeout::TimeoutLayer::with_status_code(
                nethttp::http::StatusCode::REQUEST_TIMEOUT,
                tower_common::SLOW_TIMEOUT,
            ))
    };
}
pub(crate) use http_layers;

// ---------------------------------------------------------------------------------------------
// TraceLayer, observed.

static SPANS: AtomicU64 = AtomicU64::new(0);
static RESPONSES: AtomicU64 = AtomicU64::new(0);

/// Counts the `request` spans TraceLayer opens and the "finished processing request" events
/// it logs when a response is ready.
struct TraceCounter;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for TraceCounter {
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        _id: &tracing::span::Id,
        _ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let meta = attrs.metadata();
        if meta.name() == "request" && meta.target().starts_with("tower_http::trace") {
            SPANS.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn on_event(
        &self,
        event: &tracing::Event<'_>,
        _ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        if event.metadata().target() == "tower_http::trace::on_response" {
            RESPONSES.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Installs the counting subscriber for the whole test binary (once).
pub fn count_traces() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        use tracing_subscriber::layer::SubscriberExt;
        let subscriber = tracing_subscriber::registry().with(TraceCounter);
        tracing::subscriber::set_global_default(subscriber).expect("one global subscriber");
    });
}

/// (spans opened, responses logged) by TraceLayer so far, in this binary.
pub fn traces() -> (u64, u64) {
    (
        SPANS.load(Ordering::Relaxed),
        RESPONSES.load(Ordering::Relaxed),
    )
}

/// Runs `f` and asserts that TraceLayer opened a span and logged a response for at least
/// `requests` requests meanwhile (other tests may add to the counts, never take from them).
pub async fn traced<F: std::future::Future<Output = ()>>(requests: u64, f: F) {
    count_traces();
    let (spans, responses) = traces();
    f.await;
    let (spans2, responses2) = traces();
    assert!(
        spans2 - spans >= requests,
        "TraceLayer opened {} spans for {requests} requests",
        spans2 - spans
    );
    assert!(
        responses2 - responses >= requests,
        "TraceLayer logged {} responses for {requests} requests",
        responses2 - responses
    );
}

// ---------------------------------------------------------------------------------------------
// Checks through our client.

async fn bounded<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(TIMEOUT, f)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer within {TIMEOUT:?}"))
}

async fn text(res: nethttp::http::Response<Body>) -> String {
    let body = bounded("body", res.into_body().to_bytes(1 << 20))
        .await
        .expect("body");
    String::from_utf8(body.to_vec()).expect("utf-8 body")
}

/// The requests [`check_app`] makes (for the trace counts).
pub const CHECK_APP_REQUESTS: u64 = 11;

/// Every route and layer of the app at `base` (e.g. `http://127.0.0.1:PORT`), through
/// `client`, expecting responses in `version`.
pub async fn check_app(client: &Client, base: &str, version: Version) {
    let send = |req: Request<Body>| async move {
        let res = bounded("request", client.execute(req))
            .await
            .expect("request");
        assert_eq!(res.version(), version);
        res
    };
    let get = |path: &str| {
        Request::get(format!("{base}{path}"))
            .body(Body::empty())
            .unwrap()
    };

    // A plain answer.
    let res = send(get("/")).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(text(res).await, "hello\n");

    // Path, Query and the state, answered as JSON, through a nested router.
    let res = send(get("/api/items/42?verbose=true")).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[header::CONTENT_TYPE], "application/json");
    let v: serde_json::Value = serde_json::from_str(&text(res).await).unwrap();
    assert_eq!(v, item_json(42, true));

    // JSON in, JSON out.
    let req = Request::post(format!("{base}/api/echo"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(r#"{"name":"x","n":1}"#))
        .unwrap();
    let res = send(req).await;
    assert_eq!(res.status(), StatusCode::OK);
    let v: serde_json::Value = serde_json::from_str(&text(res).await).unwrap();
    assert_eq!(v, serde_json::json!({"name": "x", "n": 2}));

    // CompressionLayer: our client asks for gzip, gets it and inflates it.
    let res = send(get("/big")).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.extensions().get::<Decompressed>(),
        Some(&Decompressed),
        "the answer came gzipped"
    );
    assert_eq!(text(res).await, big());

    // CORS: a preflight, then a simple request from the allowed origin.
    let req = Request::builder()
        .method(Method::OPTIONS)
        .uri(format!("{base}/api/echo"))
        .header(header::ORIGIN, ORIGIN)
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "content-type")
        .body(Body::empty())
        .unwrap();
    let res = send(req).await;
    assert_eq!(res.status(), StatusCode::OK);
    let h = res.headers();
    assert_eq!(h[header::ACCESS_CONTROL_ALLOW_ORIGIN], ORIGIN);
    assert!(
        h[header::ACCESS_CONTROL_ALLOW_METHODS]
            .to_str()
            .unwrap()
            .contains("POST"),
        "{h:?}"
    );
    assert_eq!(h[header::ACCESS_CONTROL_ALLOW_HEADERS], "content-type");
    assert_eq!(h[header::ACCESS_CONTROL_MAX_AGE], "600");
    let req = Request::get(format!("{base}/"))
        .header(header::ORIGIN, ORIGIN)
        .body(Body::empty())
        .unwrap();
    let res = send(req).await;
    assert_eq!(res.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], ORIGIN);
    assert_eq!(text(res).await, "hello\n");

    // TimeoutLayer: the slow route is cut off with 408, long before it would answer.
    let t0 = Instant::now();
    let res = send(get("/slow")).await;
    assert_eq!(res.status(), StatusCode::REQUEST_TIMEOUT);
    assert!(t0.elapsed() < SLOW_ROUTE / 2, "{:?}", t0.elapsed());

    // RequestBodyLimitLayer: a declared length over the limit, then a streamed body that
    // grows past it; a body under the limit goes through.
    let req = Request::post(format!("{base}/upload"))
        .body(Body::from(vec![b'a'; 4 * BODY_LIMIT]))
        .unwrap();
    assert_eq!(send(req).await.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let (tx, body) = Body::channel(8);
    tokio::spawn(async move {
        for _ in 0..4 {
            if tx.send_data(vec![b'b'; BODY_LIMIT]).await.is_err() {
                break;
            }
        }
    });
    let req = Request::post(format!("{base}/upload")).body(body).unwrap();
    assert_eq!(send(req).await.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let req = Request::post(format!("{base}/upload"))
        .body(Body::from(vec![b'c'; 100]))
        .unwrap();
    let res = send(req).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(text(res).await, "got 100 bytes\n");

    // The connection's addresses reach the app as a request extension.
    let res = send(get("/peer")).await;
    assert_eq!(text(res).await, "127.0.0.1\n");
}

// ---------------------------------------------------------------------------------------------
// Checks through curl.

/// The requests [`check_with_curl`] makes.
pub const CHECK_CURL_REQUESTS: u64 = 5;

/// Runs curl (quiet but showing errors, bounded, no proxy) with `args`; its stdout.
async fn curl(bin: &Path, args: &[&str]) -> String {
    let out = tokio::process::Command::new(bin)
        .args(["-sS", "--noproxy", "*", "--max-time", "12"])
        .args(args)
        .output()
        .await
        .expect("run curl");
    assert!(
        out.status.success(),
        "curl {:.300}: {}",
        format!("{args:?}"),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// The app at `base` through curl with `proto` (e.g. `--http2-prior-knowledge`, or `--http2
/// --cacert PEM`), whose responses carry `status_line` (`HTTP/1.1 200` or `HTTP/2 200`).
pub async fn check_with_curl(bin: &Path, base: &str, proto: &[&str], status_line: &str) {
    let with = |args: &[&str]| {
        let mut all: Vec<String> = proto.iter().map(|s| s.to_string()).collect();
        all.extend(args.iter().map(|s| s.to_string()));
        all
    };
    let run = |args: Vec<String>| async move {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        curl(bin, &refs).await
    };

    // Compression, as curl --compressed asks for it and inflates it.
    let out = run(with(&["--compressed", "-i", &format!("{base}/big")])).await;
    assert!(
        out.starts_with(status_line),
        "{}",
        &out[..200.min(out.len())]
    );
    let lower = out.to_ascii_lowercase();
    assert!(
        lower.contains("\r\ncontent-encoding: gzip\r\n"),
        "{lower:.400}"
    );
    assert!(out.ends_with(&big()), "curl inflated the body");

    // A CORS preflight.
    let out = run(with(&[
        "-i",
        "-X",
        "OPTIONS",
        "-H",
        &format!("Origin: {ORIGIN}"),
        "-H",
        "Access-Control-Request-Method: POST",
        &format!("{base}/api/echo"),
    ]))
    .await;
    let lower = out.to_ascii_lowercase();
    assert!(out.starts_with(status_line), "{out}");
    assert!(
        lower.contains(&format!("\r\naccess-control-allow-origin: {ORIGIN}\r\n")),
        "{out}"
    );

    // JSON in, JSON out.
    let out = run(with(&[
        "-H",
        "content-type: application/json",
        "--data-binary",
        r#"{"name":"curl","n":41}"#,
        &format!("{base}/api/echo"),
    ]))
    .await;
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON from the app");
    assert_eq!(v, serde_json::json!({"name": "curl", "n": 42}));

    // The timeout and the body limit, by status code.
    let code = |path: &str, data: Option<&str>| {
        let mut args = vec!["-o", "/dev/null", "-w", "%{http_code}"];
        if let Some(d) = data {
            args.extend(["--data-binary", d]);
        }
        let url = format!("{base}{path}");
        let args = with(&[&args[..], &[url.as_str()]].concat());
        run(args)
    };
    assert_eq!(code("/slow", None).await, "408");
    if status_line.starts_with("HTTP/1.1") {
        // Over HTTP/2 an answer given before the request body was read is sometimes seen by
        // curl as "Stream error in the HTTP/2 framing layer", with or without the bridge
        // (`nethttp serve` answering 405 to a POST does it too); our client checks the 413
        // over HTTP/2 in `check_app`.
        let large = "z".repeat(4 * BODY_LIMIT);
        assert_eq!(code("/upload", Some(&large)).await, "413");
    }
}
