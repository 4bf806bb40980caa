//! `/metrics` in the Prometheus text format (version 0.0.4): what the running engines hold
//! (sessions by state, queues, agents), what the store holds (ended sessions and offers by
//! outcome, the outbox by state, pending engine effects), and what this process saw of the
//! Connector (calls by method and status, their latency, outbox delivery latency), its own HTTP
//! requests by route and status with their latency, and the process (CPU, memory, descriptors).
//!
//! Labels carry tenant and service ids, never names or customer data. With `metrics.token` set
//! the endpoint wants `Authorization: Bearer <token>` (401 `metrics_token_required` /
//! `metrics_token_invalid` otherwise); without it, it is open: restrict it to the scraper at the
//! reverse proxy.

use std::collections::BTreeMap;
use std::fmt::Write;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::app::{App, AppState};
use crate::engine::messages::SessionState;
use crate::http::problem::Problem;
use crate::store::AsPool;
use crate::telemetry::Histogram;

/// One metric family: its samples as `(labels, value)`.
struct Family {
    name: &'static str,
    help: &'static str,
    kind: &'static str,
    /// `(name suffix, labels, value)`; the suffix is empty except for histograms.
    samples: Vec<(&'static str, Labels, f64)>,
}

type Labels = Vec<(&'static str, String)>;

impl Family {
    fn new(name: &'static str, kind: &'static str, help: &'static str) -> Self {
        Family {
            name,
            help,
            kind,
            samples: Vec::new(),
        }
    }

    fn add(&mut self, labels: Vec<(&'static str, String)>, value: f64) {
        self.samples.push(("", labels, value));
    }

    /// A histogram's `_bucket` (cumulative, `le`), `_sum` and `_count` samples.
    fn add_histogram(&mut self, labels: Vec<(&'static str, String)>, h: &Histogram) {
        for (le, n) in h.cumulative() {
            let mut with_le = labels.clone();
            let le = if le.is_infinite() {
                "+Inf".to_owned()
            } else {
                le.to_string()
            };
            with_le.push(("le", le));
            self.samples.push(("_bucket", with_le, n as f64));
        }
        self.samples.push(("_sum", labels.clone(), h.sum));
        self.samples.push(("_count", labels, h.count as f64));
    }

    fn write(&self, out: &mut String) {
        let _ = writeln!(out, "# HELP {} {}", self.name, self.help);
        let _ = writeln!(out, "# TYPE {} {}", self.name, self.kind);
        for (suffix, labels, value) in &self.samples {
            let labels: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                .collect();
            if labels.is_empty() {
                let _ = writeln!(out, "{}{suffix} {value}", self.name);
            } else {
                let _ = writeln!(out, "{}{suffix}{{{}}} {value}", self.name, labels.join(","));
            }
        }
    }
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn state_name(state: SessionState) -> &'static str {
    match state {
        SessionState::Workflow => "workflow",
        SessionState::Queued => "queued",
        SessionState::Connected => "connected",
        SessionState::Ended => "ended",
    }
}

/// `GET /metrics`.
pub async fn metrics(State(app): State<AppState>, headers: axum::http::HeaderMap) -> Response {
    if let Some(expected) = &app.settings.metrics.token {
        let offered = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(crate::http::bearer_token);
        let refused = match offered {
            None => Some("metrics_token_required"),
            Some(token) => {
                use secrecy::ExposeSecret;
                let same = crate::security::same_hash(
                    &crate::security::hash_secret(token),
                    &crate::security::hash_secret(expected.expose_secret()),
                );
                (!same).then_some("metrics_token_invalid")
            }
        };
        if let Some(code) = refused {
            let mut response = Problem::new(
                StatusCode::UNAUTHORIZED,
                code,
                "send the metrics token as a Bearer token".to_owned(),
            )
            .into_response();
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"metrics\""),
            );
            return response;
        }
    }
    match render(&app).await {
        Ok(text) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            )],
            text,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "metrics failed");
            Problem::new(StatusCode::SERVICE_UNAVAILABLE, "metrics_unavailable", None)
                .into_response()
        }
    }
}

async fn render(app: &App) -> anyhow::Result<String> {
    let mut sessions = Family::new(
        "switchboard_sessions",
        "gauge",
        "Sessions in progress by channel and state.",
    );
    let mut queue = Family::new(
        "switchboard_queue_length",
        "gauge",
        "Tasks waiting for an agent (ringing included) per service.",
    );
    let mut oldest = Family::new(
        "switchboard_queue_oldest_wait_seconds",
        "gauge",
        "How long the longest-waiting task of a service has waited.",
    );
    let mut agents = Family::new(
        "switchboard_agents",
        "gauge",
        "Agents known to the engine, by state (an agent can be in several).",
    );
    for tenant in app.engines.running().await {
        let live = app.engines.get(&tenant).await?.live().await?;
        let mut by_state: BTreeMap<(String, &'static str), usize> = ["interact", "whatsapp"]
            .into_iter()
            .flat_map(|c| {
                ["workflow", "queued", "connected"]
                    .into_iter()
                    .map(move |s| ((c.to_owned(), s), 0))
            })
            .collect();
        for s in &live.sessions {
            *by_state
                .entry((s.channel.clone(), state_name(s.state)))
                .or_default() += 1;
        }
        for ((channel, state), n) in by_state {
            sessions.add(
                vec![
                    ("tenant", tenant.clone()),
                    ("channel", channel),
                    ("state", state.into()),
                ],
                n as f64,
            );
        }
        for q in &live.queues {
            let labels = vec![("tenant", tenant.clone()), ("service", q.service.clone())];
            queue.add(labels.clone(), q.length as f64);
            oldest.add(labels, q.oldest_wait_seconds.unwrap_or(0) as f64);
        }
        let count = |f: &dyn Fn(&crate::engine::messages::LiveAgent) -> bool| {
            live.agents.iter().filter(|a| f(a)).count() as f64
        };
        for (state, n) in [
            ("registered", count(&|a| a.registered)),
            ("ringing", count(&|a| a.ringing)),
            ("in_session", count(&|a| a.sessions > 0)),
            ("rona", count(&|a| a.rona)),
            ("acw", count(&|a| a.acw)),
        ] {
            agents.add(vec![("tenant", tenant.clone()), ("state", state.into())], n);
        }
    }

    let mut ended = Family::new(
        "switchboard_sessions_ended_total",
        "counter",
        "Sessions ended, by channel and outcome.",
    );
    let rows: Vec<(String, String, String, i64)> = crate::db!(app.pool.on(), |c| {
        sqlx::query_as(
            "SELECT tenant_id, channel, outcome, COUNT(*) AS n FROM report_sessions
             GROUP BY tenant_id, channel, outcome ORDER BY tenant_id, channel, outcome",
        )
        .fetch_all(c)
        .await
    })?;
    for (tenant, channel, outcome, n) in rows {
        ended.add(
            vec![
                ("tenant", tenant),
                ("channel", channel),
                ("outcome", outcome),
            ],
            n as f64,
        );
    }
    let mut whatsapp = Family::new(
        "switchboard_whatsapp_messages_total",
        "counter",
        "WhatsApp messages since start: received from customers (in), and sent to customers (out) with each delivery status reported.",
    );
    for (direction, status, n) in app.whatsapp_counts.snapshot() {
        whatsapp.add(
            vec![("direction", direction.into()), ("status", status.into())],
            n as f64,
        );
    }
    let mut offers = Family::new(
        "switchboard_offers_total",
        "counter",
        "Invitations ended, by outcome.",
    );
    let rows: Vec<(String, String, i64)> = crate::db!(app.pool.on(), |c| {
        sqlx::query_as(
            "SELECT tenant_id, outcome, COUNT(*) AS n FROM report_offers
             GROUP BY tenant_id, outcome ORDER BY tenant_id, outcome",
        )
        .fetch_all(c)
        .await
    })?;
    for (tenant, outcome, n) in rows {
        offers.add(vec![("tenant", tenant), ("outcome", outcome)], n as f64);
    }
    let mut outbox = Family::new(
        "switchboard_outbox_calls",
        "gauge",
        "Connector calls in the outbox (delivered and failed ones until retention removes them).",
    );
    let mut retries = Family::new(
        "switchboard_outbox_retries",
        "gauge",
        "Extra attempts the calls in the outbox needed.",
    );
    let mut by_state: BTreeMap<String, (i64, i64)> = ["pending", "delivered", "failed"]
        .into_iter()
        .map(|s| (s.to_owned(), (0, 0)))
        .collect();
    // One text for both: no two-argument MAX (SQLite only), and the sum cast back to BIGINT
    // (PostgreSQL's SUM of BIGINT is NUMERIC).
    let rows: Vec<(String, i64, i64)> = crate::db!(app.pool.on(), |c| {
        sqlx::query_as(
            "SELECT state, COUNT(*) AS n,
                    CAST(COALESCE(SUM(CASE WHEN attempts > 1 THEN attempts - 1 ELSE 0 END), 0)
                         AS BIGINT) AS retries
             FROM outbox GROUP BY state",
        )
        .fetch_all(c)
        .await
    })?;
    for (state, n, r) in rows {
        by_state.insert(state, (n, r));
    }
    for (state, (n, r)) in by_state {
        outbox.add(vec![("state", state.clone())], n as f64);
        retries.add(vec![("state", state)], r as f64);
    }
    let mut effects = Family::new(
        "switchboard_engine_effects_pending",
        "gauge",
        "Engine effects not yet carried out, by kind.",
    );
    for (kind, n) in crate::engine::effects::pending_by_kind(&app.pool).await? {
        effects.add(vec![("kind", kind)], n as f64);
    }

    let stats = app.connector.stats();
    let mut calls = Family::new(
        "switchboard_connector_calls_total",
        "counter",
        "HTTP requests to the Bot Framework Connector, by method and status (or transport).",
    );
    if let Ok(counts) = stats.calls.lock() {
        for ((method, status), n) in counts.iter() {
            calls.add(
                vec![("method", method.clone()), ("status", status.clone())],
                *n as f64,
            );
        }
    }
    let mut call_seconds = Family::new(
        "switchboard_connector_call_duration_seconds",
        "histogram",
        "How long each Connector request took, by method.",
    );
    if let Ok(histograms) = stats.call_seconds.lock() {
        for (method, h) in histograms.iter() {
            call_seconds.add_histogram(vec![("method", method.clone())], h);
        }
    }
    let mut delivery = Family::new(
        "switchboard_outbox_delivery_seconds",
        "histogram",
        "From a Teams call entering the outbox until the Connector accepted it (retries included).",
    );
    if let Ok(h) = stats.delivery_seconds.lock() {
        delivery.add_histogram(Vec::new(), &h);
    }

    let mut undelivered = Family::new(
        "switchboard_customer_messages_undelivered",
        "gauge",
        "Customer messages Teams refused for good (the customer saw \"not delivered\" and the agent a notice), kept with their transcripts.",
    );
    let rows: Vec<(String, i64)> = crate::db!(app.pool.on(), |c| {
        sqlx::query_as(
            "SELECT s.tenant_id, COUNT(*) AS n FROM agent_reads r
             JOIN interact_sessions s ON s.session_id = r.session_id
             WHERE r.read = 2 GROUP BY s.tenant_id ORDER BY s.tenant_id",
        )
        .fetch_all(c)
        .await
    })?;
    for (tenant, n) in rows {
        undelivered.add(vec![("tenant", tenant)], n as f64);
    }
    let now = app.clock.now_ms();
    let mut hook_open = Family::new(
        "switchboard_webhook_circuit_open",
        "gauge",
        "1 while a tenant webhook endpoint's circuit breaker holds its deliveries back (open or half-open), else 0.",
    );
    let mut hook_failures = Family::new(
        "switchboard_webhook_consecutive_failures",
        "gauge",
        "Failed attempts in a row to a tenant webhook endpoint.",
    );
    let mut hook_in_flight = Family::new(
        "switchboard_webhook_in_flight",
        "gauge",
        "Webhook attempts in flight to an endpoint now.",
    );
    let mut hook_opened = Family::new(
        "switchboard_webhook_circuit_opened_total",
        "counter",
        "How often an endpoint's circuit breaker opened, since start.",
    );
    let mut health = app.outbox.webhook_health.all(now);
    health.sort_by(|a, b| (&a.tenant, &a.endpoint).cmp(&(&b.tenant, &b.endpoint)));
    for h in health {
        let labels = vec![
            ("tenant", h.tenant.clone()),
            ("endpoint", h.endpoint.clone()),
        ];
        hook_open.add(labels.clone(), if h.state == "closed" { 0.0 } else { 1.0 });
        hook_failures.add(labels.clone(), f64::from(h.consecutive_failures));
        hook_in_flight.add(labels.clone(), h.in_flight as f64);
        hook_opened.add(labels, h.times_opened as f64);
    }

    let mut connections = Family::new(
        "switchboard_http_connections",
        "gauge",
        "HTTP connections open now.",
    );
    connections.add(Vec::new(), app.connections.open() as f64);
    let mut shed = Family::new(
        "switchboard_http_connections_shed_total",
        "counter",
        "Connections closed to make room (evicted: the oldest without a request in progress) or refused with 503 (every connection busy), since start.",
    );
    let (evicted, refused) = app.connections.pressure();
    shed.add(vec![("reason", "evicted".to_owned())], evicted as f64);
    shed.add(vec![("reason", "refused".to_owned())], refused as f64);
    let mut streams = Family::new(
        "switchboard_event_streams",
        "gauge",
        "Customer event streams open now.",
    );
    streams.add(Vec::new(), app.streams.count() as f64);

    let mut http = Family::new(
        "switchboard_http_request_duration_seconds",
        "histogram",
        "HTTP requests answered since start, by method, route template and status, and how long their response head took.",
    );
    for ((method, route, status), h) in app.http_stats.snapshot() {
        http.add_histogram(
            vec![
                ("method", method),
                ("route", route),
                ("status", status.to_string()),
            ],
            &h,
        );
    }
    let process = crate::telemetry::process_stats();
    let mut process_families = Vec::new();
    for (name, kind, help, value) in [
        (
            "process_cpu_seconds_total",
            "counter",
            "User and system CPU time spent, in seconds.",
            process.map(|p| p.cpu_seconds),
        ),
        (
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
            process.map(|p| p.resident_bytes as f64),
        ),
        (
            "process_open_fds",
            "gauge",
            "Open file descriptors (sockets included).",
            process.map(|p| p.open_fds as f64),
        ),
        (
            "process_threads",
            "gauge",
            "Operating system threads.",
            process.map(|p| p.threads as f64),
        ),
        (
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since the Unix epoch, in seconds.",
            process.map(|p| p.start_time_seconds),
        ),
    ] {
        if let Some(value) = value {
            let mut family = Family::new(name, kind, help);
            family.add(Vec::new(), value);
            process_families.push(family);
        }
    }

    let mut out = String::new();
    for family in [
        &sessions,
        &queue,
        &oldest,
        &agents,
        &ended,
        &whatsapp,
        &offers,
        &outbox,
        &retries,
        &effects,
        &calls,
        &call_seconds,
        &delivery,
        &undelivered,
        &hook_open,
        &hook_failures,
        &hook_in_flight,
        &hook_opened,
        &connections,
        &shed,
        &streams,
        &http,
    ]
    .into_iter()
    .chain(&process_families)
    {
        family.write(&mut out);
    }
    Ok(out)
}
