//! `nethttp proxy`: a reverse proxy in front of one upstream (`--to http://HOST:PORT/PREFIX`,
//! `https://` with the `--upstream-*` TLS flags, or `--to unix:PATH` for an upstream on a
//! Unix socket) or several (`--to` again, `weight=N`, `--balance`, `--max-fails`), or with
//! `--forward` a forward proxy
//! (CONNECT tunnels to allowed ports, absolute-URI requests, optional Basic auth), with
//! `serve`'s listener, timeouts, limits, TLS and `lifecycle`: graceful shutdown on
//! SIGINT/SIGTERM, listeners systemd passed, and the SIGUSR2 hand-over to a new process.
//! `--cross-origin-protection` puts the reverse proxy behind `CrossOriginProtection`.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use nethttp::proxy::{Balance, ConnectPorts, ForwardProxy, ReverseProxy};
use nethttp::wrap::CrossOriginProtection;
use nethttp::DynHandler;

use crate::duration;
use crate::lifecycle::{self, Inherited};
use crate::server_args::ServerArgs;
use crate::tls_args::UpstreamTlsArgs;

#[derive(Args, Debug)]
pub struct ProxyArgs {
    /// The upstream: http://HOST:PORT[/PREFIX] (or https://), or unix:PATH for an upstream
    /// listening on a Unix domain socket (unix:@NAME: in Linux's abstract namespace). A
    /// prefix path is joined with each request's path. Repeat it for several upstreams
    /// sharing the requests (http and https only), each optionally as "URL weight=N" and
    /// "URL backup" (only when no other can take a request), as nginx's `server` lines.
    #[arg(long, value_name = "URL", value_parser = parse_to, required_unless_present = "forward")]
    to: Vec<Upstream>,
    /// How requests are shared among several upstreams: round-robin (by weight, as nginx)
    /// or least-conn (the fewest requests in flight for its weight).
    #[arg(
        long,
        value_enum,
        default_value = "round-robin",
        conflicts_with = "forward"
    )]
    balance: BalanceArg,
    /// With several upstreams: failures in a row (no connection, no response head in time)
    /// that leave an upstream out for --fail-timeout; 0 never does (nginx's max_fails).
    #[arg(long, default_value_t = 1, conflicts_with = "forward")]
    max_fails: u32,
    /// How long an upstream that failed --max-fails times is left out before one request
    /// tries it again (nginx's fail_timeout).
    #[arg(long, default_value = "10s", value_parser = duration::parse, conflicts_with = "forward")]
    fail_timeout: Duration,
    /// With several upstreams: how many a request may be tried at, the first included
    /// (nginx's proxy_next_upstream_tries). Default: each once.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..), conflicts_with = "forward")]
    next_upstream_tries: Option<u32>,
    /// With several upstreams: no request goes to another upstream once this long has passed
    /// since its first attempt began (nginx's proxy_next_upstream_timeout). Default: none.
    #[arg(long, value_name = "DURATION", value_parser = duration::parse, conflicts_with = "forward")]
    next_upstream_timeout: Option<Duration>,
    /// With several upstreams: answers with these statuses (comma-separated, e.g.
    /// 502,503,504) send an idempotent request on to the next upstream (nginx's
    /// proxy_next_upstream http_503 ...). Default: none.
    #[arg(long, value_name = "LIST", value_parser = parse_statuses, conflicts_with = "forward")]
    next_upstream_status: Option<Statuses>,
    /// Be a forward proxy (clients name it with `curl -x`, `HTTP_PROXY`): CONNECT tunnels and
    /// requests with absolute URIs, to any host. Instead of --to.
    #[arg(long, conflicts_with = "to")]
    forward: bool,
    /// Ports CONNECT may open tunnels to, comma-separated, or `all`.
    /// Default: 443.
    #[arg(long, value_name = "LIST|all", value_parser = parse_ports, conflicts_with = "to")]
    allow_connect_ports: Option<ConnectPorts>,
    /// How long a CONNECT tunnel may carry nothing before it is closed.
    #[arg(long, default_value = "300s", value_parser = duration::parse)]
    tunnel_idle_timeout: Duration,
    /// Require these Basic proxy credentials (407 without them).
    #[arg(long, value_name = "USER:PASSWORD", conflicts_with = "to")]
    proxy_auth: Option<String>,
    #[command(flatten)]
    server: ServerArgs,
    #[command(flatten)]
    upstream_tls: UpstreamTlsArgs,
    /// Time the upstream has to answer with a response head (504 beyond).
    #[arg(long, default_value = "60s", value_parser = duration::parse)]
    upstream_timeout: Duration,
    /// Longest silence inside an upstream's response body before the proxy gives up on it
    /// (a server-sent-events stream that may stay quiet longer needs more).
    #[arg(long, default_value = "60s", value_parser = duration::parse)]
    upstream_read_timeout: Duration,
    /// Time allowed to connect to the upstream (504 beyond).
    #[arg(long, default_value = "10s", value_parser = duration::parse)]
    connect_timeout: Duration,
    /// Let WebSockets go to an HTTP/2 upstream as streams of its connection (RFC 8441), not
    /// on HTTP/1.1 connections of their own: for an upstream that speaks only HTTP/2, or
    /// whose connection window is far above its stream window (a socket whose upstream stops
    /// reading holds the shared connection's window).
    #[arg(long, conflicts_with = "forward")]
    websockets_over_http2: bool,
    /// Refuse unsafe requests (POST, PUT, DELETE, ...) that a browser sent from another
    /// origin, told by Sec-Fetch-Site or else by Origin against Host: 403 before the upstream
    /// sees them (a defence against cross-site request forgery, Go's CrossOriginProtection).
    #[arg(long, conflicts_with = "forward")]
    cross_origin_protection: bool,
    /// An origin (scheme://host[:port]) whose requests pass --cross-origin-protection,
    /// such as another site of the application's. Repeatable.
    #[arg(long, value_name = "ORIGIN", requires = "cross_origin_protection", value_parser = parse_origin)]
    trusted_origin: Vec<String>,
    /// A route pattern ("POST /hooks/{name}", ServeMux syntax) whose requests pass
    /// --cross-origin-protection from any origin: webhooks and other callers that
    /// authenticate without the browser's cookies. Repeatable.
    #[arg(long, value_name = "PATTERN", requires = "cross_origin_protection", value_parser = parse_bypass)]
    cross_origin_bypass: Vec<String>,
    /// Idle keep-alive connections kept open to the upstream.
    #[arg(long, default_value_t = 256)]
    upstream_max_idle: usize,
    /// Write the process id to this file once serving (replaced atomically; a successor
    /// started by SIGUSR2 writes its own), and remove it at exit if it is still this one's.
    #[arg(long, value_name = "PATH")]
    pid_file: Option<PathBuf>,
}

/// `--balance`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum BalanceArg {
    RoundRobin,
    LeastConn,
}

/// The upstream `--to` names.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Upstream {
    /// A URL, its weight, and whether it is a backup.
    Url(String, u32, bool),
    /// A Unix socket; requests carry `Host: localhost` as curl's `--unix-socket` does.
    Unix(PathBuf),
}

fn parse_to(to: &str) -> Result<Upstream, String> {
    // "URL weight=N backup", as nginx's `server` lines: a space cannot be in a URL.
    if let Some((url, params)) = to.split_once(' ') {
        let (mut weight, mut backup) = (1, false);
        for param in params.split_whitespace() {
            if param == "backup" {
                backup = true;
                continue;
            }
            weight = param
                .strip_prefix("weight=")
                .and_then(|w| w.parse::<u32>().ok())
                .filter(|&w| w > 0)
                .ok_or_else(|| {
                    format!("--to {to:?}: after the URL only weight=N (1 or more) and backup")
                })?;
        }
        return match parse_to(url)? {
            Upstream::Url(url, ..) => Ok(Upstream::Url(url, weight, backup)),
            Upstream::Unix(_) => Err(format!("--to {to:?}: a Unix socket takes no parameters")),
        };
    }
    if let Some(path) = to.strip_prefix("unix:") {
        if path.is_empty() {
            return Err("--to unix: needs a socket path, e.g. unix:/run/app.sock".into());
        }
        return crate::unix_path::parse(path)
            .map(Upstream::Unix)
            .map_err(|e| format!("--to {to:?}: {e}"));
    }
    if !(to.starts_with("http://") || to.starts_with("https://")) {
        return Err(format!(
            "--to {to:?}: use http://HOST:PORT, https://HOST:PORT or unix:PATH"
        ));
    }
    let uri: http::Uri = to.parse().map_err(|e| format!("--to {to:?}: {e}"))?;
    if uri.host().is_none_or(str::is_empty) {
        return Err(format!("--to {to:?} has no host"));
    }
    Ok(Upstream::Url(to.to_owned(), 1, false))
}

/// A `--trusted-origin`, checked as the rules will take it.
fn parse_origin(origin: &str) -> Result<String, String> {
    CrossOriginProtection::new()
        .add_trusted_origin(origin)
        .map(|_| origin.to_owned())
        .map_err(|e| e.to_string())
}

/// A `--cross-origin-bypass` pattern, checked alone (conflicts between them at start).
fn parse_bypass(pattern: &str) -> Result<String, String> {
    CrossOriginProtection::new()
        .add_insecure_bypass_pattern(pattern)
        .map(|_| pattern.to_owned())
        .map_err(|e| e.to_string())
}

/// `--next-upstream-status`'s list (one value to clap, not one per status).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Statuses(Vec<http::StatusCode>);

/// `--next-upstream-status`: error statuses (400-599), comma-separated.
fn parse_statuses(s: &str) -> Result<Statuses, String> {
    s.split(',')
        .map(|code| {
            code.trim()
                .parse::<u16>()
                .ok()
                .filter(|c| (400..600).contains(c))
                .and_then(|c| http::StatusCode::from_u16(c).ok())
                .ok_or_else(|| format!("{code:?} is not an error status (400-599)"))
        })
        .collect::<Result<_, _>>()
        .map(Statuses)
}

fn parse_ports(s: &str) -> Result<ConnectPorts, String> {
    if s.eq_ignore_ascii_case("all") {
        return Ok(ConnectPorts::All);
    }
    let ports = s
        .split(',')
        .map(|p| {
            p.trim()
                .parse::<u16>()
                .ok()
                .filter(|&p| p > 0)
                .ok_or_else(|| format!("{p:?} is not a port (1-65535)"))
        })
        .collect::<Result<Vec<u16>, String>>()?;
    Ok(ConnectPorts::Only(ports))
}

pub fn run(args: ProxyArgs) -> Result<(), String> {
    let inherited = Inherited::take()?;
    let rt = crate::runtime::build(args.server.threads)?;
    rt.block_on(proxy(args, inherited))
}

async fn proxy(args: ProxyArgs, inherited: Inherited) -> Result<(), String> {
    let transport = ReverseProxy::default_transport()
        .response_header_timeout(args.upstream_timeout)
        .read_timeout(args.upstream_read_timeout)
        .connect_timeout(args.connect_timeout)
        .max_idle_per_host(args.upstream_max_idle);
    let connect_ports = args.allow_connect_ports.clone().unwrap_or_default();
    let handler: Box<dyn DynHandler> = match args.to.first() {
        None => {
            let transport = transport
                .build()
                .map_err(|e| format!("upstream transport: {e}"))?;
            let mut proxy = ForwardProxy::builder()
                .transport(transport)
                .connect_ports(connect_ports.clone())
                .connect_timeout(args.connect_timeout)
                .tunnel_idle_timeout(args.tunnel_idle_timeout);
            if let Some(cred) = &args.proxy_auth {
                let Some((user, password)) = cred.split_once(':') else {
                    return Err("--proxy-auth takes USER:PASSWORD".into());
                };
                proxy = proxy.basic_auth(user, password);
            }
            Box::new(proxy.build().map_err(|e| format!("forward proxy: {e}"))?)
        }
        Some(to) => {
            let several = args.to.len() > 1;
            if several && args.to.iter().any(|u| matches!(u, Upstream::Unix(_))) {
                return Err("--to unix:PATH takes no other --to (several upstreams are \
                            http:// or https:// URLs)"
                    .into());
            }
            let (mut transport, url) = match to {
                Upstream::Url(u, ..) => (transport, u.clone()),
                Upstream::Unix(p) => (transport.unix_socket(p), "http://localhost".to_owned()),
            };
            if let Some(tls) = args.upstream_tls.client_tls()? {
                transport = transport.tls(tls);
            }
            if several {
                // A failed attempt goes to the next upstream at once, not to the same again.
                transport = ReverseProxy::group_transport(transport);
            }
            let transport = transport
                .build()
                .map_err(|e| format!("upstream transport: {e}"))?;
            let mut builder = ReverseProxy::builder()
                .transport(transport)
                .websockets_over_http2(args.websockets_over_http2)
                .balance(match args.balance {
                    BalanceArg::RoundRobin => Balance::RoundRobin,
                    BalanceArg::LeastConn => Balance::LeastConn,
                })
                .max_fails(args.max_fails, args.fail_timeout);
            if several {
                for up in &args.to {
                    builder = match up {
                        Upstream::Url(u, weight, true) => builder.backup_upstream(u, *weight),
                        Upstream::Url(u, weight, false) => builder.weighted_upstream(u, *weight),
                        Upstream::Unix(_) => builder,
                    };
                }
            } else {
                builder = builder.upstream(&url);
            }
            if let Some(n) = args.next_upstream_tries {
                builder = builder.next_upstream_tries(n as usize);
            }
            if let Some(d) = args.next_upstream_timeout {
                builder = builder.next_upstream_timeout(d);
            }
            if let Some(Statuses(statuses)) = &args.next_upstream_status {
                builder = builder.next_upstream_statuses(statuses.iter().copied());
            }
            let proxy = builder.build().map_err(|e| format!("--to {url}: {e}"))?;
            match cross_origin(&args)? {
                Some(cop) => Box::new(cop.handler(proxy)),
                None => Box::new(proxy),
            }
        }
    };

    // The client's address, for X-Forwarded-For.
    let server = args.server.server()?.conn_info(true);
    // Said before `listening on`, which is the line that tells a watcher the proxy is up.
    match args.to.as_slice() {
        [Upstream::Unix(p)] => {
            tracing::info!("proxying to unix:{}", crate::unix_path::shown(p))
        }
        [] => tracing::info!("forward proxy; CONNECT to {:?}", connect_ports),
        several => {
            let urls: Vec<String> = several
                .iter()
                .map(|u| match u {
                    Upstream::Url(u, 1, false) => u.clone(),
                    Upstream::Url(u, w, false) => format!("{u} weight={w}"),
                    Upstream::Url(u, w, true) => format!("{u} weight={w} backup"),
                    Upstream::Unix(p) => format!("unix:{}", crate::unix_path::shown(p)),
                })
                .collect();
            tracing::info!("proxying to {}", urls.join(", "))
        }
    }
    let Inherited { listeners, ready } = inherited;
    let listening = match args.server.layers() {
        Some(l) => lifecycle::listen(&args.server, &server, listeners, 0, || l.apply(handler))?,
        None => lifecycle::listen(&args.server, &server, listeners, 0, || handler)?,
    };
    let _admin = args.server.admin.start()?;
    lifecycle::serve_until_stopped(
        listening,
        args.pid_file.as_deref(),
        ready,
        args.server.shutdown_timeout,
    )
    .await
}

/// The `--cross-origin-protection` rules, if asked for.
fn cross_origin(args: &ProxyArgs) -> Result<Option<CrossOriginProtection>, String> {
    if !args.cross_origin_protection {
        return Ok(None);
    }
    let mut cop = CrossOriginProtection::new();
    for origin in &args.trusted_origin {
        cop.add_trusted_origin(origin)
            .map_err(|e| format!("--trusted-origin: {e}"))?;
    }
    for pattern in &args.cross_origin_bypass {
        cop.add_insecure_bypass_pattern(pattern)
            .map_err(|e| format!("--cross-origin-bypass: {e}"))?;
    }
    Ok(Some(cop))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_takes_urls_and_unix_paths() {
        assert_eq!(
            parse_to("http://127.0.0.1:9000/api").unwrap(),
            Upstream::Url("http://127.0.0.1:9000/api".into(), 1, false)
        );
        assert_eq!(
            parse_to("http://127.0.0.1:9000 weight=3").unwrap(),
            Upstream::Url("http://127.0.0.1:9000".into(), 3, false)
        );
        assert_eq!(
            parse_to("http://127.0.0.1:9000 backup weight=2").unwrap(),
            Upstream::Url("http://127.0.0.1:9000".into(), 2, true)
        );
        assert!(parse_to("http://127.0.0.1:9000 weight=0").is_err());
        assert!(parse_to("http://127.0.0.1:9000 down").is_err());
        assert!(parse_to("unix:/run/a.sock weight=2").is_err());
        assert_eq!(
            parse_to("unix:/run/a.sock").unwrap(),
            Upstream::Unix("/run/a.sock".into())
        );
        assert_eq!(
            parse_to("unix:@app").unwrap(),
            Upstream::Unix(crate::unix_path::abstract_name("app").unwrap())
        );
        assert_eq!(
            parse_statuses("502, 503,504").unwrap().0,
            [502, 503, 504].map(|c| http::StatusCode::from_u16(c).unwrap())
        );
        assert!(parse_statuses("200").is_err());
        assert!(parse_statuses("503,x").is_err());
        assert!(parse_to("unix:").is_err());
        assert!(parse_to("unix:@").is_err());
        assert!(parse_to("127.0.0.1:9000").is_err());
        assert!(parse_to("ftp://x").is_err());
    }
}
