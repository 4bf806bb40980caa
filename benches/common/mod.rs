//! What the load benches share: their command-line numbers, the 2-worker runtime, latency
//! percentiles, and a Teams agent's activity as the channel sends it.
// Each bench uses what it needs of this module.
#![allow(dead_code)]

use std::time::Duration;

use serde_json::{Value, json};

/// The bench's positional arguments (flags such as `--bench` skipped), each falling back to its
/// default.
pub fn numbers<const N: usize>(defaults: [usize; N]) -> [usize; N] {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let mut values = defaults;
    for (i, value) in values.iter_mut().enumerate() {
        if let Some(n) = args.get(i).and_then(|a| a.parse().ok()) {
            *value = n;
        }
    }
    values
}

/// The runtime of a bench: two workers, as the machine has two cores.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Prints `name: n=… of expected  p50=… p99=… max=…`.
pub fn report(name: &str, mut values: Vec<Duration>, expected: usize) {
    values.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{name}: n={} of {expected}  p50={:.1} ms  p99={:.1} ms  max={:.1} ms",
        values.len(),
        ms(percentile(&values, 0.5)),
        ms(percentile(&values, 0.99)),
        ms(values.last().copied().unwrap_or_default()),
    );
}

/// An activity of agent `agent` (`agentN`, in their personal chat `personal-N`) in `tenant`.
pub fn agent_activity(service_url: &str, tenant: &str, agent: usize, kind: &str) -> Value {
    json!({
        "type": kind, "id": uuid::Uuid::new_v4().to_string(),
        "serviceUrl": service_url, "channelId": "msteams",
        "from": {"id": format!("29:agent{agent}"), "name": format!("Agent {agent}"), "aadObjectId": format!("agent{agent}")},
        "conversation": {"id": format!("personal-{agent}"), "conversationType": "personal", "tenantId": tenant},
        "recipient": {"id": "28:bench-bot", "name": "Bench"},
        "channelData": {"tenant": {"id": tenant}}
    })
}
