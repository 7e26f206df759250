//! `nethttp get -v`: a `Trace` that prints one line per phase of the exchange on stderr —
//! connection (new or reused, with its idle time; HTTP/2 and its streams in flight), DNS,
//! connect, TLS to an `https://` proxy, the tunnel through a proxy (SOCKS5 or CONNECT), TLS
//! handshake (with the ALPN protocol), request written, first response byte,
//! redirects followed — each with how long the phase took, and the total at the end.

use std::io;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nethttp::client::{ConnectKey, GotConn, Trace, Tunnel};

/// Prints each phase as it ends; retries and redirects print their phases again.
pub struct Verbose {
    start: Instant,
    marks: Mutex<Marks>,
}

/// When the phases in progress started.
struct Marks {
    conn_asked: Instant,
    dns_started: Instant,
    connects: Vec<(SocketAddr, Instant)>,
    tls_started: Instant,
    proxy_tls_started: Instant,
    tunnel_started: Instant,
    got_conn: Instant,
    wrote: Option<Instant>,
}

impl Verbose {
    /// A trace whose times count from `start`, when the request was made.
    pub fn new(start: Instant) -> Verbose {
        Verbose {
            start,
            marks: Mutex::new(Marks {
                conn_asked: start,
                dns_started: start,
                connects: Vec::new(),
                tls_started: start,
                proxy_tls_started: start,
                tunnel_started: start,
                got_conn: start,
                wrote: None,
            }),
        }
    }

    /// The last line: the whole exchange, body included.
    pub fn done(&self, body_bytes: u64) {
        line(format_args!(
            "total {} ({body_bytes} body bytes)",
            ms(self.start.elapsed())
        ));
    }

    fn marks(&self) -> std::sync::MutexGuard<'_, Marks> {
        self.marks.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Trace for Verbose {
    fn get_conn(&self, key: &ConnectKey) {
        self.marks().conn_asked = Instant::now();
        line(format_args!("connection to {key} requested"));
    }

    fn got_conn(&self, info: &GotConn) {
        let now = Instant::now();
        let waited = {
            let mut m = self.marks();
            m.got_conn = now;
            m.wrote = None;
            now - m.conn_asked
        };
        let local = info
            .local_addr
            .map(|a| format!(", local {a}"))
            .unwrap_or_default();
        let proto = if info.http2 {
            let n = info.streams_in_flight;
            format!(
                ", HTTP/2 with {n} stream{} in flight",
                if n == 1 { "" } else { "s" }
            )
        } else {
            String::new()
        };
        if !info.reused {
            line(format_args!(
                "connection: new{local}{proto}, ready in {}",
                ms(waited)
            ));
        } else if info.was_idle {
            line(format_args!(
                "connection: reused, idle for {}{local}{proto}, ready in {}",
                ms(info.idle_time),
                ms(waited)
            ));
        } else if info.http2 {
            line(format_args!(
                "connection: reused (shared){local}{proto}, ready in {}",
                ms(waited)
            ));
        } else {
            line(format_args!(
                "connection: reused (handed over by a finishing request){local}, ready in {}",
                ms(waited)
            ));
        }
    }

    fn dns_start(&self, _host: &str) {
        self.marks().dns_started = Instant::now();
    }

    fn dns_done(&self, addrs: &[SocketAddr], err: Option<&io::Error>) {
        let took = self.marks().dns_started.elapsed();
        match err {
            None => {
                let addrs: Vec<String> = addrs.iter().map(ToString::to_string).collect();
                line(format_args!("dns: {} in {}", addrs.join(", "), ms(took)));
            }
            Some(e) => line(format_args!("dns: failed in {}: {e}", ms(took))),
        }
    }

    fn connect_start(&self, addr: SocketAddr) {
        self.marks().connects.push((addr, Instant::now()));
    }

    fn connect_done(&self, addr: SocketAddr, err: Option<&io::Error>) {
        let took = {
            let mut m = self.marks();
            match m.connects.iter().position(|(a, _)| *a == addr) {
                Some(i) => m.connects.swap_remove(i).1.elapsed(),
                None => Duration::ZERO,
            }
        };
        match err {
            None => line(format_args!("connect {addr}: ok in {}", ms(took))),
            Some(e) => line(format_args!("connect {addr}: failed in {}: {e}", ms(took))),
        }
    }

    fn tls_handshake_start(&self) {
        self.marks().tls_started = Instant::now();
    }

    fn tls_handshake_done(&self, alpn: Option<&[u8]>, err: Option<&nethttp::Error>) {
        let took = self.marks().tls_started.elapsed();
        match err {
            None => {
                let alpn = alpn.map_or("none".into(), String::from_utf8_lossy);
                line(format_args!(
                    "TLS handshake: ok in {}, ALPN {alpn}",
                    ms(took)
                ));
            }
            Some(e) => line(format_args!("TLS handshake: failed in {}: {e}", ms(took))),
        }
    }

    fn proxy_tls_handshake_start(&self, _proxy_host: &str) {
        self.marks().proxy_tls_started = Instant::now();
    }

    fn proxy_tls_handshake_done(&self, err: Option<&nethttp::Error>) {
        let took = self.marks().proxy_tls_started.elapsed();
        match err {
            None => line(format_args!(
                "TLS handshake with the proxy: ok in {}",
                ms(took)
            )),
            Some(e) => line(format_args!(
                "TLS handshake with the proxy: failed in {}: {e}",
                ms(took)
            )),
        }
    }

    fn proxy_tunnel_start(&self, how: Tunnel, target: &str) {
        self.marks().tunnel_started = Instant::now();
        let how = match how {
            Tunnel::Socks5 => "SOCKS5",
            _ => "CONNECT",
        };
        line(format_args!("{how} tunnel to {target} through the proxy"));
    }

    fn proxy_tunnel_done(&self, err: Option<&nethttp::Error>) {
        let took = self.marks().tunnel_started.elapsed();
        match err {
            None => line(format_args!("tunnel: open in {}", ms(took))),
            Some(e) => line(format_args!("tunnel: failed in {}: {e}", ms(took))),
        }
    }

    fn wrote_request(&self, err: Option<&nethttp::Error>) {
        let now = Instant::now();
        let took = {
            let mut m = self.marks();
            m.wrote = Some(now);
            now - m.got_conn
        };
        match err {
            None => line(format_args!("request written in {}", ms(took))),
            Some(e) => line(format_args!(
                "writing the request failed after {}: {e}",
                ms(took)
            )),
        }
    }

    fn got_first_response_byte(&self) {
        let now = Instant::now();
        let wrote = self.marks().wrote;
        let since_write = wrote.map(|w| now - w).unwrap_or_default();
        line(format_args!(
            "first response byte {} after the request was written ({} since start)",
            ms(since_write),
            ms(now - self.start)
        ));
    }

    fn redirect(&self, status: nethttp::http::StatusCode, next: &nethttp::http::Uri) {
        line(format_args!(
            "redirect: {} to {next} after {}",
            status.as_u16(),
            ms(self.start.elapsed())
        ));
    }
}

/// One trace line on stderr.
fn line(msg: std::fmt::Arguments<'_>) {
    eprintln!("* {msg}");
}

/// A duration in milliseconds with microsecond precision.
fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}
