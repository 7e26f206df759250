//! Our WebSocket client driven through the Autobahn|Testsuite's fuzzingserver: asks it for
//! the number of cases, runs each (echoing every text and binary message back until the
//! server closes), then asks it to write its reports. `bench/autobahn.sh` starts the
//! fuzzingserver and checks the reports (`tests/websocket_autobahn.rs` runs a subset the same way).
//!
//! ```sh
//! cargo run -p nethttp --features websocket --example autobahn_client -- ws://127.0.0.1:9001
//! ```

use futures_util::{SinkExt, StreamExt};
use nethttp::websocket::{close_frame_for, Message};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let base = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "ws://127.0.0.1:9001".to_owned());
    let agent = "nethttp";
    let (mut socket, _) = nethttp::websocket::connect(&format!("{base}/getCaseCount")).await?;
    let count: u32 = match socket.next().await {
        Some(Ok(Message::Text(t))) => t.parse()?,
        other => return Err(format!("no case count: {other:?}").into()),
    };
    drop(socket);
    println!("{count} cases");
    for case in 1..=count {
        let url = format!("{base}/runCase?case={case}&agent={agent}");
        let (mut socket, _) = match nethttp::websocket::connect(&url).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("case {case}: {e}");
                continue;
            }
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
        nethttp::websocket::connect(&format!("{base}/updateReports?agent={agent}")).await?;
    while let Some(Ok(_)) = socket.next().await {}
    println!("reports updated");
    Ok(())
}
