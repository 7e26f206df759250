//! TLS for the CLI's tests: a self-signed certificate for `localhost` and `127.0.0.1`, made
//! fresh with rcgen and written to a temporary directory (removed on drop), a
//! `nethttp serve` running HTTPS with it, and client certificates from a CA of their own.

use std::path::PathBuf;
use std::process::Command;

use super::Served;

/// A self-signed certificate and its key, as files.
pub struct TestCert {
    dir: PathBuf,
}

impl TestCert {
    /// A new certificate for `localhost` and `127.0.0.1`.
    pub fn new() -> TestCert {
        let key = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
            .expect("rcgen makes a certificate");
        let cert = TestCert::empty();
        std::fs::write(cert.dir.join("cert.pem"), key.cert.pem()).expect("write cert");
        std::fs::write(cert.dir.join("key.pem"), key.signing_key.serialize_pem())
            .expect("write key");
        cert
    }

    /// The directory alone, for a certificate made some other way (e.g. by openssl) at
    /// [`cert_path`](Self::cert_path) and [`key_path`](Self::key_path).
    pub fn empty() -> TestCert {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "nethttp-cli-cert-{}-{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        TestCert { dir }
    }

    pub fn cert_path(&self) -> String {
        path_str(self.dir.join("cert.pem"))
    }

    pub fn key_path(&self) -> String {
        path_str(self.dir.join("key.pem"))
    }
}

impl Drop for TestCert {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn path_str(p: PathBuf) -> String {
    p.into_os_string().into_string().expect("utf-8 temp path")
}

/// `nethttp serve` on plain TCP (HTTP/1.1, and HTTP/2 by prior knowledge).
pub fn serve_plain() -> Served {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nethttp"));
    cmd.args(["serve", "--addr", "127.0.0.1:0"]);
    Served::spawn(cmd)
}

/// `nethttp serve` over TLS with `cert` (HTTP/2 and HTTP/1.1 by ALPN), plus `extra` flags.
pub fn serve_tls(cert: &TestCert, extra: &[&str]) -> Served {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nethttp"));
    cmd.args(["serve", "--addr", "127.0.0.1:0"])
        .args(["--tls-cert", &cert.cert_path()])
        .args(["--tls-key", &cert.key_path()])
        .args(extra);
    Served::spawn(cmd)
}

/// `https://localhost:PORT{path}` for a server from [`serve_tls`]: the name the certificate
/// is for.
pub fn https_url(served: &Served, path: &str) -> String {
    format!("https://localhost:{}{path}", served.addr.port())
}

/// A CA and a client certificate it signed, and a client certificate from another CA, as
/// files in a temporary directory (removed on drop), by their paths.
pub struct ClientPki {
    _dir: tempfile::TempDir,
    /// The CA (`serve --tls-client-ca`).
    pub ca: String,
    /// The client certificate the CA signed, and its key.
    pub cert: String,
    pub key: String,
    /// A client certificate from another CA, and its key.
    pub other_cert: String,
    pub other_key: String,
}

/// Makes a [`ClientPki`].
pub fn client_pki() -> ClientPki {
    let make = |name: &str| {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, format!("{name} CA"));
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let cert = params
            .signed_by(&key, &rcgen::Issuer::new(ca_params, ca_key))
            .unwrap();
        (ca.pem(), cert.pem(), key.serialize_pem())
    };
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, pem: String| {
        let path = dir.path().join(name);
        std::fs::write(&path, pem).unwrap();
        path_str(path)
    };
    let (ca, cert, key) = make("client");
    let (ca, cert, key) = (
        write("ca.pem", ca),
        write("client.pem", cert),
        write("client.key", key),
    );
    let (_, other_cert, other_key) = make("other");
    let (other_cert, other_key) = (
        write("other.pem", other_cert),
        write("other.key", other_key),
    );
    ClientPki {
        _dir: dir,
        ca,
        cert,
        key,
        other_cert,
        other_key,
    }
}
