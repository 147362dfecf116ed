//! Slowing down password guessing: every failed login, every request
//! refused for want of credentials and every password check that is not
//! already remembered counts against the client's address (an IPv6
//! client's /64, as one host holds a whole /64) and, for a password, the
//! user name. Past the allowance the request answers 429 with
//! `Retry-After`, without checking anything.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use labthings_core::log_limit::LogLimiter;

/// Addresses past which the quiet ones are forgotten.
const MAX_ADDRESSES: usize = 10_000;

/// The allowances of failed and costly login attempts.
#[derive(Debug)]
pub(crate) struct Throttle {
    /// `None`: no allowance (configured off).
    limits: Option<Limits>,
    clock: DefaultClock,
    log: LogLimiter,
}

#[derive(Debug)]
struct Limits {
    by_address: DefaultKeyedRateLimiter<IpAddr>,
    by_user: DefaultKeyedRateLimiter<String>,
    /// Requests without any credentials: they guess nothing and cost
    /// little, but a browser's page makes several at once, so they have an
    /// allowance of their own, ten times larger.
    without: DefaultKeyedRateLimiter<IpAddr>,
}

impl Throttle {
    /// `burst` attempts at once per address and per user name (0: no
    /// limit), then one a second per address, one every two seconds per
    /// user name.
    pub(crate) fn new(burst: u32) -> Self {
        let limits = NonZeroU32::new(burst).map(|burst| {
            let per_address = Quota::per_second(NonZeroU32::MIN).allow_burst(burst);
            let per_user = Quota::with_period(Duration::from_secs(2))
                .unwrap_or(per_address)
                .allow_burst(burst);
            let tenfold = burst.saturating_mul(NonZeroU32::new(10).unwrap_or(NonZeroU32::MIN));
            let without = Quota::per_second(tenfold).allow_burst(tenfold);
            Limits {
                by_address: DefaultKeyedRateLimiter::keyed(per_address),
                by_user: DefaultKeyedRateLimiter::keyed(per_user),
                without: DefaultKeyedRateLimiter::keyed(without),
            }
        });
        Self {
            limits,
            clock: DefaultClock::default(),
            log: LogLimiter::new(Duration::from_secs(10)),
        }
    }

    /// Count an attempt from `address` (and for `user`, a configured user
    /// name, or `""` for every unknown one): `Err(wait)` when past the
    /// allowance.
    pub(crate) fn attempt(&self, address: IpAddr, user: Option<&str>) -> Result<(), Duration> {
        let Some(Limits {
            by_address, by_user, ..
        }) = &self.limits
        else {
            return Ok(());
        };
        let key = host_of(address);
        let result = by_address
            .check_key(&key)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()));
        if by_address.len() > MAX_ADDRESSES {
            // Forget the addresses whose allowance is whole again (at most
            // ten seconds after their last attempt).
            by_address.retain_recent();
            by_address.shrink_to_fit();
        }
        result?;
        if let Some(user) = user {
            by_user
                .check_key(&user.to_owned())
                .map_err(|not_until| not_until.wait_time_from(self.clock.now()))?;
        }
        Ok(())
    }

    /// Count a request from `address` that had no credentials at all:
    /// `Err(wait)` when past its (larger) allowance.
    pub(crate) fn without_credentials(&self, address: IpAddr) -> Result<(), Duration> {
        let Some(Limits { without, .. }) = &self.limits else {
            return Ok(());
        };
        let result = without
            .check_key(&host_of(address))
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()));
        if without.len() > MAX_ADDRESSES {
            without.retain_recent();
            without.shrink_to_fit();
        }
        result
    }

    /// Log that `address` was slowed down (at most every 10 s).
    pub(crate) fn said(&self, address: IpAddr, user: Option<&str>) {
        self.log.hit(|more| {
            let user = user.map(|u| format!(" (user `{u}`)")).unwrap_or_default();
            tracing::warn!("slowed down login attempts from {address}{user}: too many failed or unchecked{more}");
        });
    }
}

/// The part of `address` that names one host: an IPv4 address, or an IPv6
/// address's /64.
fn host_of(address: IpAddr) -> IpAddr {
    match address.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(bits.into())
        }
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_past_its_burst_waits_and_others_do_not() {
        let throttle = Throttle::new(crate::auth::DEFAULT_SIGN_IN_BURST);
        let guesser: IpAddr = "127.0.0.2".parse().expect("ip");
        for _ in 0..crate::auth::DEFAULT_SIGN_IN_BURST {
            assert!(throttle.attempt(guesser, None).is_ok());
        }
        let wait = throttle.attempt(guesser, None).expect_err("slowed down");
        assert!(wait <= Duration::from_secs(1), "{wait:?}");
        assert!(throttle.attempt("127.0.0.1".parse().expect("ip"), None).is_ok());
        // One IPv6 host is its /64.
        let a: IpAddr = "2001:db8::1".parse().expect("ip");
        let b: IpAddr = "2001:db8::ffff:2".parse().expect("ip");
        assert_eq!(host_of(a), host_of(b));
    }

    #[test]
    fn a_user_name_past_its_burst_waits_from_any_address() {
        let throttle = Throttle::new(crate::auth::DEFAULT_SIGN_IN_BURST);
        for i in 0..crate::auth::DEFAULT_SIGN_IN_BURST {
            let address = IpAddr::from([10, 0, 0, u8::try_from(i).unwrap_or(0)]);
            assert!(throttle.attempt(address, Some("alice")).is_ok());
        }
        assert!(
            throttle
                .attempt("10.0.1.1".parse().expect("ip"), Some("alice"))
                .is_err()
        );
        assert!(throttle.attempt("10.0.1.1".parse().expect("ip"), Some("bob")).is_ok());
    }

    #[test]
    fn requests_without_credentials_have_a_tenfold_allowance_of_their_own() {
        let throttle = Throttle::new(crate::auth::DEFAULT_SIGN_IN_BURST);
        let browser: IpAddr = "127.0.0.3".parse().expect("ip");
        for _ in 0..crate::auth::DEFAULT_SIGN_IN_BURST * 10 {
            assert!(throttle.without_credentials(browser).is_ok());
        }
        assert!(throttle.without_credentials(browser).is_err());
        // Failed sign-ins are counted apart.
        assert!(throttle.attempt(browser, None).is_ok());
    }

    #[test]
    fn a_burst_of_zero_is_no_limit() {
        let throttle = Throttle::new(0);
        for _ in 0..1000 {
            assert!(
                throttle
                    .attempt("127.0.0.2".parse().expect("ip"), Some("alice"))
                    .is_ok()
            );
        }
    }
}
