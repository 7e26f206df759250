//! The client TLS flags `get` and `bench` share: `--cacert F` (trust only the roots in a PEM
//! file), `--insecure` (accept any certificate) and `--cert F --key F` (a client certificate
//! for servers that require one), turned into the library's `ClientTls`; `proxy`'s
//! `--upstream-cacert`, `--upstream-insecure` and `--upstream-cert/--upstream-key`, the same
//! for an `https://` upstream; `get`'s `--proxy-cacert` and `--proxy-insecure`, the same for
//! an `https://` proxy; and the hint naming them when a server's or a proxy's certificate is
//! refused.

use std::path::PathBuf;

use clap::Args;
use nethttp::tls::Identity;
use nethttp::{CertificateProblem, ClientTls};

#[derive(Args, Debug, Clone)]
pub struct TlsArgs {
    /// Trusts only the certificates in this PEM file (e.g. a private CA or a self-signed
    /// server's certificate) instead of the Mozilla root set, for https URLs.
    #[arg(long, value_name = "FILE", conflicts_with = "insecure")]
    cacert: Option<PathBuf>,
    /// Accepts any server certificate for any name: encrypted but not authenticated. For
    /// testing against self-signed servers only.
    #[arg(short = 'k', long)]
    insecure: bool,
    /// PEM client certificate chain to present to servers that ask for one (mutual TLS).
    /// Needs --key.
    #[arg(long, value_name = "FILE", requires = "key")]
    cert: Option<PathBuf>,
    /// PEM private key for --cert.
    #[arg(long, value_name = "FILE", requires = "cert")]
    key: Option<PathBuf>,
}

impl TlsArgs {
    /// The TLS settings these flags ask for; `None` keeps the library's default (the Mozilla
    /// roots).
    pub fn client_tls(&self) -> Result<Option<ClientTls>, String> {
        client_tls(
            self.insecure,
            self.cacert.as_deref(),
            self.cert.as_deref().zip(self.key.as_deref()),
            ["--cacert", "--cert/--key"],
        )
    }
}

/// `nethttp proxy`'s TLS towards an `https://` upstream (nginx's `proxy_ssl_*`). The
/// certificate is checked by default, against the Mozilla roots, unlike nginx's.
#[derive(Args, Debug, Clone)]
pub struct UpstreamTlsArgs {
    /// Trusts only the certificates in this PEM file (a private CA, or the upstream's own
    /// certificate) for an https:// upstream, instead of the Mozilla root set.
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with_all = ["upstream_insecure", "forward"]
    )]
    upstream_cacert: Option<PathBuf>,
    /// Accepts any certificate from an https:// upstream: encrypted but not authenticated.
    #[arg(long, conflicts_with = "forward")]
    upstream_insecure: bool,
    /// PEM client certificate chain to present to an upstream that asks for one (mutual
    /// TLS). Needs --upstream-key.
    #[arg(
        long,
        value_name = "FILE",
        requires = "upstream_key",
        conflicts_with = "forward"
    )]
    upstream_cert: Option<PathBuf>,
    /// PEM private key for --upstream-cert.
    #[arg(long, value_name = "FILE", requires = "upstream_cert")]
    upstream_key: Option<PathBuf>,
}

impl UpstreamTlsArgs {
    /// The upstream's TLS settings these flags ask for; `None` keeps the library's default.
    pub fn client_tls(&self) -> Result<Option<ClientTls>, String> {
        client_tls(
            self.upstream_insecure,
            self.upstream_cacert.as_deref(),
            self.upstream_cert
                .as_deref()
                .zip(self.upstream_key.as_deref()),
            ["--upstream-cacert", "--upstream-cert/--upstream-key"],
        )
    }
}

/// Client TLS from the flags: any certificate when `insecure`, else only the roots in
/// `cacert` if given; and a client certificate if given. `flags` name the CA and the
/// certificate flags in errors. `None` when nothing was asked.
fn client_tls(
    insecure: bool,
    cacert: Option<&std::path::Path>,
    identity: Option<(&std::path::Path, &std::path::Path)>,
    flags: [&str; 2],
) -> Result<Option<ClientTls>, String> {
    let tls = if insecure {
        Some(ClientTls::danger_accept_invalid_certs())
    } else {
        cacert.map(|path| only_roots(path, flags[0])).transpose()?
    };
    let Some((cert, key)) = identity else {
        return Ok(tls);
    };
    let id = Identity::from_pem_files(cert, key).map_err(|e| format!("{}: {e}", flags[1]))?;
    Ok(Some(tls.unwrap_or_default().identity(id)))
}

/// The TLS flags for an `https://` proxy, as curl's.
#[derive(Args, Debug, Clone)]
pub struct ProxyTlsArgs {
    /// Trusts only the certificates in this PEM file for an https:// proxy's certificate
    /// (checked against the proxy's host), as curl's --proxy-cacert. Default: what
    /// --cacert / --insecure say, else the Mozilla root set.
    #[arg(long, value_name = "FILE", conflicts_with = "proxy_insecure")]
    proxy_cacert: Option<PathBuf>,
    /// Accepts any certificate from an https:// proxy, as curl's --proxy-insecure.
    #[arg(long)]
    proxy_insecure: bool,
}

impl ProxyTlsArgs {
    /// The proxy's TLS settings these flags ask for; `None` keeps the target's.
    pub fn client_tls(&self) -> Result<Option<ClientTls>, String> {
        if self.proxy_insecure {
            return Ok(Some(ClientTls::danger_accept_invalid_certs()));
        }
        self.proxy_cacert
            .as_deref()
            .map(|path| only_roots(path, "--proxy-cacert"))
            .transpose()
    }
}

/// Trust in the certificates of the PEM file at `path` alone (`flag` names it in errors).
fn only_roots(path: &std::path::Path, flag: &str) -> Result<ClientTls, String> {
    let pem = std::fs::read(path).map_err(|e| format!("reading {flag} {}: {e}", path.display()))?;
    ClientTls::with_only_roots_pem(&pem).map_err(|e| format!("{flag} {}: {e}", path.display()))
}

/// An error as the CLI prints it: a refused server certificate gets the flag that would get
/// past it (the library's message already says what is wrong, without flags), and so does a
/// refused proxy certificate.
pub fn describe(e: &nethttp::Error) -> String {
    if e.is_proxy() {
        let hint = match e.certificate_problem() {
            Some(CertificateProblem::NotTrusted) => {
                "pass --proxy-cacert FILE (the proxy's certificate or its CA), or --proxy-insecure"
            }
            Some(CertificateProblem::OtherNames) => {
                "name the proxy by one of its names in -x, or pass --proxy-insecure"
            }
            Some(CertificateProblem::Expired | CertificateProblem::NotYetValid) => {
                "check this machine's clock, or pass --proxy-insecure"
            }
            Some(_) => "pass --proxy-insecure to connect anyway",
            None => return e.to_string(),
        };
        return format!("{e}; {hint}");
    }
    let hint = match e.certificate_problem() {
        Some(CertificateProblem::NotTrusted) => {
            "pass --cacert FILE (the server's certificate or its CA), or --insecure"
        }
        Some(CertificateProblem::OtherNames) => {
            "use one of its names in the URL, or pass --insecure"
        }
        Some(CertificateProblem::Expired | CertificateProblem::NotYetValid) => {
            "check this machine's clock, or pass --insecure"
        }
        Some(_) => "pass --insecure to connect anyway",
        None => return e.to_string(),
    };
    format!("{e}; {hint}")
}
