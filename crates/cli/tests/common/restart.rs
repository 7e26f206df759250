//! Restarting a running `nethttp serve` (or `proxy`) under load, for the hand-over tests: a server with a
//! pid file, the pid file's changes followed (bounded), processes checked for having exited,
//! SIGUSR2 sent by pid, and `nethttp bench --json` run on a thread while that happens.

use std::path::Path;
use std::process::Command;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::Served;

/// `nethttp serve --addr 127.0.0.1:0 --pid-file PID_FILE EXTRA...`, started.
pub fn serve_with_pid_file(pid_file: &Path, extra: &[&str]) -> Served {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nethttp"));
    cmd.args(["serve", "--addr", "127.0.0.1:0", "--pid-file"])
        .arg(pid_file)
        .args(extra);
    let served = Served::spawn(cmd);
    wait_pid(pid_file, served.child.id(), Duration::from_secs(10));
    served
}

/// The pid the file names, if it names one.
pub fn read_pid(pid_file: &Path) -> Option<u32> {
    std::fs::read_to_string(pid_file).ok()?.trim().parse().ok()
}

/// Waits (polling, bounded) until the pid file names `pid`.
pub fn wait_pid(pid_file: &Path, pid: u32, within: Duration) {
    let deadline = Instant::now() + within;
    while read_pid(pid_file) != Some(pid) {
        assert!(
            Instant::now() < deadline,
            "{} does not name {pid} within {within:?}: {:?}",
            pid_file.display(),
            read_pid(pid_file)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits (polling, bounded) until the pid file names a pid other than `old`; that pid.
pub fn wait_pid_change(pid_file: &Path, old: u32, within: Duration) -> u32 {
    let deadline = Instant::now() + within;
    loop {
        match read_pid(pid_file) {
            Some(pid) if pid != old => return pid,
            _ => {}
        }
        assert!(
            Instant::now() < deadline,
            "{} still names {old} after {within:?}",
            pid_file.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Whether process `pid` is gone (no such process, or a zombie nobody reaped yet).
pub fn exited(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().next())
            .is_some_and(|state| state == "Z" || state == "X"),
    }
}

/// Waits (polling, bounded) until `pid` has exited.
pub fn wait_exited(pid: u32, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while !exited(pid) {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// Sends `sig` to `pid`.
pub fn signal(pid: u32, sig: libc::c_int) {
    let pid = libc::pid_t::try_from(pid).expect("pid fits pid_t");
    // SAFETY: kill(2) with a pid and a signal number; no memory is involved.
    let rc = unsafe { libc::kill(pid, sig) };
    assert_eq!(
        rc,
        0,
        "kill({pid}, {sig}): {}",
        std::io::Error::last_os_error()
    );
}

/// Kills whatever the pid file names at the end of a test (a successor is not our child,
/// so `Served` cannot kill it).
pub struct KillAtEnd<'a>(pub &'a Path);

impl Drop for KillAtEnd<'_> {
    fn drop(&mut self) {
        if let Some(pid) = read_pid(self.0) {
            if let Ok(pid) = libc::pid_t::try_from(pid) {
                // SAFETY: kill(2) with a pid and a signal number; no memory is involved.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
}

/// `nethttp bench --json ARGS... URL` on a thread; join it for the report.
pub fn bench(url: String, args: &[&str], within: Duration) -> JoinHandle<serde_json::Value> {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    std::thread::spawn(move || {
        let mut all: Vec<&str> = vec!["bench", "--json"];
        all.extend(args.iter().map(String::as_str));
        all.push(&url);
        let ran = super::run_nethttp(&all, within);
        assert!(ran.status.success(), "bench failed: {}", ran.stderr);
        serde_json::from_slice(&ran.stdout)
            .unwrap_or_else(|e| panic!("bench --json: {e}: {}", ran.stdout_str()))
    })
}

/// Asserts a bench report shows requests, no errors of any kind, and only `200`s.
pub fn assert_clean(report: &serde_json::Value) {
    let requests = report["requests"].as_u64().unwrap_or(0);
    assert!(requests > 0, "no requests: {report}");
    assert_eq!(report["errors"].as_u64(), Some(0), "errors: {report}");
    let status = report["status"].as_object().expect("status counts");
    assert!(
        status.keys().all(|code| code == "200"),
        "statuses other than 200: {report}"
    );
    assert_eq!(
        status.get("200").and_then(|n| n.as_u64()),
        Some(requests),
        "{report}"
    );
}

/// What [`fresh_connections`] saw: each attempt a new TCP connection, one request, no retry.
#[derive(Debug, Default, Clone, Copy)]
pub struct Tally {
    /// Full `200` responses.
    pub ok: u64,
    /// connect(2) refused (nothing listening, or the SYN reset).
    pub refused: u64,
    /// Connected, then reset or closed before a whole response (a queue dropped with its
    /// listener).
    pub broken: u64,
}

/// Opens connections to `addr` one after another for `run` (at most 200 000), each sending
/// one `Connection: close` request for `/` and reading the response to EOF; no retries, so
/// every refusal or reset is counted.
pub fn fresh_connections(addr: std::net::SocketAddr, run: Duration) -> JoinHandle<Tally> {
    use std::io::{Read, Write};
    std::thread::spawn(move || {
        let mut tally = Tally::default();
        let end = Instant::now() + run;
        for _ in 0..200_000 {
            if Instant::now() >= end {
                break;
            }
            let mut s = match std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
                Ok(s) => s,
                Err(_) => {
                    tally.refused += 1;
                    continue;
                }
            };
            let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
            let mut got = Vec::new();
            let done = s
                .write_all(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                .and_then(|()| s.read_to_end(&mut got));
            if done.is_ok() && got.starts_with(b"HTTP/1.1 200") {
                tally.ok += 1;
            } else {
                tally.broken += 1;
            }
        }
        tally
    })
}

/// `nethttp bench -c 64` and a stream of fresh connections against one `serve` for `run`,
/// while it is replaced by SIGUSR2 `handovers` times, evenly spaced. Asserts no failed
/// request, no refused or broken connection, and in the end exactly one server: the one the
/// pid file names, every predecessor gone. Returns the bench report and the tally.
pub fn handovers_under_load(run: Duration, handovers: u32) -> (serde_json::Value, Tally) {
    handovers_of_under_load(
        |pid_file| serve_with_pid_file(pid_file, &["--shutdown-timeout", "10s"]),
        run,
        handovers,
    )
}

/// [`handovers_under_load`] for the server `start` runs (which must write the pid file it is
/// given, have the pid of the process that serves, and answer `GET /` with `200`).
pub fn handovers_of_under_load(
    start: impl FnOnce(&Path) -> Served,
    run: Duration,
    handovers: u32,
) -> (serde_json::Value, Tally) {
    let dir = tempfile::tempdir().expect("tempdir");
    let pid_file = dir.path().join("serve.pid");
    let _kill = KillAtEnd(&pid_file);
    let mut first = start(&pid_file);
    wait_pid(&pid_file, first.child.id(), Duration::from_secs(10));
    let secs = format!("{}s", run.as_secs());
    let load = bench(
        first.url("/"),
        &["-c", "64", "-d", &secs],
        run + Duration::from_secs(60),
    );
    let fresh = fresh_connections(first.addr, run);
    let gap = run / (handovers + 1);
    let mut pids = vec![first.child.id()];
    for _ in 0..handovers {
        std::thread::sleep(gap);
        let old = *pids.last().expect("a server");
        signal(old, libc::SIGUSR2);
        let new = wait_pid_change(&pid_file, old, Duration::from_secs(15));
        assert!(
            wait_exited(old, Duration::from_secs(15)),
            "server {old} still running after handing over to {new}:\n{}",
            first.log()
        );
        pids.push(new);
    }
    let report = load.join().expect("bench thread");
    let tally = fresh.join().expect("connection thread");
    let log = first.log();
    assert_clean(&report);
    assert_eq!(
        (tally.refused, tally.broken),
        (0, 0),
        "fresh connections: {tally:?}\n{log}"
    );
    assert!(tally.ok > 0, "{tally:?}");
    let last = *pids.last().expect("a server");
    assert_eq!(read_pid(&pid_file), Some(last));
    for &pid in &pids[..pids.len() - 1] {
        assert!(exited(pid), "{pid} still running");
    }
    assert!(!exited(last), "the last server {last} is gone:\n{log}");
    assert!(!log.contains("hand-over failed"), "{log}");
    signal(last, libc::SIGTERM);
    assert!(wait_exited(last, Duration::from_secs(15)), "{log}");
    assert!(!pid_file.exists(), "the last server left its pid file");
    let _ = first.wait_exit(Duration::from_secs(1));
    (report, tally)
}

/// nginx in front of two `serve` backends (upstream keepalive), loaded through nginx with
/// `nethttp bench -c 32` for `run` while the backends hand over by SIGUSR2 one after the
/// other, `rounds` times each. Asserts nginx answered every request `200` (no 5xx in its
/// access log) and bench saw no error. Returns (responses, 5xx, upstream retries) from
/// nginx's log, and the bench report. `None` when nginx is missing (outside CI).
pub fn handovers_behind_nginx(
    run: Duration,
    rounds: u32,
) -> Option<((u64, u64, u64), serde_json::Value)> {
    let bin = super::nginx::bin()?;
    let dir = tempfile::tempdir().expect("tempdir");
    let pid_files = [dir.path().join("a.pid"), dir.path().join("b.pid")];
    let _kill = (KillAtEnd(&pid_files[0]), KillAtEnd(&pid_files[1]));
    let backends = [
        serve_with_pid_file(&pid_files[0], &["--shutdown-timeout", "10s"]),
        serve_with_pid_file(&pid_files[1], &["--shutdown-timeout", "10s"]),
    ];
    // `max_fails=0`: an HTTP/1.1 keep-alive connection a draining backend closes just as nginx
    // reuses it is an `error` that nginx retries on the other backend (no 5xx), but with the
    // default passive check (`max_fails=1`) it also takes that backend out for 10 s; when both
    // backends hand over inside those 10 s, nginx has no live upstream left and answers 502
    // for the rest of the window. Backends that restart by hand-over want passive checks
    // that one such retry does not trip (the README's recipe says so).
    let nginx =
        super::nginx::Nginx::start_with(&bin, &[backends[0].addr, backends[1].addr], "max_fails=0");
    let secs = format!("{}s", run.as_secs());
    let load = bench(
        nginx.url("/"),
        &["-c", "32", "-d", &secs],
        run + Duration::from_secs(60),
    );
    let gap = run / (2 * rounds + 1);
    for _ in 0..rounds {
        for pid_file in &pid_files {
            std::thread::sleep(gap);
            let old = read_pid(pid_file).expect("backend pid");
            signal(old, libc::SIGUSR2);
            wait_pid_change(pid_file, old, Duration::from_secs(15));
            assert!(
                wait_exited(old, Duration::from_secs(15)),
                "backend {old} still running"
            );
        }
    }
    let report = load.join().expect("bench thread");
    let counts = tally_nginx(&nginx);
    assert_clean(&report);
    assert_eq!(
        counts.1,
        0,
        "nginx answered 5xx: {counts:?}\n{}",
        nginx.error_log()
    );
    for pid_file in &pid_files {
        let pid = read_pid(pid_file).expect("backend pid");
        assert!(!exited(pid), "backend {pid} is gone");
    }
    Some((counts, report))
}

fn tally_nginx(nginx: &super::nginx::Nginx) -> (u64, u64, u64) {
    // nginx writes its access log line after the response: give the last ones a moment.
    std::thread::sleep(Duration::from_millis(200));
    super::nginx::tally(&nginx.access_log())
}
