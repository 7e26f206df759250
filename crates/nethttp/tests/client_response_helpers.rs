//! The response helpers of `ResponseExt` and the errors the client returns, against Python's
//! `http.server` (`tests/peers/echo_request.py`), our own server and raw sockets: `json`
//! into a type and the typed error of JSON that does not parse, `text` of bytes that are not
//! UTF-8, limits that fail instead of truncating (declared and chunked bodies),
//! `error_for_status` on 404 and 503 (and what a handler passing it on answers), and the
//! method and URL every client error names, credentials stripped.
//!
//! python3 is found on `PATH`; when it is missing the test fails if `CI=true` and is skipped
//! with a note otherwise.

mod common;

use std::error::Error as _;
use std::time::Duration;

use common::echo_peer::EchoPeer;
use common::script::{bounded, Peer, Script};
use common::wire::start;
use nethttp::client::redirect::Policy;
use nethttp::client::ResponseExt;
use nethttp::http::{Method, StatusCode, Uri};
use nethttp::{
    redirect, text_response, Client, Error, ErrorKind, HttpRequest, HttpResponse, Server,
};
use serde::Deserialize;

/// A loopback port nothing listens on (bound, then released).
fn refused_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

async fn get(c: &Client, url: &str) -> nethttp::http::Response<nethttp::Body> {
    bounded(url, c.get(url).send()).await.unwrap()
}

#[derive(Deserialize, Debug)]
struct Description {
    method: String,
    path: String,
    framing: String,
}

#[tokio::test]
async fn json_reads_a_typed_value() {
    let Some(peer) = EchoPeer::start().await else {
        return;
    };
    let res = get(&Client::new(), &peer.url("/echo/typed")).await;
    let d: Description = res.json(1 << 20).await.unwrap();
    assert_eq!(
        (d.method.as_str(), d.path.as_str(), d.framing.as_str()),
        ("GET", "/echo/typed", "none")
    );
}

#[tokio::test]
async fn json_that_does_not_parse_is_a_typed_decode_error() {
    let Some(peer) = EchoPeer::start().await else {
        return;
    };
    let c = Client::new();
    // Cut short: serde_json's EOF error, with its position, is the cause.
    let err = get(&c, &peer.url("/bad-json"))
        .await
        .json::<serde_json::Value>(1024)
        .await
        .unwrap_err();
    assert!(err.is_decode(), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::Decode);
    let cause = err
        .source()
        .and_then(|s| s.downcast_ref::<serde_json::Error>())
        .expect("serde_json's error as the source");
    assert_eq!(cause.classify(), serde_json::error::Category::Eof);
    assert_eq!(cause.line(), 1);

    // JSON, but not the type asked for.
    let err = get(&c, &peer.url("/echo"))
        .await
        .json::<Vec<u32>>(1 << 20)
        .await
        .unwrap_err();
    let cause = err
        .source()
        .and_then(|s| s.downcast_ref::<serde_json::Error>());
    assert_eq!(
        cause.map(|c| c.classify()),
        Some(serde_json::error::Category::Data)
    );
}

#[tokio::test]
async fn text_that_is_not_utf8_is_a_decode_error() {
    let Some(peer) = EchoPeer::start().await else {
        return;
    };
    let c = Client::new();
    let err = get(&c, &peer.url("/latin1"))
        .await
        .text(64)
        .await
        .unwrap_err();
    assert!(err.is_decode(), "{err:?}");
    assert!(err.source().is_some_and(|s| s.is::<std::str::Utf8Error>()));
    // The same bytes are fine as bytes.
    let bytes = get(&c, &peer.url("/latin1")).await.bytes(64).await.unwrap();
    assert_eq!(&bytes[..], b"caf\xe9");
}

/// Over the limit is an error, never the first `limit` bytes: with a `Content-Length` (found
/// before a byte is read) and chunked (found when the count passes the limit).
#[tokio::test]
async fn a_body_over_the_limit_is_an_error_not_a_truncation() {
    let Some(peer) = EchoPeer::start().await else {
        return;
    };
    let c = Client::new();
    for route in ["/large/100000", "/large-chunked/100000"] {
        let url = peer.url(route);
        let err = get(&c, &url).await.bytes(99_999).await.unwrap_err();
        assert!(err.is_body_too_large(), "{route}: {err:?}");
        assert_eq!(err.kind(), ErrorKind::BodyTooLarge);
        let err = get(&c, &url).await.text(99_999).await.unwrap_err();
        assert!(err.is_body_too_large(), "{route}: {err:?}");
        let err = get(&c, &url)
            .await
            .json::<serde_json::Value>(10)
            .await
            .unwrap_err();
        assert!(err.is_body_too_large(), "{route}: {err:?}");
        let whole = get(&c, &url).await.bytes(100_000).await.unwrap();
        assert_eq!(whole.len(), 100_000, "{route}");
        assert!(whole.iter().all(|&b| b == b'x'));
    }
}

#[tokio::test]
async fn error_for_status_on_404_and_503() {
    let Some(peer) = EchoPeer::start().await else {
        return;
    };
    let c = Client::new();
    for (code, display) in [
        (404, "HTTP status client error: 404 Not Found"),
        (503, "HTTP status server error: 503 Service Unavailable"),
    ] {
        let res = get(&c, &peer.url(&format!("/status/{code}"))).await;
        let err = res.error_for_status_ref().unwrap_err();
        assert!(err.is_status(), "{err:?}");
        assert_eq!(err.kind(), ErrorKind::Status);
        assert_eq!(err.status().as_u16(), code);
        // No redirect: the response does not know its URL, so neither does the error.
        assert_eq!((err.url(), err.method()), (None, None));
        assert_eq!(err.to_string(), display);
        // The `_ref` form keeps the response and its body.
        let body: serde_json::Value = res.json(1024).await.unwrap();
        assert_eq!(body["status"], code);

        let err = get(&c, &peer.url(&format!("/status/{code}")))
            .await
            .error_for_status()
            .unwrap_err();
        assert_eq!(err.status().as_u16(), code);
    }
    for ok in ["/status/200", "/status/204", "/status/304"] {
        let res = get(&c, &peer.url(ok)).await;
        assert!(res.error_for_status().is_ok(), "{ok}");
    }
    // After a redirect the error names the URL that answered.
    let res = get(&c, &peer.url("/redirect?to=/status/404")).await;
    let err = res.error_for_status().unwrap_err();
    assert_eq!(err.url().map(Uri::to_string), Some(peer.url("/status/404")));
    assert_eq!(
        err.to_string(),
        format!(
            "{}: HTTP status client error: 404 Not Found",
            peer.url("/status/404")
        )
    );
}

/// A handler that calls an upstream and passes its error status on with `?` answers that
/// status, with the reason phrase alone: the upstream's URL stays in the server. So does the
/// URL of a client error that answers 4xx (a response that is not HTTP: 400).
#[tokio::test]
async fn a_handler_passes_an_upstream_status_on_without_its_url() {
    let Some(peer) = EchoPeer::start().await else {
        return;
    };
    let garbage = Script::start(|mut p: Peer| async move {
        let _ = p.read_request().await;
        let _ = p.write("HTTP/1.1 2x0 Nope\r\n\r\n").await;
    })
    .await;
    let upstream = peer.url("");
    let broken = garbage.url("/");
    let handler = move |req: HttpRequest| {
        let url = match req.uri().path() {
            "/broken" => broken.clone(),
            path => format!("{upstream}{path}"),
        };
        async move {
            let res = Client::new().get(url).send().await?.error_for_status()?;
            Ok::<HttpResponse, Error>(text_response(StatusCode::OK, res.text(1024).await?))
        }
    };
    let h = start(Server::new(), handler);
    let c = Client::new();
    for (path, code, body) in [
        ("/status/404", 404, "Not Found\n"),
        ("/status/503", 503, "Service Unavailable\n"),
        ("/broken", 400, ""),
    ] {
        let res = get(&c, &format!("http://{}{path}", h.local_addr())).await;
        assert_eq!(res.status().as_u16(), code, "{path}");
        let text = res.text(1024).await.unwrap();
        if !body.is_empty() {
            assert_eq!(text, body);
        }
        for port in [peer.port(), garbage.addr().port()] {
            assert!(!text.contains(&port.to_string()), "{path}: {text}");
        }
        assert!(!text.contains("127.0.0.1"), "{path}: {text}");
    }
    h.shutdown(Duration::from_secs(1)).await;
}

// ---------------------------------------------------------------------------------------------
// What every client error names.

#[tokio::test]
async fn a_connect_error_names_method_and_url_without_credentials() {
    let port = refused_port();
    let c = Client::new();
    let url = format!("http://user:s3cret@127.0.0.1:{port}/path?q=1");
    let err = bounded("POST", c.post(&url).body("x").send())
        .await
        .unwrap_err();
    assert!(err.is_connect(), "{err:?}");
    assert_eq!(err.method(), Some(&Method::POST));
    let clean = format!("http://127.0.0.1:{port}/path?q=1");
    assert_eq!(err.url().map(Uri::to_string), Some(clean.clone()));
    let shown = err.to_string();
    assert!(shown.starts_with(&format!("POST {clean}: ")), "{shown}");
    for text in [shown, format!("{err:?}")] {
        assert!(!text.contains("s3cret") && !text.contains("user"), "{text}");
    }

    // The same through `execute` with a request built by hand.
    let req = nethttp::http::Request::delete(&url)
        .body(nethttp::Body::empty())
        .unwrap();
    let err = bounded("DELETE", c.execute(req)).await.unwrap_err();
    assert_eq!(err.method(), Some(&Method::DELETE));
    assert_eq!(err.url().map(Uri::to_string), Some(clean));
}

#[tokio::test]
async fn a_timeout_names_the_request() {
    // A server that reads the request and never answers.
    let s = Script::start(|mut p: Peer| async move {
        let _ = p.read_request().await;
        p.hold(Duration::from_secs(5)).await;
    })
    .await;
    let url = s.url("/slow");
    let err = bounded(
        "GET",
        Client::new()
            .get(&url)
            .timeout(Duration::from_millis(200))
            .send(),
    )
    .await
    .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert_eq!(err.url().map(Uri::to_string), Some(url.clone()));
    assert!(
        err.to_string().starts_with(&format!("GET {url}: ")),
        "{err}"
    );
}

/// After redirects, an error names the hop that failed: its URL, and its method (GET after
/// a 302 turned a POST into one).
#[tokio::test]
async fn errors_after_redirects_name_the_hop_that_failed() {
    let Some(peer) = EchoPeer::start().await else {
        return;
    };
    let c = Client::new();
    let refused = format!("http://127.0.0.1:{}/next", refused_port());
    let url = peer.url(&format!("/redirect?to={refused}"));
    let err = bounded("POST", c.post(&url).body("b").send())
        .await
        .unwrap_err();
    assert!(err.is_connect(), "{err:?}");
    assert_eq!(err.method(), Some(&Method::GET));
    assert_eq!(err.url().map(Uri::to_string), Some(refused));

    // A Location the client cannot follow: the URL that sent it.
    let url = peer.url("/redirect?to=ftp://files.example/x");
    let err = bounded("GET", c.get(&url).send()).await.unwrap_err();
    assert!(err.is_redirect(), "{err:?}");
    assert_eq!(err.url().map(Uri::to_string), Some(url));

    // Too many: the last URL requested, whose redirect was refused.
    let h = start(Server::new(), |req: HttpRequest| async move {
        let n: u32 = req.uri().path()[1..].parse().unwrap_or(0);
        redirect(&format!("/{}", n + 1), StatusCode::FOUND)
    });
    let c = Client::builder()
        .redirect(Policy::limited(2))
        .build()
        .unwrap();
    let err = bounded("GET", c.get(format!("http://{}/0", h.local_addr())).send())
        .await
        .unwrap_err();
    assert!(err.is_redirect(), "{err:?}");
    assert_eq!(
        err.url().map(Uri::to_string),
        Some(format!("http://{}/2", h.local_addr()))
    );
    assert_eq!(err.method(), Some(&Method::GET));
    assert!(
        err.to_string()
            .ends_with(": stopped after too many redirects"),
        "{err}"
    );
    h.shutdown(Duration::from_secs(1)).await;
}
