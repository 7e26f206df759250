//! `Client` as a tower `Service` against our own server: a `ServiceBuilder` with tower's
//! `ConcurrencyLimitLayer` and `TimeoutLayer` (the limit honoured, counted at the handler;
//! the timeout firing on a slow route), the client's own errors passing through the layers,
//! tower-http's `DecompressionLayer` inflating what the client then leaves alone, and
//! `http_body_util::Full` request bodies replayable like our own.
#![cfg(feature = "tower")]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use nethttp::client::Decompressed;
use nethttp::http::{header, Request, StatusCode};
use nethttp::{text_response, Body, Client, HttpRequest, ServeMux, Server, ServerHandle};
use tower::{BoxError, Service, ServiceBuilder, ServiceExt};

/// Bound on any one exchange, so a bug fails a test instead of hanging it.
const TIMEOUT: Duration = Duration::from_secs(15);

/// Requests inside the `/count` handler now, and the most there ever were.
#[derive(Default)]
struct InFlight {
    now: AtomicUsize,
    max: AtomicUsize,
    served: AtomicUsize,
}

fn serve(in_flight: Arc<InFlight>) -> ServerHandle {
    let mux = ServeMux::new()
        .route("GET /count", move |_req: HttpRequest| {
            let f = in_flight.clone();
            async move {
                let n = f.now.fetch_add(1, Ordering::SeqCst) + 1;
                f.max.fetch_max(n, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(40)).await;
                f.now.fetch_sub(1, Ordering::SeqCst);
                f.served.fetch_add(1, Ordering::SeqCst);
                text_response(StatusCode::OK, "counted\n")
            }
        })
        .route("GET /slow", |_req: HttpRequest| async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            text_response(StatusCode::OK, "too late\n")
        })
        .route("POST /moved", |_req: HttpRequest| async {
            let mut resp = text_response(StatusCode::TEMPORARY_REDIRECT, "see /echo\n");
            resp.headers_mut()
                .insert(header::LOCATION, "/echo".parse().unwrap());
            resp
        })
        .route("POST /echo", |req: HttpRequest| async move {
            let body = req.into_body().to_bytes(1 << 20).await.unwrap_or_default();
            text_response(StatusCode::OK, body)
        });
    let layered = ServiceBuilder::new()
        .layer(tower_http::compression::CompressionLayer::new())
        .service(nethttp::tower::HandlerService::new(mux));
    let server = Server::new();
    let listener = server.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    server.serve(listener, nethttp::tower::ServiceHandler::new(layered))
}

fn get(url: String) -> Request<Body> {
    Request::get(url).body(Body::empty()).unwrap()
}

#[tokio::test]
async fn concurrency_limit_is_honoured_and_the_timeout_fires() {
    let in_flight = Arc::new(InFlight::default());
    let h = serve(in_flight.clone());
    let svc = ServiceBuilder::new()
        .concurrency_limit(2)
        .timeout(Duration::from_secs(1))
        .service(Client::new());

    // Ten requests at once through clones of the service (they share the limit).
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let svc = svc.clone();
        let url = format!("http://{}/count", h.local_addr());
        tasks.push(tokio::spawn(async move {
            let res = svc.oneshot(get(url)).await?;
            let body = res.into_body().to_bytes(1024).await?;
            Ok::<_, BoxError>(body)
        }));
    }
    for t in tasks {
        let body = tokio::time::timeout(TIMEOUT, t).await.unwrap().unwrap();
        assert_eq!(body.unwrap(), "counted\n");
    }
    assert_eq!(in_flight.served.load(Ordering::SeqCst), 10);
    assert_eq!(
        in_flight.max.load(Ordering::SeqCst),
        2,
        "at most two requests in the handler at once, and the limit was reached"
    );

    // The timeout layer cuts the slow route off.
    let t0 = Instant::now();
    let err = tokio::time::timeout(
        TIMEOUT,
        svc.clone()
            .oneshot(get(format!("http://{}/slow", h.local_addr()))),
    )
    .await
    .unwrap()
    .unwrap_err();
    assert!(err.is::<tower::timeout::error::Elapsed>(), "{err:?}");
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
}

#[tokio::test]
async fn the_client_errors_pass_through_the_layers() {
    // A port nobody listens on: bind one, note it, close it.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut svc = ServiceBuilder::new()
        .concurrency_limit(1)
        .timeout(Duration::from_secs(5))
        .service(Client::new());
    let req = get(format!("http://{addr}/"));
    let err = tokio::time::timeout(TIMEOUT, svc.ready().await.unwrap().call(req))
        .await
        .unwrap()
        .unwrap_err();
    let ours = err.downcast::<nethttp::Error>().expect("a nethttp::Error");
    assert!(ours.is_connect(), "{ours:?}");
}

#[tokio::test]
async fn decompression_layer_inflates_and_the_client_leaves_it_alone() {
    let h = serve(Arc::new(InFlight::default()));
    let body = "a body worth compressing\n".repeat(200);
    let svc = ServiceBuilder::new()
        .layer(tower_http::decompression::DecompressionLayer::new())
        .service(Client::new());
    let req = Request::post(format!("http://{}/echo", h.local_addr()))
        .body(Body::from(body.clone()))
        .unwrap();
    let res = tokio::time::timeout(TIMEOUT, svc.oneshot(req))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // The layer stated its own Accept-Encoding, so the client did not inflate...
    assert!(res.extensions().get::<Decompressed>().is_none());
    // ...and the layer did: Content-Encoding gone, the bytes as sent.
    assert!(res.headers().get(header::CONTENT_ENCODING).is_none());
    let got = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(got, body.as_bytes());
}

/// A 307 is followed only with a body that can be sent again: an `http_body_util::Full`
/// wrapped in our `Body` is, like our own buffered `Body`; a stream is not, and the caller
/// gets the 307.
#[tokio::test]
async fn full_request_bodies_can_be_sent_again() {
    let h = serve(Arc::new(InFlight::default()));
    let url = format!("http://{}/moved", h.local_addr());
    let mut client = Client::new();
    let req = Request::post(url.clone())
        .body(Full::new(Bytes::from_static(b"from Full")))
        .unwrap()
        .map(Body::wrap);
    let res = tokio::time::timeout(TIMEOUT, client.ready().await.unwrap().call(req))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "the 307 was followed");
    assert_eq!(res.into_body().to_bytes(1024).await.unwrap(), "from Full");

    let (tx, body) = Body::channel(1);
    tokio::spawn(async move { tx.send_data("streamed").await });
    let req = Request::post(url).body(body).unwrap();
    let res = tokio::time::timeout(TIMEOUT, client.ready().await.unwrap().call(req))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(res.status(), StatusCode::TEMPORARY_REDIRECT);
}
