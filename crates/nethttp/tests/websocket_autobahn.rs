//! A subset of the Autobahn|Testsuite inside `cargo test`: a few cases of each group that
//! applies (framing 1-3, reserved opcodes 4, fragmentation 5, UTF-8 6, closing 7, limits
//! 9.1.1/9.2.1), wstest's fuzzingclient against our server's echo (the same handler as
//! `nethttp serve`'s `/ws`) and its fuzzingserver against our client. Every case must come out
//! OK, NON-STRICT or INFORMATIONAL, and every case asked for must have run. The whole suite
//! runs in `bench/autobahn.sh`; this subset keeps a regression from waiting for it.
//! Needs Python 2.7 and autobahntestsuite in target/autobahn/site (`.ci/install-peers`):
//! skipped without them, a failure under `CI=true`.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use nethttp::test::TestServer;
use nethttp::websocket::{close_frame_for, Message, WebSocketUpgrade};
use nethttp::{HttpRequest, HttpResponse};

/// The cases: each group's first and some harder ones.
const CASES: &[&str] = &[
    "1.1.1", "1.1.6", "1.2.8", // text and binary payloads up to 64 KiB
    "2.1", "2.6", "2.10", // pings and pongs, a ping too long
    "3.1", "3.4", "3.7", // reserved bits
    "4.1.1", "4.2.3", // reserved opcodes
    "5.1", "5.6", "5.9", "5.15", "5.19", // fragments, interleaved control frames
    "6.1.1", "6.3.1", "6.4.1", "6.6.7", "6.12.1", // UTF-8, valid and not
    "7.1.1", "7.1.6", "7.3.1", "7.5.1", "7.9.1", "7.13.1", // closing handshakes and codes
    "9.1.1", "9.2.1", // 64 KiB messages
];

/// Bound on each phase (the subset takes a few seconds).
const LIMIT: Duration = Duration::from_secs(60);

/// Runs wstest in `mode` with the spec file `spec` (the site directory is argv[1]).
const WSTEST: &str = "import site, sys
site.addsitedir(sys.argv[1])
from autobahntestsuite import wstest
sys.argv = ['wstest', '-m', sys.argv[2], '-s', sys.argv[3]]
wstest.run()
";

/// `nethttp serve`'s `/ws`: every text and binary message back as it came.
async fn echo(mut req: HttpRequest) -> HttpResponse {
    match WebSocketUpgrade::from_request(&mut req) {
        Ok(ws) => ws.on_upgrade(|mut socket| async move {
            while let Some(msg) = socket.next().await {
                match msg {
                    Ok(msg) if msg.is_text() || msg.is_binary() => {
                        if socket.send(msg).await.is_err() {
                            break;
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        if let Some(frame) = close_frame_for(&e) {
                            let _ = socket.close(Some(frame)).await;
                        }
                        break;
                    }
                }
            }
        }),
        Err(refusal) => refusal,
    }
}

fn cases_json() -> String {
    let quoted: Vec<String> = CASES.iter().map(|c| format!("\"{c}\"")).collect();
    format!("[{}]", quoted.join(", "))
}

/// The grades in `index.json`: case id to behaviour, for the one agent.
fn grades(index: &Path) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(index)
        .unwrap_or_else(|e| panic!("no report at {}: {e}", index.display()));
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let agents = json.as_object().expect("agents");
    assert_eq!(agents.len(), 1, "{agents:?}");
    let (_, cases) = agents.iter().next().unwrap();
    cases
        .as_object()
        .expect("cases")
        .iter()
        .map(|(id, r)| (id.clone(), r["behavior"].as_str().unwrap_or("?").to_owned()))
        .collect()
}

fn assert_all_pass(what: &str, grades: &BTreeMap<String, String>) {
    let ran: Vec<&str> = grades.keys().map(String::as_str).collect();
    let mut want: Vec<&str> = CASES.to_vec();
    want.sort_unstable();
    let mut ran_sorted = ran.clone();
    ran_sorted.sort_unstable();
    assert_eq!(ran_sorted, want, "{what}: every case asked for ran");
    let failed: Vec<_> = grades
        .iter()
        .filter(|(_, b)| !matches!(b.as_str(), "OK" | "NON-STRICT" | "INFORMATIONAL"))
        .collect();
    assert!(failed.is_empty(), "{what}: failed cases {failed:?}");
}

/// A loopback port free now (bound, then released for wstest to take).
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuzzingclient_against_our_server() {
    let Some(suite) = common::peers::autobahn() else {
        return;
    };
    let server = TestServer::start(echo).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("reports");
    let spec = dir.path().join("fuzzingclient.json");
    let url = server.url("/ws").replace("http://", "ws://");
    std::fs::write(
        &spec,
        format!(
            r#"{{"outdir": "{}", "servers": [{{"agent": "nethttp", "url": "{url}"}}],
                "cases": {}, "exclude-cases": [], "exclude-agent-cases": {{}}}}"#,
            out.display(),
            cases_json()
        ),
    )
    .unwrap();
    let run = suite
        .command(WSTEST)
        .arg("fuzzingclient")
        .arg(&spec)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let done = tokio::time::timeout(LIMIT, run)
        .await
        .expect("wstest finished in time")
        .unwrap();
    assert!(done.status.success(), "wstest: {done:?}");
    assert_all_pass("fuzzingclient", &grades(&out.join("index.json")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuzzingserver_against_our_client() {
    let Some(suite) = common::peers::autobahn() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("client-reports");
    let spec = dir.path().join("fuzzingserver.json");
    let port = free_port();
    std::fs::write(
        &spec,
        format!(
            r#"{{"url": "ws://127.0.0.1:{port}", "outdir": "{}", "cases": {},
                "exclude-cases": [], "exclude-agent-cases": {{}}}}"#,
            out.display(),
            cases_json()
        ),
    )
    .unwrap();
    let _wstest = suite
        .command(WSTEST)
        .arg("fuzzingserver")
        .arg(&spec)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let base = format!("ws://127.0.0.1:{port}");
    // wstest takes a moment to start listening.
    let t0 = std::time::Instant::now();
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "fuzzingserver did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::timeout(LIMIT, run_client(&base))
        .await
        .expect("the cases ran in time");
    assert_all_pass("fuzzingserver", &grades(&out.join("index.json")));
}

/// What `examples/autobahn_client.rs` does: every case, echoing, then the reports.
async fn run_client(base: &str) {
    let agent = "nethttp";
    let (mut socket, _) = nethttp::websocket::connect(&format!("{base}/getCaseCount"))
        .await
        .unwrap();
    let count: u32 = match socket.next().await {
        Some(Ok(Message::Text(t))) => t.parse().unwrap(),
        other => panic!("no case count: {other:?}"),
    };
    drop(socket);
    assert_eq!(count as usize, CASES.len());
    for case in 1..=count {
        let url = format!("{base}/runCase?case={case}&agent={agent}");
        let Ok((mut socket, _)) = nethttp::websocket::connect(&url).await else {
            continue;
        };
        while let Some(msg) = socket.next().await {
            match msg {
                Ok(msg) if msg.is_text() || msg.is_binary() => {
                    if socket.send(msg).await.is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    if let Some(frame) = close_frame_for(&e) {
                        let _ = socket.close(Some(frame)).await;
                    }
                    break;
                }
            }
        }
    }
    let (mut socket, _) =
        nethttp::websocket::connect(&format!("{base}/updateReports?agent={agent}"))
            .await
            .unwrap();
    while let Some(Ok(_)) = socket.next().await {}
}
