//! Mutual TLS on the command line: `nethttp serve --tls-client-ca CA` refuses clients
//! without a certificate from that CA; `nethttp get --cert --key` presents one and gets the
//! page; curl with the same files agrees on both.

mod common;

use std::time::Duration;

use common::peers::peer;
use common::run_nethttp;
use common::tls::{client_pki, https_url, serve_tls, TestCert};

const LIMIT: Duration = Duration::from_secs(20);

#[test]
fn a_client_certificate_is_required_and_presented() {
    let server_cert = TestCert::new();
    let pki = client_pki();
    let served = serve_tls(&server_cert, &["--tls-client-ca", &pki.ca]);
    let url = https_url(&served, "/");
    let cacert = server_cert.cert_path();

    let with = run_nethttp(
        &[
            "get", "--cacert", &cacert, "--cert", &pki.cert, "--key", &pki.key, &url,
        ],
        LIMIT,
    );
    assert!(with.status.success(), "{}", with.stderr);
    assert!(!with.stdout.is_empty());

    let without = run_nethttp(&["get", "--cacert", &cacert, &url], LIMIT);
    assert!(
        !without.status.success(),
        "served without a client certificate"
    );
    assert!(without.stdout.is_empty(), "{}", without.stdout_str());
    // TLS 1.3 finishes the client's side of the handshake before the server checks for a
    // certificate: the refusal reaches the client as the server's alert, or, when the server
    // has closed first, as the connection failing under the request.
    assert!(
        ["CertificateRequired", "broken pipe", "reset by peer"]
            .iter()
            .any(|why| without.stderr.contains(why)),
        "{}",
        without.stderr
    );
    let other = run_nethttp(
        &[
            "get",
            "--cacert",
            &cacert,
            "--cert",
            &pki.other_cert,
            "--key",
            &pki.other_key,
            &url,
        ],
        LIMIT,
    );
    assert!(!other.status.success(), "served another CA's client");

    // A key that is not the certificate's: refused before any connection, naming the flags.
    let mismatched = run_nethttp(
        &[
            "get",
            "--cacert",
            &cacert,
            "--cert",
            &pki.cert,
            "--key",
            &pki.other_key,
            &url,
        ],
        LIMIT,
    );
    assert!(!mismatched.status.success());
    assert!(
        mismatched.stderr.contains("--cert/--key") && mismatched.stderr.contains("do not fit"),
        "{}",
        mismatched.stderr
    );

    // curl agrees: the page with the certificate, a failed handshake without.
    let Some(curl) = peer("curl", "--version") else {
        return;
    };
    let curl_with = std::process::Command::new(&curl)
        .args(["-sS", "--cacert", &cacert])
        .args(["--cert", &pki.cert])
        .args(["--key", &pki.key])
        .arg(&url)
        .output()
        .unwrap();
    assert!(curl_with.status.success(), "{curl_with:?}");
    assert_eq!(curl_with.stdout, with.stdout);
    let curl_without = std::process::Command::new(&curl)
        .args(["-sS", "--cacert", &cacert])
        .arg(&url)
        .output()
        .unwrap();
    assert!(!curl_without.status.success(), "{curl_without:?}");
}
