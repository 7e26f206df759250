//! The demo routes `nethttp serve` answers: hello, echo, a streamed counter, a delay, any
//! status code, and a WebSocket echo.

use std::time::Duration;

use http::{Response, StatusCode};
use nethttp::{text_response, Body, HttpRequest, HttpResponse, PathValue, ServeMux};

/// Longest `/delay/{ms}` honoured, so a request cannot pin a connection for hours.
const MAX_DELAY_MS: u64 = 60_000;
/// Most chunks `/stream/{n}` sends.
const MAX_STREAM_CHUNKS: u64 = 1_000_000;

/// The router for `nethttp serve`.
pub fn demo() -> ServeMux {
    ServeMux::new()
        .route("GET /{$}", |_req: HttpRequest| hello())
        .route("POST /echo", echo)
        .route("GET /stream/{n}", |req: HttpRequest| async move {
            stream(req.path_value("n").unwrap_or_default()).await
        })
        .route("GET /delay/{ms}", |req: HttpRequest| async move {
            delay(req.path_value("ms").unwrap_or_default()).await
        })
        .route("GET /status/{code}", |req: HttpRequest| async move {
            status(req.path_value("code").unwrap_or_default()).await
        })
        // GET for HTTP/1.1's handshake, CONNECT for HTTP/2's (RFC 8441).
        .route("GET /ws", websocket_echo)
        .route("CONNECT /ws", websocket_echo)
}

/// `/ws`: a WebSocket that sends every text and binary message back as it came.
async fn websocket_echo(mut req: HttpRequest) -> HttpResponse {
    use futures_util::{SinkExt, StreamExt};
    match nethttp::websocket::WebSocketUpgrade::from_request(&mut req) {
        Ok(ws) => ws.on_upgrade(|mut socket| async move {
            while let Some(msg) = socket.next().await {
                match msg {
                    Ok(msg) if msg.is_text() || msg.is_binary() => {
                        if socket.send(msg).await.is_err() {
                            break;
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        if let Some(frame) = nethttp::websocket::close_frame_for(&e) {
                            let _ = socket.close(Some(frame)).await;
                        }
                        break;
                    }
                }
            }
        }),
        Err(refusal) => refusal,
    }
}

async fn hello() -> HttpResponse {
    text_response(StatusCode::OK, "Hello, World!")
}

async fn echo(req: HttpRequest) -> HttpResponse {
    let content_type = req.headers().get(http::header::CONTENT_TYPE).cloned();
    let mut resp = Response::new(req.into_body());
    if let Some(ct) = content_type {
        resp.headers_mut().insert(http::header::CONTENT_TYPE, ct);
    }
    resp
}

async fn stream(n: &str) -> HttpResponse {
    let Ok(n) = n.parse::<u64>() else {
        return text_response(
            StatusCode::BAD_REQUEST,
            "n must be a non-negative integer\n",
        );
    };
    if n > MAX_STREAM_CHUNKS {
        return text_response(StatusCode::BAD_REQUEST, "n is at most 1000000\n");
    }
    let mut resp = Response::new(Body::wrap(Counter { next: 0, end: n }));
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// The body of `/stream/{n}`: `chunk 0\n` … `chunk {n-1}\n`, one chunk each time it is
/// polled. Made on demand, so a client that does not read costs no more than this counter:
/// the server stops polling while its send buffer for the client is full.
struct Counter {
    next: u64,
    end: u64,
}

impl http_body::Body for Counter {
    type Data = bytes::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, Self::Error>>> {
        if self.next >= self.end {
            return std::task::Poll::Ready(None);
        }
        let chunk = format!("chunk {}\n", self.next);
        self.next += 1;
        std::task::Poll::Ready(Some(Ok(http_body::Frame::data(chunk.into()))))
    }

    fn is_end_stream(&self) -> bool {
        self.next >= self.end
    }
}

async fn delay(ms: &str) -> HttpResponse {
    let Ok(ms) = ms.parse::<u64>() else {
        return text_response(
            StatusCode::BAD_REQUEST,
            "ms must be a non-negative integer\n",
        );
    };
    tokio::time::sleep(Duration::from_millis(ms.min(MAX_DELAY_MS))).await;
    text_response(StatusCode::OK, "done")
}

async fn status(code: &str) -> HttpResponse {
    match code
        .parse::<u16>()
        .ok()
        .and_then(|c| StatusCode::from_u16(c).ok())
    {
        Some(code) if code.as_u16() >= 200 => {
            let mut resp = Response::new(Body::empty());
            *resp.status_mut() = code;
            resp
        }
        _ => text_response(
            StatusCode::BAD_REQUEST,
            "code must be a status from 200 to 999\n",
        ),
    }
}
