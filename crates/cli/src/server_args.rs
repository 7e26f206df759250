//! The listening side `serve` and `proxy` share: the address, the server's timeouts and
//! limits, TLS, HTTP/2, the runtime's threads and the shutdown grace period, as flags, turned
//! into a `Server` config and a bound listener.

use std::net::SocketAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use nethttp::net::{BindOptions, Listener};
use nethttp::server::{IpNet, ProxyProtocol, UntrustedPeers};
use nethttp::{Handler, Server, ServerHandle, ServerTls};

use crate::access_log_args::AccessLogArgs;
use crate::admin::AdminArgs;
use crate::layers::{Layers, Rate};
use crate::{duration, listen_addr};

#[derive(Args, Debug)]
pub struct ServerArgs {
    /// Address to listen on, as Go takes it: HOST:PORT, [IPv6]:PORT, :PORT for every
    /// interface, or a name such as localhost:PORT (resolved, IPv4 first). Port 0 picks a free
    /// port (the log line shows which).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: String,
    /// Time allowed to read a request head.
    #[arg(long, default_value = "10s", value_parser = duration::parse)]
    read_header_timeout: Duration,
    /// Time allowed to read a whole request, head and body.
    #[arg(long, default_value = "300s", value_parser = duration::parse)]
    read_timeout: Duration,
    /// Time a response write may wait for the client to read.
    #[arg(long, default_value = "30s", value_parser = duration::parse)]
    write_timeout: Duration,
    /// How long a keep-alive connection may sit idle.
    #[arg(long, default_value = "60s", value_parser = duration::parse)]
    idle_timeout: Duration,
    /// Largest request head accepted (431 beyond).
    #[arg(long, default_value_t = 65536)]
    max_header_bytes: usize,
    /// Largest request body accepted (413 beyond). The default is the library's, 64 MiB; 0
    /// means no limit.
    #[arg(long, default_value_t = nethttp::server::DEFAULT_MAX_BODY_BYTES)]
    max_body_bytes: u64,
    /// Most connections open at once; 0 means no limit.
    #[arg(long, default_value_t = 0)]
    max_connections: usize,
    /// Most connections one client address (an IPv6 /64) may have open at once, as nginx's
    /// `limit_conn`; its connections past it are closed at once. The client is the one a
    /// PROXY header names, with --proxy-protocol. 0 means no limit.
    #[arg(long, default_value_t = 0)]
    max_connections_per_ip: usize,
    /// How long in-flight requests may run after SIGINT/SIGTERM before they are cut.
    #[arg(long, default_value = "30s", value_parser = duration::parse)]
    pub shutdown_timeout: Duration,
    /// At shutdown, how long a connection that has not begun its first request is still
    /// waited for (it is most likely a request on its way); 0s closes it at once.
    #[arg(long, default_value = "2s", value_parser = duration::parse)]
    first_request_grace: Duration,
    /// Runtime worker threads; 0 means one per CPU, 1 a single-threaded runtime.
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// listen(2) backlog.
    #[arg(long, default_value_t = 1024)]
    pub backlog: u32,
    /// PEM certificate chain: serve HTTPS (HTTP/2 and HTTP/1.1 by ALPN). Needs --tls-key.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Require a client certificate from the CA(s) in this PEM file (mutual TLS): clients
    /// without one fail the handshake. Needs --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_client_ca: Option<PathBuf>,
    /// Speak HTTP/1.1 only: no h2 in ALPN, no h2c prior knowledge on plain TCP.
    #[arg(long)]
    no_http2: bool,
    /// Most concurrent streams per HTTP/2 connection.
    #[arg(long, default_value_t = 250)]
    http2_max_streams: u32,
    /// Every connection opens with a PROXY protocol header (v1 or v2, as HAProxy's
    /// send-proxy / send-proxy-v2 send it): the client's address is taken from it.
    /// Connections without a valid one are closed, nothing written.
    #[arg(long)]
    proxy_protocol: bool,
    /// Only peers in these networks (ADDR or ADDR/PREFIX, repeatable or comma-separated)
    /// send the PROXY header; other peers are refused, or served directly with
    /// --proxy-protocol-allow-direct. Implies --proxy-protocol.
    #[arg(long, value_name = "CIDR", value_delimiter = ',')]
    proxy_protocol_from: Vec<IpNet>,
    /// Serve peers outside --proxy-protocol-from as direct clients (no header read)
    /// instead of closing their connections: for probes that bypass the balancer.
    #[arg(long, requires = "proxy_protocol_from")]
    proxy_protocol_allow_direct: bool,
    /// Gzip-code answers for clients that accept it, as nginx's `gzip on` does: text, JSON,
    /// JavaScript, XML, SVG and the like, over 512 bytes, not already coded; with
    /// `Vary: Accept-Encoding`, and strong ETags made weak.
    #[arg(long)]
    compress: bool,
    /// Answer a client's requests past this rate `429 Too Many Requests` with `Retry-After`,
    /// as nginx's `limit_req` (with `nodelay`): N/s, N/m or N/h (`10/s`, `600r/m`), per
    /// client address (an IPv6 /64; the client a PROXY header names, with --proxy-protocol).
    #[arg(long, value_name = "RATE")]
    rate_limit: Option<Rate>,
    /// Requests a client may make at once above --rate-limit (nginx's `burst=`).
    #[arg(long, value_name = "N", default_value_t = 0, requires = "rate_limit")]
    rate_limit_burst: u32,
    #[command(flatten)]
    pub admin: AdminArgs,
    #[command(flatten)]
    pub access_log: AccessLogArgs,
}

impl ServerArgs {
    /// Refuses the limits that count clients by address on a listener whose clients have
    /// none (a Unix socket) unless a PROXY header names them: they would limit nothing.
    pub fn check_unix(&self) -> Result<(), String> {
        let relayed = self.proxy_protocol || !self.proxy_protocol_from.is_empty();
        let by_address = [
            ("--rate-limit", self.rate_limit.is_some()),
            ("--max-connections-per-ip", self.max_connections_per_ip > 0),
        ];
        match by_address.iter().find(|(_, on)| *on) {
            Some((flag, _)) if !relayed => Err(format!(
                "{flag} counts clients by address, and a Unix socket's clients have none: \
                 use it with --proxy-protocol (behind a balancer that names them), or not on --unix"
            )),
            _ => Ok(()),
        }
    }

    /// The handler wrappers these flags ask for, if any.
    pub fn layers(&self) -> Option<Layers> {
        Layers {
            compress: self.compress,
            rate_limit: self.rate_limit.map(|r| (r, self.rate_limit_burst)),
        }
        .asked()
    }

    /// The `Server` these flags describe (TLS loaded from its files).
    pub fn server(&self) -> Result<Server, String> {
        let server = Server::new()
            .bind_options(self.bind_options(false))
            .read_header_timeout(self.read_header_timeout)
            .read_timeout(self.read_timeout)
            .write_timeout(self.write_timeout)
            .idle_timeout(self.idle_timeout)
            .first_request_grace(self.first_request_grace)
            .max_header_bytes(self.max_header_bytes)
            .max_body_bytes((self.max_body_bytes > 0).then_some(self.max_body_bytes))
            .max_connections((self.max_connections > 0).then_some(self.max_connections))
            .max_connections_per_ip(
                (self.max_connections_per_ip > 0).then_some(self.max_connections_per_ip),
            )
            .backlog(self.backlog)
            .http2(!self.no_http2)
            .http2_max_concurrent_streams(self.http2_max_streams)
            .track_connections(self.admin.tracks())
            .metrics(self.admin.metrics_addr.is_some())
            .proxy_protocol(self.proxy_protocol());
        // The access log names the client, and the rate limit counts by it.
        let server = if self.access_log.enabled() || self.rate_limit.is_some() {
            server.conn_info(true)
        } else {
            server
        };
        let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) else {
            return Ok(server);
        };
        let mut tls =
            ServerTls::from_pem_files(cert, key).map_err(|e| format!("TLS setup: {e}"))?;
        if let Some(ca) = &self.tls_client_ca {
            let pem = std::fs::read(ca)
                .map_err(|e| format!("reading --tls-client-ca {}: {e}", ca.display()))?;
            tls = tls
                .require_client_cert(&pem)
                .map_err(|e| format!("--tls-client-ca {}: {e}", ca.display()))?;
        }
        Ok(server.tls(tls))
    }

    /// The PROXY protocol setting these flags ask for.
    fn proxy_protocol(&self) -> ProxyProtocol {
        if !self.proxy_protocol && self.proxy_protocol_from.is_empty() {
            return ProxyProtocol::off();
        }
        let mut pp = ProxyProtocol::required();
        for net in &self.proxy_protocol_from {
            pp = pp.trust(*net);
        }
        if self.proxy_protocol_allow_direct {
            pp = pp.untrusted(UntrustedPeers::Direct);
        }
        pp
    }

    /// `https` with --tls-cert, else `http`: for the log line that says where it listens.
    pub fn scheme(&self) -> &'static str {
        if self.tls_cert.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// How listening sockets are bound: this backlog, and an unspecified IPv6 address
    /// (`:PORT`) taking IPv4 too, as Go's listener does.
    fn bind_options(&self, reuse_port: bool) -> BindOptions {
        BindOptions {
            backlog: self.backlog,
            reuse_port,
            only_v6: Some(false),
            ..BindOptions::default()
        }
    }

    /// Binds the first of --addr's candidates that binds and serves the handler `make` gives
    /// on it (`make` is called once). With `reuseport` 1 or more, that many SO_REUSEPORT
    /// listeners (accept loops), so another process may bind the same address too; 0 binds
    /// one plain listener. Returns copies of the listening sockets too, for a hand-over.
    pub fn listen_tcp<H: Handler>(
        &self,
        server: &Server,
        reuseport: usize,
        make: impl FnOnce() -> H,
    ) -> Result<(ServerHandle, Vec<OwnedFd>), String> {
        let mut last_error = None;
        for addr in listen_addr::resolve(&self.addr)? {
            match self.bind_tcp(addr, reuseport) {
                Ok(listeners) => {
                    let fds = listeners
                        .iter()
                        .map(|l| l.as_fd().try_clone_to_owned())
                        .collect::<std::io::Result<Vec<_>>>()
                        .map_err(|e| format!("copying the listening socket: {e}"))?;
                    return Ok((server.serve_many(listeners, make()), fds));
                }
                Err(e) => last_error = Some(e),
            }
        }
        let e = last_error.map_or_else(|| "no address".to_owned(), |e| e.to_string());
        Err(format!("listening on {}: {e}", self.addr))
    }

    /// One listener on `addr`, or `reuseport` SO_REUSEPORT ones (with port 0, the first's
    /// port for the rest).
    fn bind_tcp(&self, addr: SocketAddr, reuseport: usize) -> std::io::Result<Vec<Listener>> {
        let opts = self.bind_options(reuseport > 0);
        let first = Listener::bind(addr, &opts)?;
        let addr = first.local_addr()?;
        let mut listeners = vec![first];
        for _ in 1..reuseport {
            listeners.push(Listener::bind(addr, &opts)?);
        }
        Ok(listeners)
    }
}
