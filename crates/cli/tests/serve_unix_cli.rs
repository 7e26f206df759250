//! `nethttp serve --unix PATH`: the real binary on a Unix domain socket, asked by curl
//! `--unix-socket`; the socket file's permissions (`--unix-mode`), a stale file replaced, a
//! live one refused, the file gone after SIGTERM, and the flags' usage errors; `--unix
//! @NAME` in Linux's abstract namespace, asked by curl `--abstract-unix-socket` and by
//! `nethttp get --abstract-unix-socket`.

mod common;

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::peers::peer;
use common::run_nethttp;

const LIMIT: Duration = Duration::from_secs(10);

/// `nethttp serve --unix PATH EXTRA...`, once its socket file is there.
struct UnixServed {
    child: Child,
    /// Where its log goes, for a failure to show.
    log: tempfile::NamedTempFile,
}

/// Whether something accepts connections at `path` (a leading NUL: an abstract name).
fn connects(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    match path.as_os_str().as_bytes().strip_prefix(b"\0") {
        #[cfg(target_os = "linux")]
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name).unwrap();
            std::os::unix::net::UnixStream::connect_addr(&addr).is_ok()
        }
        _ => std::os::unix::net::UnixStream::connect(path).is_ok(),
    }
}

/// `path` as `--unix` takes it: `@NAME` for an abstract name.
fn unix_arg(path: &Path) -> std::ffi::OsString {
    use std::os::unix::ffi::OsStrExt;
    match path.as_os_str().as_bytes().strip_prefix(b"\0") {
        Some(name) => format!("@{}", String::from_utf8_lossy(name)).into(),
        None => path.as_os_str().to_owned(),
    }
}

impl UnixServed {
    fn spawn(path: &Path, extra: &[&str]) -> UnixServed {
        let log = tempfile::NamedTempFile::new().expect("a log file");
        let mut child = Command::new(env!("CARGO_BIN_EXE_nethttp"))
            .arg("serve")
            .arg("--unix")
            .arg(unix_arg(path))
            .args(extra)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log.reopen().expect("the log file"))
            .spawn()
            .expect("spawn nethttp serve");
        let start = Instant::now();
        // Listening once a connection is accepted (a stale file refuses connections).
        while !connects(path) {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("serve exited at start: {status}");
            }
            assert!(start.elapsed() < LIMIT, "no socket at {:?}", unix_arg(path));
            std::thread::sleep(Duration::from_millis(20));
        }
        UnixServed { child, log }
    }

    /// Whether it still runs, and what it logged so far.
    fn report(&mut self) -> String {
        let state = match self.child.try_wait() {
            Ok(None) => "running".to_owned(),
            other => format!("exited: {other:?}"),
        };
        let log = std::fs::read_to_string(self.log.path()).unwrap_or_default();
        format!("the first server is {state}; its log:\n{log}")
    }

    fn terminate(mut self) -> std::process::ExitStatus {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(start.elapsed() < LIMIT, "serve did not stop after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for UnixServed {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn socket_path() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("serve.sock");
    (dir, path)
}

fn curl_unix(curl: &Path, sock: &Path, url: &str, extra: &[&str]) -> String {
    let out = Command::new(curl)
        .args(["-sS", "--max-time", "10", "--unix-socket"])
        .arg(sock)
        .args(extra)
        .arg(url)
        .output()
        .expect("run curl");
    assert!(out.status.success(), "curl failed: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn curl_reaches_serve_over_its_unix_socket_with_the_mode_asked_for() {
    let Some(curl) = peer("curl", "--version") else {
        return;
    };
    let (_dir, path) = socket_path();
    let served = UnixServed::spawn(&path, &["--unix-mode", "600"]);
    let meta = std::fs::symlink_metadata(&path).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(
        curl_unix(&curl, &path, "http://localhost/", &[]),
        "Hello, World!"
    );
    let h2 = curl_unix(
        &curl,
        &path,
        "http://localhost/",
        &[
            "--http2-prior-knowledge",
            "-o",
            "/dev/null",
            "-w",
            "%{http_version}",
        ],
    );
    assert_eq!(h2, "2");
    let status = served.terminate();
    assert!(status.success(), "{status}");
    assert!(!path.exists(), "socket file left after SIGTERM");
}

#[test]
fn a_stale_socket_file_is_replaced_and_a_live_one_refused() {
    let (_dir, path) = socket_path();
    // What a server that crashed leaves behind.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    let mut served = UnixServed::spawn(&path, &[]);
    let second = std::panic::catch_unwind(|| {
        run_nethttp(&["serve", "--unix", path.to_str().unwrap()], LIMIT)
    })
    .unwrap_or_else(|e| {
        let what = e.downcast_ref::<String>().cloned().unwrap_or_default();
        panic!("{what}\n{}", served.report())
    });
    assert!(!second.status.success());
    assert!(
        second.stderr.contains("a server is listening on"),
        "{}",
        second.stderr
    );
    // The refused second server left the live socket alone.
    assert!(std::os::unix::net::UnixStream::connect(&path).is_ok());
    assert!(served.terminate().success());
}

#[test]
fn a_path_that_is_not_a_socket_is_refused_and_kept() {
    let (_dir, path) = socket_path();
    std::fs::write(&path, "data").unwrap();
    let ran = run_nethttp(&["serve", "--unix", path.to_str().unwrap()], LIMIT);
    assert!(!ran.status.success());
    assert!(ran.stderr.contains("is not a socket"), "{}", ran.stderr);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "data");
}

#[test]
fn bad_unix_flags_are_usage_errors() {
    let (_dir, path) = socket_path();
    let p = path.to_str().unwrap();
    for args in [
        vec!["serve", "--unix", p, "--unix-mode", "999"],
        vec!["serve", "--unix", p, "--unix-mode", "rw"],
        vec!["serve", "--unix", p, "--addr", "127.0.0.1:0"],
        vec!["serve", "--unix-mode", "600"],
    ] {
        let ran = run_nethttp(&args, LIMIT);
        assert_eq!(ran.status.code(), Some(2), "{args:?}: {}", ran.stderr);
        assert!(!path.exists(), "{args:?} created the socket");
    }
}

/// `serve --unix @NAME`: no file, reached by name by curl and by our own `get`; a second
/// server on the name is refused, `--unix-mode` has nothing to apply to, and the name is
/// free again after SIGTERM.
#[cfg(target_os = "linux")]
#[test]
fn serve_listens_on_an_abstract_name() {
    let name = format!("nethttp-cli-{}", std::process::id());
    let at = format!("@{name}");
    let path = PathBuf::from(std::ffi::OsString::from(format!("\0{name}")));
    let served = UnixServed::spawn(&path, &[]);

    let got = run_nethttp(
        &["get", "--abstract-unix-socket", &name, "http://localhost/"],
        LIMIT,
    );
    assert!(got.status.success(), "{}", got.stderr);
    assert_eq!(got.stdout_str(), "Hello, World!");
    if let Some(curl) = peer("curl", "--version") {
        let out = Command::new(curl)
            .args(["-sS", "--max-time", "10", "--abstract-unix-socket", &name])
            .args(["-w", " %{http_version}", "--http2-prior-knowledge"])
            .arg("http://localhost/")
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "Hello, World! 2");
    }

    let second = run_nethttp(&["serve", "--unix", &at], LIMIT);
    assert!(!second.status.success());
    assert!(
        second.stderr.contains(&format!("unix:{at}")),
        "{}",
        second.stderr
    );
    let moded = run_nethttp(&["serve", "--unix", &at, "--unix-mode", "600"], LIMIT);
    assert!(!moded.status.success());
    assert!(
        moded.stderr.contains("no permission bits"),
        "{}",
        moded.stderr
    );

    assert!(served.terminate().success());
    assert!(!connects(&path), "the name still answers after SIGTERM");
    let nameless = run_nethttp(&["serve", "--unix", "@"], LIMIT);
    assert_eq!(nameless.status.code(), Some(2), "{}", nameless.stderr);
}
