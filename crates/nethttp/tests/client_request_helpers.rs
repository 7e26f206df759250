//! The request helpers of `RequestBuilder` — `query`, `form`, `json`, `basic_auth`,
//! `bearer_auth`, `multipart` — checked three ways: Python's own parsers (urllib, json,
//! email, base64) read what reaches a real server (`tests/peers/echo_request.py`); a raw-TCP
//! script records the exact bytes of the request; and our server's multipart reader (multer)
//! takes a streamed upload over HTTP/2. Values that do not serialise and credentials RFC 7617
//! or RFC 6750 refuse are errors at `send`, before any connection.
//!
//! python3 is found on `PATH`; when it is missing the test fails if `CI=true` and is skipped
//! with a note otherwise.

mod common;

use std::collections::HashMap;

use common::echo_peer::EchoPeer;
use common::script::{answering, bounded, ok};
use nethttp::client::multipart::{Form, Part};
use nethttp::client::{RequestBuilder, ResponseExt};
use nethttp::http::header::AUTHORIZATION;
use nethttp::http::{Method, StatusCode};
use nethttp::request::{MultipartLimits, RequestExt};
use nethttp::{text_response, Body, Client, ErrorKind, HttpRequest};
use serde::Serialize;
use serde_json::{json, Value};

/// What the client adds to every request: its User-Agent, and the codings it decodes (the
/// tests build the library with all of them: `nethttp::client::ACCEPT_ENCODING`).
const UA: &str = "user-agent: nethttp/0.1.0\r\naccept-encoding: gzip, br, zstd, deflate\r\n";

/// Sends `rb` to the echo server and returns its description of what it received.
async fn echo(rb: RequestBuilder) -> Value {
    let res = bounded("request", rb.send()).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    bounded("description", res.json::<Value>(4 << 20))
        .await
        .unwrap()
}

/// 300 000 bytes that are not all alike, so a part cut or shifted anywhere is caught.
fn payload() -> Vec<u8> {
    (0..300_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = flate2::Crc::new();
    crc.update(data);
    crc.sum()
}

/// The boundary a request's `Content-Type` names.
fn boundary_of(content_type: &str) -> String {
    content_type
        .strip_prefix("multipart/form-data; boundary=")
        .unwrap_or_else(|| panic!("not a form-data type: {content_type}"))
        .to_owned()
}

// ---------------------------------------------------------------------------------------------
// Against Python's parsers.

#[derive(Serialize)]
struct Search<'a> {
    q: &'a str,
    page: u32,
    tags: Option<&'a str>,
}

#[tokio::test]
async fn query_pairs_append_to_the_urls_query() {
    let Some(peer) = EchoPeer::start().await else {
        return;
    };
    let c = Client::new();
    let search = Search {
        q: "a b&c=d",
        page: 2,
        tags: None,
    };
    let v = echo(
        c.get(peer.url("/echo?x=1"))
            .query(&search)
            .query(&[("é", "ü+"), ("empty", "")])
            .query(&Vec::<(String, String)>::new()),
    )
    .await;
    assert_eq!(
        v["query"],
        json!([
            ["x", "1"],
            ["q", "a b&c=d"],
            ["page", "2"],
            ["é", "ü+"],
            ["empty", ""]
        ])
    );
    assert_eq!(v["path"], "/echo");
}

#[derive(Serialize)]
struct Login {
    user: String,
    remember: bool,
    note: &'static str,
}

#[tokio::test]
async fn a_form_arrives_as_fields() {
    let Some(peer) = EchoPeer::start().await else {
        return;
    };
    let login = Login {
        user: "gö pher".into(),
        remember: true,
        note: "1+1=2 & more",
    };
    let v = echo(Client::new().post(peer.url("/echo")).form(&login)).await;
    assert_eq!(
        v["headers"]["content-type"],
        json!(["application/x-www-form-urlencoded"])
    );
    assert_eq!(v["framing"], "length");
    assert_eq!(
        v["form"],
        json!([
            ["user", "gö pher"],
            ["remember", "true"],
            ["note", "1+1=2 & more"]
        ])
    );
}

#[tokio::test]
async fn json_arrives_as_the_same_value_and_keeps_a_callers_type() {
    let Some(peer) = EchoPeer::start().await else {
        return;
    };
    let c = Client::new();
    let doc = json!({"name": "gopher", "tags": ["a", "b"], "nested": {"n": 1.5, "none": null}, "uni": "日本"});
    let v = echo(c.put(peer.url("/echo")).json(&doc)).await;
    assert_eq!(v["method"], "PUT");
    assert_eq!(v["headers"]["content-type"], json!(["application/json"]));
    assert_eq!(v["json"], doc);

    let v = echo(
        c.request(Method::PATCH, peer.url("/echo"))
            .header("content-type", "application/merge-patch+json")
            .json(&json!({"name": null})),
    )
    .await;
    assert_eq!(
        v["headers"]["content-type"],
        json!(["application/merge-patch+json"])
    );
    assert_eq!(v["json"], json!({"name": null}));
}

#[tokio::test]
async fn credentials_decode_as_sent() {
    let Some(peer) = EchoPeer::start().await else {
        return;
    };
    let c = Client::new();
    let v = echo(
        c.get(peer.url("/echo"))
            .basic_auth("gopher", Some("pa:ss wörd")),
    )
    .await;
    assert_eq!(
        v["auth"],
        json!({"scheme": "Basic", "user": "gopher", "password": "pa:ss wörd"})
    );
    let v = echo(c.get(peer.url("/echo")).basic_auth("gopher", None)).await;
    assert_eq!(
        v["auth"],
        json!({"scheme": "Basic", "user": "gopher", "password": ""})
    );
    let v = echo(c.get(peer.url("/echo")).bearer_auth("mF_9.B5f-4.1JqM")).await;
    assert_eq!(
        v["auth"],
        json!({"scheme": "Bearer", "token": "mF_9.B5f-4.1JqM"})
    );

    // One Authorization: the helper replaces what was there.
    let v = echo(
        c.get(peer.url("/echo"))
            .header("authorization", "Bearer old")
            .basic_auth("u", Some("p")),
    )
    .await;
    assert_eq!(v["headers"]["authorization"], json!(["Basic dTpw"]));

    // userinfo in the URL becomes Basic credentials; Host never carries it.
    let url = format!("http://us%40er:p%3Ass@127.0.0.1:{}/echo", peer.port());
    let v = echo(c.get(url)).await;
    assert_eq!(
        v["auth"],
        json!({"scheme": "Basic", "user": "us@er", "password": "p:ss"})
    );
    assert_eq!(
        v["headers"]["host"],
        json!([format!("127.0.0.1:{}", peer.port())])
    );

    // Marked sensitive: never HPACK-indexed, redacted when the request is printed.
    for rb in [
        c.get(peer.url("/")).basic_auth("a", Some("b")),
        c.get(peer.url("/")).bearer_auth("t"),
    ] {
        let req = rb.build().unwrap();
        assert!(req.headers()[AUTHORIZATION].is_sensitive());
        assert!(!format!("{req:?}").contains("dTpw"));
    }
}

#[tokio::test]
async fn multipart_with_lengths_parses_in_python() {
    let Some(peer) = EchoPeer::start().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data.bin");
    let data = payload();
    std::fs::write(&path, &data).unwrap();
    let form = Form::new()
        .text("title", "holiday")
        .text("empty", "")
        .file("upload", &path)
        .unwrap()
        .part(
            "csv",
            Part::bytes(&b"a,b\n1,2\n"[..])
                .file_name("re\"port.csv")
                .content_type("text/csv"),
        );
    let len = form.content_length().expect("every length is known");
    let v = echo(Client::new().post(peer.url("/echo")).multipart(form)).await;
    drop(dir);
    assert_eq!(v["framing"], "length");
    assert_eq!(v["headers"]["content-length"], json!([len.to_string()]));
    boundary_of(v["headers"]["content-type"][0].as_str().unwrap());
    let parts = v["multipart"].as_array().expect("multipart parsed");
    let summary: Vec<Value> = parts
        .iter()
        .map(|p| {
            json!([
                p["name"],
                p["filename"],
                p["content_type"],
                p["size"],
                p["text"]
            ])
        })
        .collect();
    assert_eq!(
        summary,
        [
            json!(["title", null, null, 7, "holiday"]),
            json!(["empty", null, null, 0, ""]),
            json!([
                "upload",
                "data.bin",
                "application/octet-stream",
                300_000,
                null
            ]),
            // The HTML standard's escaping of `"` in a file name, as browsers and curl send it.
            json!(["csv", "re%22port.csv", "text/csv", 8, "a,b\n1,2\n"]),
        ]
    );
    assert_eq!(parts[2]["crc32"], crc32(&data));
}

#[tokio::test]
async fn a_streamed_part_without_a_length_goes_chunked() {
    let Some(peer) = EchoPeer::start().await else {
        return;
    };
    let data = payload();
    let (tx, body) = Body::channel(2);
    let chunks: Vec<Vec<u8>> = data.chunks(70_000).map(<[u8]>::to_vec).collect();
    let producer = tokio::spawn(async move {
        for c in chunks {
            tx.send_data(c).await.unwrap();
        }
    });
    let form = Form::new().text("a", "1").part(
        "stream",
        Part::stream(body)
            .file_name("s.bin")
            .content_type("application/x-stream"),
    );
    assert_eq!(form.content_length(), None);
    let v = echo(Client::new().post(peer.url("/echo")).multipart(form)).await;
    producer.await.unwrap();
    assert_eq!(v["framing"], "chunked");
    let parts = v["multipart"].as_array().unwrap();
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[1]["filename"], "s.bin");
    assert_eq!(parts[1]["content_type"], "application/x-stream");
    assert_eq!(parts[1]["size"], data.len());
    assert_eq!(parts[1]["crc32"], crc32(&data));

    // Given its length, the same stream makes a form with a Content-Length.
    let (tx, body) = Body::channel(2);
    tokio::spawn(async move {
        let _ = tx.send_data("12345").await;
    });
    let form = Form::new().part("s", Part::stream_with_length(body, 5));
    let v = echo(Client::new().post(peer.url("/echo")).multipart(form)).await;
    assert_eq!(v["framing"], "length");
    assert_eq!(v["multipart"][0]["text"], "12345");
}

// ---------------------------------------------------------------------------------------------
// Exact bytes on the wire.

#[tokio::test]
async fn query_form_and_basic_auth_bytes() {
    let s = answering(ok("")).await;
    let c = Client::new();
    let res = c
        .post(s.url("/submit?x=1"))
        .query(&[("q", "a b")])
        .form(&[("k", "v&w")])
        .basic_auth("u", Some("p"))
        .send();
    bounded("POST", res).await.unwrap();
    assert_eq!(
        s.requests()[0].raw_text(),
        format!(
            "POST /submit?x=1&q=a+b HTTP/1.1\r\nhost: {}\r\n\
             content-type: application/x-www-form-urlencoded\r\nauthorization: Basic dTpw\r\n\
             {UA}content-length: 7\r\n\r\nk=v%26w",
            s.addr()
        )
    );
}

#[tokio::test]
async fn json_and_bearer_bytes() {
    let s = answering(ok("")).await;
    let res = Client::new()
        .put(s.url("/doc"))
        .bearer_auth("t0k3n")
        .json(&json!({"a": [1, 2]}))
        .send();
    bounded("PUT", res).await.unwrap();
    assert_eq!(
        s.requests()[0].raw_text(),
        format!(
            "PUT /doc HTTP/1.1\r\nhost: {}\r\nauthorization: Bearer t0k3n\r\n\
             content-type: application/json\r\n{UA}content-length: 11\r\n\r\n{{\"a\":[1,2]}}",
            s.addr()
        )
    );
}

#[tokio::test]
async fn multipart_bytes_with_a_length() {
    let s = answering(ok("")).await;
    let form = Form::new().text("a", "1").part(
        "f",
        Part::bytes(&b"hello"[..])
            .file_name("f.txt")
            .content_type("text/plain"),
    );
    let b = form.boundary().to_owned();
    assert_eq!(b.len(), 50, "{b}");
    let body = format!(
        "--{b}\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n\
         --{b}\r\nContent-Disposition: form-data; name=\"f\"; filename=\"f.txt\"\r\n\
         Content-Type: text/plain\r\n\r\nhello\r\n--{b}--\r\n"
    );
    assert_eq!(form.content_length(), Some(body.len() as u64));
    bounded(
        "POST",
        Client::new().post(s.url("/up")).multipart(form).send(),
    )
    .await
    .unwrap();
    assert_eq!(
        s.requests()[0].raw_text(),
        format!(
            "POST /up HTTP/1.1\r\nhost: {}\r\ncontent-type: multipart/form-data; boundary={b}\r\n\
             {UA}content-length: {}\r\n\r\n{body}",
            s.addr(),
            body.len()
        )
    );
}

#[tokio::test]
async fn multipart_bytes_chunked() {
    let s = answering(ok("")).await;
    let (tx, stream) = Body::channel(1);
    tokio::spawn(async move {
        for piece in ["ab", "cd"] {
            let _ = tx.send_data(piece).await;
        }
    });
    let form = Form::new().part("s", Part::stream(stream));
    let b = form.boundary().to_owned();
    bounded(
        "POST",
        Client::new().post(s.url("/up")).multipart(form).send(),
    )
    .await
    .unwrap();
    let r = &s.requests()[0];
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert_eq!(r.header("content-length"), None);
    assert_eq!(
        String::from_utf8(r.body.clone()).unwrap(),
        format!("--{b}\r\nContent-Disposition: form-data; name=\"s\"\r\n\r\nabcd\r\n--{b}--\r\n")
    );
}

#[tokio::test]
async fn builder_errors_wait_for_send_and_send_nothing() {
    let s = answering(ok("")).await;
    let c = Client::new();
    let mut bad_keys = HashMap::new();
    bad_keys.insert((1u8, 2u8), 3u8);
    let cases: Vec<(&str, RequestBuilder)> = vec![
        (
            "a query that is not pairs",
            c.get(s.url("/")).query(&"plain"),
        ),
        ("a form that is not pairs", c.post(s.url("/")).form(&[1, 2])),
        (
            "JSON with non-string keys",
            c.post(s.url("/")).json(&bad_keys),
        ),
        (
            "a user-id with ':'",
            c.get(s.url("/")).basic_auth("a:b", None),
        ),
        (
            "a password with CRLF",
            c.get(s.url("/")).basic_auth("a", Some("b\r\n")),
        ),
        (
            "a Bearer token with a space",
            c.get(s.url("/")).bearer_auth("a b"),
        ),
        (
            "a part type with CRLF",
            c.post(s.url("/"))
                .multipart(Form::new().part("x", Part::text("y").content_type("a\r\nb: c"))),
        ),
        // The first error is the one reported; later steps do not replace it.
        (
            "an error before a good step",
            c.get(s.url("/")).bearer_auth("a b").basic_auth("u", None),
        ),
    ];
    for (what, rb) in cases {
        let err = bounded(what, rb.send()).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Usage, "{what}: {err}");
    }
    assert_eq!(s.accepted(), 0, "an invalid request reached the server");
}

// ---------------------------------------------------------------------------------------------
// Our own reader, over HTTP/2.

/// A file and text fields streamed over HTTP/2 (TLS, ALPN) into our server's multipart
/// reader, which counts each field as it arrives.
#[tokio::test]
async fn multipart_over_http2_into_our_reader() {
    let server = nethttp::test::TestServer::start_tls(|mut req: HttpRequest| async move {
        let mut form = match req.multipart(MultipartLimits::new(1 << 20)) {
            Ok(f) => f,
            Err(e) => return text_response(StatusCode::UNSUPPORTED_MEDIA_TYPE, e.to_string()),
        };
        let mut report = format!("{:?}\n", req.version());
        while let Some(mut field) = form.next_field().await.unwrap() {
            let (name, file) = (
                field.name().map(str::to_owned),
                field.file_name().map(str::to_owned),
            );
            let mut data = Vec::new();
            while let Some(chunk) = field.chunk().await.unwrap() {
                data.extend_from_slice(&chunk);
            }
            let mut crc = flate2::Crc::new();
            crc.update(&data);
            report += &format!("{name:?} {file:?} {} {}\n", data.len(), crc.sum());
        }
        text_response(StatusCode::OK, report)
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("up.bin");
    let data = payload();
    std::fs::write(&path, &data).unwrap();
    let form = Form::new()
        .text("note", "über")
        .file("file", &path)
        .unwrap();
    let res = server.client().post(server.url("/")).multipart(form).send();
    let text = bounded("upload", res)
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .text(4096)
        .await
        .unwrap();
    assert_eq!(
        text,
        format!(
            "HTTP/2.0\nSome(\"note\") None 5 {}\nSome(\"file\") Some(\"up.bin\") 300000 {}\n",
            crc32("über".as_bytes()),
            crc32(&data)
        )
    );
    server.close().await;
}
