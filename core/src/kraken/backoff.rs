//! The reconnect policy: exponential backoff with jitter, a floor between attempts once
//! failures repeat, and a sliding-window cap on connects (Kraken allows about 150 connection
//! attempts per 10 minutes per IP).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::time::Instant;

use super::config::ReconnectConfig;

/// Delays between connection attempts of one connection.
#[derive(Debug)]
pub struct Backoff {
    policy: ReconnectConfig,
    failures: u32,
    rng: SmallRng,
}

impl Backoff {
    /// A fresh policy state; `seed` makes the jitter reproducible (for tests).
    pub fn new(policy: ReconnectConfig, seed: u64) -> Self {
        Self {
            policy,
            failures: 0,
            rng: SmallRng::seed_from_u64(seed),
        }
    }

    /// A fresh policy state whose jitter is seeded from the operating system, so that
    /// processes started together (shards of one deployment) and the connections of one
    /// process draw different delays instead of reconnecting in lockstep.
    pub fn from_os(policy: ReconnectConfig) -> Self {
        Self {
            policy,
            failures: 0,
            rng: SmallRng::from_os_rng(),
        }
    }

    /// Consecutive failures so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// A connection worked: the next failure starts from the initial delay again.
    pub fn reset(&mut self) {
        self.failures = 0;
    }

    /// Records a failure and returns how long to wait before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let p = &self.policy;
        let exp = self.failures.saturating_sub(1).min(32);
        let base = p
            .initial_backoff_ms
            .saturating_mul(1u64 << exp)
            .min(p.max_backoff_ms);
        // Jitter takes up to `jitter_percent` off the delay, so clients that lost the same
        // server do not come back in lockstep, without ever exceeding the max.
        let spread = base * u64::from(p.jitter_percent.min(100)) / 100;
        let jitter = if spread == 0 {
            0
        } else {
            self.rng.random_range(0..=spread)
        };
        let mut ms = base - jitter;
        if self.failures >= p.failures_before_floor {
            ms = ms.max(p.min_interval_after_failures_ms);
        }
        Duration::from_millis(ms)
    }

    /// The delay the policy gives the n-th consecutive failure, before jitter (for reports
    /// and tests).
    pub fn nominal_delay(policy: &ReconnectConfig, failures: u32) -> Duration {
        let exp = failures.saturating_sub(1).min(32);
        let mut ms = policy
            .initial_backoff_ms
            .saturating_mul(1u64 << exp)
            .min(policy.max_backoff_ms);
        if failures >= policy.failures_before_floor {
            ms = ms.max(policy.min_interval_after_failures_ms);
        }
        Duration::from_millis(ms)
    }
}

/// Connect attempts shared by every connection of a source, capped per sliding window.
#[derive(Clone, Debug)]
pub struct ConnectLimiter {
    inner: Arc<Mutex<VecDeque<Instant>>>,
    max: usize,
    window: Duration,
}

impl ConnectLimiter {
    /// At most `max` attempts per `window`.
    pub fn new(max: u32, window: Duration) -> Self {
        Self {
            inner: Arc::new(Mutex::new(VecDeque::new())),
            max: max.max(1) as usize,
            window,
        }
    }

    /// Waits until an attempt is allowed, then records it.
    pub async fn acquire(&self) {
        loop {
            let wait = {
                let mut q = self.inner.lock().unwrap_or_else(|p| p.into_inner());
                let now = Instant::now();
                while q
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= self.window)
                {
                    q.pop_front();
                }
                if q.len() < self.max {
                    q.push_back(now);
                    return;
                }
                q.front().map(|t| *t + self.window)
            };
            if let Some(at) = wait {
                tracing::warn!(
                    "connect rate limit reached ({} per {:?}); waiting",
                    self.max,
                    self.window
                );
                tokio::time::sleep_until(at).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> ReconnectConfig {
        ReconnectConfig {
            initial_backoff_ms: 100,
            max_backoff_ms: 10_000,
            jitter_percent: 0,
            min_interval_after_failures_ms: 5_000,
            failures_before_floor: 3,
            max_attempts: None,
            max_connects_per_10min: 150,
        }
    }

    #[test]
    fn doubles_then_holds_the_floor_and_the_cap() {
        let mut b = Backoff::new(policy(), 1);
        let got: Vec<u64> = (0..9).map(|_| b.next_delay().as_millis() as u64).collect();
        assert_eq!(
            got,
            [100, 200, 5000, 5000, 5000, 5000, 6400, 10_000, 10_000]
        );
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_millis(100));
    }

    #[test]
    fn jitter_only_shortens_and_stays_above_the_floor() {
        let mut p = policy();
        p.jitter_percent = 50;
        let mut b = Backoff::new(p.clone(), 7);
        for n in 1..40 {
            let d = b.next_delay();
            let nominal = Backoff::nominal_delay(&p, n);
            assert!(d <= nominal, "{d:?} > {nominal:?}");
            assert!(d >= nominal / 2, "{d:?} < half of {nominal:?}");
            if n >= 3 {
                assert!(d >= Duration::from_secs(5));
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn limiter_spreads_connects_over_the_window() {
        let l = ConnectLimiter::new(3, Duration::from_secs(600));
        let start = Instant::now();
        for _ in 0..3 {
            l.acquire().await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
        l.acquire().await;
        assert_eq!(start.elapsed(), Duration::from_secs(600));
    }
}
