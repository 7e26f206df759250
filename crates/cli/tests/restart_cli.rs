//! `nethttp serve` handing its listener to a new process on SIGUSR2, against the real
//! binary: under load nothing fails or is refused and one server remains; a keep-alive
//! HTTP/1.1 connection hears `Connection: close` on its last response and an HTTP/2 one a
//! GOAWAY; a successor that fails leaves the old server serving, and the program at the
//! path the server was started from is what runs next. `nethttp proxy` hands over the same
//! way, in front of a `serve` upstream. (`restart_soak` runs the long load.)

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use common::restart::{self, read_pid, signal, wait_exited, wait_pid_change, KillAtEnd};

#[test]
fn one_handover_under_load_fails_and_refuses_nothing() {
    let (report, tally) = restart::handovers_under_load(Duration::from_secs(4), 1);
    eprintln!("bench: {report}\nfresh connections: {tally:?}");
}

#[test]
fn a_reverse_proxy_hands_over_under_load_and_refuses_nothing() {
    let upstream = common::Served::spawn({
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_nethttp"));
        cmd.args(["serve", "--addr", "127.0.0.1:0"]);
        cmd
    });
    let to = format!("http://{}", upstream.addr);
    let (report, tally) = restart::handovers_of_under_load(
        |pid_file| {
            let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_nethttp"));
            cmd.args(["proxy", "--addr", "127.0.0.1:0", "--to", &to])
                .args(["--shutdown-timeout", "10s", "--pid-file"])
                .arg(pid_file);
            common::Served::spawn(cmd)
        },
        Duration::from_secs(4),
        1,
    );
    eprintln!("bench: {report}\nfresh connections: {tally:?}");
}

#[test]
fn draining_tells_http1_to_close_and_http2_to_go_away() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("serve.pid");
    let _kill = KillAtEnd(&pid_file);
    let served = restart::serve_with_pid_file(&pid_file, &[]);
    let old = served.child.id();
    // HTTP/1.1 keep-alive with a request in flight.
    let mut h1 = TcpStream::connect(served.addr).unwrap();
    h1.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    h1.write_all(b"GET /delay/1500 HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    // HTTP/2 (h2c prior knowledge) with a stream in flight.
    let mut h2 = TcpStream::connect(served.addr).unwrap();
    h2.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    h2.write_all(&common::h2raw::preface_granting(1 << 20))
        .unwrap();
    h2.write_all(&common::h2raw::get(1, "t", "/delay/1500"))
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    signal(old, libc::SIGUSR2);
    wait_pid_change(&pid_file, old, Duration::from_secs(10));

    let mut response = Vec::new();
    h1.read_to_end(&mut response)
        .expect("HTTP/1.1 response, then EOF");
    let text = String::from_utf8_lossy(&response).to_ascii_lowercase();
    assert!(text.starts_with("http/1.1 200"), "{text}");
    assert!(text.contains("\r\nconnection: close\r\n"), "{text}");

    let frames = read_frames(&mut h2, Duration::from_secs(10));
    let goaway = frames.iter().position(|f| f.0 == 0x7);
    let end_of_stream = frames
        .iter()
        .position(|f| f.2 == 1 && (f.0 == 0x0 || f.0 == 0x1) && f.1 & 0x1 != 0);
    assert!(goaway.is_some(), "no GOAWAY: {frames:?}");
    assert!(end_of_stream.is_some(), "stream 1 not finished: {frames:?}");
    assert!(
        wait_exited(old, Duration::from_secs(10)),
        "{}",
        served.log()
    );
}

/// (type, flags, stream) of every frame the server sends until it closes the connection.
fn read_frames(s: &mut TcpStream, within: Duration) -> Vec<(u8, u8, u32)> {
    let mut buf = Vec::new();
    let deadline = Instant::now() + within;
    let mut chunk = [0u8; 16384];
    while Instant::now() < deadline {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let mut frames = Vec::new();
    let mut at = 0;
    while buf.len() >= at + 9 {
        let len = u32::from_be_bytes([0, buf[at], buf[at + 1], buf[at + 2]]) as usize;
        let stream = u32::from_be_bytes([buf[at + 5], buf[at + 6], buf[at + 7], buf[at + 8]]);
        frames.push((buf[at + 3], buf[at + 4], stream & 0x7fff_ffff));
        at += 9 + len;
    }
    frames
}

#[test]
fn a_failing_successor_leaves_the_old_server_and_a_replaced_binary_is_the_next_one() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("serve.pid");
    let _kill = KillAtEnd(&pid_file);
    let bin = dir.path().join("nethttp");
    install(Path::new(env!("CARGO_BIN_EXE_nethttp")), &bin);
    let mut cmd = std::process::Command::new(&bin);
    cmd.args(["serve", "--addr", "127.0.0.1:0", "--pid-file"])
        .arg(&pid_file);
    let served = common::Served::spawn(cmd);
    let old = served.child.id();
    restart::wait_pid(&pid_file, old, Duration::from_secs(10));

    // The binary is replaced by one that does not start.
    replace(&bin, "#!/bin/sh\necho 'broken build' >&2\nexit 7\n");
    signal(old, libc::SIGUSR2);
    let deadline = Instant::now() + Duration::from_secs(15);
    while !served.log().contains("hand-over failed") {
        assert!(Instant::now() < deadline, "{}", served.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(read_pid(&pid_file), Some(old));
    assert!(get_ok(served.addr), "{}", served.log());

    // Fixed: the new program at the same path is what starts.
    let marker = dir.path().join("new-binary-ran");
    replace(
        &bin,
        &format!(
            "#!/bin/sh\ntouch '{}'\nexec '{}' \"$@\"\n",
            marker.display(),
            env!("CARGO_BIN_EXE_nethttp")
        ),
    );
    signal(old, libc::SIGUSR2);
    let new = wait_pid_change(&pid_file, old, Duration::from_secs(15));
    assert!(marker.exists(), "the replaced binary did not run");
    assert!(
        wait_exited(old, Duration::from_secs(10)),
        "{}",
        served.log()
    );
    assert!(get_ok(served.addr), "{}", served.log());
    signal(new, libc::SIGTERM);
    assert!(wait_exited(new, Duration::from_secs(10)));
}

/// Replaces the file at `path` by an executable script, as an install does (a new file
/// renamed over the old: the running one's text stays intact).
fn replace(path: &Path, script: &str) {
    let src = path.with_extension("src");
    std::fs::write(&src, script).unwrap();
    let tmp = path.with_extension("new");
    install(&src, &tmp);
    std::fs::rename(&tmp, path).unwrap();
}

/// Copies `from` to an executable `to` in a child process. The file that is later executed
/// must never be open for writing in this process: another test thread's fork would inherit
/// that descriptor until its exec, and executing the file meanwhile fails with ETXTBSY.
fn install(from: &Path, to: &Path) {
    let ok = std::process::Command::new("install")
        .arg("-m")
        .arg("755")
        .arg(from)
        .arg(to)
        .status()
        .expect("run install(1)")
        .success();
    assert!(ok, "install {} {}", from.display(), to.display());
}

fn get_ok(addr: std::net::SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let mut got = Vec::new();
    s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .and_then(|()| s.read_to_end(&mut got))
        .is_ok()
        && got.starts_with(b"HTTP/1.1 200")
}

#[test]
fn backends_behind_nginx_hand_over_one_by_one_without_a_5xx() {
    if let Some((counts, report)) = restart::handovers_behind_nginx(Duration::from_secs(4), 1) {
        eprintln!("nginx (responses, 5xx, retried): {counts:?}\nbench: {report}");
    }
}

#[test]
fn a_unix_socket_is_handed_over_and_its_file_removed_by_the_last_server() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("serve.pid");
    let sock = dir.path().join("http.sock");
    let _kill = KillAtEnd(&pid_file);
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_nethttp"));
    cmd.args(["serve", "--pid-file"])
        .arg(&pid_file)
        .arg("--unix")
        .arg(&sock)
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut first = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while read_pid(&pid_file) != Some(first.id()) {
        assert!(Instant::now() < deadline, "no pid file");
        std::thread::sleep(Duration::from_millis(10));
    }
    let get = || {
        let mut s = std::os::unix::net::UnixStream::connect(&sock).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        got.starts_with(b"HTTP/1.1 200")
    };
    assert!(get());
    signal(first.id(), libc::SIGUSR2);
    let new = wait_pid_change(&pid_file, first.id(), Duration::from_secs(10));
    let _ = first.wait();
    assert!(
        sock.exists(),
        "the old server removed the socket file it handed over"
    );
    assert!(get());
    signal(new, libc::SIGTERM);
    assert!(wait_exited(new, Duration::from_secs(10)));
    assert!(!sock.exists(), "the last server left its socket file");
    assert!(!pid_file.exists(), "the last server left its pid file");
}
