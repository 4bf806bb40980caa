//! Demo mode: with no configuration (anonymous dev mode) and an empty directory, a demo tenant
//! is seeded so a newcomer can open the preview page and chat at once. Never in any other mode.

use serde_json::{Value, json};

use crate::directory::model::{Service, Tenant};
use crate::directory::store::{self, Kind};
use crate::store::Pool;

/// The Agents Playground's default tenant, so its users land in the demo tenant.
pub const DEMO_TENANT: &str = "00000000-0000-0000-0000-0000000000001";
pub const DEMO_CONTACT: &str = "demo";
pub const DEMO_WIDGET_KEY: &str = "demo";

fn workflow() -> Value {
    json!({
        "id": "demo-support",
        "name": "Demo support",
        "start": "accept",
        "activities": {
            "accept": {"type": "Accept", "next": "welcome"},
            "welcome": {"type": "Message", "text": "Hello ${customer.displayName}, welcome to ${service.name}. Let us find someone for you.", "next": "queue"},
            "queue": {"type": "QueueTask", "ringTimeoutSeconds": 30, "distribution": "broadcast", "exits": {"queued": "wait", "failed": "sorry"}},
            "wait": {"type": "Delay", "seconds": 30, "next": "check"},
            "check": {"type": "CheckTask", "exits": {"queued": "position", "ringing": "wait", "connected": "wait", "notQueued": "sorry"}},
            "position": {"type": "GetQueuePosition", "parameter": "position", "exits": {"queued": "update", "notQueued": "wait"}},
            "update": {"type": "Message", "text": "You are number ${position} in the queue.", "next": "wait"},
            "sorry": {"type": "Disconnect", "text": "Sorry, nobody can take your chat right now."}
        }
    })
}

/// Seeds the demo tenant when the directory is empty; returns whether it did.
pub async fn seed_if_empty(pool: &Pool, now: i64) -> anyhow::Result<bool> {
    let existing: i64 = sqlx::Row::try_get(
        &sqlx::query("SELECT COUNT(*) AS n FROM directory_documents")
            .fetch_one(pool)
            .await?,
        "n",
    )?;
    if existing > 0 {
        return Ok(false);
    }
    let tenant = Tenant {
        id: DEMO_TENANT.into(),
        name: "Demo".into(),
        im_enabled: true,
        http_allowed_networks: Vec::new(),
    };
    let service: Service = serde_json::from_value(json!({
        "id": "support", "name": "Support", "workflow": "demo-support",
        "licenses": {"contactCenter": true}, "modalities": {"instantMessage": true},
        "interact": {"enabled": true, "instantMessage": true, "contactId": DEMO_CONTACT, "widgetKey": DEMO_WIDGET_KEY}
    }))?;
    store::put(
        pool,
        DEMO_TENANT,
        Kind::Tenant,
        DEMO_TENANT,
        &tenant,
        None,
        now,
    )
    .await?;
    store::put(
        pool,
        DEMO_TENANT,
        Kind::Workflow,
        "demo-support",
        &workflow(),
        None,
        now,
    )
    .await?;
    store::put(
        pool,
        DEMO_TENANT,
        Kind::Service,
        "support",
        &service,
        None,
        now,
    )
    .await?;
    Ok(true)
}
