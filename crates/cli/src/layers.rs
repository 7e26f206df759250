//! The handler wrappers the server flags ask for (`--compress`, `--rate-limit`), put around
//! whatever a command serves: nothing when none is asked for, else the wrappers, as one
//! handler whose future is the chosen wrappers' own (no box, nothing more per request).

use std::future::Future;

use futures_util::future::Either;
use nethttp::wrap::{compress, rate_limit, Compress, RateLimit};
use nethttp::{Handler, HttpRequest, HttpResponse};

/// `--rate-limit RATE`: `N/s`, `N/m` or `N/h` (nginx's `Nr/s`, `Nr/m` too), N a positive
/// number, possibly with a fraction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub per_second: f64,
}

impl std::str::FromStr for Rate {
    type Err = String;

    fn from_str(s: &str) -> Result<Rate, String> {
        let bad = || format!("{s:?}: a rate is N/s, N/m or N/h (such as 10/s or 600r/m)");
        let (n, unit) = s.trim().split_once('/').ok_or_else(bad)?;
        let n = n.strip_suffix('r').unwrap_or(n);
        let n: f64 = n.parse().map_err(|_| bad())?;
        let seconds = match unit {
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        if !(n.is_finite() && n > 0.0) {
            return Err(bad());
        }
        Ok(Rate {
            per_second: n / seconds,
        })
    }
}

/// What to put around the served handler.
#[derive(Debug, Clone, Copy)]
pub struct Layers {
    pub compress: bool,
    /// The rate and the burst above it, per client address.
    pub rate_limit: Option<(Rate, u32)>,
}

impl Layers {
    /// `None` when no wrapper is asked for: the handler is then served as it is, unboxed.
    pub fn asked(self) -> Option<Layers> {
        (self.compress || self.rate_limit.is_some()).then_some(self)
    }

    /// `handler` inside the wrappers: the rate limit outermost, so a refused request costs
    /// nothing more.
    pub fn apply<H: Handler>(self, handler: H) -> Layered<H> {
        match (self.compress, self.rate_limit) {
            (false, None) => Layered::Plain(handler),
            (true, None) => Layered::Compress(compress(handler)),
            (false, Some((rate, burst))) => {
                Layered::Limit(rate_limit(handler, rate.per_second).burst(burst))
            }
            (true, Some((rate, burst))) => {
                Layered::Both(rate_limit(compress(handler), rate.per_second).burst(burst))
            }
        }
    }
}

/// A handler inside the wrappers [`Layers`] chose.
pub enum Layered<H> {
    Plain(H),
    Compress(Compress<H>),
    Limit(RateLimit<H>),
    Both(RateLimit<Compress<H>>),
}

impl<H: Handler> Handler for Layered<H> {
    fn call(&self, req: HttpRequest) -> impl Future<Output = HttpResponse> + Send + '_ {
        match self {
            Layered::Plain(h) => Either::Left(Either::Left(h.call(req))),
            Layered::Compress(h) => Either::Left(Either::Right(h.call(req))),
            Layered::Limit(h) => Either::Right(Either::Left(h.call(req))),
            Layered::Both(h) => Either::Right(Either::Right(h.call(req))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_as_people_write_them() {
        let r = |s: &str| s.parse::<Rate>().map(|r| r.per_second);
        assert_eq!(r("10/s"), Ok(10.0));
        assert_eq!(r("10r/s"), Ok(10.0));
        assert_eq!(r("600r/m"), Ok(10.0));
        assert_eq!(r("0.5/s"), Ok(0.5));
        assert_eq!(r("36/h"), Ok(0.01));
        for bad in ["10", "10/x", "0/s", "-1/s", "x/s", "inf/s", "NaN/s", ""] {
            assert!(r(bad).is_err(), "{bad}");
        }
    }
}
