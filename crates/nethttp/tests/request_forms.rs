//! Query strings and `application/x-www-form-urlencoded` bodies, read by `RequestExt`: as pairs
//! and as serde types, from curl (`-d`, `--data-urlencode`, `-G`) and raw TCP, with the
//! limit crossed (413), the wrong type (415) and fields that do not fit (400).

mod common;

use common::curl::status_and_body;
use common::peers::peer;
use common::wire::{start, Conn, DATE};
use nethttp::http::StatusCode;
use nethttp::request::RequestExt;
use nethttp::{text_response, Error, HttpRequest, HttpResponse, ServeMux, Server, ServerHandle};

#[derive(serde::Deserialize, Debug)]
struct Order {
    item: String,
    qty: u32,
    note: Option<String>,
}

async fn order(mut req: HttpRequest) -> Result<HttpResponse, Error> {
    let o: Order = req.form(64).await?;
    Ok(text_response(
        StatusCode::OK,
        format!("{} x{} {:?}", o.item, o.qty, o.note),
    ))
}

async fn pairs(mut req: HttpRequest) -> Result<HttpResponse, Error> {
    let query: Vec<String> = req.query_pairs().map(|(k, v)| format!("{k}={v}")).collect();
    let form = req.form_pairs(1024).await?;
    let form: Vec<String> = form.iter().map(|(k, v)| format!("{k}={v}")).collect();
    Ok(text_response(
        StatusCode::OK,
        format!("query {query:?} form {form:?}"),
    ))
}

#[derive(serde::Deserialize)]
struct Search {
    q: String,
    page: Option<u32>,
}

async fn search(req: HttpRequest) -> Result<HttpResponse, Error> {
    let s: Search = req.query()?;
    Ok(text_response(
        StatusCode::OK,
        format!("{} page {}", s.q, s.page.unwrap_or(1)),
    ))
}

fn serve() -> ServerHandle {
    let mux = ServeMux::new()
        .route("POST /order", order)
        .route("POST /pairs", pairs)
        .route("GET /search", search);
    start(Server::new(), mux)
}

fn url(h: &ServerHandle, path: &str) -> String {
    format!("http://{}{path}", h.local_addr())
}

#[tokio::test]
async fn curl_forms_into_pairs_and_types() {
    let Some(curl) = peer("curl", "--version", &[]) else {
        return;
    };
    let h = serve();
    // `-d` sends application/x-www-form-urlencoded as given; --data-urlencode encodes.
    let (code, body) = status_and_body(
        &curl,
        &[
            "-d",
            "item=tea&qty=3",
            "--data-urlencode",
            "note=green & hot",
            &url(&h, "/order"),
        ],
    )
    .await;
    assert_eq!((code, body.as_str()), (200, "tea x3 Some(\"green & hot\")"));

    // Pairs keep repeats and order; `+` and escapes decode; query and body are apart.
    let (code, body) = status_and_body(
        &curl,
        &[
            "-d",
            "a=1&a=2&b=x+y%21&empty=&flag",
            &url(&h, "/pairs?z=%E2%9C%93"),
        ],
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(
        body,
        r#"query ["z=✓"] form ["a=1", "a=2", "b=x y!", "empty=", "flag="]"#
    );

    // -G puts the data in the query string.
    let (code, body) = status_and_body(
        &curl,
        &[
            "-G",
            "--data-urlencode",
            "q=rust & go",
            "-d",
            "page=2",
            &url(&h, "/search"),
        ],
    )
    .await;
    assert_eq!((code, body.as_str()), (200, "rust & go page 2"));

    // A field of the wrong type, a missing field: 400 with serde's reason.
    let (code, body) =
        status_and_body(&curl, &["-d", "item=tea&qty=many", &url(&h, "/order")]).await;
    assert_eq!(code, 400, "{body}");
    assert!(body.starts_with("invalid form body: "), "{body}");
    let (code, body) = status_and_body(&curl, &["-d", "qty=1", &url(&h, "/order")]).await;
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("item"), "{body}");
    let (code, body) = status_and_body(&curl, &[&url(&h, "/search?page=x&q=a")]).await;
    assert_eq!(code, 400, "{body}");
    assert!(body.starts_with("invalid query string: "), "{body}");

    // Over the 64-byte limit: 413.
    let big = format!("item={}&qty=1", "t".repeat(80));
    let (code, _) = status_and_body(&curl, &["-d", &big, &url(&h, "/order")]).await;
    assert_eq!(code, 413);

    // JSON sent to a form endpoint: 415.
    let (code, body) = status_and_body(&curl, &["--json", "{}", &url(&h, "/order")]).await;
    assert_eq!(code, 415);
    assert_eq!(
        body,
        "expected Content-Type: application/x-www-form-urlencoded\n"
    );
    h.shutdown(std::time::Duration::from_secs(1)).await;
}

/// The exact 400 for a form that does not fit, and a `Content-Type` with parameters and
/// another case is still a form.
#[tokio::test]
async fn raw_form_answers() {
    let h = serve();
    let mut c = Conn::connect(h.local_addr()).await;
    c.send(
        "POST /order HTTP/1.1\r\nHost: x\r\nContent-Type: Application/X-WWW-Form-URLEncoded; charset=utf-8\r\n\
         Content-Length: 14\r\n\r\nitem=tea&qty=2",
    )
    .await;
    assert!(c.response().await.ends_with("\r\n\r\ntea x2 None"));

    c.send(
        "POST /order HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: 15\r\n\r\nitem=tea&qty=-2",
    )
    .await;
    let reason = "invalid form body: invalid digit found in string\n";
    assert_eq!(
        c.response().await,
        format!(
            "HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\n\
             x-content-type-options: nosniff\r\ncontent-length: {}\r\n{DATE}\
             keep-alive: timeout=60\r\n\r\n{reason}",
            reason.len()
        )
    );

    // No Content-Type at all: 415, not a guess.
    c.send("POST /order HTTP/1.1\r\nHost: x\r\nContent-Length: 14\r\n\r\nitem=tea&qty=2")
        .await;
    assert!(c
        .response()
        .await
        .starts_with("HTTP/1.1 415 Unsupported Media Type\r\n"));

    // Bytes that are not UTF-8 and broken escapes are kept, never a panic.
    c.send(
        b"POST /pairs?%zz=%ff HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n\
          Content-Length: 5\r\n\r\na=\xff%4"
            .as_slice(),
    )
    .await;
    let resp = c.response().await;
    assert!(
        resp.ends_with("query [\"%zz=\u{fffd}\"] form [\"a=\u{fffd}%4\"]"),
        "{resp}"
    );
    h.shutdown(std::time::Duration::from_secs(1)).await;
}
