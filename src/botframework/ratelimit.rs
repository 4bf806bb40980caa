//! Sliding-window rate limits keyed by a string. The Bot Connector's per-conversation limits
//! (reference §4.3): at most 7 sends in any 1 s, 8 in 2 s, 60 in 30 s and 1800 in an hour; the
//! customer API uses the same limiter per IP and per session. A log per key is exact for every
//! window at once; idle keys are evicted after the longest window.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use moka::sync::Cache;
use tokio::time::Instant;

/// `(window, most sends in it)` for sending to one conversation.
pub const SEND_WINDOWS: &[(Duration, usize)] = &[
    (Duration::from_secs(1), 7),
    (Duration::from_secs(2), 8),
    (Duration::from_secs(30), 60),
    (Duration::from_secs(3600), 1800),
];

/// `(window, most requests in it)` for one app in one tenant: Teams' global limit of 50
/// requests a second per app per tenant, whatever the conversations (reference §4.3).
pub const TENANT_WINDOWS: &[(Duration, usize)] = &[(Duration::from_secs(1), 50)];

/// How long to wait from `now` until one more event fits every window, given the past events
/// (oldest first).
pub fn wait_needed(
    history: &VecDeque<Instant>,
    windows: &[(Duration, usize)],
    now: Instant,
) -> Duration {
    windows
        .iter()
        .filter_map(|&(window, max)| {
            let start = now.checked_sub(window);
            let in_window = history
                .iter()
                .rev()
                .take_while(|t| start.is_none_or(|s| **t > s))
                .count();
            if in_window < max {
                return None;
            }
            // The event that must leave the window before one more fits.
            let blocking = history[history.len() - max];
            Some((blocking + window).saturating_duration_since(now))
        })
        .max()
        .unwrap_or(Duration::ZERO)
}

/// Sliding-window rate limiter keyed by a string (a conversation, an address, a session).
pub struct SlidingLimiter {
    windows: Box<[(Duration, usize)]>,
    logs: Cache<String, Arc<Mutex<VecDeque<Instant>>>>,
}

impl SlidingLimiter {
    pub fn new(windows: &[(Duration, usize)]) -> Self {
        let longest = windows.iter().map(|w| w.0).max().unwrap_or(Duration::ZERO);
        SlidingLimiter {
            windows: windows.into(),
            logs: Cache::builder()
                .max_capacity(100_000)
                .time_to_idle(longest)
                .build(),
        }
    }

    /// Records one more call for `key` if it is within every limit; otherwise says how long to
    /// wait (nothing is recorded then).
    pub fn try_acquire(&self, key: &str) -> Result<(), Duration> {
        let log = self
            .logs
            .get_with_by_ref(key, || Arc::new(Mutex::new(VecDeque::new())));
        let mut history = log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        let wait = wait_needed(&history, &self.windows, now);
        if !wait.is_zero() {
            return Err(wait);
        }
        history.push_back(now);
        let longest = self.windows.iter().map(|w| w.0).max().unwrap_or_default();
        while history
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= longest)
        {
            history.pop_front();
        }
        Ok(())
    }

    /// Waits until one more call for `conversation` (or tenant) is within every limit, then
    /// records it.
    pub async fn acquire(&self, conversation: &str) {
        let log = self
            .logs
            .get_with_by_ref(conversation, || Arc::new(Mutex::new(VecDeque::new())));
        loop {
            let wait = {
                let mut history = log
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let now = Instant::now();
                let wait = wait_needed(&history, &self.windows, now);
                if wait.is_zero() {
                    history.push_back(now);
                    let longest = self.windows.iter().map(|w| w.0).max().unwrap_or_default();
                    while history
                        .front()
                        .is_some_and(|t| now.saturating_duration_since(*t) >= longest)
                    {
                        history.pop_front();
                    }
                    return;
                }
                wait
            };
            if !wait.is_zero() {
                tracing::debug!(
                    wait_ms = wait.as_millis() as u64,
                    "conversation rate limit: waiting"
                );
            }
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(base: Instant, ms: u64) -> Instant {
        base + Duration::from_millis(ms)
    }

    #[test]
    fn seven_sends_fit_in_one_second_and_the_eighth_waits() {
        let base = Instant::now();
        let mut h = VecDeque::new();
        for i in 0..7 {
            assert_eq!(wait_needed(&h, SEND_WINDOWS, at(base, i)), Duration::ZERO);
            h.push_back(at(base, i));
        }
        // 8th at t=7ms: the 1 s window is full until the first send leaves it at t=1000ms.
        assert_eq!(
            wait_needed(&h, SEND_WINDOWS, at(base, 7)),
            Duration::from_millis(993)
        );
    }

    #[test]
    fn the_two_second_window_allows_only_eight() {
        let base = Instant::now();
        let mut h: VecDeque<Instant> = (0..7).map(|i| at(base, i)).collect();
        h.push_back(at(base, 1000));
        // 9th at 1001ms: the 1 s window holds one event, but the 2 s window holds 8 until the
        // first event (t=0) leaves it at t=2000ms.
        assert_eq!(
            wait_needed(&h, SEND_WINDOWS, at(base, 1001)),
            Duration::from_millis(999)
        );
    }

    #[test]
    fn sixty_in_thirty_seconds_and_1800_an_hour() {
        let base = Instant::now();
        // 60 sends spaced 400 ms apart fit 7/1s and 8/2s (5 per 2 s) and fill the 30 s window.
        let h: VecDeque<Instant> = (0..60).map(|i| at(base, i * 400)).collect();
        let now = at(base, 60 * 400);
        assert_eq!(
            wait_needed(&h, SEND_WINDOWS, now),
            Duration::from_millis(30_000 - 24_000)
        );

        let h: VecDeque<Instant> = (0..1800).map(|i| at(base, i * 1000)).collect();
        let now = at(base, 1800 * 1000);
        assert_eq!(
            wait_needed(&h, SEND_WINDOWS, now),
            Duration::from_millis(1_800_000)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn acquire_spaces_a_burst_to_the_limits() {
        let limiter = SlidingLimiter::new(SEND_WINDOWS);
        let start = Instant::now();
        let mut times = Vec::new();
        for _ in 0..10 {
            limiter.acquire("a:1").await;
            times.push(start.elapsed());
        }
        // Seven at once, the eighth after 1 s, the ninth and tenth after 2 s.
        assert!(
            times[..7].iter().all(|t| *t < Duration::from_millis(10)),
            "{times:?}"
        );
        assert!(times[7] >= Duration::from_secs(1) && times[7] < Duration::from_millis(1100));
        assert!(times[8] >= Duration::from_secs(2) && times[9] >= Duration::from_secs(2));
        // Another conversation is not held back.
        let other = Instant::now();
        limiter.acquire("a:2").await;
        assert!(other.elapsed() < Duration::from_millis(10));
    }
}

#[cfg(test)]
mod try_tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn try_acquire_refuses_beyond_the_limit_and_says_how_long_to_wait() {
        const WINDOWS: &[(Duration, usize)] = &[(Duration::from_secs(10), 2)];
        let limiter = SlidingLimiter::new(WINDOWS);
        assert!(limiter.try_acquire("ip").is_ok());
        assert!(limiter.try_acquire("ip").is_ok());
        assert_eq!(limiter.try_acquire("ip"), Err(Duration::from_secs(10)));
        assert!(limiter.try_acquire("other").is_ok());
        tokio::time::advance(Duration::from_secs(10)).await;
        assert!(limiter.try_acquire("ip").is_ok());
    }
}
