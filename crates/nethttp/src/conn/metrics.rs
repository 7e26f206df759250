//! The server's event metrics (feature `metrics`): requests by method and status class, their
//! duration, connections accepted, refused (a client over its limit) and closed, rejections
//! before a handler, TLS handshake failures and HTTP/2 resets. Every handle is registered once when the server starts, so a
//! request costs array indexing and an atomic add, never a registry lookup. Without the
//! feature this is an empty type whose methods do nothing. Gauges (connections open by
//! protocol and state) are not counted here: `debug` reads them off the live records when
//! it renders.

#[cfg(feature = "metrics")]
pub(crate) use real::ServerMetrics;
#[cfg(not(feature = "metrics"))]
pub(crate) use stub::ServerMetrics;

#[cfg(feature = "metrics")]
mod real {
    use std::time::Duration;

    use http::{Method, StatusCode};
    use metrics::{counter, histogram, Counter, Histogram};

    use super::super::track::Proto;

    /// The methods counted by name; any other is `OTHER`.
    const METHODS: [Method; 9] = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::OPTIONS,
        Method::CONNECT,
        Method::TRACE,
    ];

    pub(super) fn method_index(m: &Method) -> usize {
        METHODS.iter().position(|k| k == m).unwrap_or(METHODS.len())
    }

    /// The rejection statuses counted by name; any other is `other`.
    pub(super) const REJECTIONS: [(u16, &str); 6] = [
        (400, "bad_request"),
        (408, "request_timeout"),
        (413, "body_too_large"),
        (414, "uri_too_long"),
        (431, "header_too_large"),
        (501, "not_implemented"),
    ];

    /// Handles for one server's event metrics.
    pub(crate) struct ServerMetrics {
        /// `[method][status class 1..=5 as 0..=4]`.
        requests: Vec<[Counter; 5]>,
        duration: Histogram,
        accepted: Counter,
        closed: [Counter; 3],
        rejected: Vec<Counter>,
        tls_failures: Counter,
        h2_resets: Counter,
        refused_per_ip: Counter,
    }

    impl ServerMetrics {
        pub(crate) fn new() -> ServerMetrics {
            let classes = ["1xx", "2xx", "3xx", "4xx", "5xx"];
            let method_names = METHODS
                .iter()
                .map(|m| m.as_str())
                .chain(std::iter::once("OTHER"));
            let requests = method_names
                .map(|m| {
                    classes.map(
                        |c| counter!("nethttp_server_requests_total", "method" => m, "status" => c),
                    )
                })
                .collect();
            let closed = [Proto::Unknown, Proto::Http1, Proto::Http2].map(
                |p| counter!("nethttp_server_connections_closed_total", "protocol" => p.name()),
            );
            let rejected = REJECTIONS
                .iter()
                .map(|(_, kind)| *kind)
                .chain(std::iter::once("other"))
                .map(|kind| counter!("nethttp_server_rejections_total", "kind" => kind))
                .collect();
            ServerMetrics {
                requests,
                duration: histogram!("nethttp_server_request_duration_seconds"),
                accepted: counter!("nethttp_server_connections_accepted_total"),
                closed,
                rejected,
                tls_failures: counter!("nethttp_server_tls_handshake_failures_total"),
                h2_resets: counter!("nethttp_server_h2_resets_total"),
                refused_per_ip: counter!(
                    "nethttp_server_connections_refused_total",
                    "reason" => "per_ip"
                ),
            }
        }

        /// A request answered with `status` after `took` (to the response head).
        #[inline]
        pub(crate) fn request(&self, method: &Method, status: StatusCode, took: Duration) {
            let class = (status.as_u16() / 100).clamp(1, 5) as usize - 1;
            self.requests[method_index(method)][class].increment(1);
            self.duration.record(took.as_secs_f64());
        }

        pub(crate) fn accepted(&self) {
            self.accepted.increment(1);
        }

        pub(crate) fn closed(&self, proto: Proto) {
            self.closed[proto as usize].increment(1);
        }

        /// A request refused before any handler saw it.
        pub(crate) fn rejected(&self, status: StatusCode) {
            let i = REJECTIONS
                .iter()
                .position(|(s, _)| *s == status.as_u16())
                .unwrap_or(REJECTIONS.len());
            self.rejected[i].increment(1);
        }

        pub(crate) fn tls_failed(&self) {
            self.tls_failures.increment(1);
        }

        pub(crate) fn h2_reset(&self) {
            self.h2_resets.increment(1);
        }

        /// A connection closed at once: its client had its most connections open.
        pub(crate) fn refused_per_ip(&self) {
            self.refused_per_ip.increment(1);
        }
    }
}

#[cfg(not(feature = "metrics"))]
mod stub {
    use std::time::Duration;

    use http::{Method, StatusCode};

    use super::super::track::Proto;

    /// Without the `metrics` feature: nothing is counted.
    pub(crate) struct ServerMetrics;

    impl ServerMetrics {
        pub(crate) fn new() -> ServerMetrics {
            ServerMetrics
        }
        pub(crate) fn request(&self, _: &Method, _: StatusCode, _: Duration) {}
        pub(crate) fn accepted(&self) {}
        pub(crate) fn closed(&self, _: Proto) {}
        pub(crate) fn rejected(&self, _: StatusCode) {}
        pub(crate) fn tls_failed(&self) {}
        pub(crate) fn h2_reset(&self) {}
        pub(crate) fn refused_per_ip(&self) {}
    }
}

#[cfg(all(test, feature = "metrics"))]
mod tests {
    use super::real::{method_index, REJECTIONS};
    use http::Method;

    #[test]
    fn methods_and_rejections_have_their_slots() {
        assert_eq!(method_index(&Method::GET), 0);
        assert_eq!(method_index(&Method::TRACE), 8);
        assert_eq!(method_index(&Method::from_bytes(b"PURGE").unwrap()), 9);
        assert!(REJECTIONS.iter().any(|(s, _)| *s == 431));
    }
}
