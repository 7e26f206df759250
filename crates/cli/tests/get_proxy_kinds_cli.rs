//! `nethttp get -x` with each kind of proxy: `socks5h://` and `socks5://` through microsocks
//! (its log shows whether it was given the name or an address), `all_proxy` from the
//! environment, and `https://` through `nethttp proxy --forward` serving TLS, trusted with
//! `--proxy-cacert`, with the hint naming that flag when the proxy's certificate is refused.
//!
//! microsocks is found on `PATH`; when it is missing the test fails if `CI=true` and is
//! skipped with a note otherwise. Everything listens on loopback.

mod common;

use std::process::Command;
use std::time::Duration;

use common::microsocks::Microsocks;
use common::tls::{https_url, serve_plain, serve_tls, TestCert};
use common::{run_nethttp, run_nethttp_env, Served};

const LIMIT: Duration = Duration::from_secs(20);

#[test]
fn socks5h_sends_the_name_and_socks5_an_address() {
    let Some(proxy) = Microsocks::start() else {
        return;
    };
    let target = serve_plain();
    let port = target.addr.port();
    let url = format!("http://localhost:{port}/");
    for scheme in ["socks5h", "socks5"] {
        let via = format!("{scheme}://{}", proxy.authority());
        let ran = run_nethttp(&["get", "-v", "-x", &via, &url], LIMIT);
        assert!(ran.status.success(), "{scheme}: {}", ran.stderr);
        assert_eq!(ran.stdout_str(), "Hello, World!");
        // `-v` shows the tunnel, after the connect to the proxy and before the request.
        let tunnel = format!("* SOCKS5 tunnel to localhost:{port} through the proxy");
        let at = |needle: &str| {
            ran.stderr
                .find(needle)
                .unwrap_or_else(|| panic!("{scheme}: no {needle:?} in\n{}", ran.stderr))
        };
        assert!(at("* connect ") < at(&tunnel), "{}", ran.stderr);
        assert!(at(&tunnel) < at("* tunnel: open in "), "{}", ran.stderr);
        assert!(
            at("* tunnel: open in ") < at("* request written"),
            "{}",
            ran.stderr
        );
    }
    assert_eq!(
        proxy.targets(),
        [format!("localhost:{port}"), format!("127.0.0.1:{port}")]
    );
}

/// `all_proxy` carries a URL whose scheme has no variable of its own; the host is not a
/// loopback name (loopback goes direct), so `--resolve` points it at the target and
/// `socks5://` sends the address it resolved to.
#[test]
fn all_proxy_from_the_environment_carries_the_request() {
    let Some(proxy) = Microsocks::start() else {
        return;
    };
    let target = serve_plain();
    let port = target.addr.port();
    let resolve = format!("target.test:{port}:127.0.0.1");
    let via = format!("socks5://{}", proxy.authority());
    let ran = run_nethttp_env(
        &[
            "get",
            "--resolve",
            &resolve,
            &format!("http://target.test:{port}/"),
        ],
        &[("all_proxy", &via)],
        LIMIT,
    );
    assert!(ran.status.success(), "{}", ran.stderr);
    assert_eq!(ran.stdout_str(), "Hello, World!");
    assert_eq!(proxy.targets(), [format!("127.0.0.1:{port}")]);
}

/// `nethttp proxy --forward` over TLS with its own certificate, in front of an https
/// `nethttp serve` with another: `--cacert` trusts the target's, `--proxy-cacert` the
/// proxy's, and without the latter the refusal names the flag.
#[test]
fn an_https_proxy_is_trusted_with_proxy_cacert() {
    let (target_cert, proxy_cert) = (TestCert::new(), TestCert::new());
    let target = serve_tls(&target_cert, &[]);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nethttp"));
    cmd.args(["proxy", "--forward", "--addr", "127.0.0.1:0"])
        .args(["--allow-connect-ports", &target.addr.port().to_string()])
        .args(["--tls-cert", &proxy_cert.cert_path()])
        .args(["--tls-key", &proxy_cert.key_path()]);
    let fwd = Served::spawn(cmd);
    let via = format!("https://localhost:{}", fwd.addr.port());
    let url = https_url(&target, "/");

    let ran = run_nethttp(
        &[
            "get",
            "-x",
            &via,
            "--proxy-cacert",
            &proxy_cert.cert_path(),
            "--cacert",
            &target_cert.cert_path(),
            &url,
        ],
        LIMIT,
    );
    assert!(ran.status.success(), "{}", ran.stderr);
    assert_eq!(ran.stdout_str(), "Hello, World!");

    let ran = run_nethttp(
        &[
            "get",
            "-x",
            &via,
            "--cacert",
            &target_cert.cert_path(),
            &url,
        ],
        LIMIT,
    );
    assert_eq!(ran.status.code(), Some(1), "{}", ran.stderr);
    // (Both test certificates have rcgen's one subject, so webpki's verdict is a bad
    // signature rather than an unknown issuer: the reason is the library's, the hint ours.)
    let err = ran.stderr.trim_end();
    assert!(
        err.starts_with(&format!(
            "nethttp: GET {url}: the proxy's certificate is not trusted: "
        )) && err.ends_with(
            "; pass --proxy-cacert FILE (the proxy's certificate or its CA), or \
                 --proxy-insecure"
        ),
        "{err}"
    );

    let ran = run_nethttp(
        &[
            "get",
            "-x",
            &via,
            "--proxy-insecure",
            "--cacert",
            &target_cert.cert_path(),
            &url,
        ],
        LIMIT,
    );
    assert!(ran.status.success(), "{}", ran.stderr);
    assert_eq!(ran.stdout_str(), "Hello, World!");
}

/// A proxy address the client cannot use is a usage error naming the schemes it can.
#[test]
fn an_unknown_proxy_scheme_is_refused() {
    let ran = run_nethttp(
        &[
            "get",
            "-x",
            "socks4://127.0.0.1:1080",
            "http://example.invalid/",
        ],
        LIMIT,
    );
    assert!(!ran.status.success());
    assert!(
        ran.stderr
            .contains("the proxy's scheme is none of http://, https://, socks5://, socks5h://"),
        "{}",
        ran.stderr
    );
}
