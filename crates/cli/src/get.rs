//! `nethttp get`: one request on the library's `Client`, the response body streamed to stdout
//! as it arrives; `-i` puts the status line and headers first, `-v` traces each phase of the
//! exchange (connection, DNS, connect, TLS, write, first byte) on stderr. https offers HTTP/2
//! (`--no-http2`: HTTP/1.1 only), `--http2-prior-knowledge` speaks h2c on http URLs, `-x`
//! goes through a proxy (HTTP, HTTPS with `--proxy-cacert`, SOCKS5), `--unix-socket` and
//! `--resolve` choose where connections go
//! (`dial_args`), and `-f` exits 22 on an error status, as curl's `--fail`.
//! `--data-file` streams the body from a file (`upload`), `--max-filesize` refuses a larger
//! response body (exit status 63, as curl). `-b` and `-c` send and keep cookies (`cookies`).
//! Compressed answers (gzip, br, zstd, deflate, asked for on every request that does not set
//! its own `Accept-Encoding`) are decoded as they stream; `--compressed` is accepted for
//! curl's sake and changes nothing.

mod cookies;
mod curl_args;
mod trace;
mod upload;

use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Args;
use http::{HeaderMap, Method, Response, Version};
use http_body_util::BodyExt;
use nethttp::{Body, Client};

use crate::dial_args::DialArgs;
use crate::duration;
use crate::tls_args::{self, ProxyTlsArgs, TlsArgs};
use crate::Failure;

#[derive(Args, Debug)]
pub struct GetArgs {
    /// The URL to request (http://host[:port]/path).
    url: String,
    /// Request method; POST when a body is given with -d or --data-file, else GET.
    #[arg(short = 'X', long = "request", value_name = "METHOD")]
    method: Option<Method>,
    /// A request header, `Name: value`; repeat for more.
    #[arg(short = 'H', long = "header", value_name = "K: V", value_parser = parse_header)]
    headers: Vec<(String, String)>,
    /// The request body, sent as given.
    #[arg(
        short = 'd',
        long = "data",
        value_name = "DATA",
        conflicts_with = "data_file"
    )]
    data: Option<String>,
    /// Sends the contents of a file as the request body, read as it is sent (never held in
    /// memory whole): a regular file with its Content-Length, standard input (`-`) or a pipe
    /// chunked. The body cannot be sent again, so a 307/308 redirect is returned as it is.
    #[arg(long, value_name = "FILE")]
    data_file: Option<PathBuf>,
    /// Prints the response status line and headers before the body.
    #[arg(short = 'i', long = "include")]
    include: bool,
    /// On a status of 400 or above, prints nothing on stdout and exits 22, as curl's --fail.
    #[arg(short = 'f', long)]
    fail: bool,
    /// Traces the exchange on stderr: connection reuse, DNS, connect, write, first byte, total.
    #[arg(short = 'v', long)]
    verbose: bool,
    /// Total time allowed for the request, redirects and body included. Default: none, so a
    /// long download is not cut; each phase still has the client's finite timeout (connect
    /// 30s, response head 60s, 60s of silence in the body).
    #[arg(long, value_parser = duration::parse)]
    timeout: Option<Duration>,
    /// Speaks HTTP/2 on http URLs without asking first (h2c by prior knowledge), for servers
    /// known to support it (`nethttp serve` does). https URLs negotiate by ALPN regardless.
    #[arg(long, conflicts_with = "no_http2")]
    http2_prior_knowledge: bool,
    /// HTTP/1.1 only: https offers only `http/1.1` in ALPN (like curl's --http1.1). By
    /// default https offers `h2` first.
    #[arg(long)]
    no_http2: bool,
    /// Refuses a response body larger than this many bytes, as curl's --max-filesize: one
    /// announced larger (Content-Length) is not read at all, one that grows larger (chunked,
    /// or decoded from gzip, br, zstd or deflate) is cut off before the byte that passes the
    /// limit. Exits with status 63, as curl does. Default: no limit, as curl (the output
    /// streams, so memory stays bounded whatever the size).
    #[arg(long, value_name = "BYTES")]
    max_filesize: Option<u64>,
    /// Accepted for curl's sake; changes nothing: every request without its own
    /// Accept-Encoding asks for gzip, br, zstd and deflate and gets the answer decoded
    /// (Content-Encoding and Content-Length removed; -v says which coding came). With
    /// -H 'Accept-Encoding: ...' the body is written as it came.
    #[arg(long = "compressed")]
    _compressed: bool,
    /// Sends the request through the proxy at [SCHEME://][USER:PASSWORD@]HOST[:PORT] (as
    /// curl's -x). http:// (the default, port 80): http URLs in absolute form, https URLs
    /// through a CONNECT tunnel, credentials as `Proxy-Authorization: Basic`. https:// (port
    /// 443): the same inside TLS to the proxy (see --proxy-cacert). socks5:// and socks5h://
    /// (port 1080): a SOCKS5 connection to the target, named by the address resolved here
    /// (socks5) or by its name for the proxy to resolve (socks5h); credentials by RFC 1929.
    #[arg(
        short = 'x',
        long,
        value_name = "[SCHEME://][USER:PASSWORD@]HOST[:PORT]",
        conflicts_with_all = ["unix_socket", "abstract_unix_socket"]
    )]
    proxy: Option<String>,
    /// Hosts that skip the proxy, in NO_PROXY syntax (as curl's --noproxy): comma-separated
    /// domains, IPs, CIDR blocks, `*` for all. Without -x, the proxy comes from
    /// http_proxy / https_proxy, all_proxy for either when its own is unset, and no_proxy (or
    /// their uppercase names); loopback goes direct.
    #[arg(long, value_name = "LIST")]
    noproxy: Option<String>,
    /// Sends cookies, as curl's -b: `NAME=VALUE[; NAME2=VALUE2]` as the `Cookie` field, or the
    /// name of a Netscape cookie file (curl's -c output) whose cookies are sent where they
    /// match, on the request and on each redirect followed, with those set on the way.
    #[arg(short = 'b', long = "cookie", value_name = "DATA|FILE")]
    cookie: Option<String>,
    /// Writes every cookie known after the transfer (from -b FILE and those the responses
    /// set) to FILE in the Netscape format, as curl's -c; session cookies with expiry 0.
    #[arg(short = 'c', long = "cookie-jar", value_name = "FILE")]
    cookie_jar: Option<PathBuf>,
    #[command(flatten)]
    curl: curl_args::CurlArgs,
    #[command(flatten)]
    tls: TlsArgs,
    #[command(flatten)]
    proxy_tls: ProxyTlsArgs,
    #[command(flatten)]
    dial: DialArgs,
}

/// `Name: value` → (name, value); the library validates both when the request is built.
fn parse_header(s: &str) -> Result<(String, String), String> {
    let (name, value) = s
        .split_once(':')
        .ok_or_else(|| format!("header {s:?} is not `Name: value`"))?;
    let name = name.trim();
    if name.is_empty() {
        return Err(format!("header {s:?} has no name"));
    }
    Ok((name.to_owned(), value.trim().to_owned()))
}

/// curl's exit status for a body over `--max-filesize`.
const TOO_LARGE: u8 = 63;

fn too_large(max: u64) -> Failure {
    Failure {
        code: TOO_LARGE,
        message: format!("the response body is larger than --max-filesize {max} bytes"),
    }
}

/// The exit status of `--fail` on an error status, curl's.
const FAIL_STATUS: u8 = 22;

pub fn run(args: GetArgs) -> Result<(), Failure> {
    // One request needs no thread pool.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting runtime: {e}"))?;
    rt.block_on(get(args))
}

async fn get(args: GetArgs) -> Result<(), Failure> {
    let cookies = cookies::Cookies::new(args.cookie.as_deref(), args.cookie_jar.as_deref())?;
    let result = transfer(args, &cookies).await;
    // As curl, the jar is written whatever became of the transfer.
    cookies.save()?;
    result
}

async fn transfer(args: GetArgs, cookies: &cookies::Cookies) -> Result<(), Failure> {
    let body = match (&args.data, &args.data_file) {
        (Some(d), _) => Some(Body::from(d.clone())),
        (None, Some(path)) => Some(upload::body(path).await?),
        (None, None) => args.curl.json_body()?,
    };
    let method = args.method.clone().unwrap_or(if body.is_some() {
        Method::POST
    } else {
        Method::GET
    });
    let mut client = Client::builder();
    if let Some(t) = args.timeout {
        client = client.timeout(t);
    }
    if let Some(policy) = args.curl.redirect_policy() {
        client = client.redirect(policy);
    }
    if let Some(jar) = &cookies.jar {
        client = client.cookie_provider(jar.clone());
    }
    let tls = args.tls.client_tls()?;
    let proxy_tls = args.proxy_tls.client_tls()?;
    let (http2, prior_knowledge) = (!args.no_http2, args.http2_prior_knowledge);
    let (proxy, bypass) = (args.proxy.clone(), args.noproxy.clone());
    let max = args.max_filesize;
    let dial = args.dial.clone();
    client = client.transport(|t| {
        // The library's default inflation cap (1 GiB) is for callers that hold bodies in
        // memory; this one streams, and like curl sets no limit unless asked.
        let mut t = dial
            .apply(t)
            .http2(http2)
            .http2_prior_knowledge(prior_knowledge)
            .max_decompressed_bytes(max);
        if let Some(p) = proxy {
            t = t.proxy(p);
        }
        if let Some(b) = bypass {
            t = t.proxy_bypass(b);
        }
        if let Some(p) = proxy_tls {
            t = t.proxy_tls(p);
        }
        match tls {
            Some(tls) => t.tls(tls),
            None => t,
        }
    });
    let client = client.build().map_err(|e| e.to_string())?;
    let mut req = client.request(method, &args.url);
    if let Some(field) = &cookies.field {
        req = req.header(http::header::COOKIE, field.as_str());
    }
    for (name, value) in &args.headers {
        req = req.header(name.as_str(), value.as_str());
    }
    req = args.curl.apply(req, &args.headers);
    if let Some(body) = body {
        req = req.body(body);
    }
    let start = Instant::now();
    let tracer = args.verbose.then(|| Arc::new(trace::Verbose::new(start)));
    if let Some(t) = &tracer {
        if let Some(path) = args.dial.unix_socket() {
            eprintln!(
                "* every connection goes to the Unix socket {}",
                crate::unix_path::shown(path)
            );
        }
        req = req.trace(t.clone());
    }
    let res = req.send().await.map_err(|e| tls_args::describe(&e))?;
    // Announced larger than allowed: refused before a byte of it is read, as curl does.
    if let Some(max) = max {
        let announced = res.headers().get(http::header::CONTENT_LENGTH);
        let len = announced.and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if len.is_some_and(|n| n > max) {
            return Err(too_large(max));
        }
    }

    let mut file = match &args.curl.output {
        Some(path) => Some(
            std::fs::File::create(path)
                .map_err(|e| format!("creating -o {}: {e}", path.display()))?,
        ),
        None => None,
    };
    let to_file = file.is_some();
    let mut stdout = io::stdout().lock();
    let mut out: &mut dyn Write = match &mut file {
        Some(f) => f,
        None => &mut stdout,
    };
    let announced = res
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let mut progress = curl_args::Progress::new(to_file, announced);
    if args.verbose {
        let mut err = io::stderr().lock();
        let _ = write_head(&mut err, "< ", &res);
        if let Some(codings) = res.extensions().get::<nethttp::client::DecodedCodings>() {
            let _ = writeln!(
                err,
                "* the body came with Content-Encoding: {codings} and is decoded \
                 (Content-Encoding and Content-Length removed)"
            );
        }
    }
    if args.fail && res.status().as_u16() >= 400 {
        return Err(Failure {
            code: FAIL_STATUS,
            message: format!("the server answered {} (--fail)", res.status()),
        });
    }
    if args.include {
        if let Err(e) = write_head(&mut out, "", &res) {
            return ignore_broken_pipe(e).map_err(Failure::from);
        }
    }
    let copied = copy_body(res, &mut out, max, &mut progress).await;
    progress.finish();
    let received = match copied {
        Ok(n) => n,
        Err(CopyError::TooLarge) => return Err(too_large(max.unwrap_or_default())),
        Err(CopyError::Read(e)) if e.is_decompressed_too_large() => {
            return Err(too_large(max.unwrap_or_default()))
        }
        Err(CopyError::Read(e)) => return Err(format!("reading the response body: {e}").into()),
        Err(CopyError::Write(e)) => return ignore_broken_pipe(e).map_err(Failure::from),
    };
    if let Some(t) = &tracer {
        t.done(received);
    }
    Ok(())
}

/// The status line and headers, like `curl -i` (CRLF line ends), each line after `prefix`; the
/// status line names the protocol the response came on (`HTTP/2 200`).
fn write_head(w: &mut impl Write, prefix: &str, res: &Response<Body>) -> io::Result<()> {
    let version = match res.version() {
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2",
        _ => "HTTP/1.1",
    };
    let status = res.status();
    write!(w, "{prefix}{version} {}", status.as_u16())?;
    if let Some(reason) = status.canonical_reason() {
        write!(w, " {reason}")?;
    }
    w.write_all(b"\r\n")?;
    write_headers(w, prefix, res.headers())?;
    write!(w, "{prefix}\r\n")?;
    w.flush()
}

fn write_headers(w: &mut impl Write, prefix: &str, headers: &HeaderMap) -> io::Result<()> {
    for (name, value) in headers {
        write!(w, "{prefix}{name}: ")?;
        w.write_all(value.as_bytes())?;
        w.write_all(b"\r\n")?;
    }
    Ok(())
}

enum CopyError {
    Read(nethttp::Error),
    Write(io::Error),
    /// The body grew past `--max-filesize`.
    TooLarge,
}

/// Writes each data frame to `out` as it arrives (nothing is held back); returns the bytes
/// copied. Writing blocks the task, which is the back-pressure wanted: a slow reader of stdout
/// slows the download instead of letting it pile up in memory. With `max`, a frame that would
/// take the total past it is not written, and the copy fails.
async fn copy_body(
    res: Response<Body>,
    out: &mut impl Write,
    max: Option<u64>,
    progress: &mut curl_args::Progress,
) -> Result<u64, CopyError> {
    let mut body = res.into_body();
    let mut total = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(CopyError::Read)?;
        if let Ok(data) = frame.into_data() {
            total += data.len() as u64;
            if max.is_some_and(|max| total > max) {
                let _ = out.flush();
                return Err(CopyError::TooLarge);
            }
            write_chunk(out, &data).map_err(CopyError::Write)?;
            progress.add(data.len() as u64);
        }
    }
    out.flush().map_err(CopyError::Write)?;
    Ok(total)
}

fn write_chunk(out: &mut impl Write, data: &Bytes) -> io::Result<()> {
    out.write_all(data)?;
    // Streamed output shows up as it comes, not when a buffer fills.
    out.flush()
}

/// A closed stdout (`nethttp get URL | head`) ends the command quietly, as it does for curl.
fn ignore_broken_pipe(e: io::Error) -> Result<(), String> {
    if e.kind() == io::ErrorKind::BrokenPipe {
        Ok(())
    } else {
        Err(format!("writing to stdout: {e}"))
    }
}
