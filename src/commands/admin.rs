//! `switchboard admin …`: admin API keys, in the configured store.

use std::process::ExitCode;

use switchboard::cli::AdminCommand;
use switchboard::config::Settings;

/// `admin create-key`: refuses a tenant the store does not know unless `--new-tenant` asks to
/// create it.
async fn create_key(
    pool: &switchboard::store::Pool,
    tenant: &str,
    name: &str,
    new_tenant: bool,
    now: i64,
) -> anyhow::Result<bool> {
    use switchboard::store::api_keys as keys;
    let tenant = &switchboard::demo::tenant_arg(tenant);
    anyhow::ensure!(!tenant.is_empty(), "the tenant id is empty");
    if !keys::tenant_known(pool, tenant).await? {
        if !new_tenant {
            eprintln!(
                "switchboard: this store has no tenant {tenant} (no settings, no directory \
                 documents, no consent). Check the id; import the tenant's file first \
                 (`switchboard import FILE`), or pass --new-tenant to create it with default \
                 settings."
            );
            return Ok(false);
        }
        switchboard::directory::store::create_tenant(pool, tenant, now).await?;
        eprintln!("created tenant {tenant} with default settings");
    }
    let (id, key) = keys::create(pool, tenant, name, now).await?;
    eprintln!("created key {id} for tenant {tenant}; it is shown only now:");
    println!("{key}");
    Ok(true)
}

/// `switchboard admin …`: API keys, in the configured store.
pub async fn run(settings: &Settings, command: AdminCommand) -> ExitCode {
    use switchboard::store::api_keys as keys;
    let pool = match switchboard::store::connect(&settings.store.url).await {
        Ok(pool) => pool,
        Err(e) => {
            eprintln!("switchboard: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let now = chrono::Utc::now().timestamp_millis();
    let result = match command {
        AdminCommand::CreateKey {
            tenant,
            name,
            new_tenant,
        } => create_key(&pool, &tenant, &name, new_tenant, now).await,
        AdminCommand::RevokeKey { id } => keys::revoke(&pool, &id, now).await.inspect(|done| {
            if *done {
                println!("revoked key {id}");
            } else {
                eprintln!("switchboard: there is no active key {id}");
            }
        }),
        AdminCommand::ListKeys => keys::list(&pool).await.map(|list| {
            for k in list {
                println!(
                    "{}\t{}\t{}\t{}",
                    k.id,
                    k.tenant_id,
                    k.name,
                    if k.revoked_at.is_some() {
                        "revoked"
                    } else {
                        "active"
                    }
                );
            }
            true
        }),
    };
    pool.close().await;
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("switchboard: {e:#}");
            ExitCode::FAILURE
        }
    }
}
