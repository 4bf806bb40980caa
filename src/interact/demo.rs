//! Demo mode: with no configuration (anonymous dev mode) and an empty directory, a demo tenant
//! is seeded so a newcomer can open the preview page and chat at once. Never in any other mode.

use crate::admin::bundle::{self, Bundle};
use crate::store::Pool;

/// The Agents Playground's default tenant, so its users land in the demo tenant.
pub const DEMO_TENANT: &str = "00000000-0000-0000-0000-0000000000001";
pub const DEMO_CONTACT: &str = "demo";
pub const DEMO_WIDGET_KEY: &str = "demo";

/// The demo tenant, as a tenant file (`switchboard import demo/tenant.json` gives the same).
pub const DEMO_FILE: &str = include_str!("../../demo/tenant.json");

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
    let bundle = Bundle::parse(DEMO_FILE)?;
    anyhow::ensure!(
        bundle.tenant.id == DEMO_TENANT,
        "demo/tenant.json is not the demo tenant"
    );
    bundle::import(pool, &bundle, false, now).await?;
    Ok(true)
}
