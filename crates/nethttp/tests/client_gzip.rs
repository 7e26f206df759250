//! Transparent gzip on the wire: which requests the client asks gzip (and the other codings it
//! decodes) for (not HEAD, not a Range, not one that states its own Accept-Encoding, none with
//! compression disabled), a gzip answer inflated with its Content-Encoding and Content-Length
//! removed and the connection reused after it, and a damaged gzip body failing as a
//! decompress error. nginx compressing a real page is in client_interop.rs; br, zstd and
//! deflate against Python's encoders in client_codings.rs.

mod common;

use common::script::{answering, body_of, bounded, client_with};
use http_body_util::BodyExt;
use nethttp::client::Decompressed;
use nethttp::http::header::{ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_LENGTH};
use nethttp::{Client, ErrorKind};

/// `gzip.compress(b"hello, gzip\n", mtime=0)` from Python's gzip module.
const HELLO_GZ: [u8; 32] = [
    31, 139, 8, 0, 0, 0, 0, 0, 2, 3, 203, 72, 205, 201, 201, 215, 81, 72, 175, 202, 44, 224, 2, 0,
    134, 31, 130, 164, 12, 0, 0, 0,
];

/// A gzip response with `body` as its (compressed) bytes.
fn gzip_response(body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-encoding: gzip\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

#[tokio::test]
async fn a_gzip_answer_is_inflated_and_the_connection_reused() {
    let s = answering(gzip_response(&HELLO_GZ)).await;
    let c = Client::new();
    for i in 0..2 {
        let res = bounded("GET", c.get(s.url("/g")).send()).await.unwrap();
        assert!(res.headers().get(CONTENT_ENCODING).is_none(), "{i}");
        assert!(res.headers().get(CONTENT_LENGTH).is_none(), "{i}");
        assert_eq!(res.headers()["content-type"], "text/plain");
        assert_eq!(res.extensions().get::<Decompressed>(), Some(&Decompressed));
        assert_eq!(&body_of(res).await.unwrap()[..], b"hello, gzip\n");
    }
    let reqs = s.requests();
    assert_eq!(
        reqs[0].header("accept-encoding"),
        Some(nethttp::client::ACCEPT_ENCODING)
    );
    assert_eq!(s.accepted(), 1, "the inflated body released its connection");
}

#[tokio::test]
async fn only_requests_that_leave_the_encoding_open_ask_for_gzip() {
    let s = answering(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n".to_vec()).await;
    let c = Client::new();
    let send = |req: nethttp::client::RequestBuilder| async move {
        bounded("request", req.send()).await.unwrap();
    };
    send(c.get(s.url("/plain"))).await;
    send(c.head(s.url("/head"))).await;
    send(c.get(s.url("/range")).header("range", "bytes=0-9")).await;
    send(c.get(s.url("/own")).header(ACCEPT_ENCODING, "br")).await;
    let off = client_with(|t| t.disable_compression(true));
    send(off.get(s.url("/off"))).await;
    let seen: Vec<(String, Option<String>)> = s
        .requests()
        .iter()
        .map(|r| {
            (
                r.target().to_owned(),
                r.header("accept-encoding").map(str::to_owned),
            )
        })
        .collect();
    let want = |t: &str, ae: Option<&str>| (t.to_owned(), ae.map(str::to_owned));
    assert_eq!(
        seen,
        [
            want("/plain", Some(nethttp::client::ACCEPT_ENCODING)),
            want("/head", None),
            want("/range", None),
            want("/own", Some("br")),
            want("/off", None),
        ]
    );
}

#[tokio::test]
async fn a_caller_who_asked_for_gzip_gets_the_bytes_as_sent() {
    let s = answering(gzip_response(&HELLO_GZ)).await;
    let c = Client::new();
    let res = c.get(s.url("/g")).header(ACCEPT_ENCODING, "gzip");
    let res = bounded("GET", res.send()).await.unwrap();
    assert_eq!(res.headers()[CONTENT_ENCODING], "gzip");
    assert_eq!(res.headers()[CONTENT_LENGTH], "32");
    assert!(res.extensions().get::<Decompressed>().is_none());
    assert_eq!(&body_of(res).await.unwrap()[..], &HELLO_GZ[..]);

    let off = client_with(|t| t.disable_compression(true));
    let res = bounded("GET", off.get(s.url("/g")).send()).await.unwrap();
    assert_eq!(&body_of(res).await.unwrap()[..], &HELLO_GZ[..]);
}

#[tokio::test]
async fn a_damaged_gzip_body_is_a_decompress_error() {
    let mut bad_crc = HELLO_GZ;
    bad_crc[24] ^= 1;
    let truncated = &HELLO_GZ[..20];
    for (name, body) in [("crc", &bad_crc[..]), ("truncated", truncated)] {
        let s = answering(gzip_response(body)).await;
        let res = bounded("GET", Client::new().get(s.url("/g")).send())
            .await
            .unwrap();
        let err = body_of(res).await.expect_err(name);
        assert_eq!(err.kind(), ErrorKind::Decompress, "{name}: {err}");
    }
}

/// About 10 MB of gzip that inflates to 10 GiB: 10,240 members of 1 MiB of zeros each
/// (a gzip body may hold several members, RFC 1952 §2.2).
fn ten_gib_bomb() -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(&vec![0u8; 1 << 20]).unwrap();
    let member = e.finish().unwrap();
    member.repeat(10 * 1024)
}

#[tokio::test]
async fn a_gzip_bomb_stops_at_max_decompressed_bytes_with_a_typed_error() {
    const MAX: u64 = 16 << 20;
    let bomb = ten_gib_bomb();
    assert!(
        bomb.len() > 9_000_000 && bomb.len() < 12_000_000,
        "{}",
        bomb.len()
    );
    let s = answering(gzip_response(&bomb)).await;
    let c = client_with(|t| t.max_decompressed_bytes(Some(MAX)));
    let res = bounded("GET", c.get(s.url("/bomb")).send()).await.unwrap();
    let mut body = res.into_body();
    let mut out = 0u64;
    let err = bounded("the bomb's body", async {
        loop {
            match body.frame().await {
                Some(Ok(f)) => out += f.into_data().map_or(0, |d| d.len() as u64),
                Some(Err(e)) => break e,
                None => panic!("10 GiB came out"),
            }
        }
    })
    .await;
    assert_eq!(err.kind(), ErrorKind::DecompressedTooLarge, "{err}");
    assert!(err.is_decompressed_too_large() && err.is_body_too_large());
    assert!(out <= MAX && out > MAX - 64 * 1024, "{out} bytes came out");
}

#[tokio::test]
async fn an_answer_within_max_decompressed_bytes_passes_and_none_is_unlimited() {
    let s = answering(gzip_response(&HELLO_GZ)).await;
    for max in [Some(12), None] {
        let c = client_with(|t| t.max_decompressed_bytes(max));
        let res = bounded("GET", c.get(s.url("/g")).send()).await.unwrap();
        assert_eq!(
            &body_of(res).await.unwrap()[..],
            b"hello, gzip\n",
            "{max:?}"
        );
    }
    let c = client_with(|t| t.max_decompressed_bytes(Some(11)));
    let res = bounded("GET", c.get(s.url("/g")).send()).await.unwrap();
    let e = body_of(res).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::DecompressedTooLarge, "{e}");
}
