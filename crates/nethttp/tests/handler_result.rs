//! Handlers that can fail: a closure or `async fn` returning `Result<HttpResponse, E>` is a
//! handler, `?` answers with the error's status, and `error`, `redirect`, `not_found` and the
//! `IntoResponse` tuples put exactly these bytes on the wire (raw TCP, date normalised).

mod common;

use common::wire::{start, Conn, DATE};
use nethttp::http::StatusCode;
use nethttp::request::RequestExt;
use nethttp::{error, not_found, redirect, text_response, Error, HttpRequest, HttpResponse};
use nethttp::{Client, ServeMux, Server};

async fn fallible(mut req: HttpRequest) -> Result<HttpResponse, Error> {
    let text = req.form_pairs(8).await?;
    Ok(text_response(
        StatusCode::OK,
        format!("{} pairs", text.len()),
    ))
}

fn app(upstream: String) -> ServeMux {
    ServeMux::new()
        .route("POST /form", fallible)
        .route("GET /status", |_req: HttpRequest| async {
            Err::<HttpResponse, _>(StatusCode::FORBIDDEN)
        })
        .route("GET /error", |_req: HttpRequest| async {
            error(StatusCode::CONFLICT, "already <there>")
        })
        .route("GET /redirect", |_req: HttpRequest| async {
            redirect("/new?q=<x>", StatusCode::SEE_OTHER)
        })
        .route("GET /missing", |_req: HttpRequest| async { not_found() })
        .route("GET /tuple", |_req: HttpRequest| async {
            (
                StatusCode::ACCEPTED,
                [("content-type", "text/csv"), ("x-job", "7")],
                "a,b\n",
            )
        })
        .route("GET /question", |req: HttpRequest| async move {
            // `?` on a parse error mapped to a status, in a closure.
            let n: u32 = req
                .query_value("n")
                .unwrap_or_default()
                .parse()
                .map_err(|_| (StatusCode::BAD_REQUEST, "n must be a number"))?;
            Ok::<_, (StatusCode, &'static str)>(text_response(StatusCode::OK, format!("{}", n * 2)))
        })
        .route("GET /upstream", move |_req: HttpRequest| {
            let url = upstream.clone();
            async move {
                // The upstream refuses the connection: 502, and its address stays in the log.
                let res = Client::new().get(&url).send().await?;
                Ok::<_, Error>(text_response(res.status(), "unexpected"))
            }
        })
}

/// A port nothing listens on: bound, then closed.
fn closed_port() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    format!("http://{addr}/")
}

#[tokio::test]
async fn results_and_helpers_answer_exact_bytes() {
    let handle = start(Server::new(), app(closed_port()));
    let mut c = Conn::connect(handle.local_addr()).await;

    c.send("GET /status HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(
        c.response().await,
        format!(
            "HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n{DATE}keep-alive: timeout=60\r\n\r\n"
        )
    );

    c.send("GET /error HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(
        c.response().await,
        format!(
            "HTTP/1.1 409 Conflict\r\ncontent-type: text/plain; charset=utf-8\r\n\
             x-content-type-options: nosniff\r\ncontent-length: 16\r\n{DATE}\
             keep-alive: timeout=60\r\n\r\nalready <there>\n"
        )
    );

    c.send("GET /redirect HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let body = "<a href=\"/new?q=&lt;x&gt;\">See Other</a>.\n";
    assert_eq!(
        c.response().await,
        format!(
            "HTTP/1.1 303 See Other\r\ncontent-type: text/html; charset=utf-8\r\n\
             location: /new?q=<x>\r\ncontent-length: {}\r\n{DATE}\
             keep-alive: timeout=60\r\n\r\n{body}",
            body.len()
        )
    );

    c.send("GET /missing HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(
        c.response().await,
        format!(
            "HTTP/1.1 404 Not Found\r\ncontent-type: text/plain; charset=utf-8\r\n\
             x-content-type-options: nosniff\r\ncontent-length: 19\r\n{DATE}\
             keep-alive: timeout=60\r\n\r\n404 page not found\n"
        )
    );

    c.send("GET /tuple HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(
        c.response().await,
        format!(
            "HTTP/1.1 202 Accepted\r\ncontent-type: text/csv\r\nx-job: 7\r\n\
             content-length: 4\r\n{DATE}keep-alive: timeout=60\r\n\r\na,b\n"
        )
    );

    c.send("GET /question?n=21 HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    assert!(c.response().await.ends_with("\r\n\r\n42"));
    c.send("GET /question?n=x HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    assert_eq!(
        c.response().await,
        format!(
            "HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\n\
             content-length: 18\r\n{DATE}keep-alive: timeout=60\r\n\r\nn must be a number"
        )
    );
    handle.shutdown(std::time::Duration::from_secs(1)).await;
}

/// `?` on the helpers' errors: 415 (wrong type, body untouched), 413 (over the handler's
/// limit, declared or streamed), and the connection stays usable after each.
#[tokio::test]
async fn question_mark_answers_the_helpers_status() {
    let handle = start(Server::new(), app(closed_port()));
    let mut c = Conn::connect(handle.local_addr()).await;

    c.send("POST /form HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\na=1")
        .await;
    let resp = c.response().await;
    assert!(
        resp.starts_with("HTTP/1.1 415 Unsupported Media Type\r\n"),
        "{resp}"
    );
    assert!(
        resp.ends_with("\r\n\r\nexpected Content-Type: application/x-www-form-urlencoded\n"),
        "{resp}"
    );

    // Declared over the limit (8): refused before the body is read.
    c.send(
        "POST /form HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: 9\r\n\r\na=1&b=234",
    )
    .await;
    let resp = c.response().await;
    assert!(
        resp.starts_with("HTTP/1.1 413 Payload Too Large\r\n"),
        "{resp}"
    );
    assert!(
        resp.ends_with("\r\n\r\nbody exceeds the read limit\n"),
        "{resp}"
    );

    // Chunked, no length declared: crossing the limit while reading is the same 413.
    c.send(
        "POST /form HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Transfer-Encoding: chunked\r\n\r\n5\r\na=1&b\r\n5\r\n=2345\r\n0\r\n\r\n",
    )
    .await;
    let resp = c.response().await;
    assert!(
        resp.starts_with("HTTP/1.1 413 Payload Too Large\r\n"),
        "{resp}"
    );

    c.send(
        "POST /form HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: 7\r\n\r\na=1&b=2",
    )
    .await;
    let resp = c.response().await;
    assert!(resp.ends_with("\r\n\r\n2 pairs"), "{resp}");
    handle.shutdown(std::time::Duration::from_secs(1)).await;
}

/// A 5xx from an error says only the reason phrase: the upstream's address is not sent.
#[tokio::test]
async fn a_failed_upstream_call_is_502_without_details() {
    let upstream = closed_port();
    let handle = start(Server::new(), app(upstream.clone()));
    let mut c = Conn::connect(handle.local_addr()).await;
    c.send("GET /upstream HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(
        c.response().await,
        format!(
            "HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/plain; charset=utf-8\r\n\
             x-content-type-options: nosniff\r\ncontent-length: 12\r\n{DATE}\
             keep-alive: timeout=60\r\n\r\nBad Gateway\n"
        )
    );
    handle.shutdown(std::time::Duration::from_secs(1)).await;
}
