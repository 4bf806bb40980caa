//! Demo mode: with no configuration (anonymous dev mode) and an empty directory, a demo tenant
//! is seeded so a newcomer can open the preview page and chat at once. Never in any other mode.

use crate::store::{AsPool, Pool};
use crate::tenant_file::{self, Bundle};

/// The Agents Playground's default tenant, so its users land in the demo tenant.
pub const DEMO_TENANT: &str = "00000000-0000-0000-0000-0000000000001";
pub const DEMO_CONTACT: &str = "demo";
pub const DEMO_WIDGET_KEY: &str = "demo";
/// The demo's website service and its WhatsApp service (the simulator's number).
pub const DEMO_SERVICES: [&str; 2] = ["support", DEMO_WHATSAPP_SERVICE];
pub const DEMO_WHATSAPP_SERVICE: &str = "whatsapp";
pub const DEMO_WHATSAPP_NUMBER: &str = "100000000000001";

/// A tenant named on the command line: `demo` stands for the demo tenant (its id is the
/// Agents Playground's default, which nobody remembers); any other id as stored (trimmed,
/// lower case).
pub fn tenant_arg(arg: &str) -> String {
    let arg = arg.trim();
    if arg.eq_ignore_ascii_case("demo") {
        DEMO_TENANT.to_owned()
    } else {
        arg.to_ascii_lowercase()
    }
}

/// The demo tenant, as a tenant file (`switchboard import demo/tenant.json` gives the same).
pub const DEMO_FILE: &str = include_str!("../demo/tenant.json");

/// Seeds the demo tenant when the directory is empty; returns whether it did.
pub async fn seed_if_empty(pool: &Pool, now: i64) -> anyhow::Result<bool> {
    let existing: i64 = crate::db!(pool.on(), |c| {
        sqlx::query_scalar("SELECT COUNT(*) AS n FROM directory_documents")
            .fetch_one(c)
            .await
    })?;
    if existing > 0 {
        return Ok(false);
    }
    let bundle = Bundle::parse(DEMO_FILE)?;
    anyhow::ensure!(
        bundle.tenant.id == DEMO_TENANT,
        "demo/tenant.json is not the demo tenant"
    );
    tenant_file::import(pool, &bundle, false, now).await?;
    Ok(true)
}

/// Whether `tenant` is the seeded demo: the demo tenant, whose demo contact leads to its
/// service "support". Only then do users who install the bot join that service, and only then
/// is the demo announced — a tenant imported into dev mode is left as its file says.
pub async fn is_seeded_demo(pool: &(impl AsPool + ?Sized), tenant: &str) -> anyhow::Result<bool> {
    if tenant != DEMO_TENANT {
        return Ok(false);
    }
    let contact = crate::directory::contacts::find(pool, DEMO_CONTACT).await?;
    Ok(contact.is_some_and(|c| {
        c.tenant == DEMO_TENANT
            && matches!(&c.target, crate::directory::contacts::Target::Service(s) if s.id == "support")
    }))
}
