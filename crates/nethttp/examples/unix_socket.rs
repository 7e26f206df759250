//! A server on a Unix domain socket and a client that talks to it through that socket: the
//! setup behind nginx (`proxy_pass http://unix:/run/app.sock:`) or a sidecar. Runs by itself
//! and exits; it asserts what it shows.
//!
//! ```sh
//! cargo run -p nethttp --example unix_socket
//! curl --unix-socket /tmp/nethttp-example.sock http://localhost/   # while it serves, with --serve
//! ```

use std::time::Duration;

use nethttp::http::StatusCode;
use nethttp::net::{UnixBindOptions, UnixListener};
use nethttp::{text_response, Client, ConnInfo, HttpRequest, Peer, Server};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let keep_serving = std::env::args().any(|a| a == "--serve");
    let dir = std::env::temp_dir().join(format!("nethttp-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("http.sock");

    // The server: owner-only permissions, set before anyone can connect; a stale file from
    // an earlier crash would be replaced, a live server's socket refused.
    let server = Server::new().conn_info(true);
    let opts = UnixBindOptions {
        mode: Some(0o600),
        ..UnixBindOptions::default()
    };
    let listener = UnixListener::bind(&path, &opts)?;
    let handle = server.serve(listener, |req: HttpRequest| async move {
        // Who connected, as the kernel saw it.
        let who = match req.extensions().get::<ConnInfo>().map(|i| i.peer) {
            Some(Peer::Unix(Some(cred))) => format!("uid {} pid {:?}", cred.uid, cred.pid),
            _ => "unknown".to_owned(),
        };
        text_response(
            StatusCode::OK,
            format!("hello over {}, {who}\n", req.uri().path()),
        )
    });
    println!("serving on unix:{}", path.display());

    // The client: every request goes through the socket; the URL still names the host.
    let client = Client::builder()
        .timeout(Duration::from_secs(10))
        .transport(|t| t.unix_socket(&path))
        .build()?;
    for route in ["/one", "/two"] {
        let res = client
            .get(format!("http://localhost{route}"))
            .send()
            .await?;
        assert_eq!(res.status(), StatusCode::OK);
        let text = String::from_utf8(res.into_body().to_bytes(1024).await?.to_vec())?;
        assert!(
            text.starts_with(&format!("hello over {route}, uid ")),
            "{text}"
        );
        print!("{text}");
    }
    let stats = client.pool_stats();
    assert_eq!(
        (stats.dials, stats.reuses),
        (1, 1),
        "one connection, reused"
    );
    println!("one connection served both requests");

    if keep_serving {
        println!(
            "try: curl --unix-socket {} http://localhost/ (Ctrl-C stops)",
            path.display()
        );
        tokio::signal::ctrl_c().await?;
    }
    handle.shutdown(Duration::from_secs(5)).await;
    assert!(!path.exists(), "the socket file is removed at shutdown");
    std::fs::remove_dir(&dir)?;
    Ok(())
}
