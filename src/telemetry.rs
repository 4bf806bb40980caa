//! `tracing` setup, and what `/metrics` reads of this process: HTTP requests by route and
//! status ([`HttpStats`]) and the operating system's view ([`process_stats`]). Spans and
//! events use dotted fields (`tenant.id`, `outbox.id`); tokens, secrets, customer text,
//! emails and names are never logged.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, LogSettings};

/// Installs the global subscriber (once per process; later calls are ignored).
pub fn init(settings: &LogSettings) {
    let filter = EnvFilter::try_new(&settings.filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::stdout().is_terminal());
    let _ = match settings.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// Upper bounds (seconds) of the latency histograms' buckets.
pub const LATENCY_BUCKETS: [f64; 13] = [
    0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0,
];

/// A latency histogram with the [`LATENCY_BUCKETS`] (Prometheus semantics: cumulative on
/// reading, plus an implicit `+Inf` bucket, sum and count).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Histogram {
    /// Observations per bucket (not cumulative); the last one is `+Inf`.
    counts: [u64; LATENCY_BUCKETS.len() + 1],
    pub sum: f64,
    pub count: u64,
}

impl Histogram {
    pub fn observe(&mut self, seconds: f64) {
        let at = LATENCY_BUCKETS
            .iter()
            .position(|le| seconds <= *le)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.counts[at] += 1;
        self.sum += seconds;
        self.count += 1;
    }

    /// `(le, cumulative count)` per bucket, ending with `+Inf` (`f64::INFINITY`).
    pub fn cumulative(&self) -> Vec<(f64, u64)> {
        let mut total = 0;
        LATENCY_BUCKETS
            .iter()
            .copied()
            .chain(std::iter::once(f64::INFINITY))
            .zip(self.counts)
            .map(|(le, n)| {
                total += n;
                (le, total)
            })
            .collect()
    }
}

/// HTTP requests this process answered: a latency histogram (to the response head) per
/// method, route template and status. Route templates and status codes keep the label set
/// small whatever the paths and their values.
#[derive(Debug, Default)]
pub struct HttpStats {
    requests: std::sync::Mutex<std::collections::BTreeMap<(String, String, u16), Histogram>>,
}

impl HttpStats {
    pub fn record(&self, method: &str, route: &str, status: u16, seconds: f64) {
        if let Ok(mut requests) = self.requests.lock() {
            let key = (method.to_owned(), route.to_owned(), status);
            requests.entry(key).or_default().observe(seconds);
        }
    }

    /// `((method, route, status), histogram)`, in order.
    pub fn snapshot(&self) -> Vec<((String, String, u16), Histogram)> {
        self.requests
            .lock()
            .map(|r| r.iter().map(|(k, h)| (k.clone(), h.clone())).collect())
            .unwrap_or_default()
    }
}

/// What the operating system says of this process (Linux `/proc`; `None` elsewhere).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcessStats {
    pub cpu_seconds: f64,
    pub resident_bytes: u64,
    pub open_fds: u64,
    pub start_time_seconds: f64,
    pub threads: u64,
}

/// Reads [`ProcessStats`] from `/proc/self` (clock ticks assumed 100 per second, as on every
/// Linux this runs on).
pub fn process_stats() -> Option<ProcessStats> {
    const TICKS: f64 = 100.0;
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.get(stat.rfind(')')? + 2..)?.split(' ').collect();
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<f64>().ok());
    let (utime, stime) = (field(14)?, field(15)?);
    let threads = field(20)? as u64;
    let start_ticks = field(22)?;
    let rss_pages = field(24)?;
    let boot = std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime ")?.trim().parse::<f64>().ok())?;
    let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as u64;
    Some(ProcessStats {
        cpu_seconds: (utime + stime) / TICKS,
        resident_bytes: (rss_pages * 4096.0) as u64,
        open_fds,
        start_time_seconds: boot + start_ticks / TICKS,
        threads,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_count_cumulatively_with_an_infinite_bucket() {
        let mut h = Histogram::default();
        for s in [0.001, 0.005, 0.3, 120.0] {
            h.observe(s);
        }
        let c = h.cumulative();
        assert_eq!(c[0], (0.005, 2));
        assert_eq!(c[6], (0.5, 3));
        assert_eq!(c.last().copied(), Some((f64::INFINITY, 4)));
        assert_eq!(h.count, 4);
        assert!((h.sum - 120.306).abs() < 1e-9);
    }

    #[test]
    fn this_process_is_read_from_proc() {
        let Some(p) = process_stats() else {
            return; // not Linux
        };
        assert!(p.resident_bytes > 1 << 20, "{p:?}");
        assert!(p.open_fds >= 3 && p.threads >= 1, "{p:?}");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        assert!(
            p.start_time_seconds <= now + 1.0 && p.start_time_seconds > now - 86_400.0 * 365.0,
            "{p:?}"
        );
    }
}
