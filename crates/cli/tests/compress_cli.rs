//! `--compress` on the real binaries: `serve --dir` and `proxy` gzip-code text for curl
//! (`--compressed`), which decodes it to the file's exact bytes, with `Vary` and a weak
//! `ETag`; a client that does not ask gets the file as it is; `proxy --compress` makes the
//! choices nginx's `gzip on` makes, but where RFC 9110 asks otherwise.

mod common;

use std::process::Command;

use common::peers::peer;
use common::Served;

fn curl(bin: &std::path::Path, args: &[&str], url: &str) -> (String, Vec<u8>) {
    let tmp = tempfile::tempdir().unwrap();
    let head = tmp.path().join("head");
    let out = Command::new(bin)
        .args(["-sS", "--noproxy", "*", "--max-time", "15", "-D"])
        .arg(&head)
        .args(args)
        .arg(url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        std::fs::read_to_string(head).unwrap().to_ascii_lowercase(),
        out.stdout,
    )
}

/// A 38 KB HTML page at `dir/page.html`; its text.
fn write_page(dir: &std::path::Path) -> String {
    let page: String = (0..2000)
        .map(|i| format!("<p>paragraph {i}</p>\n"))
        .collect();
    std::fs::write(dir.join("page.html"), &page).unwrap();
    page
}

#[test]
fn serve_and_proxy_code_text_for_clients_that_ask() {
    let Some(curl_bin) = peer("curl", "--version") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let page = write_page(tmp.path());
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nethttp"));
    cmd.args(["serve", "--addr", "127.0.0.1:0", "--compress", "--dir"])
        .arg(tmp.path());
    let files = Served::spawn(cmd);
    let url = files.url("/page.html");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nethttp"));
    cmd.args(["serve", "--addr", "127.0.0.1:0", "--dir"])
        .arg(tmp.path());
    let plain = Served::spawn(cmd);

    let (head, body) = curl(&curl_bin, &["--compressed"], &url);
    assert!(head.contains("content-encoding: gzip"), "{head}");
    assert!(head.contains("vary: accept-encoding"), "{head}");
    assert!(head.contains("etag: w/\""), "{head}");
    assert!(
        body == page.as_bytes(),
        "{} of {} bytes",
        body.len(),
        page.len()
    );
    let (head, body) = curl(&curl_bin, &[], &url);
    assert!(!head.contains("content-encoding"), "{head}");
    assert!(body == page.as_bytes());
    // The coded size, as curl received it.
    let (head, coded) = curl(&curl_bin, &["-H", "Accept-Encoding: gzip"], &url);
    assert!(head.contains("content-encoding: gzip"), "{head}");
    assert!(coded.len() * 5 < page.len(), "{} coded bytes", coded.len());

    // `proxy --compress` in front of the file server, here coding nothing itself.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nethttp"));
    cmd.args(["proxy", "--addr", "127.0.0.1:0", "--compress", "--to"])
        .arg(plain.url(""));
    let front = Served::spawn(cmd);
    let (head, body) = curl(
        &curl_bin,
        &["--compressed", "--http2-prior-knowledge"],
        &front.url("/page.html"),
    );
    assert!(head.contains("content-encoding: gzip"), "{head}");
    assert!(
        body == page.as_bytes(),
        "{} of {} bytes",
        body.len(),
        page.len()
    );
}

/// What a proxy's answer head says of its coding.
#[derive(Debug, PartialEq)]
struct Coding {
    status: u16,
    gzip: bool,
    vary: bool,
    weak_etag: bool,
    accept_ranges: bool,
}

fn coding(addr: std::net::SocketAddr, method: &str, path: &str, fields: &str) -> Coding {
    use std::io::{Read, Write};
    let mut c = std::net::TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(std::time::Duration::from_secs(15)))
        .unwrap();
    write!(
        c,
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{fields}\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    c.read_to_end(&mut raw).unwrap();
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
    let field = |name: &str| {
        head.lines()
            .filter_map(|l| l.split_once(':'))
            .filter(|(n, _)| n.trim() == name)
            .map(|(_, v)| v.trim().to_owned())
            .collect::<Vec<_>>()
    };
    Coding {
        status: head[9..12].parse().unwrap(),
        gzip: field("content-encoding").iter().any(|v| v == "gzip"),
        vary: field("vary").iter().any(|v| v.contains("accept-encoding")),
        weak_etag: field("etag").iter().any(|v| v.starts_with("w/")),
        accept_ranges: !field("accept-ranges").is_empty(),
    }
}

/// `proxy --compress` and nginx's `gzip on` (same types, minimum length and level), each in
/// front of the same `serve --dir`, answer the same requests with the same coding choices:
/// which answers are coded, `Vary`, the weak `ETag`, `Accept-Ranges` gone. Where they differ
/// the table says so, and why.
#[test]
fn proxy_compress_codes_what_nginx_gzip_codes() {
    let Some(nginx_bin) = common::nginx::bin() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    write_page(tmp.path());
    let json: String = format!("[{}0]", "1,".repeat(10_000));
    std::fs::write(tmp.path().join("data.json"), &json).unwrap();
    std::fs::write(tmp.path().join("small.txt"), "short\n").unwrap();
    let png: Vec<u8> = (0..20_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(tmp.path().join("image.png"), &png).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nethttp"));
    cmd.args(["serve", "--addr", "127.0.0.1:0", "--dir"])
        .arg(tmp.path());
    let files = Served::spawn(cmd);
    let ngx = common::nginx::Nginx::start_with_location(
        &nginx_bin,
        &[files.addr],
        "",
        "gzip on; gzip_vary on; gzip_proxied any; gzip_min_length 512; gzip_comp_level 5; \
         gzip_types text/plain application/json;",
    );
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nethttp"));
    cmd.args(["proxy", "--addr", "127.0.0.1:0", "--compress", "--to"])
        .arg(files.url(""));
    let ours = Served::spawn(cmd);

    let gz = "Accept-Encoding: gzip, deflate, br\r\n";
    let cases: &[(&str, &str, String)] = &[
        ("GET", "/page.html", gz.into()),
        ("GET", "/page.html", String::new()),
        (
            "GET",
            "/page.html",
            "Accept-Encoding: br;q=1, gzip;q=0\r\n".into(),
        ),
        ("GET", "/data.json", gz.into()),
        ("GET", "/small.txt", gz.into()),
        ("GET", "/image.png", gz.into()),
        ("GET", "/page.html", format!("{gz}Range: bytes=0-99\r\n")),
        ("GET", "/missing", gz.into()),
        // `GET`'s fields, as RFC 9110 §9.3.2 asks.
        ("HEAD", "/page.html", gz.into()),
    ];
    for (method, path, fields) in cases {
        let theirs = coding(ngx.addr, method, path, fields);
        let mine = coding(ours.addr, method, path, fields);
        assert_eq!(mine, theirs, "{method} {path} {fields:?}");
    }
    // Where they differ, on purpose:
    // - `x-gzip` and `*` take gzip (RFC 9110 §8.4.1.3, §12.5.3); nginx looks for `gzip` only.
    for ae in ["x-gzip", "*"] {
        let fields = format!("Accept-Encoding: {ae}\r\n");
        assert!(!coding(ngx.addr, "GET", "/page.html", &fields).gzip, "{ae}");
        assert!(coding(ours.addr, "GET", "/page.html", &fields).gzip, "{ae}");
    }
}
