//! A refused server certificate as a sentence a person can act on: rustls's certificate
//! errors sorted into [`CertificateProblem`]s, each with a message ("the server's certificate
//! is for other names") and particulars (the names it holds, when it expired), never the
//! library's debug output. The CLI adds the flag to use (`--cacert`, `--insecure`). The
//! certificate of an `https://` proxy is refused in the same words, naming the proxy.

use std::fmt::Write as _;

use rustls::pki_types::{ServerName, UnixTime};
use rustls::CertificateError;

use crate::error::{CertificateProblem, CertificateRejection, Error, Kind};

/// Whose certificate was checked: the server the URL names, or the proxy in front of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Peer {
    Server,
    Proxy,
}

impl Peer {
    /// How the name the certificate should hold is spoken of.
    fn expected(self) -> &'static str {
        match self {
            Peer::Server => "the URL's host",
            Peer::Proxy => "the proxy's host",
        }
    }
}

/// The client's error for a certificate of `peer` that rustls refused with `err`.
pub(crate) fn certificate_error(err: &rustls::Error, peer: Peer) -> Error {
    let (problem, detail) = match err {
        rustls::Error::InvalidCertificate(e) => explain(e, peer),
        rustls::Error::NoCertificatesPresented => (
            CertificateProblem::NotTrusted,
            "the server sent no certificate".to_owned(),
        ),
        _ => (
            CertificateProblem::Other,
            "its revocation list is unusable".to_owned(),
        ),
    };
    let msg = match (peer, problem) {
        (Peer::Server, CertificateProblem::NotTrusted) => "the server's certificate is not trusted",
        (Peer::Server, CertificateProblem::OtherNames) => {
            "the server's certificate is for other names"
        }
        (Peer::Server, CertificateProblem::Expired) => "the server's certificate has expired",
        (Peer::Server, CertificateProblem::NotYetValid) => {
            "the server's certificate is not valid yet"
        }
        (Peer::Server, _) => "the server's certificate was refused",
        (Peer::Proxy, CertificateProblem::NotTrusted) => "the proxy's certificate is not trusted",
        (Peer::Proxy, CertificateProblem::OtherNames) => {
            "the proxy's certificate is for other names"
        }
        (Peer::Proxy, CertificateProblem::Expired) => "the proxy's certificate has expired",
        (Peer::Proxy, CertificateProblem::NotYetValid) => {
            "the proxy's certificate is not valid yet"
        }
        (Peer::Proxy, _) => "the proxy's certificate was refused",
    };
    let err = Error::with_cause(
        Kind::Certificate,
        msg,
        CertificateRejection { problem, detail },
    );
    match peer {
        Peer::Server => err,
        Peer::Proxy => err.at_proxy(),
    }
}

fn explain(e: &CertificateError, peer: Peer) -> (CertificateProblem, String) {
    use CertificateProblem as P;
    let fixed = |p: P, s: &str| (p, s.to_owned());
    match e {
        CertificateError::UnknownIssuer => fixed(
            P::NotTrusted,
            "it is not signed by a trusted root (unknown issuer)",
        ),
        CertificateError::BadSignature => fixed(P::NotTrusted, "its signature does not verify"),
        CertificateError::NotValidForNameContext {
            expected,
            presented,
        } => {
            let mut s = String::from("it names ");
            if presented.is_empty() {
                s.push_str("no host");
            }
            for (i, name) in presented.iter().enumerate() {
                if i > 0 {
                    s.push_str(", ");
                }
                s.push_str(plain_name(name));
            }
            let _ = write!(s, "; {} is {}", peer.expected(), host(expected));
            (P::OtherNames, s)
        }
        CertificateError::NotValidForName => (
            P::OtherNames,
            format!("it does not name {}", peer.expected()),
        ),
        CertificateError::ExpiredContext { time, not_after } => (
            P::Expired,
            format!("it expired {} (now {})", date(not_after), date(time)),
        ),
        CertificateError::Expired => fixed(P::Expired, "its validity period is over"),
        CertificateError::NotValidYetContext { time, not_before } => (
            P::NotYetValid,
            format!("it is valid from {} (now {})", date(not_before), date(time)),
        ),
        CertificateError::NotValidYet => fixed(P::NotYetValid, "its validity has not begun"),
        CertificateError::Revoked => fixed(P::Other, "it has been revoked"),
        CertificateError::BadEncoding => fixed(P::Other, "it is malformed"),
        CertificateError::UnhandledCriticalExtension => fixed(
            P::Other,
            "it has a critical extension this client does not know",
        ),
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
            fixed(P::Other, "it is not for TLS servers (extended key usage)")
        }
        CertificateError::UnsupportedSignatureAlgorithmContext { .. }
        | CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => fixed(
            P::Other,
            "it is signed with an algorithm this client does not support",
        ),
        CertificateError::Other(other) if is_ca_used_as_end_entity(other) => fixed(
            P::NotTrusted,
            "it is a CA certificate presented as the server's own, and not one of the \
             trusted roots",
        ),
        _ => fixed(P::Other, "it failed verification"),
    }
}

/// webpki's refusal of a CA certificate presented as the server's own.
pub(crate) fn is_ca_used_as_end_entity(e: &rustls::OtherError) -> bool {
    matches!(
        e.0.downcast_ref::<webpki::Error>(),
        Some(webpki::Error::CaUsedAsEndEntity)
    )
}

/// A name as webpki lists it (`DnsName("localhost")`, `IpAddress(127.0.0.1)`), bare.
fn plain_name(listed: &str) -> &str {
    let inner = |prefix: &str, suffix: &str| listed.strip_prefix(prefix)?.strip_suffix(suffix);
    inner("DnsName(\"", "\")")
        .or_else(|| inner("IpAddress(", ")"))
        .unwrap_or(listed)
}

fn host(name: &ServerName<'_>) -> String {
    match name {
        ServerName::DnsName(d) => d.as_ref().to_owned(),
        ServerName::IpAddress(ip) => std::net::IpAddr::from(*ip).to_string(),
        _ => "not a name".to_owned(),
    }
}

/// `2024-05-01 12:00:00 UTC`.
fn date(t: &UnixTime) -> String {
    let secs = t.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Howard Hinnant's `civil_from_days`, for days since 1970-01-01.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_read_as_dates() {
        let t = |s| UnixTime::since_unix_epoch(std::time::Duration::from_secs(s));
        assert_eq!(date(&t(0)), "1970-01-01 00:00:00 UTC");
        assert_eq!(date(&t(1_709_164_800 + 3661)), "2024-02-29 01:01:01 UTC");
        assert_eq!(date(&t(4_107_542_400)), "2100-03-01 00:00:00 UTC");
    }

    #[test]
    fn each_problem_is_a_sentence_without_debug_output() {
        let name = ServerName::try_from("example.com").unwrap();
        let cases = [
            (
                CertificateError::UnknownIssuer,
                CertificateProblem::NotTrusted,
            ),
            (
                CertificateError::NotValidForNameContext {
                    expected: name.to_owned(),
                    presented: vec!["DnsName(\"localhost\")".into()],
                },
                CertificateProblem::OtherNames,
            ),
            (CertificateError::Expired, CertificateProblem::Expired),
            (CertificateError::Revoked, CertificateProblem::Other),
        ];
        for (e, want) in cases {
            let err =
                certificate_error(&rustls::Error::InvalidCertificate(e.clone()), Peer::Server);
            assert_eq!(err.kind(), Kind::Certificate);
            assert_eq!(err.certificate_problem(), Some(want));
            let text = err.to_string();
            assert!(text.starts_with("the server's certificate "), "{text}");
            assert!(!text.contains("InvalidCertificate"), "{text}");
            if want == CertificateProblem::OtherNames {
                assert_eq!(
                    text,
                    "the server's certificate is for other names: it names localhost; \
                     the URL's host is example.com"
                );
            }
            let err = certificate_error(&rustls::Error::InvalidCertificate(e), Peer::Proxy);
            assert_eq!(err.certificate_problem(), Some(want));
            assert!(err.is_proxy(), "{err:?}");
            let text = err.to_string();
            assert!(text.starts_with("the proxy's certificate "), "{text}");
            if want == CertificateProblem::OtherNames {
                assert!(text.ends_with("the proxy's host is example.com"), "{text}");
            }
        }
    }
}
