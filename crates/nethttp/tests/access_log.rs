//! `nethttp::access_log` on the wire: the lines for curl's requests over HTTP/1.1 and h2c
//! (in-memory, streamed, file and bodiless answers, a Basic user, a panicking handler's
//! `500`), read back exactly and by GoAccess, the log analyser, in nginx's `combined` format;
//! a client that leaves halfway through a file is logged with what it took (the file still
//! goes by `sendfile`), one that leaves before the answer with nginx's `499`; hostile request
//! fields are escaped; `reopen` after a rename; a writer that stops taking lines costs
//! requests nothing (lines dropped and counted, the bytes held bounded), holds a flush up for
//! its bound only and a reopen not at all, and a reopen asked for meanwhile is done once it
//! moves, losing no line; the JSON format.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use common::curl::{curl, run};
use common::peers::peer;
use common::wire::{start, Conn};
use nethttp::access_log::{AccessLog, Format};
use nethttp::fs::FileServer;
use nethttp::http::{Request, StatusCode};
use nethttp::{
    text_response, Body, Handler, HttpRequest, HttpResponse, ServeMux, Server, ServerHandle,
};

const BIG: usize = 64 << 20;

fn app(dir: &Path) -> ServeMux {
    ServeMux::new()
        .route("GET /hello", |_req: HttpRequest| async {
            text_response(StatusCode::OK, "hello\n")
        })
        .route("GET /stream", |_req: HttpRequest| async {
            let (tx, body) = Body::channel(4);
            tokio::spawn(async move {
                for chunk in ["one ", "two ", "three\n"] {
                    let _ = tx.send_data(chunk).await;
                }
            });
            HttpResponse::new(body)
        })
        .route("GET /nothing", |_req: HttpRequest| async {
            text_response(StatusCode::NO_CONTENT, "")
        })
        .route("GET /panic", |_req: HttpRequest| async {
            if true {
                panic!("a handler's bug");
            }
            text_response(StatusCode::OK, "")
        })
        .route("GET /slow", |_req: HttpRequest| async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            text_response(StatusCode::OK, "late\n")
        })
        .route(
            "GET /files/",
            nethttp::wrap::strip_prefix("/files", FileServer::new(dir).unwrap()),
        )
}

/// A server of `app` behind an access log in `format`, and where its files and log are.
struct Logged {
    tmp: tempfile::TempDir,
    path: PathBuf,
    log: AccessLog,
    h: ServerHandle,
}

fn logged(format: Format) -> Logged {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("files");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("a.txt"), "file a\n").unwrap();
    let big: Vec<u8> = (0..BIG).map(|i| (i % 251) as u8).collect();
    std::fs::write(dir.join("big.bin"), big).unwrap();
    let path = tmp.path().join("access.log");
    let log = AccessLog::file(&path).unwrap().format(format);
    let h = start(Server::new().conn_info(true), log.handler(app(&dir)));
    Logged { tmp, path, log, h }
}

/// The lines written so far, each without its time (`[...]`).
fn lines(log: &AccessLog, path: &Path) -> Vec<String> {
    assert!(log.flush(), "the log was not written in time");
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let (before, rest) = l.split_once(" [").unwrap();
            let (time, after) = rest.split_once("] ").unwrap();
            assert!(time.ends_with(" +0000") && time.len() == 26, "{time}");
            format!("{before} {after}")
        })
        .collect()
}

#[tokio::test]
async fn curls_requests_are_logged_as_nginx_logs_them_and_goaccess_reads_them() {
    let Some(curl_bin) = peer("curl", "--version", &[]) else {
        return;
    };
    let Logged { tmp, path, log, h } = logged(Format::Combined);
    let base = format!("http://{}", h.local_addr());
    let agent = "curl/".to_owned() + &curl_version(&curl_bin).await;
    let mut want = Vec::new();
    for (proto, version) in [
        ("--http1.1", "HTTP/1.1"),
        ("--http2-prior-knowledge", "HTTP/2.0"),
    ] {
        for (args, target, status, bytes) in [
            (&[][..], "/hello", 200, 6),
            (&["-u", "alice:s3cret"][..], "/stream", 200, 14),
            (&[][..], "/nothing", 204, 0),
            (&[][..], "/files/a.txt", 200, 7),
            (&["-r", "0-1023"][..], "/files/big.bin", 206, 1024),
            (&["-I"][..], "/files/a.txt", 200, 0),
            (
                &["-H", "Referer: http://example.test/from"][..],
                "/missing",
                404,
                19,
            ),
            // The server's own answer to a panic, with its body.
            (&[][..], "/panic", 500, 22),
        ] {
            let mut cmd = curl(&curl_bin);
            cmd.args([proto, "-o", "/dev/null"])
                .args(args)
                .arg(format!("{base}{target}"));
            run(cmd, "curl").await;
            let method = if args == ["-I"] { "HEAD" } else { "GET" };
            let referer = if status == 404 {
                "http://example.test/from"
            } else {
                "-"
            };
            let user = if args.contains(&"-u") { "alice" } else { "-" };
            want.push(format!(
                "127.0.0.1 - {user} \"{method} {target} {version}\" {status} {bytes} \"{referer}\" \"{agent}\""
            ));
        }
    }
    assert_eq!(lines(&log, &path), want);

    let Some(goaccess) = peer("goaccess", "--version", &[]) else {
        return;
    };
    let report = tmp.path().join("report.json");
    let mut cmd = tokio::process::Command::new(goaccess);
    cmd.arg(&path)
        .args(["--log-format=COMBINED", "--no-global-config", "-o"])
        .arg(&report);
    run(cmd, "goaccess").await;
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let general = &r["general"];
    assert_eq!(general["valid_requests"], 16, "{general}");
    assert_eq!(general["failed_requests"], 0, "{general}");
    assert_eq!(
        general["bandwidth"],
        2 * (6 + 14 + 7 + 1024 + 19 + 22),
        "{general}"
    );
    assert_eq!(r["hosts"]["data"][0]["data"], "127.0.0.1");
}

async fn curl_version(bin: &Path) -> String {
    let mut cmd = curl(bin);
    cmd.arg("--version");
    let out = run(cmd, "curl --version").await;
    let text = String::from_utf8(out.stdout).unwrap();
    text.split_whitespace().nth(1).unwrap().to_owned()
}

#[tokio::test]
async fn a_client_that_leaves_halfway_through_a_file_is_logged_with_what_it_took() {
    let Logged {
        tmp: _tmp,
        path,
        log,
        h,
    } = logged(Format::Combined);
    let mut c = Conn::connect(h.local_addr()).await;
    c.send("GET /files/big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let got = c.read_bytes(1 << 20).await;
    assert!(got.starts_with(b"HTTP/1.1 200 OK\r\n"));
    drop(c);
    // The server finds out at its next write, then drops the body.
    let line = line_for(&log, &path, "/files/big.bin").await;
    let (before, rest) = line.split_once("\" 200 ").unwrap();
    assert_eq!(before, "127.0.0.1 - - \"GET /files/big.bin HTTP/1.1");
    let bytes: u64 = rest.split(' ').next().unwrap().parse().unwrap();
    // What the socket buffers took, far from the whole file.
    assert!(
        bytes > 0 && bytes < (BIG as u64) / 2,
        "{bytes} of {BIG} logged"
    );
}

/// The first line for `target`, once there is one (10 s at most).
async fn line_for(log: &AccessLog, path: &Path, target: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(l) = lines(log, path).into_iter().find(|l| l.contains(target)) {
            return l;
        }
        assert!(Instant::now() < deadline, "no line for {target}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// nginx's 499: the handler was dropped before it answered, because the HTTP/1.1
/// connection closed or the HTTP/2 stream went with its connection.
#[tokio::test]
async fn a_client_that_leaves_before_the_answer_is_logged_with_nginxs_499() {
    let Logged {
        tmp: _tmp,
        path,
        log,
        h,
    } = logged(Format::Combined);
    let mut c = Conn::connect(h.local_addr()).await;
    c.send("GET /slow?h1 HTTP/1.1\r\nHost: x\r\n\r\n").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(c);
    let line = line_for(&log, &path, "/slow?h1").await;
    assert_eq!(
        line,
        "127.0.0.1 - - \"GET /slow?h1 HTTP/1.1\" 499 0 \"-\" \"-\""
    );

    let Some(curl_bin) = peer("curl", "--version", &[]) else {
        return;
    };
    let mut cmd = curl(&curl_bin);
    cmd.args(["--http2-prior-knowledge", "-A", "t/1", "--max-time", "1"])
        .arg(format!("http://{}/slow?h2", h.local_addr()));
    let out = cmd.output().await.unwrap();
    assert_eq!(out.status.code(), Some(28), "curl timed out");
    let line = line_for(&log, &path, "/slow?h2").await;
    assert_eq!(
        line,
        "127.0.0.1 - - \"GET /slow?h2 HTTP/2.0\" 499 0 \"-\" \"t/1\""
    );
}

/// The body length a raw response declares.
fn content_length(resp: &str) -> u64 {
    resp.lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .expect("a content-length")
        .trim()
        .parse()
        .unwrap()
}

/// Requests the server answers itself, before the handler, are logged through the server's
/// rejection hook as nginx logs them: the request line as it came (escaped), the status and
/// body length the client got, no fields.
#[tokio::test]
async fn requests_the_server_refuses_are_logged_as_nginx_logs_them() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("access.log");
    let log = AccessLog::file(&path).unwrap();
    let server = Server::new()
        .conn_info(true)
        .read_header_timeout(Duration::from_millis(300))
        .max_header_bytes(4096)
        .rejection_hook(log.rejection_hook());
    let h = start(server, log.handler(app(tmp.path())));
    let oversized = format!(
        "GET /big HTTP/1.1\r\nHost: x\r\nX: {}\r\n\r\n",
        "a".repeat(5000)
    );
    let cases: [(&[u8], &str, u16); 5] = [
        (
            b"GET /a b HTTP/1.1\r\nHost: x\r\n\r\n",
            "GET /a b HTTP/1.1",
            400,
        ),
        // A TLS ClientHello on the plain port.
        (
            b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n",
            "\\x16\\x03\\x01\\x00\\xA5\\x01\\x00\\x00\\xA1\\x03\\x03",
            400,
        ),
        // A target that would end the quoted field and forge the rest of a line.
        (
            b"GET /x\" 200 0 \"-\" \"-\" HTTP/1.1\r\n\r\n",
            "GET /x\\x22 200 0 \\x22-\\x22 \\x22-\\x22 HTTP/1.1",
            400,
        ),
        (oversized.as_bytes(), "GET /big HTTP/1.1", 431),
        // Half a head, then nothing past the read-header timeout.
        (
            b"GET /slowhead HTTP/1.1\r\nHost: x\r\n",
            "GET /slowhead HTTP/1.1",
            408,
        ),
    ];
    let mut want = Vec::new();
    for (sent, logged, status) in cases {
        let mut c = Conn::connect(h.local_addr()).await;
        c.send(sent).await;
        let resp = c.response().await;
        assert!(
            resp.starts_with(&format!("HTTP/1.1 {status} ")),
            "{status}: {resp}"
        );
        let bytes = content_length(&resp);
        want.push(format!(
            "127.0.0.1 - - \"{logged}\" {status} {bytes} \"-\" \"-\""
        ));
    }
    // A request the handler answers, between them, is logged as ever.
    let mut c = Conn::connect(h.local_addr()).await;
    c.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n").await;
    c.response().await;
    want.push("127.0.0.1 - - \"GET /hello HTTP/1.1\" 200 6 \"-\" \"-\"".to_owned());
    assert_eq!(lines(&log, &path), want);
}

/// Over HTTP/2 (hyper's client): a declared body over the server's limit is answered `413`
/// before the handler, and a malformed request (a field value with leading whitespace, RFC
/// 9113 §8.2.1) is reset; both are logged, with a request line made from the pseudo-header
/// fields, the second as nginx logs it, `400`.
#[tokio::test]
async fn http2_requests_the_server_refuses_are_logged_too() {
    use http_body_util::Full;
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("access.log");
    let log = AccessLog::file(&path).unwrap();
    let server = Server::new()
        .conn_info(true)
        .max_body_bytes(Some(10))
        .rejection_hook(log.rejection_hook());
    let h = start(server, log.handler(app(tmp.path())));
    let tcp = tokio::net::TcpStream::connect(h.local_addr())
        .await
        .unwrap();
    let (mut send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .unwrap();
    tokio::spawn(conn);
    let big = Request::post(format!("http://{}/upload?x=1", h.local_addr()))
        .header("content-length", "100")
        .body(Full::new(bytes::Bytes::from(vec![b'a'; 100])))
        .unwrap();
    let resp = send.send_request(big).await.unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let bad = Request::get(format!("http://{}/hello", h.local_addr()))
        .header("x-field", " padded")
        .body(Full::new(bytes::Bytes::new()))
        .unwrap();
    assert!(send.send_request(bad).await.is_err(), "the stream is reset");
    let ok = Request::get(format!("http://{}/hello", h.local_addr()))
        .body(Full::new(bytes::Bytes::new()))
        .unwrap();
    assert_eq!(
        send.send_request(ok).await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        lines(&log, &path),
        [
            "127.0.0.1 - - \"POST /upload?x=1 HTTP/2.0\" 413 23 \"-\" \"-\"",
            "127.0.0.1 - - \"GET /hello HTTP/2.0\" 400 0 \"-\" \"-\"",
            "127.0.0.1 - - \"GET /hello HTTP/2.0\" 200 6 \"-\" \"-\"",
        ]
    );
}

/// The JSON form of a refused request: no method, target or version, the line as it came in
/// `request` and the reason in `rejected`.
#[tokio::test]
async fn a_refused_request_in_json() {
    let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
    struct Lines(std::sync::mpsc::Sender<Vec<u8>>);
    impl Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let _ = self.0.send(buf.to_vec());
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let log = AccessLog::writer(Lines(tx)).format(Format::Json);
    let server = Server::new()
        .conn_info(true)
        .rejection_hook(log.rejection_hook());
    let h = start(
        server,
        log.handler(|_req: HttpRequest| async { text_response(StatusCode::OK, "x") }),
    );
    let mut c = Conn::connect(h.local_addr()).await;
    c.send("GET / HTTP/9.9\r\nHost: x\r\n\r\n").await;
    let resp = c.response().await;
    assert!(resp.starts_with("HTTP/1.1 505 "), "{resp}");
    assert!(log.flush(), "the log was not written in time");
    let written: Vec<u8> = rx.try_iter().flatten().collect();
    let v: serde_json::Value = serde_json::from_slice(&written).unwrap();
    assert_eq!(v["status"], 505);
    assert_eq!(v["bytes"], content_length(&resp));
    assert_eq!(v["request"], "GET / HTTP/9.9");
    assert!(v["rejected"].as_str().unwrap().len() > 3, "{v}");
    assert_eq!(v["method"], serde_json::Value::Null);
    assert_eq!(
        v["remote"].as_str().unwrap(),
        c.local_addr().to_string(),
        "{v}"
    );
}

#[tokio::test]
async fn hostile_fields_are_escaped_and_cannot_make_a_line_of_their_own() {
    let Logged {
        tmp: _tmp,
        path,
        log,
        h,
    } = logged(Format::Combined);
    let mut c = Conn::connect(h.local_addr()).await;
    c.send(
        b"GET /hello?a=\\x HTTP/1.1\r\nHost: x\r\nUser-Agent: a\" 200 1 \"-\" \"\xff\r\n\
          Referer: x\tb\x80\r\n\r\n",
    )
    .await;
    let got = c.response().await;
    assert!(got.starts_with("HTTP/1.1 200 OK\r\n"), "{got}");
    assert_eq!(
        lines(&log, &path),
        [
            "127.0.0.1 - - \"GET /hello?a=\\x5Cx HTTP/1.1\" 200 6 \"x\\x09b\\x80\" \
          \"a\\x22 200 1 \\x22-\\x22 \\x22\\xFF\""
        ]
    );
}

#[tokio::test]
async fn reopen_writes_on_to_a_new_file_at_the_path() {
    let Logged { tmp, path, log, h } = logged(Format::Combined);
    let rotated = tmp.path().join("access.log.1");
    let mut c = Conn::connect(h.local_addr()).await;
    c.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n").await;
    c.response().await;
    assert!(log.flush(), "the log was not written in time");
    std::fs::rename(&path, &rotated).unwrap();
    // Until reopened, lines go to the renamed file, as nginx's do.
    c.send("GET /hello?2 HTTP/1.1\r\nHost: x\r\n\r\n").await;
    c.response().await;
    log.reopen();
    // The reopen is done at the writer's next round, which a flush waits for.
    assert!(log.flush(), "the log was not written in time");
    c.send("GET /hello?3 HTTP/1.1\r\nHost: x\r\n\r\n").await;
    c.response().await;
    assert_eq!(lines(&log, &rotated).len(), 2);
    let now = lines(&log, &path);
    assert_eq!(now.len(), 1);
    assert!(now[0].contains("\"GET /hello?3 HTTP/1.1\""), "{now:?}");
}

/// A writer that takes nothing until released.
#[derive(Clone, Default)]
struct Stuck(Arc<(Mutex<bool>, Condvar)>);

impl Write for Stuck {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let (released, cv) = &*self.0;
        let mut r = released.lock().unwrap();
        while !*r {
            r = cv.wait(r).unwrap();
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_writer_that_stops_costs_requests_nothing_and_lines_are_dropped_and_counted() {
    let stuck = Stuck::default();
    let log = AccessLog::writer(stuck.clone());
    const N: u64 = 10_000;
    let start = Instant::now();
    requests(&log, N).await;
    let took = start.elapsed();
    // 16 MiB holds ~8,100 of these lines (the batch the writer took before its write
    // blocked among them): the rest are dropped.
    let dropped = log.dropped();
    let held = N - dropped;
    assert!(
        (QUEUE_BYTES / LINE_MAX..=QUEUE_BYTES / LINE_MIN).contains(&held),
        "{dropped} dropped"
    );
    assert!(took < Duration::from_secs(5), "{N} requests took {took:?}");
    let (released, cv) = &*stuck.0;
    *released.lock().unwrap() = true;
    cv.notify_all();
    assert!(log.flush(), "the log was not written in time");
}

/// A stalled writer holds 16 MiB of lines at most, however long the lines a client makes:
/// 1,000 requests with a 60 KB `User-Agent` of bytes the log escapes as `\xHH` (240 KB a
/// line) queue about 70 lines, not 240 MB.
#[tokio::test]
async fn a_stalled_writer_holds_a_bounded_number_of_bytes_not_just_of_lines() {
    let stuck = Stuck::default();
    let log = AccessLog::writer(stuck.clone());
    let app = log.handler(|_req: HttpRequest| async { text_response(StatusCode::OK, "x") });
    let agent = nethttp::http::HeaderValue::from_bytes(&[0x80; 60_000]).unwrap();
    const N: u64 = 1000;
    for _ in 0..N {
        let req = Request::get("/")
            .header("user-agent", agent.clone())
            .body(Body::empty())
            .unwrap();
        app.call(req).await;
    }
    // 16 MiB / 240 KB: 69 lines queued, one more taken by the writer.
    let dropped = log.dropped();
    assert!((N - 72..=N - 69).contains(&dropped), "{dropped} dropped");
    let (released, cv) = &*stuck.0;
    *released.lock().unwrap() = true;
    cv.notify_all();
    assert!(log.flush(), "the log was not written in time");
}

/// What the log holds at most while its writer is stuck.
const QUEUE_BYTES: u64 = 16 << 20;
/// The bounds of a line of [`requests`]: `- - - [TIME] "GET / HTTP/1.1" 200 1 "-" "AGENT"`
/// with a 2,000-byte agent.
const LINE_MIN: u64 = 2_050;
const LINE_MAX: u64 = 2_080;

/// `n` requests through a handler logged by `log`, each with a 2,000-byte `User-Agent`, so
/// that 10,000 of them cross the 16 MiB the log holds.
async fn requests(log: &AccessLog, n: u64) {
    let app = log.handler(|_req: HttpRequest| async { text_response(StatusCode::OK, "x") });
    let agent = "a".repeat(2_000);
    for _ in 0..n {
        let req = Request::get("/")
            .header("user-agent", agent.as_str())
            .body(Body::empty())
            .unwrap();
        let res = app.call(req).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
}

/// Calls `reopen` on a thread of its own and fails if it has not returned within 200 ms (a
/// reopen that waited would otherwise hang the test).
fn reopen_at_once(log: &AccessLog) {
    let (done, returned) = std::sync::mpsc::channel();
    let log = log.clone();
    std::thread::spawn(move || {
        log.reopen();
        let _ = done.send(());
    });
    assert!(
        returned.recv_timeout(Duration::from_millis(200)).is_ok(),
        "reopen waited"
    );
}

#[tokio::test]
async fn a_stuck_writer_holds_a_flush_up_for_its_bound_and_a_reopen_not_at_all() {
    let stuck = Stuck::default();
    let log = AccessLog::writer(stuck.clone());
    requests(&log, 10_000).await;
    assert!(log.dropped() > 0, "the queue is full");
    // A reopen (SIGUSR1, on the runtime) with the queue full returns at once.
    reopen_at_once(&log);
    reopen_at_once(&log);
    // An exit's flush gives up after its bound.
    let start = Instant::now();
    assert!(!log.flush_timeout(Duration::from_millis(300)));
    let took = start.elapsed();
    assert!(
        (Duration::from_millis(300)..Duration::from_secs(3)).contains(&took),
        "flush took {took:?}"
    );
    // Released, everything queued is written.
    let (released, cv) = &*stuck.0;
    *released.lock().unwrap() = true;
    cv.notify_all();
    assert!(log.flush(), "the log was not written in time");
}

/// A reopen asked for while the writer is stuck is not lost: the writer, stuck on a pipe
/// nobody reads (a FIFO at the log's path) with the log full, reopens as soon as it can go
/// on. Every line not dropped is in the old file, and the lines after the reopen in the new
/// one.
#[tokio::test]
async fn a_reopen_with_the_queue_full_is_done_once_the_writer_moves_and_no_line_is_lost() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("access.log");
    let rotated = tmp.path().join("access.log.1");
    let made = std::process::Command::new("mkfifo")
        .arg(&path)
        .status()
        .unwrap();
    assert!(made.success());
    // The reader opens the FIFO (which lets the log's open go on) and reads nothing until
    // told, then all of it, to the end that closing the old file gives.
    let (go, wait) = std::sync::mpsc::channel::<()>();
    let fifo = path.clone();
    let reader = std::thread::spawn(move || {
        let mut f = std::fs::File::open(fifo).unwrap();
        wait.recv().unwrap();
        let mut all = String::new();
        std::io::Read::read_to_string(&mut f, &mut all).unwrap();
        all
    });
    let log = AccessLog::file(&path).unwrap();
    const N: u64 = 10_000;
    requests(&log, N).await;
    let dropped = log.dropped();
    assert!(dropped > 0, "the log is full");
    std::fs::rename(&path, &rotated).unwrap();
    reopen_at_once(&log);
    go.send(()).unwrap();
    assert!(log.flush(), "the log was not written in time");
    // Reopened: a new file at the path, and the FIFO closed, so the reader reaches its end.
    const AFTER: u64 = 10;
    requests(&log, AFTER).await;
    assert!(log.flush(), "the log was not written in time");
    let new = std::fs::read_to_string(&path).expect("a new file at the path");
    let old = tokio::task::spawn_blocking(move || reader.join().unwrap())
        .await
        .unwrap();
    let (old_lines, new_lines) = (old.lines().count() as u64, new.lines().count() as u64);
    assert_eq!(old_lines, N - dropped, "{dropped} dropped");
    assert_eq!(new_lines, AFTER);
    for line in old.lines().chain(new.lines()) {
        assert!(line.contains("\"GET / HTTP/1.1\" 200 1 "), "{line}");
    }
}

#[tokio::test]
async fn json_lines_carry_the_same_facts() {
    let Logged {
        tmp: _tmp,
        path,
        log,
        h,
    } = logged(Format::Json);
    let mut c = Conn::connect(h.local_addr()).await;
    c.send("GET /stream HTTP/1.1\r\nHost: x\r\nUser-Agent: t/1\r\n\r\n")
        .await;
    c.response().await;
    assert!(log.flush(), "the log was not written in time");
    let text = std::fs::read_to_string(&path).unwrap();
    let v: serde_json::Value = serde_json::from_str(text.trim_end()).unwrap();
    assert_eq!(v["remote"], c.local_addr().to_string());
    assert_eq!(v["method"], "GET");
    assert_eq!(v["uri"], "/stream");
    assert_eq!(v["proto"], "HTTP/1.1");
    assert_eq!(v["status"], 200);
    assert_eq!(v["bytes"], 14);
    assert_eq!(v["referer"], serde_json::Value::Null);
    assert_eq!(v["user_agent"], "t/1");
    assert!(v["duration_ms"].as_f64().unwrap() >= 0.0);
    assert!(v["time"].as_str().unwrap().ends_with('Z'));
}
