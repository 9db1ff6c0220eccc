//! Login rate limiting: failed logins are counted per username and per client address over a
//! sliding window; at the limit, further attempts (even with the right password) get 429 until
//! the oldest failure leaves the window.
//!
//! Counting per username stops guessing one account's password from many addresses (at the
//! price that anyone can lock an account for the window); counting per address stops one
//! client from trying many usernames. State is in memory: a restart forgets it.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::ApiError;

/// How many failed logins are allowed within `window`.
#[derive(Debug, Clone, Copy)]
pub struct LoginLimits {
    pub per_username: usize,
    pub per_address: usize,
    pub window: Duration,
}

impl Default for LoginLimits {
    fn default() -> LoginLimits {
        LoginLimits { per_username: 5, per_address: 5, window: Duration::from_secs(15 * 60) }
    }
}

/// Keys held before expired ones are swept (bounds memory under a flood of usernames).
const SWEEP_AT: usize = 10_000;

pub(crate) struct LoginLimiter {
    limits: LoginLimits,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl LoginLimiter {
    pub(crate) fn new(limits: LoginLimits) -> LoginLimiter {
        LoginLimiter { limits, failures: Mutex::new(HashMap::new()) }
    }

    fn keys(username: &str, addr: Option<IpAddr>) -> [(Option<String>, usize); 2] {
        [(Some(format!("user:{}", username.to_lowercase())), 0), (addr.map(|a| format!("addr:{a}")), 1)]
    }

    /// Err when the username or the address is at its limit.
    pub(crate) fn check(&self, username: &str, addr: Option<IpAddr>) -> Result<(), ApiError> {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        for (key, which) in Self::keys(username, addr) {
            let Some(key) = key else { continue };
            let limit = if which == 0 { self.limits.per_username } else { self.limits.per_address };
            if let Some(q) = map.get_mut(&key) {
                while q.front().is_some_and(|t| now.duration_since(*t) >= self.limits.window) {
                    q.pop_front();
                }
                if q.len() >= limit {
                    let oldest = *q.front().expect("at the limit, so not empty");
                    let wait = self.limits.window.saturating_sub(now.duration_since(oldest));
                    return Err(ApiError::RateLimited { retry_after_secs: wait.as_secs() + 1 });
                }
            }
        }
        Ok(())
    }

    pub(crate) fn failed(&self, username: &str, addr: Option<IpAddr>) {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= SWEEP_AT {
            let window = self.limits.window;
            map.retain(|_, q| q.back().is_some_and(|t| now.duration_since(*t) < window));
        }
        for (key, _) in Self::keys(username, addr) {
            if let Some(key) = key {
                map.entry(key).or_default().push_back(now);
            }
        }
    }

    /// A good login forgets the username's failures (not the address's).
    pub(crate) fn succeeded(&self, username: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&format!("user:{}", username.to_lowercase()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_username_and_per_address() {
        let limits = LoginLimits { per_username: 2, per_address: 3, window: Duration::from_secs(60) };
        let l = LoginLimiter::new(limits);
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        l.failed("alice", Some(a));
        assert!(l.check("alice", Some(a)).is_ok());
        l.failed("Alice", Some(b));
        assert!(l.check("alice", Some(b)).is_err(), "two failures for alice, from any address");
        assert!(l.check("bob", Some(b)).is_ok());
        l.failed("bob", Some(a));
        assert!(l.check("carol", Some(a)).is_ok());
        l.failed("dave", Some(a));
        assert!(l.check("carol", Some(a)).is_err(), "three failures from address a");
        assert!(l.check("carol", Some(b)).is_ok());
        l.succeeded("alice");
        assert!(l.check("alice", Some(b)).is_ok());
        match l.check("carol", Some(a)) {
            Err(ApiError::RateLimited { retry_after_secs }) => assert!((1..=61).contains(&retry_after_secs)),
            other => panic!("{other:?}"),
        }
    }
}
