//! `ClientBuilder::retry_status`: a `429`/`503` is sent again after the server's
//! `Retry-After` (seconds or a date) or a backoff, at most `max_retries` times, only for
//! requests that are safe to resend (idempotent or with an `Idempotency-Key`, body in
//! memory), never past the total timeout, a `max_wait` or the retry budget; off by default.
//! The server counts what reached it, so every retry (and every refusal to retry) is seen.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::wire::start;
use nethttp::client::StatusRetry;
use nethttp::http::{HeaderValue, StatusCode};
use nethttp::{Body, Client, HttpRequest, HttpResponse, Server, ServerHandle};

/// A server that answers `refusals` times with `status` (and `retry_after`, if any), then
/// 200 with the body it was sent; it counts every request.
fn refusing(
    status: StatusCode,
    refusals: usize,
    retry_after: Option<&'static str>,
) -> (ServerHandle, Arc<AtomicUsize>) {
    let seen = Arc::new(AtomicUsize::new(0));
    let count = seen.clone();
    let h = start(Server::new(), move |req: HttpRequest| {
        let n = count.fetch_add(1, Ordering::SeqCst);
        async move {
            if n < refusals {
                let mut res = nethttp::text_response(status, "not now\n");
                if let Some(v) = retry_after {
                    res.headers_mut()
                        .insert("retry-after", HeaderValue::from_static(v));
                }
                return res;
            }
            let body = req.into_body().to_bytes(1 << 20).await.unwrap_or_default();
            HttpResponse::new(Body::from(body))
        }
    });
    (h, seen)
}

fn client(policy: Option<StatusRetry>) -> Client {
    let mut b = Client::builder().timeout(Duration::from_secs(10));
    if let Some(p) = policy {
        b = b.retry_status(p);
    }
    b.build().unwrap()
}

fn quick() -> StatusRetry {
    StatusRetry {
        base_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(100),
        ..StatusRetry::new()
    }
}

#[tokio::test]
async fn a_503_with_retry_after_is_retried_after_the_wait() {
    let (h, seen) = refusing(StatusCode::SERVICE_UNAVAILABLE, 1, Some("1"));
    let url = format!("http://{}/", h.local_addr());
    let t0 = Instant::now();
    let res = client(Some(quick())).get(&url).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(seen.load(Ordering::SeqCst), 2);
    assert!(t0.elapsed() >= Duration::from_secs(1), "{:?}", t0.elapsed());
}

#[tokio::test]
async fn a_429_without_retry_after_backs_off_and_gives_up_after_max_retries() {
    let (h, seen) = refusing(StatusCode::TOO_MANY_REQUESTS, 100, None);
    let url = format!("http://{}/", h.local_addr());
    let res = client(Some(quick())).get(&url).send().await.unwrap();
    // The last refusal is handed back as it is.
    assert_eq!(res.status(), 429);
    assert_eq!(
        seen.load(Ordering::SeqCst),
        3,
        "one request and two retries"
    );
}

#[tokio::test]
async fn off_by_default_and_for_other_statuses() {
    let (h, seen) = refusing(StatusCode::SERVICE_UNAVAILABLE, 1, Some("0"));
    let url = format!("http://{}/", h.local_addr());
    let res = client(None).get(&url).send().await.unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(seen.load(Ordering::SeqCst), 1);

    let (h, seen) = refusing(StatusCode::INTERNAL_SERVER_ERROR, 1, Some("0"));
    let url = format!("http://{}/", h.local_addr());
    let res = client(Some(quick())).get(&url).send().await.unwrap();
    assert_eq!(res.status(), 500);
    assert_eq!(seen.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_post_is_retried_only_with_an_idempotency_key() {
    let (h, seen) = refusing(StatusCode::SERVICE_UNAVAILABLE, 1, Some("0"));
    let url = format!("http://{}/", h.local_addr());
    let c = client(Some(quick()));
    let res = c.post(&url).body("order 1").send().await.unwrap();
    assert_eq!(res.status(), 503, "a POST is not sent twice");
    assert_eq!(seen.load(Ordering::SeqCst), 1);

    let (h, seen) = refusing(StatusCode::SERVICE_UNAVAILABLE, 1, Some("0"));
    let url = format!("http://{}/", h.local_addr());
    let res = c
        .post(&url)
        .header("idempotency-key", "8e03978e-40d5-43e8-bc93-6894a57f9324")
        .body("order 1")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // The body went again, whole.
    assert_eq!(res.into_body().to_bytes(1024).await.unwrap(), "order 1");
    assert_eq!(seen.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_streamed_body_is_not_retried() {
    let (h, seen) = refusing(StatusCode::SERVICE_UNAVAILABLE, 1, Some("0"));
    let url = format!("http://{}/", h.local_addr());
    let (tx, body) = Body::channel(1);
    tokio::spawn(async move {
        let _ = tx.send_data("streamed").await;
    });
    let res = client(Some(quick()))
        .put(&url)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503, "a body read once cannot go again");
    assert_eq!(seen.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_wait_past_max_wait_or_the_total_timeout_hands_the_response_back() {
    let (h, seen) = refusing(StatusCode::SERVICE_UNAVAILABLE, 1, Some("3600"));
    let url = format!("http://{}/", h.local_addr());
    let t0 = Instant::now();
    let res = client(Some(quick())).get(&url).send().await.unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(seen.load(Ordering::SeqCst), 1);
    assert!(t0.elapsed() < Duration::from_secs(2));

    // Within max_wait, but past the request's total timeout: not waited for either.
    let (h, seen) = refusing(StatusCode::SERVICE_UNAVAILABLE, 1, Some("5"));
    let url = format!("http://{}/", h.local_addr());
    let t0 = Instant::now();
    let res = client(Some(quick()))
        .get(&url)
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(seen.load(Ordering::SeqCst), 1);
    assert!(t0.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn retries_stop_when_the_retry_budget_is_spent() {
    let (h, seen) = refusing(StatusCode::SERVICE_UNAVAILABLE, 100, Some("0"));
    let url = format!("http://{}/", h.local_addr());
    // One retry per minute, whatever the request count.
    let c = Client::builder()
        .retry_status(quick())
        .transport(|t| t.retry_budget(0.0, 1, Duration::from_secs(60)))
        .build()
        .unwrap();
    for _ in 0..3 {
        let res = c.get(&url).send().await.unwrap();
        assert_eq!(res.status(), 503);
    }
    assert_eq!(
        seen.load(Ordering::SeqCst),
        4,
        "three requests and the budget's one retry"
    );
}
