//! `switchboard export` / `switchboard import`: the tenant file, written from or read into
//! the configured store.

use std::process::ExitCode;

use switchboard::config::Settings;

pub async fn export(settings: &Settings, tenant: &str, out: Option<&std::path::Path>) -> ExitCode {
    let result = async {
        let tenant = switchboard::demo::tenant_arg(tenant);
        let pool = switchboard::store::connect(&settings.store.url).await?;
        if !switchboard::store::api_keys::tenant_known(&pool, &tenant).await? {
            pool.close().await;
            anyhow::bail!(
                "this store has no tenant {tenant} (no settings, no directory documents, no \
                 consent); check the id (`demo` is the demo tenant)"
            );
        }
        let bundle = switchboard::tenant_file::export(&pool, &tenant).await;
        pool.close().await;
        let text = serde_json::to_string_pretty(&bundle?)? + "\n";
        match out {
            Some(path) => std::fs::write(path, text)
                .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?,
            None => print!("{text}"),
        }
        anyhow::Ok(())
    }
    .await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("switchboard: {e:#}");
            ExitCode::FAILURE
        }
    }
}

pub async fn import(settings: &Settings, file: &std::path::Path, prune: bool) -> ExitCode {
    use switchboard::tenant_file::{self as bundle, Bundle, ImportError};
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("switchboard: reading {}: {e}", file.display());
            return ExitCode::FAILURE;
        }
    };
    let result = async {
        let parsed = Bundle::parse(&text)?;
        let pool = switchboard::store::connect(&settings.store.url).await?;
        let done =
            bundle::import(&pool, &parsed, prune, chrono::Utc::now().timestamp_millis()).await;
        pool.close().await;
        done
    }
    .await;
    match result {
        Ok(done) => {
            println!(
                "tenant {}: {} created, {} updated, {} unchanged, {} deleted",
                done.tenant, done.created, done.updated, done.unchanged, done.deleted
            );
            for change in &done.changes {
                println!("  {change}");
            }
            ExitCode::SUCCESS
        }
        Err(ImportError::Invalid(problems)) => {
            eprintln!(
                "switchboard: {} is not valid; nothing was written:",
                file.display()
            );
            for p in problems {
                eprintln!(
                    "  {}: {} ({})",
                    p["path"].as_str().unwrap_or_default(),
                    p["message"].as_str().unwrap_or_default(),
                    p["code"].as_str().unwrap_or_default()
                );
            }
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("switchboard: {e}; nothing was written");
            ExitCode::FAILURE
        }
    }
}
