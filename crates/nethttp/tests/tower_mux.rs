//! A `ServeMux` under tower-http's layers and back: `HandlerService` makes the mux a tower
//! `Service`, the same TraceLayer, CorsLayer, CompressionLayer, RequestBodyLimitLayer and
//! TimeoutLayer as the axum tests wrap it, and `ServiceHandler` serves the result on our
//! server, over HTTP/1.1, h2c and TLS, with our client and curl as peers (curl missing: the
//! test is skipped with a note, or fails under `CI=true`).
#![cfg(feature = "tower")]

mod common;
#[path = "common/tower.rs"]
mod tower_common;

use std::error::Error as _;

use common::peers::peer;
use nethttp::http::{header, HeaderValue, StatusCode, Version};
use nethttp::test::TestServer;
use nethttp::tower::{HandlerService, ServiceHandler};
use nethttp::{text_response, Body, Client, ConnInfo, HttpRequest, HttpResponse, PathValue};
use nethttp::{ServeMux, Server};
use tower_common::{check_app, check_with_curl, http_layers, traced};

fn json(v: &serde_json::Value) -> HttpResponse {
    let mut resp = HttpResponse::new(Body::from(v.to_string()));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// Reads the request body; a body cut off by `RequestBodyLimitLayer` answers 413.
async fn read(req: HttpRequest) -> Result<bytes::Bytes, HttpResponse> {
    req.into_body().to_bytes(1 << 20).await.map_err(|e| {
        let limited = e
            .source()
            .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
        let status = if limited {
            StatusCode::PAYLOAD_TOO_LARGE
        } else {
            StatusCode::BAD_REQUEST
        };
        text_response(status, "bad body\n")
    })
}

/// The `/api/` mux, mounted in the outer one (patterns carry the prefix, as in Go).
fn api() -> ServeMux {
    ServeMux::new()
        .route("GET /api/items/{id}", |req: HttpRequest| async move {
            let id = req.path_value("id").and_then(|s| s.parse().ok());
            let verbose = req.uri().query() == Some("verbose=true");
            match id {
                Some(id) => json(&tower_common::item_json(id, verbose)),
                None => text_response(StatusCode::BAD_REQUEST, "bad id\n"),
            }
        })
        .route("POST /api/echo", |req: HttpRequest| async move {
            let body = match read(req).await {
                Ok(b) => b,
                Err(resp) => return resp,
            };
            match serde_json::from_slice::<serde_json::Value>(&body) {
                Ok(mut v) => {
                    v["n"] = (v["n"].as_u64().unwrap_or(0) + 1).into();
                    json(&v)
                }
                Err(_) => text_response(StatusCode::BAD_REQUEST, "bad json\n"),
            }
        })
}

/// The mux: the routes `tower_common::check_app` expects.
fn mux() -> ServeMux {
    ServeMux::new()
        .route("GET /{$}", |_req: HttpRequest| async {
            text_response(StatusCode::OK, "hello\n")
        })
        .route("GET /big", |_req: HttpRequest| async {
            text_response(StatusCode::OK, tower_common::big())
        })
        .route("GET /slow", |_req: HttpRequest| async {
            tokio::time::sleep(tower_common::SLOW_ROUTE).await;
            text_response(StatusCode::OK, "too late\n")
        })
        .route("POST /upload", |req: HttpRequest| async move {
            match read(req).await {
                Ok(b) => text_response(StatusCode::OK, format!("got {} bytes\n", b.len())),
                Err(resp) => resp,
            }
        })
        .route("GET /peer", |req: HttpRequest| async move {
            match req.extensions().get::<ConnInfo>() {
                Some(info) => text_response(StatusCode::OK, format!("{}\n", info.remote_addr.ip())),
                None => text_response(StatusCode::INTERNAL_SERVER_ERROR, "no ConnInfo\n"),
            }
        })
        .route("/api/", api())
}

/// Serves the layered mux on a loopback port (`nethttp::test`); with `tls`, HTTPS with a
/// certificate for `localhost` that the server's clients trust.
async fn serve(tls: bool) -> TestServer {
    let server = Server::new().conn_info(true);
    let handler = ServiceHandler::new(http_layers!().service(HandlerService::new(mux())));
    if tls {
        TestServer::start_tls_with(server, handler).await
    } else {
        TestServer::start_with(server, handler).await
    }
}

/// The server's URL without the trailing slash: the checks append their paths.
fn base_url(srv: &TestServer) -> String {
    srv.url("/").trim_end_matches('/').to_owned()
}

/// The server's certificate in a PEM file, for curl's `--cacert`.
fn ca_file(srv: &TestServer, dir: &tempfile::TempDir) -> String {
    let path = dir.path().join("ca.pem");
    std::fs::write(&path, srv.certificate().unwrap().cert_pem()).unwrap();
    path.to_str().unwrap().to_owned()
}

#[tokio::test]
async fn layered_mux_over_http1_and_h2c() {
    let h = serve(false).await;
    let base = base_url(&h);
    traced(2 * tower_common::CHECK_APP_REQUESTS, async {
        check_app(&Client::new(), &base, Version::HTTP_11).await;
        let h2c = h
            .client_builder()
            .transport(|t| t.http2_prior_knowledge(true))
            .build()
            .unwrap();
        check_app(&h2c, &base, Version::HTTP_2).await;
    })
    .await;
}

#[tokio::test]
async fn layered_mux_over_tls_h2_and_http1() {
    let h = serve(true).await;
    let base = base_url(&h);
    check_app(&h.client(), &base, Version::HTTP_2).await;
    let h1 = h
        .client_builder()
        .transport(|t| t.http2(false))
        .build()
        .unwrap();
    check_app(&h1, &base, Version::HTTP_11).await;
}

#[tokio::test]
async fn layered_mux_with_curl_over_http1_h2c_and_tls() {
    let Some(curl) = peer("curl", "--version", &[]) else {
        return;
    };
    let h = serve(false).await;
    let base = base_url(&h);
    check_with_curl(&curl, &base, &[], "HTTP/1.1 200").await;
    check_with_curl(&curl, &base, &["--http2-prior-knowledge"], "HTTP/2 200").await;
    let h = serve(true).await;
    let base = base_url(&h);
    let dir = tempfile::tempdir().unwrap();
    let ca = &ca_file(&h, &dir);
    check_with_curl(&curl, &base, &["--http2", "--cacert", ca], "HTTP/2 200").await;
}

/// A 404 from the mux and its 405 with `Allow` come through the layers unchanged.
#[tokio::test]
async fn the_mux_own_answers_pass_the_layers() {
    let h = serve(false).await;
    let c = Client::new();
    let res = c
        .get(format!("http://{}/nowhere", h.addr()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = c
        .delete(format!("http://{}/big", h.addr()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(res.headers()[header::ALLOW]
        .to_str()
        .unwrap()
        .contains("GET"));
}
