//! An axum `Router` served by nethttp, unchanged: state, extractors (`Path`, `Query`, `Json`,
//! `Extension<ConnInfo>`), a nested router and tower-http layers (trace, compression,
//! timeout), handed to `Server::serve` through `nethttp::tower::ServiceHandler`.
//!
//! ```text
//! cargo run --example axum_on_nethttp                   # serves 127.0.0.1:3000 until Ctrl-C
//! cargo run --example axum_on_nethttp -- --addr 127.0.0.1:8080
//! cargo run --example axum_on_nethttp -- --self-test    # a free port, asks itself, exits
//! curl -i --compressed http://127.0.0.1:3000/api/items/7?verbose=true
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Extension, Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use nethttp::http::StatusCode;
use nethttp::tower::ServiceHandler;
use nethttp::{Client, ConnInfo, Server};
use serde::{Deserialize, Serialize};
use tower_http::compression::CompressionLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};
use tracing::Level;

/// What every handler shares.
struct AppState {
    visits: AtomicU64,
}

#[derive(Deserialize)]
struct ItemQuery {
    #[serde(default)]
    verbose: bool,
}

#[derive(Serialize, Deserialize)]
struct Note {
    text: String,
}

async fn hello(State(state): State<Arc<AppState>>, Extension(conn): Extension<ConnInfo>) -> String {
    let n = state.visits.fetch_add(1, Ordering::Relaxed) + 1;
    format!("hello {}, visit {n}\n", conn.remote_addr)
}

async fn item(Path(id): Path<u32>, Query(q): Query<ItemQuery>) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "id": id, "verbose": q.verbose }))
}

async fn shout(Json(note): Json<Note>) -> Json<Note> {
    Json(Note {
        text: note.text.to_uppercase(),
    })
}

fn app() -> Router {
    let api = Router::new()
        .route("/items/{id}", get(item))
        .route("/shout", post(shout));
    Router::new()
        .route("/", get(hello))
        .nest("/api", api)
        .with_state(Arc::new(AppState {
            visits: AtomicU64::new(0),
        }))
        .layer(
            tower::ServiceBuilder::new()
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(DefaultMakeSpan::new().level(Level::INFO))
                        .on_response(DefaultOnResponse::new().level(Level::INFO)),
                )
                .layer(CompressionLayer::new())
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::REQUEST_TIMEOUT,
                    Duration::from_secs(10),
                )),
        )
}

/// Asks the server at `addr` for each route and checks the answers.
async fn self_test(addr: std::net::SocketAddr) -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::new();
    let base = format!("http://{addr}");
    let hello = client.get(format!("{base}/")).send().await?;
    let hello = hello.into_body().to_bytes(1 << 16).await?;
    println!(
        "GET /            -> {}",
        String::from_utf8_lossy(&hello).trim_end()
    );
    let item = client
        .get(format!("{base}/api/items/7?verbose=true"))
        .send()
        .await?;
    let item = item.into_body().to_bytes(1 << 16).await?;
    println!("GET /api/items/7 -> {}", String::from_utf8_lossy(&item));
    let shout = client
        .post(format!("{base}/api/shout"))
        .header("content-type", "application/json")
        .body(r#"{"text":"served by nethttp"}"#)
        .send()
        .await?;
    let shout = shout.into_body().to_bytes(1 << 16).await?;
    println!("POST /api/shout  -> {}", String::from_utf8_lossy(&shout));
    if !hello.starts_with(b"hello 127.0.0.1:")
        || item.as_ref() != br#"{"id":7,"verbose":true}"#
        || shout.as_ref() != br#"{"text":"SERVED BY NETHTTP"}"#
    {
        return Err("unexpected answer".into());
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // TraceLayer's lines on stderr, coloured only on a terminal.
    tracing_subscriber::fmt()
        .with_max_level(Level::INFO)
        .with_target(false)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let mut args = std::env::args().skip(1);
    let (mut addr, mut test) = ("127.0.0.1:3000".to_string(), false);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--self-test" => (addr, test) = ("127.0.0.1:0".into(), true),
            "--addr" => addr = args.next().ok_or("--addr needs a value")?,
            _ => return Err(format!("unknown argument {a:?}").into()),
        }
    }

    let server = Server::new().conn_info(true);
    let listener = server.bind(addr.parse()?)?;
    let handle = server.serve(listener, ServiceHandler::new(app()));
    println!("listening on http://{}", handle.local_addr());
    if test {
        let result = tokio::time::timeout(Duration::from_secs(30), self_test(handle.local_addr()))
            .await
            .map_err(|_| "self-test took over 30 s")?;
        handle.shutdown(Duration::from_secs(5)).await;
        result?;
        println!("self-test passed");
        return Ok(());
    }
    tokio::signal::ctrl_c().await?;
    handle.shutdown(Duration::from_secs(10)).await;
    Ok(())
}
