//! Smoke: the client against our own server.
use nethttp::http::StatusCode;
use nethttp::{text_response, Client, HttpRequest, Server};
use std::time::Duration;

#[tokio::test]
async fn get_reuses_connection() {
    let server = Server::new();
    let l = server.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let h = server.serve(l, |req: HttpRequest| async move {
        let path = req.uri().path().to_owned();
        if path == "/chunked" {
            let (tx, body) = nethttp::Body::channel(4);
            tokio::spawn(async move {
                for i in 0..5 {
                    tx.send_data(format!("part{i}")).await.unwrap();
                }
            });
            return nethttp::http::Response::new(body);
        }
        if path == "/echo" {
            let b = req.into_body().to_bytes(1 << 20).await.unwrap();
            return nethttp::http::Response::new(nethttp::Body::from(b));
        }
        text_response(StatusCode::OK, format!("hello {path}"))
    });
    let addr = h.local_addr();
    let c = Client::new();
    for i in 0..5 {
        let r = c.get(format!("http://{addr}/x{i}")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let b = r.into_body().to_bytes(1000).await.unwrap();
        assert_eq!(b, format!("hello /x{i}"));
    }
    let r = c
        .get(format!("http://{addr}/chunked"))
        .send()
        .await
        .unwrap();
    let b = r.into_body().to_bytes(1000).await.unwrap();
    assert_eq!(b, "part0part1part2part3part4");
    let r = c
        .post(format!("http://{addr}/echo"))
        .body("data!")
        .send()
        .await
        .unwrap();
    assert_eq!(r.into_body().to_bytes(1000).await.unwrap(), "data!");
    let (tx, body) = nethttp::Body::channel(2);
    tokio::spawn(async move {
        for _ in 0..3 {
            tx.send_data("ab").await.unwrap();
        }
    });
    let r = c
        .post(format!("http://{addr}/echo"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.into_body().to_bytes(1000).await.unwrap(), "ababab");
    tokio::time::sleep(Duration::from_millis(50)).await;
    let s = c.pool_stats();
    eprintln!("{s:?} accepted={}", h.accepted_connections());
    assert_eq!(s.dials, 1);
    assert_eq!(h.accepted_connections(), 1);
}
