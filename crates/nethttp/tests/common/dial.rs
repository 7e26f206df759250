//! What the tests of the client's dial seam (Unix sockets, resolvers, connectors) share: a
//! client built with a bound and no proxy from the environment, a bounded GET that returns the
//! status, version and body, and the handler that answers with what it saw of the request.
#![allow(dead_code)]

use std::time::Duration;

use nethttp::client::TransportBuilder;
use nethttp::http::{StatusCode, Version};
use nethttp::{text_response, Client, HttpRequest, HttpResponse};

use super::unix_peers::within;

/// Bound on every request (and the whole of each GET).
pub const LIMIT: Duration = Duration::from_secs(10);

/// A client with a total timeout of [`LIMIT`] and no proxy (the hosts of these tests are not
/// loopback names, which the environment's proxy would take), configured by `more`.
pub fn client(more: impl FnOnce(TransportBuilder) -> TransportBuilder) -> Client {
    Client::builder()
        .timeout(LIMIT)
        .transport(|t| more(t.no_proxy()))
        .build()
        .expect("build client")
}

/// GET `url` and read the whole body as text, failing the test on any error.
pub async fn get(c: &Client, url: &str) -> (StatusCode, Version, String) {
    within(url, LIMIT, async {
        let res = c
            .get(url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        let (status, version) = (res.status(), res.version());
        let body = res.into_body().to_bytes(1 << 20).await.expect("body");
        (
            status,
            version,
            String::from_utf8(body.to_vec()).expect("UTF-8"),
        )
    })
    .await
}

/// Answers `HOST PATH VERSION`: the `Host` header, or the authority on HTTP/2.
pub async fn describe(req: HttpRequest) -> HttpResponse {
    let host = req
        .headers()
        .get("host")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| req.uri().authority().map(|a| a.to_string()))
        .unwrap_or_default();
    let text = format!("{host} {} {:?}", req.uri().path(), req.version());
    text_response(StatusCode::OK, text)
}
