//! `nethttp serve --dir PATH`: the real binary serving a directory to curl: a file whole and
//! in a range, a conditional request answered 304, a directory's listing, dotfiles and `..`
//! refused, and a missing directory refused at start.

mod common;

use std::process::Command;
use std::time::Duration;

use common::peers::peer;
use common::{run_nethttp, Served};

fn curl(args: &[&str]) -> (String, String) {
    let curl = peer("curl", "--version").expect("curl");
    let out = Command::new(curl)
        .args(["-sS", "--noproxy", "*", "--max-time", "8", "--path-as-is"])
        .args(args)
        .output()
        .expect("run curl");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn serves_a_directory_to_curl() {
    if peer("curl", "--version").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "0123456789").unwrap();
    std::fs::write(dir.path().join(".secret"), "no").unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nethttp"));
    cmd.args(["serve", "--addr", "127.0.0.1:0", "--dir"])
        .arg(dir.path());
    let served = Served::spawn(cmd);

    let (body, _) = curl(&[&served.url("/notes.txt")]);
    assert_eq!(body, "0123456789");
    let (part, _) = curl(&["-r", "2-4", &served.url("/notes.txt")]);
    assert_eq!(part, "234");
    let (head, _) = curl(&["-sI", &served.url("/notes.txt")]);
    let etag = head
        .lines()
        .find_map(|l| l.strip_prefix("etag: "))
        .expect("an etag")
        .trim()
        .to_owned();
    let (status, _) = curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-H",
        &format!("If-None-Match: {etag}"),
        &served.url("/notes.txt"),
    ]);
    assert_eq!(status, "304");
    let (listing, _) = curl(&[&served.url("/")]);
    assert!(
        listing.contains("notes.txt") && listing.contains("sub/"),
        "{listing}"
    );
    assert!(!listing.contains(".secret"), "{listing}");
    for (path, want) in [
        ("/.secret", "404"),
        ("/../etc/passwd", "400"),
        ("/sub", "301"),
    ] {
        let (status, _) = curl(&["-o", "/dev/null", "-w", "%{http_code}", &served.url(path)]);
        assert_eq!(status, want, "{path}");
    }
}

#[test]
fn a_missing_directory_is_refused_at_start() {
    let ran = run_nethttp(
        &[
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--dir",
            "/nonexistent/nethttp-dir",
        ],
        Duration::from_secs(10),
    );
    assert!(!ran.status.success());
    assert!(
        ran.stderr.contains("--dir /nonexistent/nethttp-dir"),
        "{}",
        ran.stderr
    );
}
