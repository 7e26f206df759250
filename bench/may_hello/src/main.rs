//! may-minihttp "Hello, World!" server: the stackful-coroutine peer in the fast-path
//! comparison. Same response as `hyper-hello` and `nethttp-hello`.
//!
//! Usage: may-hello [--addr 127.0.0.1:8080] [--threads 1]
//! Prints `may-hello listening on ADDR` to stderr once the socket is bound.

use std::io;

use may_minihttp::{HttpServer, HttpService, Request, Response};

#[derive(Clone)]
struct Hello;

impl HttpService for Hello {
    fn call(&mut self, _req: Request, res: &mut Response) -> io::Result<()> {
        res.header("Content-Type: text/plain");
        res.body("Hello, World!");
        Ok(())
    }
}

fn main() {
    let mut addr = "127.0.0.1:8080".to_string();
    let mut threads = 1usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match (a.as_str(), args.next()) {
            ("--addr", Some(v)) => addr = v,
            ("--threads", Some(v)) => threads = v.parse().unwrap_or(1).max(1),
            _ => {
                eprintln!("usage: may-hello [--addr 127.0.0.1:8080] [--threads 1]");
                std::process::exit(2);
            }
        }
    }
    may::config().set_workers(threads);
    let server = match HttpServer(Hello).start(addr.as_str()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("may-hello: bind {addr}: {e}");
            std::process::exit(1);
        }
    };
    eprintln!("may-hello listening on {addr}");
    let _ = server.join();
}
