//! `multipart/form-data` read as a stream of fields: curl `-F` and Python `requests` uploads
//! (fields and files), every limit crossed (a field over its limit, the whole body over the
//! total, more fields than allowed: 413), and malformed bodies answered 400 without a panic
//! or a hang.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::curl::status_and_body;
use common::peers::{peer, python_with};
use common::wire::{start, Conn};
use nethttp::http::StatusCode;
use nethttp::request::{MultipartLimits, RequestExt};
use nethttp::{text_response, Error, HttpRequest, HttpResponse, Server, ServerHandle};

/// Describes each field: name, file name, content type, size and a digest of its bytes (the
/// sum of the bytes, enough to see the data arrived whole), streamed chunk by chunk.
async fn describe(mut req: HttpRequest) -> Result<HttpResponse, Error> {
    let limits = MultipartLimits::new(64 * 1024)
        .max_field_bytes(16 * 1024)
        .max_fields(4);
    let mut form = req.multipart(limits)?;
    let mut out = String::new();
    while let Some(mut field) = form.next_field().await? {
        let name = field.name().unwrap_or("-").to_owned();
        let file = field.file_name().unwrap_or("-").to_owned();
        let ct = field.content_type().unwrap_or("-").to_owned();
        let (mut size, mut sum) = (0usize, 0u64);
        while let Some(chunk) = field.chunk().await? {
            size += chunk.len();
            sum += chunk.iter().map(|&b| u64::from(b)).sum::<u64>();
        }
        out += &format!("{name} {file} {ct} {size} {sum}\n");
    }
    Ok(text_response(StatusCode::OK, out))
}

fn serve() -> ServerHandle {
    start(Server::new(), describe)
}

fn digest(data: &[u8]) -> u64 {
    data.iter().map(|&b| u64::from(b)).sum()
}

#[tokio::test]
async fn curl_uploads_fields_and_files() {
    let Some(curl) = peer("curl", "--version", &[]) else {
        return;
    };
    let h = serve();
    let url = format!("http://{}/", h.local_addr());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("photo.bin");
    let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&file, &data).unwrap();
    let file_arg = format!("upload=@{};type=image/png", file.display());
    let (code, body) = status_and_body(&curl, &["-F", "title=Hello", "-F", &file_arg, &url]).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        body,
        format!(
            "title - - 5 {}\nupload photo.bin image/png 10000 {}\n",
            digest(b"Hello"),
            digest(&data)
        )
    );

    // A file over the 16 KiB field limit: 413.
    std::fs::write(&file, vec![b'x'; 20_000]).unwrap();
    let file_arg = format!("upload=@{}", file.display());
    let (code, body) = status_and_body(&curl, &["-F", &file_arg, &url]).await;
    assert_eq!(code, 413, "{body}");
    assert!(
        body.starts_with("multipart field exceeds its limit"),
        "{body}"
    );

    // Five small fields, four allowed: 413.
    let mut args = vec![];
    for i in 0..5 {
        args.push("-F".to_owned());
        args.push(format!("f{i}=v"));
    }
    args.push(url.clone());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, body) = status_and_body(&curl, &args).await;
    assert_eq!(
        (code, body.as_str()),
        (413, "multipart body has more fields than allowed\n")
    );

    // A form sent to the multipart endpoint: 415.
    let (code, _) = status_and_body(&curl, &["-d", "a=1", &url]).await;
    assert_eq!(code, 415);
    h.shutdown(Duration::from_secs(1)).await;
}

/// Python `requests` (urllib3's multipart encoder): files with and without a type, a field,
/// and a body over the 64 KiB total made of fields each under their limit.
#[tokio::test]
async fn python_requests_uploads() {
    let Some(py) = python_with(&["requests"]) else {
        return;
    };
    let h = serve();
    let url = format!("http://{}/", h.local_addr());
    let script = r#"
import sys, requests
url = sys.argv[1]
r = requests.post(url, data={"who": "py"}, files={
    "a": ("a.txt", b"alpha" * 1000, "text/plain"),
    "b": ("b.dat", bytes(range(256)) * 10),
}, timeout=10)
print(r.status_code)
print(r.text, end="")
big = {f"f{i}": ("x.bin", b"z" * 16380) for i in range(4)}
r = requests.post(url, files=big, timeout=10)
print(r.status_code)
print(r.text, end="")
"#;
    let out = tokio::process::Command::new(py)
        .args(["-c", script, &url])
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(30), out)
        .await
        .expect("python finished")
        .expect("python ran");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let range: Vec<u8> = (0..=255u8).cycle().take(2560).collect();
    let expected_first = format!(
        "200\nwho - - 2 {}\na a.txt text/plain 5000 {}\nb b.dat - 2560 {}\n",
        digest(b"py"),
        digest(&b"alpha".repeat(1000)),
        digest(&range)
    );
    assert!(stdout.starts_with(&expected_first), "{stdout}");
    // Four files of 16380 bytes, each under the 16 KiB field limit, four fields as allowed,
    // but with the part headers over the 64 KiB total.
    let rest = &stdout[expected_first.len()..];
    assert_eq!(
        rest,
        "413\nmultipart body exceeds its limit: stream size exceeded limit: 65536 bytes\n"
    );
    h.shutdown(Duration::from_secs(1)).await;
}

/// Raw requests: the total limit crossed inside one field is 413; malformed bodies are 400
/// with the connection answered (never a hang): no closing boundary, garbage, a part with
/// no headers end, a boundary missing from the `Content-Type`.
#[tokio::test]
async fn raw_limits_and_malformed_bodies() {
    let h = serve();
    let mut c = Conn::connect(h.local_addr()).await;
    let send = |body: String, ct: &str| {
        format!(
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: {ct}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let ct = "multipart/form-data; boundary=B";

    // Four fields (as many as allowed) each under 16 KiB, the total over 64 KiB.
    let mut big = String::new();
    for i in 0..4 {
        big += &format!(
            "--B\r\nContent-Disposition: form-data; name=\"f{i}\"\r\n\r\n{}\r\n",
            "x".repeat(16_380)
        );
    }
    big += "--B--\r\n";
    assert!(big.len() > 64 * 1024);
    c.send(send(big, ct)).await;
    let resp = c.response().await;
    assert!(
        resp.starts_with("HTTP/1.1 413 Payload Too Large\r\n"),
        "{resp}"
    );
    assert!(
        resp.ends_with(
            "multipart body exceeds its limit: stream size exceeded limit: 65536 bytes\n"
        ),
        "{resp}"
    );

    let malformed = [
        // No closing boundary: the body ends inside a field.
        "--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nabc".to_owned(),
        // Not multipart at all.
        "hello there, this is not multipart".to_owned(),
        // Part headers never end.
        "--B\r\nContent-Disposition: form-data; name=\"a\"\r\nX: y".to_owned(),
        // Part headers that are not headers.
        "--B\r\n\u{1}\u{2}: \r\n\r\nabc\r\n--B--\r\n".to_owned(),
        // Empty body.
        String::new(),
    ];
    for body in malformed {
        c.send(send(body.clone(), ct)).await;
        let resp = c.response().await;
        assert!(
            resp.starts_with("HTTP/1.1 400 Bad Request\r\n"),
            "body {body:?} got {resp}"
        );
    }

    // No boundary parameter: 400; another subtype: 415.
    c.send(send("x".into(), "multipart/form-data")).await;
    let resp = c.response().await;
    assert!(resp.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{resp}");
    c.send(send("x".into(), "multipart/mixed; boundary=B"))
        .await;
    let resp = c.response().await;
    assert!(
        resp.starts_with("HTTP/1.1 415 Unsupported Media Type\r\n"),
        "{resp}"
    );
    h.shutdown(Duration::from_secs(1)).await;
}

/// A client that sends part of a multipart body and stops: the handler's read is held to the
/// server's read timeout and answered 408, not left waiting.
#[tokio::test]
async fn a_stalled_upload_ends_in_408() {
    let server = Server::new().read_timeout(Duration::from_millis(300));
    let h = start(server, describe);
    let mut c = Conn::connect(h.local_addr()).await;
    c.send(
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=B\r\n\
         Content-Length: 1000\r\n\r\n--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nab",
    )
    .await;
    let resp = c.response().await;
    assert!(
        resp.starts_with("HTTP/1.1 408 Request Timeout\r\n"),
        "{resp}"
    );
    h.shutdown(Duration::from_secs(1)).await;
}
