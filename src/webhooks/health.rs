//! The health of each tenant endpoint as the outbox dispatcher sees it: how many deliveries are
//! in flight to it, and its circuit breaker. Webhooks never take capacity from chats (the
//! dispatcher gives them a pool of their own); within that pool one endpoint holds at most
//! [`PER_ENDPOINT`] attempts at a time, and an endpoint that keeps failing is left alone for a
//! while (open), then probed with one delivery (half-open) before its backlog flows again.
//!
//! Pure bookkeeping behind a mutex, no I/O: the dispatcher asks [`Health::admit`] before each
//! attempt and reports each end with [`Health::finished`]; the admin API (`webhooks/deliveries`)
//! and `/metrics` read [`Health::of_tenant`] and [`Health::all`].

use std::collections::HashMap;
use std::sync::Mutex;

/// Attempts in flight to one endpoint at most.
pub const PER_ENDPOINT: usize = 2;
/// Consecutive failed attempts (timeouts, refused connections, 408/429/5xx) that open the
/// breaker.
pub const OPEN_AFTER: u32 = 5;
/// How long the breaker first stays open; each failed probe doubles it, up to [`MAX_OPEN_MS`].
pub const FIRST_OPEN_MS: i64 = 30_000;
pub const MAX_OPEN_MS: i64 = 600_000;

/// Whether an attempt to an endpoint may start now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Start it (counted in flight until [`Health::finished`]).
    Now,
    /// The endpoint has [`PER_ENDPOINT`] attempts in flight, or its one probe: wait for one to
    /// end.
    Busy,
    /// The breaker is open until then (ms since the epoch): not before.
    OpenUntil(i64),
}

/// How an attempt ended, for the breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// The endpoint answered 2xx.
    Delivered,
    /// The endpoint did not take it and may later (timeout, connection refused, 408, 429, 5xx).
    Unhealthy,
    /// Ended for a reason that says nothing of the endpoint's health (a 4xx, the endpoint
    /// removed, a refused address).
    Neutral,
}

/// What the admin API and `/metrics` show of an endpoint.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointHealth {
    pub tenant: String,
    pub endpoint: String,
    /// `closed` (deliveries flow), `open` (held back until `openUntil`), `halfOpen` (one probe
    /// decides).
    pub state: &'static str,
    pub in_flight: usize,
    pub consecutive_failures: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open_until: Option<i64>,
    /// How often the breaker opened since the process started.
    pub times_opened: u64,
}

#[derive(Debug, Default)]
struct Endpoint {
    in_flight: usize,
    failures: u32,
    /// Set while open or half-open.
    open_until: Option<i64>,
    /// The current open period (doubles after a failed probe).
    open_ms: i64,
    probing: bool,
    times_opened: u64,
}

/// Every endpoint's health, by `tenant|endpoint`.
#[derive(Debug, Default)]
pub struct Health {
    endpoints: Mutex<HashMap<(String, String), Endpoint>>,
}

impl Health {
    /// May an attempt to `endpoint` of `tenant` start at `now`? `Now` counts it in flight.
    pub fn admit(&self, tenant: &str, endpoint: &str, now: i64) -> Admit {
        let mut all = self.lock();
        let e = all
            .entry((tenant.to_owned(), endpoint.to_owned()))
            .or_default();
        match e.open_until {
            Some(until) if now < until => return Admit::OpenUntil(until),
            Some(_) => {
                // Half-open: one probe at a time decides.
                if e.probing || e.in_flight > 0 {
                    return Admit::Busy;
                }
                e.probing = true;
            }
            None if e.in_flight >= PER_ENDPOINT => return Admit::Busy,
            None => {}
        }
        e.in_flight += 1;
        Admit::Now
    }

    /// An admitted attempt ended at `now`.
    pub fn finished(&self, tenant: &str, endpoint: &str, outcome: AttemptOutcome, now: i64) {
        let mut all = self.lock();
        let Some(e) = all.get_mut(&(tenant.to_owned(), endpoint.to_owned())) else {
            return;
        };
        e.in_flight = e.in_flight.saturating_sub(1);
        let probe = std::mem::take(&mut e.probing);
        match outcome {
            AttemptOutcome::Delivered => {
                e.failures = 0;
                e.open_until = None;
                e.open_ms = 0;
            }
            AttemptOutcome::Unhealthy => {
                e.failures = e.failures.saturating_add(1);
                if probe {
                    e.open_ms = (e.open_ms * 2).clamp(FIRST_OPEN_MS, MAX_OPEN_MS);
                    e.open_until = Some(now.saturating_add(e.open_ms));
                    e.times_opened += 1;
                } else if e.open_until.is_none() && e.failures >= OPEN_AFTER {
                    e.open_ms = FIRST_OPEN_MS;
                    e.open_until = Some(now.saturating_add(e.open_ms));
                    e.times_opened += 1;
                }
            }
            AttemptOutcome::Neutral => {}
        }
        if e.in_flight == 0 && e.open_until.is_none() && e.failures == 0 && e.times_opened == 0 {
            all.remove(&(tenant.to_owned(), endpoint.to_owned()));
        }
    }

    /// The endpoints of `tenant` with something to show, by id.
    pub fn of_tenant(&self, tenant: &str, now: i64) -> Vec<EndpointHealth> {
        let mut out: Vec<EndpointHealth> = self
            .all(now)
            .into_iter()
            .filter(|h| h.tenant == tenant)
            .collect();
        out.sort_by(|a, b| a.endpoint.cmp(&b.endpoint));
        out
    }

    /// Every endpoint with something to show.
    pub fn all(&self, now: i64) -> Vec<EndpointHealth> {
        self.lock()
            .iter()
            .map(|((tenant, endpoint), e)| EndpointHealth {
                tenant: tenant.clone(),
                endpoint: endpoint.clone(),
                state: match e.open_until {
                    Some(until) if now < until => "open",
                    Some(_) => "halfOpen",
                    None => "closed",
                },
                in_flight: e.in_flight,
                consecutive_failures: e.failures,
                open_until: e.open_until,
                times_opened: e.times_opened,
            })
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Endpoint>> {
        // The map stays consistent whatever panicked while holding it: every change is one
        // assignment.
        self.endpoints
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endpoint_takes_two_attempts_at_a_time() {
        let h = Health::default();
        assert_eq!(h.admit("t", "e", 0), Admit::Now);
        assert_eq!(h.admit("t", "e", 0), Admit::Now);
        assert_eq!(h.admit("t", "e", 0), Admit::Busy);
        assert_eq!(h.admit("t", "other", 0), Admit::Now, "another endpoint");
        h.finished("t", "e", AttemptOutcome::Delivered, 1);
        assert_eq!(h.admit("t", "e", 1), Admit::Now);
    }

    #[test]
    fn repeated_failures_open_the_breaker_and_one_probe_closes_it() {
        let h = Health::default();
        for i in 0..OPEN_AFTER {
            assert_eq!(h.admit("t", "e", i64::from(i)), Admit::Now);
            h.finished("t", "e", AttemptOutcome::Unhealthy, i64::from(i));
        }
        let until = i64::from(OPEN_AFTER - 1) + FIRST_OPEN_MS;
        assert_eq!(h.admit("t", "e", 100), Admit::OpenUntil(until));
        assert_eq!(h.of_tenant("t", 100)[0].state, "open");
        // Half-open: one probe, the others wait for it.
        assert_eq!(h.admit("t", "e", until), Admit::Now);
        assert_eq!(h.admit("t", "e", until), Admit::Busy);
        // A failed probe opens it for twice as long.
        h.finished("t", "e", AttemptOutcome::Unhealthy, until);
        assert_eq!(
            h.admit("t", "e", until + 1),
            Admit::OpenUntil(until + 2 * FIRST_OPEN_MS)
        );
        let later = until + 2 * FIRST_OPEN_MS;
        assert_eq!(h.admit("t", "e", later), Admit::Now);
        h.finished("t", "e", AttemptOutcome::Delivered, later);
        assert_eq!(h.of_tenant("t", later)[0].state, "closed");
        assert_eq!(h.admit("t", "e", later), Admit::Now);
        assert_eq!(h.admit("t", "e", later), Admit::Now);
    }

    #[test]
    fn neutral_ends_neither_open_nor_close_it() {
        let h = Health::default();
        for _ in 0..(OPEN_AFTER * 2) {
            assert_eq!(h.admit("t", "e", 0), Admit::Now);
            h.finished("t", "e", AttemptOutcome::Neutral, 0);
        }
        assert_eq!(h.admit("t", "e", 0), Admit::Now);
        assert!(h.of_tenant("other", 0).is_empty());
    }
}
