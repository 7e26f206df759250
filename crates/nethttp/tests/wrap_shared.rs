//! Sharing handlers and state between routes, served over TCP: one `Arc<H>` under two
//! patterns (one handler, one count), a `&'static ServeMux` served and mounted in another
//! mux, and `with_state` holding an `Arc` once per route: the handler reads the `Arc`'s
//! strong count during a request, which proves nothing is cloned per request.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use common::wire::{normalize, ok_text, start, Conn};
use nethttp::http::StatusCode;
use nethttp::wrap::{strip_prefix, with_state};
use nethttp::{text_response, Handler, HttpRequest, HttpResponse, ServeMux, Server};

/// A handler struct: counts the requests it answers.
#[derive(Default)]
struct Counter(AtomicU64);

impl Handler for Counter {
    async fn call(&self, _req: HttpRequest) -> HttpResponse {
        let n = self.0.fetch_add(1, Ordering::Relaxed) + 1;
        text_response(StatusCode::OK, n.to_string())
    }
}

async fn get(c: &mut Conn, target: &str) -> String {
    c.send(format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n"))
        .await;
    normalize(&c.raw_response(false).await)
}

#[tokio::test]
async fn one_arc_handler_under_two_patterns() {
    let counter = Arc::new(Counter::default());
    let mux = ServeMux::new()
        .route("GET /a", counter.clone())
        .route("GET /b", counter.clone());
    let h = start(Server::new(), mux);
    let mut c = Conn::connect(h.local_addr()).await;
    assert_eq!(get(&mut c, "/a").await, ok_text("1"));
    assert_eq!(get(&mut c, "/b").await, ok_text("2"));
    assert_eq!(counter.0.load(Ordering::Relaxed), 2);
}

#[tokio::test]
async fn a_static_mux_served_and_mounted() {
    let api: &'static ServeMux = Box::leak(Box::new(ServeMux::new().route(
        "GET /v1/{name}",
        |req: HttpRequest| async move {
            let name = nethttp::PathValue::path_value(&req, "name")
                .unwrap_or("")
                .to_owned();
            text_response(StatusCode::OK, name)
        },
    )));
    // Served directly, and mounted under /api/ in another mux: the same routes, no copy.
    let direct = start(Server::new(), api);
    let outer = start(
        Server::new(),
        ServeMux::new().route("/api/", strip_prefix("/api", api)),
    );
    let mut c = Conn::connect(direct.local_addr()).await;
    assert_eq!(get(&mut c, "/v1/gopher").await, ok_text("gopher"));
    let mut c = Conn::connect(outer.local_addr()).await;
    assert_eq!(get(&mut c, "/api/v1/ferris").await, ok_text("ferris"));
}

struct App {
    hits: AtomicU64,
}

impl App {
    async fn hit(&self, _req: HttpRequest) -> HttpResponse {
        let n = self.hits.fetch_add(1, Ordering::Relaxed) + 1;
        text_response(StatusCode::OK, n.to_string())
    }
}

#[tokio::test]
async fn with_state_clones_the_arc_once_per_route_never_per_request() {
    let app = Arc::new(App {
        hits: AtomicU64::new(0),
    });
    let mux = ServeMux::new()
        .route(
            "POST /hit",
            with_state(app.clone(), async |app: &Arc<App>, req| app.hit(req).await),
        )
        .route(
            "GET /refs",
            with_state(app.clone(), async |app: &Arc<App>, _req| {
                // Ours, the two routes': no request holds one.
                text_response(StatusCode::OK, Arc::strong_count(app).to_string())
            }),
        );
    let h = start(Server::new(), mux);
    let mut c = Conn::connect(h.local_addr()).await;
    for want in ["1", "2", "3"] {
        c.send("POST /hit HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
            .await;
        assert_eq!(normalize(&c.raw_response(false).await), ok_text(want));
    }
    assert_eq!(get(&mut c, "/refs").await, ok_text("3"));
    assert_eq!(app.hits.load(Ordering::Relaxed), 3);
}

impl App {
    /// A method that can fail: `?` on a parse error answers 400 through `IntoResponse`.
    async fn add(&self, req: HttpRequest) -> Result<String, (StatusCode, String)> {
        let n: u64 = req
            .uri()
            .query()
            .unwrap_or("")
            .parse()
            .map_err(|e| (StatusCode::BAD_REQUEST, format!("not a number: {e}\n")))?;
        Ok((self.hits.fetch_add(n, Ordering::Relaxed) + n).to_string())
    }
}

#[tokio::test]
async fn with_state_takes_functions_that_return_any_response_kind() {
    let app = Arc::new(App {
        hits: AtomicU64::new(0),
    });
    let mux = ServeMux::new()
        .route(
            "GET /add",
            with_state(app.clone(), async |app: &Arc<App>, req| app.add(req).await),
        )
        // A method taking `&self` is a state function as it is, when the state is the app.
        .route(
            "GET /own",
            with_state(
                App {
                    hits: AtomicU64::new(100),
                },
                App::add,
            ),
        );
    let h = start(Server::new(), mux);
    let mut c = Conn::connect(h.local_addr()).await;
    assert_eq!(get(&mut c, "/add?5").await, ok_text("5"));
    assert_eq!(get(&mut c, "/add?2").await, ok_text("7"));
    let bad = get(&mut c, "/add?x").await;
    assert!(bad.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{bad}");
    assert!(
        bad.ends_with("not a number: invalid digit found in string\n"),
        "{bad}"
    );
    assert_eq!(app.hits.load(Ordering::Relaxed), 7);
    assert_eq!(get(&mut c, "/own?1").await, ok_text("101"));
}
