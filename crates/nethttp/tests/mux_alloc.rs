//! The router's hot-path promise, measured: matching a request allocates nothing unless it
//! captures wildcard values (a counting global allocator, per thread).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use nethttp::http::header::HOST;
use nethttp::http::{Request, StatusCode};
use nethttp::{text_response, HttpRequest, ServeMux};

struct Counting;

thread_local! {
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: defers to the system allocator; only counts calls on the current thread.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.with(|n| n.set(n.get() + 1));
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.with(|n| n.set(n.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// How many times `f` allocated on this thread.
fn allocations<T>(f: impl FnOnce() -> T) -> usize {
    let before = ALLOCS.with(Cell::get);
    std::hint::black_box(f());
    ALLOCS.with(Cell::get) - before
}

#[test]
fn matching_allocates_only_for_captured_values() {
    let ok = |_req: HttpRequest| async { text_response(StatusCode::OK, "") };
    let mux = ServeMux::new()
        .route("GET /{$}", ok)
        .route("/", ok)
        .route("/static/", ok)
        .route("GET /items/{id}", ok)
        .route("GET /items/new", ok)
        .route("api.example.com/v1/", ok);

    let req = |uri: &str, host: &str| Request::get(uri).header(HOST, host).body(()).unwrap();
    let literal = req("/", "localhost:8080");
    let subtree = req("/static/css/site.css", "localhost");
    let literal_under_wildcard = req("/items/new", "localhost");
    let by_host = req("/v1/users", "API.Example.com:443");
    let fallback_with_redirect_probe = req("/nothing", "localhost");
    let captured = req("/items/42", "localhost");

    for (name, r, pattern) in [
        ("literal", &literal, "GET /{$}"),
        ("subtree", &subtree, "/static/"),
        (
            "literal under wildcard",
            &literal_under_wildcard,
            "GET /items/new",
        ),
        ("host", &by_host, "api.example.com/v1/"),
        ("fallback", &fallback_with_redirect_probe, "/"),
    ] {
        let n = allocations(|| assert_eq!(mux.matched_pattern(r), Some(pattern)));
        assert_eq!(n, 0, "{name}: matching allocated {n} times");
    }
    // Finding a route with wildcards allocates nothing either (`matched_pattern` does not
    // capture the values; serving the request allocates for them alone).
    let n = allocations(|| assert_eq!(mux.matched_pattern(&captured), Some("GET /items/{id}")));
    assert_eq!(n, 0);
    // A request segment with an escape is decoded to compare it with literals: a copy of the
    // segment, once per method table searched (here only the method-less one).
    let mux = ServeMux::new().route("/a%20b", ok).route("/a/", ok);
    let escaped = req("/a%20b", "h");
    assert_eq!(allocations(|| mux.matched_pattern(&escaped)), 1);
}

/// Polls `fut` to completion on this thread (the handlers here never wait).
fn run<F: std::future::Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match fut.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => panic!("the handler waited"),
    }
}

/// Serving through the mux costs one allocation over calling the handler itself: the boxed
/// future of the type-erased route handler (one box, not a box in a box).
#[test]
fn a_routed_request_costs_one_box() {
    use nethttp::Handler;
    let ok = |_req: HttpRequest| async { text_response(StatusCode::OK, "") };
    let mux = ServeMux::new().route("GET /{$}", ok);
    let req = || {
        Request::get("/")
            .header(HOST, "h")
            .body(nethttp::Body::empty())
            .unwrap()
    };
    // Warm up whatever is allocated once (thread-local pools, lazy statics).
    run(mux.call(req()));
    run(ok(req()));
    let (r1, r2) = (req(), req());
    let direct = allocations(|| run(ok(r1)));
    let routed = allocations(|| run(mux.call(r2)));
    assert_eq!(routed, direct + 1, "direct {direct}, routed {routed}");
}
