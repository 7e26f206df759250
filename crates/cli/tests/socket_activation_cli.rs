//! `nethttp serve` under socket activation (sd_listen_fds(3)), against the real binary: a
//! listener the test bound is passed as fd 3 with `LISTEN_FDS=1`, as systemd passes it, and
//! `serve` answers on it instead of binding `--addr` (TCP and Unix sockets; `LISTEN_PID`
//! absent or naming the server); a `LISTEN_PID` naming another process is ignored.
//! `nethttp proxy` takes an inherited listener the same way.

mod common;

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::Duration;

use common::Served;

/// `cmd` gets `fd` as its fd 3, without FD_CLOEXEC.
fn pass_as_fd3(cmd: &mut Command, fd: RawFd) {
    // SAFETY: the closure runs in the forked child before exec and makes only
    // async-signal-safe calls (dup2, fcntl), allocating nothing; `fd` is open in the child
    // because fork copied the table and the test keeps the listener open until spawn
    // returns. dup2 onto 3 clears FD_CLOEXEC; when `fd` already is 3, fcntl clears it.
    unsafe {
        cmd.pre_exec(move || {
            let rc = if fd == 3 {
                libc::fcntl(3, libc::F_SETFD, 0)
            } else {
                libc::dup2(fd, 3)
            };
            if rc < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

fn serve_cmd(addr: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nethttp"));
    cmd.args(["serve", "--addr", addr]);
    cmd
}

fn get(mut s: impl Read + Write) -> String {
    s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut got = String::new();
    s.read_to_string(&mut got).unwrap();
    got
}

#[test]
fn serves_an_inherited_tcp_listener_instead_of_binding() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // --addr is the very address the test holds: binding it would fail.
    let mut cmd = serve_cmd(&addr.to_string());
    cmd.env("LISTEN_FDS", "1")
        .env("LISTEN_FDNAMES", "http")
        .env_remove("LISTEN_PID");
    pass_as_fd3(&mut cmd, listener.as_raw_fd());
    let served = Served::spawn(cmd);
    drop(listener);
    assert_eq!(served.addr, addr, "{}", served.log());
    assert!(served.log().contains("inherited"), "{}", served.log());
    for _ in 0..3 {
        let s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        assert!(get(s).starts_with("HTTP/1.1 200"));
    }
}

#[test]
fn a_proxy_serves_an_inherited_tcp_listener_too() {
    let upstream = Served::spawn(serve_cmd("127.0.0.1:0"));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nethttp"));
    let to = format!("http://{}", upstream.addr);
    cmd.args(["proxy", "--addr", &addr.to_string(), "--to", &to])
        .env("LISTEN_FDS", "1")
        .env_remove("LISTEN_PID");
    pass_as_fd3(&mut cmd, listener.as_raw_fd());
    let proxy = Served::spawn(cmd);
    drop(listener);
    assert_eq!(proxy.addr, addr, "{}", proxy.log());
    assert!(proxy.log().contains("inherited"), "{}", proxy.log());
    let s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let got = get(s);
    assert!(got.starts_with("HTTP/1.1 200"), "{got}");
    // The upstream's answer, through the proxy.
    assert!(got.ends_with("\r\n\r\nHello, World!"), "{got}");
}

#[test]
fn a_listen_pid_naming_the_server_is_taken() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // The shell's pid is the server's: it execs it.
    let mut cmd = Command::new("sh");
    cmd.args([
        "-c",
        r#"LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" serve --addr 127.0.0.1:0"#,
        env!("CARGO_BIN_EXE_nethttp"),
    ]);
    pass_as_fd3(&mut cmd, listener.as_raw_fd());
    let served = Served::spawn(cmd);
    drop(listener);
    assert_eq!(served.addr, addr, "{}", served.log());
    let s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert!(get(s).starts_with("HTTP/1.1 200"));
}

#[test]
fn a_listen_pid_naming_another_process_is_ignored() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let inherited = listener.local_addr().unwrap();
    let mut cmd = serve_cmd("127.0.0.1:0");
    cmd.env("LISTEN_FDS", "1").env("LISTEN_PID", "1");
    pass_as_fd3(&mut cmd, listener.as_raw_fd());
    let served = Served::spawn(cmd);
    assert_ne!(served.addr, inherited, "{}", served.log());
    assert!(served.log().contains("LISTEN_PID names another process"));
    let s = std::net::TcpStream::connect(served.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert!(get(s).starts_with("HTTP/1.1 200"));
}

#[test]
fn serves_an_inherited_unix_listener() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("http.sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let mut cmd = serve_cmd("127.0.0.1:0");
    cmd.env("LISTEN_FDS", "1");
    pass_as_fd3(&mut cmd, listener.as_raw_fd());
    let mut served = spawn_until_log(cmd, "listening on unix:");
    drop(listener);
    let s = std::os::unix::net::UnixStream::connect(&path).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert!(get(s).starts_with("HTTP/1.1 200"));
    // The supervisor's socket file is not the server's to remove.
    let _ = served.kill();
    let _ = served.wait();
    assert!(path.exists());
}

/// Starts `cmd` and waits (bounded) for a stderr line containing `line`.
fn spawn_until_log(mut cmd: Command, line: &str) -> std::process::Child {
    use std::io::BufRead;
    let mut child = cmd
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(l);
        }
    });
    let deadline = std::time::Instant::now() + common::TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) if l.contains(line) => return child,
            Ok(_) => {}
            Err(_) => {
                let _ = child.kill();
                panic!("no {line:?} line within {:?}", common::TIMEOUT);
            }
        }
    }
}
