//! `--compress` on the real binaries: `serve --dir` and `proxy` gzip-code text for curl
//! (`--compressed`), which decodes it to the file's exact bytes, with `Vary` and a weak
//! `ETag`; a client that does not ask gets the file as it is.

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

#[test]
fn serve_and_proxy_code_text_for_clients_that_ask() {
    let Some(curl_bin) = peer("curl", "--version") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let page: String = (0..2000)
        .map(|i| format!("<p>paragraph {i}</p>\n"))
        .collect();
    std::fs::write(tmp.path().join("page.html"), &page).unwrap();
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
