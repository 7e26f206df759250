//! What `Client` costs over a bare `Transport::round_trip` for a request that is not
//! redirected, measured: nothing. The redirect loop, the error's method and URL, the URL's
//! userinfo check and the redirect chain of `ResponseExt` allocate nothing on that path (a
//! counting global allocator, per thread; the server runs on a thread of its own).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::Future;

use nethttp::client::ResponseExt;
use nethttp::http::{Request, StatusCode};
use nethttp::{text_response, Body, Client, HttpRequest, Server};

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

/// The fewest allocations on this thread of `runs` runs of `f` (timers and pool
/// housekeeping land in some runs; the request itself is in all of them).
async fn fewest<F, Fut>(runs: usize, f: F) -> usize
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    let mut min = usize::MAX;
    for _ in 0..runs {
        let before = ALLOCS.with(Cell::get);
        f().await;
        min = min.min(ALLOCS.with(Cell::get) - before);
    }
    min
}

/// A server on its own thread and runtime, so its allocations are not counted here.
fn server_thread() -> std::net::SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let server = Server::new();
            let listener = server.bind("127.0.0.1:0".parse().unwrap()).unwrap();
            let handle = server.serve(listener, |_req: HttpRequest| async {
                text_response(StatusCode::OK, "ok")
            });
            tx.send(handle.local_addr()).unwrap();
            std::future::pending::<()>().await;
        });
    });
    rx.recv().unwrap()
}

#[test]
fn a_plain_get_through_client_allocates_what_the_transport_does() {
    let addr = server_thread();
    let url = format!("http://{addr}/");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // No default headers, so both paths write the same head.
        let client = Client::builder().no_default_headers().build().unwrap();
        let via_client = || async {
            let res = client.get(&url).send().await.unwrap();
            assert!(res.extensions().is_empty());
            assert!(res.final_url().is_none());
            assert_eq!(res.into_body().to_bytes(64).await.unwrap(), "ok");
        };
        let via_transport = || async {
            let req = Request::get(url.as_str()).body(Body::empty()).unwrap();
            let res = client.transport().round_trip(req).await.unwrap();
            assert_eq!(res.into_body().to_bytes(64).await.unwrap(), "ok");
        };
        // Warm up: the connection is dialled and pooled, buffers sized.
        for _ in 0..5 {
            via_client().await;
            via_transport().await;
        }
        let transport = fewest(40, via_transport).await;
        let client_path = fewest(40, via_client).await;
        assert_eq!(
            client_path, transport,
            "Client allocated {client_path} times per request, the bare transport {transport}"
        );
        assert_eq!(client.pool_stats().dials, 1);
    });
}
