//! `nethttp get -b` and `-c` against the library's cookie server
//! (crates/nethttp/tests/peers/cookie_server.py, which sets what it is asked to and echoes the
//! `Cookie` field it gets): a `-c` file read back by `-b`, the `-b NAME=VALUE` form, and curl
//! reading our file and we reading curl's, each sending the same `Cookie` field.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::peers::peer;
use common::run_nethttp;

const TIMEOUT: Duration = Duration::from_secs(20);

/// cookie_server.py, killed when dropped.
struct CookieServer {
    child: Child,
    port: u16,
}

impl CookieServer {
    fn start() -> Option<CookieServer> {
        let py = peer("python3", "--version")?;
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../nethttp/tests/peers/cookie_server.py");
        let mut child = Command::new(py)
            .arg("-u")
            .arg(script)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn cookie_server.py");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("read cookie_server.py's stdout");
        let port = line
            .trim()
            .strip_prefix("listening ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("cookie_server.py printed {line:?}"));
        Some(CookieServer { child, port })
    }

    fn url(&self, path_and_query: &str) -> String {
        format!("http://127.0.0.1:{}{path_and_query}", self.port)
    }
}

impl Drop for CookieServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The query that has the server set these cookies.
fn set(cookies: &[&str]) -> String {
    let parts: Vec<String> = cookies
        .iter()
        .map(|c| {
            let enc = c
                .bytes()
                .map(|b| match b {
                    b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                        (b as char).to_string()
                    }
                    _ => format!("%{b:02X}"),
                })
                .collect::<String>();
            format!("set={enc}")
        })
        .collect();
    parts.join("&")
}

const COOKIES: [&str; 4] = [
    "sid=abc; Path=/; HttpOnly",
    "keep=1; Path=/; Max-Age=3600",
    "deep=2; Path=/p",
    "gone=3; Path=/; Max-Age=0",
];

/// `nethttp get ARGS...`; its stdout (the `Cookie` field the server got).
fn get(args: &[&str]) -> String {
    let mut all = vec!["get"];
    all.extend_from_slice(args);
    let ran = run_nethttp(&all, TIMEOUT);
    assert!(
        ran.status.success(),
        "{all:?}: {}\n{}",
        ran.status,
        ran.stderr
    );
    ran.stdout_str()
}

/// `curl -s ARGS...`; its stdout.
fn curl(curl: &Path, args: &[&str]) -> String {
    let out = Command::new(curl)
        .arg("-s")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run curl");
    assert!(out.status.success(), "curl {args:?}: {}", out.status);
    String::from_utf8(out.stdout).unwrap()
}

/// A `Cookie` field's pairs, sorted: curl and we may order equal paths differently.
fn pairs(field: &str) -> Vec<String> {
    let mut v: Vec<String> = field
        .split(';')
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect();
    v.sort();
    v
}

fn scratch(dir: &tempfile::TempDir, name: &str) -> PathBuf {
    dir.path().join(name)
}

#[test]
fn a_cookie_jar_file_written_by_c_is_read_by_b() {
    let Some(s) = CookieServer::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let jar = scratch(&dir, "jar.txt");
    let jar_s = jar.to_str().unwrap();
    // A login: the 302 sets the cookies, the next hop already carries them.
    let login = s.url(&format!("/login?{}&to=/p/home", set(&COOKIES)));
    assert_eq!(
        pairs(&get(&["-c", jar_s, &login])),
        ["deep=2", "keep=1", "sid=abc"]
    );
    let text = std::fs::read_to_string(&jar).unwrap();
    assert!(text.starts_with("# Netscape HTTP Cookie File"), "{text}");
    assert!(
        text.contains("#HttpOnly_127.0.0.1\tFALSE\t/\tFALSE\t0\tsid\tabc\n"),
        "{text}"
    );
    assert!(!text.contains("gone"), "{text}");
    // Read back: matched by path as before, the longer path first.
    let sent = get(&["-b", jar_s, &s.url("/p/x")]);
    assert!(sent.starts_with("deep=2; "), "{sent}");
    assert_eq!(pairs(&sent), ["deep=2", "keep=1", "sid=abc"]);
    assert_eq!(
        pairs(&get(&["-b", jar_s, &s.url("/")])),
        ["keep=1", "sid=abc"]
    );
    // -b and -c on one file: cookies set now are added to it.
    let more = s.url(&format!("/?{}", set(&["late=4; Path=/"])));
    get(&["-b", jar_s, "-c", jar_s, &more]);
    assert_eq!(
        pairs(&get(&["-b", jar_s, &s.url("/")])),
        ["keep=1", "late=4", "sid=abc"]
    );
    // A missing -b file is an empty jar, as in curl.
    let none = scratch(&dir, "none.txt");
    assert_eq!(get(&["-b", none.to_str().unwrap(), &s.url("/")]), "");
}

#[test]
fn b_with_name_value_sends_that_field() {
    let Some(s) = CookieServer::start() else {
        return;
    };
    assert_eq!(get(&["-b", "a=1; b=2", &s.url("/")]), "a=1; b=2");
}

#[test]
fn curl_and_nethttp_read_each_others_cookie_files() {
    let Some(s) = CookieServer::start() else {
        return;
    };
    let Some(curl_bin) = peer("curl", "--version") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ours = scratch(&dir, "ours.txt");
    let theirs = scratch(&dir, "theirs.txt");
    let setting = s.url(&format!("/?{}", set(&COOKIES)));
    get(&["-c", ours.to_str().unwrap(), &setting]);
    curl(&curl_bin, &["-c", theirs.to_str().unwrap(), &setting]);
    let want = ["deep=2", "keep=1", "sid=abc"];
    for (path, all) in [("/p/x", &want[..]), ("/", &["keep=1", "sid=abc"][..])] {
        let url = s.url(path);
        let curl_reads_ours = curl(&curl_bin, &["-b", ours.to_str().unwrap(), &url]);
        let we_read_curls = get(&["-b", theirs.to_str().unwrap(), &url]);
        assert_eq!(pairs(&curl_reads_ours), all, "curl -b our file, {path}");
        assert_eq!(pairs(&we_read_curls), all, "nethttp -b curl's file, {path}");
    }
}
