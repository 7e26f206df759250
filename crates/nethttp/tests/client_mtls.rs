//! The client's own certificate (mutual TLS) against nginx with `ssl_verify_client on`: the
//! identity is presented and nginx sees its subject, over HTTP/1.1 and HTTP/2; no identity,
//! or one from a CA nginx does not trust, is refused; a key that is not the certificate's is
//! a typed error before any connection. curl with the same files gets the same answers.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::certs::{client_pki, self_signed, TestCert};
use common::peers::peer;
use nethttp::tls::Identity;
use nethttp::Client;

/// nginx on TLS (HTTP/1.1 and HTTP/2) that requires a client certificate from `ca_pem` and
/// answers with what it verified.
struct Nginx {
    _child: tokio::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

async fn nginx(server: &TestCert, ca_pem: &str) -> Option<Nginx> {
    let bin = peer("nginx", "-v", &["/usr/sbin"])?;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("ca.pem"), ca_pem).unwrap();
    let (listen_h2, http2_on) = common::peers::nginx_http2_syntax(&bin);
    let dd = d.display();
    let (cert, key) = (server.cert_path(), server.key_path());
    let (child, port) = common::peers::nginx_on_free_port(&bin, d, |port| {
        format!(
            r#"
    access_log off;
    server {{
        listen 127.0.0.1:{port} ssl{listen_h2};
        {http2_on}
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_client_certificate {dd}/ca.pem;
        ssl_verify_client on;
        location / {{
            default_type text/plain;
            return 200 "$ssl_client_verify $ssl_client_s_dn $server_protocol\n";
        }}
    }}
"#,
            cert = cert.display(),
            key = key.display(),
        )
    })
    .await;
    Some(Nginx {
        _child: child,
        port,
        _dir: dir,
    })
}

fn client(server: &TestCert, identity: Option<Identity>, http2: bool) -> Client {
    let mut tls = server.client_tls();
    if let Some(id) = identity {
        tls = tls.identity(id);
    }
    Client::builder()
        .timeout(Duration::from_secs(10))
        .transport(|t| t.tls(tls).http2(http2))
        .build()
        .unwrap()
}

#[tokio::test]
async fn the_identity_is_presented_over_http1_and_http2_and_required() {
    let server = self_signed();
    let pki = client_pki("nethttp client");
    let Some(ngx) = nginx(&server, &pki.ca_pem).await else {
        return;
    };
    let url = format!("https://localhost:{}/", ngx.port);
    let id = Identity::from_pem(pki.cert_pem.as_bytes(), pki.key_pem.as_bytes()).unwrap();
    for (http2, proto) in [(false, "HTTP/1.1"), (true, "HTTP/2.0")] {
        let res = client(&server, Some(id.clone()), http2)
            .get(&url)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let body = res.into_body().to_bytes(1024).await.unwrap();
        assert_eq!(body, format!("SUCCESS CN=nethttp client {proto}\n"));
    }
    // Without an identity nginx refuses the request (its 400 for a missing certificate).
    let res = client(&server, None, false).get(&url).send().await.unwrap();
    assert_eq!(res.status(), 400);
    let page = res.into_body().to_bytes(4096).await.unwrap();
    assert!(
        String::from_utf8_lossy(&page).contains("No required SSL certificate was sent"),
        "{page:?}"
    );
    // An identity from a CA nginx does not trust: refused too.
    let other = client_pki("stranger");
    let stranger = Identity::from_pem(other.cert_pem.as_bytes(), other.key_pem.as_bytes()).unwrap();
    let refused = client(&server, Some(stranger), false)
        .get(&url)
        .send()
        .await;
    match refused {
        Ok(res) => assert_eq!(res.status(), 400, "an untrusted client certificate"),
        Err(e) => assert_eq!(e.kind(), nethttp::ErrorKind::Tls, "{e}"),
    }
}

#[tokio::test]
async fn curl_with_the_same_files_gets_the_same_answer() {
    let Some(curl) = peer("curl", "--version", &[]) else {
        return;
    };
    let server = self_signed();
    let pki = client_pki("nethttp client");
    let Some(ngx) = nginx(&server, &pki.ca_pem).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("c.pem"), dir.path().join("c.key"));
    std::fs::write(&cert, &pki.cert_pem).unwrap();
    std::fs::write(&key, &pki.key_pem).unwrap();
    let url = format!("https://localhost:{}/", ngx.port);
    let out = std::process::Command::new(curl)
        .args(["-sS", "--http1.1", "--cacert"])
        .arg(server.cert_path())
        .arg("--cert")
        .arg(&cert)
        .arg("--key")
        .arg(&key)
        .arg(&url)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let id = Identity::from_pem_files(&cert, &key).unwrap();
    let ours = client(&server, Some(id), false)
        .get(&url)
        .send()
        .await
        .unwrap()
        .into_body()
        .to_bytes(1024)
        .await
        .unwrap();
    assert_eq!(ours, out.stdout);
}

#[test]
fn a_key_that_is_not_the_certificates_is_a_usage_error() {
    let a = client_pki("a");
    let b = client_pki("b");
    let e = Identity::from_pem(a.cert_pem.as_bytes(), b.key_pem.as_bytes()).unwrap_err();
    assert_eq!(e.kind(), nethttp::ErrorKind::Usage, "{e}");
    assert!(e.to_string().contains("do not fit"), "{e}");
    let e = Identity::from_pem(b"not pem", a.key_pem.as_bytes()).unwrap_err();
    assert_eq!(e.kind(), nethttp::ErrorKind::Usage, "{e}");
    let e = Identity::from_pem(a.cert_pem.as_bytes(), b"no key here").unwrap_err();
    assert_eq!(e.kind(), nethttp::ErrorKind::Usage, "{e}");
    let missing = PathBuf::from("/nonexistent/client.pem");
    assert!(Identity::from_pem_files(&missing, &missing).is_err());
}
