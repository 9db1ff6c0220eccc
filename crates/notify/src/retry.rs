//! When to try a delivery again and how long to wait: exponential backoff with jitter, and
//! the failure classes every channel maps its errors to.

use std::time::Duration;

use rand::Rng;

/// How a channel retries: `retries` more attempts after the first, waiting
/// `base_delay * 2^(n-1)` (capped at `max_delay`) before retry `n`, of which a random part
/// in the upper half is used so that many trailwatch instances do not retry in step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub retries: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl RetryPolicy {
    /// The wait before retry number `retry` (1 for the first retry).
    pub fn backoff(&self, retry: u32, rng: &mut impl Rng) -> Duration {
        let exp = retry.saturating_sub(1).min(30);
        let full = self.base_delay.saturating_mul(1u32 << exp).min(self.max_delay);
        // "Equal jitter": at least half the delay, so backoff still grows; the rest random.
        let half = full / 2;
        let spread = (full - half).as_micros() as u64;
        half + Duration::from_micros(if spread == 0 { 0 } else { rng.random_range(0..=spread) })
    }

    /// The wait the server asked for (429 `Retry-After`), capped at `max_delay` so a hostile
    /// or broken receiver cannot park a delivery for hours.
    pub fn server_delay(&self, asked: Duration) -> Duration {
        asked.min(self.max_delay)
    }
}

/// Why one attempt failed, as far as retrying is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AttemptError {
    pub retryable: bool,
    /// The HTTP status or SMTP reply code, when the server answered.
    pub status: Option<u16>,
    pub message: String,
    /// The server's `Retry-After`, when it gave one.
    pub retry_after: Option<Duration>,
}

impl AttemptError {
    pub fn retryable(status: Option<u16>, message: impl Into<String>) -> AttemptError {
        AttemptError { retryable: true, status, message: message.into(), retry_after: None }
    }

    pub fn permanent(status: Option<u16>, message: impl Into<String>) -> AttemptError {
        AttemptError { retryable: false, status, message: message.into(), retry_after: None }
    }
}

/// Classifies an HTTP status: connect errors, timeouts, 429 and 5xx are worth another try;
/// other 4xx mean the request itself is wrong (bad key, bad payload) and would fail again.
pub(crate) fn http_status_retryable(status: u16) -> bool {
    status == 429 || status == 408 || (500..=599).contains(&status)
}

/// `Retry-After` as delta-seconds. (The HTTP-date form is rare from webhook receivers and
/// falls back to normal backoff.)
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::SmallRng, SeedableRng};

    #[test]
    fn backoff_doubles_within_jitter_and_caps() {
        let policy = RetryPolicy {
            retries: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
        };
        let mut rng = SmallRng::seed_from_u64(7);
        for _ in 0..200 {
            let check = |retry: u32, full_ms: u64, rng: &mut SmallRng| {
                let d = policy.backoff(retry, rng);
                let full = Duration::from_millis(full_ms);
                assert!(d >= full / 2 && d <= full, "retry {retry}: {d:?} outside {full:?}/2..={full:?}");
            };
            check(1, 100, &mut rng);
            check(2, 200, &mut rng);
            check(3, 400, &mut rng);
            check(4, 800, &mut rng);
            check(5, 1000, &mut rng);
            check(40, 1000, &mut rng);
        }
    }

    #[test]
    fn statuses_and_retry_after() {
        for (status, retry) in
            [(500, true), (503, true), (429, true), (408, true), (400, false), (404, false)]
        {
            assert_eq!(http_status_retryable(status), retry, "{status}");
        }
        assert_eq!(parse_retry_after(" 3 "), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        let policy =
            RetryPolicy { retries: 1, base_delay: Duration::ZERO, max_delay: Duration::from_secs(5) };
        assert_eq!(policy.server_delay(Duration::from_secs(3600)), Duration::from_secs(5));
    }
}
