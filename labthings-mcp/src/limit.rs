//! How many tool calls each user may make: a token bucket per user name,
//! `burst` calls at once and `per_minute` more each minute.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// At most this many users are tracked; names are the server's users (and
/// `anonymous`), so this bound is only reached by a misconfiguration, and
/// then the least recently seen is forgotten (its bucket refilled).
const MAX_TRACKED: usize = 4096;

/// A token bucket per user.
#[derive(Debug)]
pub(crate) struct Limiter {
    per_minute: u32,
    burst: u32,
    buckets: Mutex<HashMap<String, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Limiter {
    /// `per_minute` calls a minute per user, `burst` at once beyond that;
    /// `per_minute` 0 allows no call at all.
    pub(crate) fn new(per_minute: u32, burst: u32) -> Self {
        Self {
            per_minute,
            burst,
            buckets: Mutex::default(),
        }
    }

    /// Take one call from `user`'s allowance at `now`: `Ok`, or how long
    /// until the next call is allowed.
    pub(crate) fn take(&self, user: &str, now: Instant) -> Result<(), Duration> {
        let capacity = f64::from(self.burst.max(1));
        let rate = f64::from(self.per_minute) / 60.0;
        let mut buckets = self.buckets.lock();
        if !buckets.contains_key(user) && buckets.len() >= MAX_TRACKED {
            let oldest = buckets.iter().min_by_key(|(_, b)| b.at).map(|(name, _)| name.clone());
            if let Some(oldest) = oldest {
                buckets.remove(&oldest);
            }
        }
        let bucket = buckets.entry(user.to_owned()).or_insert(Bucket {
            tokens: capacity,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(capacity);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Ok(());
        }
        if rate <= 0.0 {
            return Err(Duration::from_secs(60));
        }
        Err(Duration::from_secs_f64(((1.0 - bucket.tokens) / rate).min(3600.0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_gets_the_burst_then_the_rate() {
        let limiter = Limiter::new(60, 3);
        let start = Instant::now();
        for _ in 0..3 {
            assert!(limiter.take("agent", start).is_ok());
        }
        let wait = limiter.take("agent", start).expect_err("past the burst");
        assert!(wait <= Duration::from_secs(1), "{wait:?}");
        // Another user has an allowance of their own.
        assert!(limiter.take("alice", start).is_ok());
        // One a second comes back.
        assert!(limiter.take("agent", start + Duration::from_millis(1001)).is_ok());
        assert!(limiter.take("agent", start + Duration::from_millis(1002)).is_err());
    }

    #[test]
    fn the_map_of_users_is_bounded() {
        let limiter = Limiter::new(60, 1);
        let now = Instant::now();
        for n in 0..(MAX_TRACKED + 10) {
            let _ = limiter.take(&format!("user{n}"), now);
        }
        assert!(limiter.buckets.lock().len() <= MAX_TRACKED);
    }
}
