use std::process::ExitCode;

use clap::Parser;
use switchboard::cards::CardCatalog;
use switchboard::cli::{AdminCommand, CardCommand, Cli, Command};
use switchboard::config::Settings;
use switchboard::startup::{Application, shutdown_signal};

#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::from_process_env(cli.config.as_deref()) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("switchboard: invalid configuration: {e:#}");
            return ExitCode::from(2);
        }
    };
    switchboard::telemetry::init(&settings.log);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Check {
            workflow: Some(file),
            channel,
            tenant_file,
        } => check_workflow(&file, channel.as_deref(), tenant_file.as_deref()),
        Command::Check { workflow: None, .. } => check(&settings).await,
        Command::Admin { command } => admin(&settings, command).await,
        Command::Export { tenant, out } => export(&settings, &tenant, out.as_deref()).await,
        Command::Import { file, prune } => import(&settings, &file, prune).await,
        Command::Manifest {
            app_id,
            domain,
            out,
            manifest_id,
            version,
            name,
            developer,
            website_url,
            privacy_url,
            terms_url,
        } => {
            let app_id = app_id.or_else(|| settings.bot.app_id().map(str::to_owned));
            let domain = domain.or_else(|| {
                settings
                    .server
                    .public_url
                    .as_ref()
                    .and_then(|u| u.host_str().map(str::to_owned))
            });
            let (Some(app_id), Some(domain)) = (app_id, domain) else {
                eprintln!(
                    "switchboard: give --app-id and --domain (or set bot.app_id and server.public_url)"
                );
                return ExitCode::FAILURE;
            };
            let inputs = switchboard::manifest::Inputs {
                app_id,
                domain,
                manifest_id,
                version,
                short_name: name,
                developer_name: developer,
                website_url,
                privacy_url,
                terms_url,
            };
            match switchboard::manifest::package(&inputs) {
                Ok(zip) => match std::fs::write(&out, zip) {
                    Ok(()) => {
                        println!("wrote {}", out.display());
                        ExitCode::SUCCESS
                    }
                    Err(e) => {
                        eprintln!("switchboard: writing {}: {e}", out.display());
                        ExitCode::FAILURE
                    }
                },
                Err(e) => {
                    eprintln!("switchboard: {e}; nothing was written");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Card {
            command:
                CardCommand::Render {
                    template,
                    data,
                    host,
                },
        } => {
            let rendered = CardCatalog::load(settings.cards.dir.as_deref())
                .map_err(anyhow::Error::from)
                .and_then(|catalog| {
                    switchboard::cards::render_cli::render(
                        &catalog,
                        &template,
                        data.as_deref(),
                        host.as_deref(),
                    )
                });
            match rendered {
                Ok(json) => {
                    println!("{json}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("switchboard: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Serve => {
            let app = match Application::build(settings).await {
                Ok(app) => app,
                Err(e) => {
                    tracing::error!(error = format!("{e:#}"), "Switchboard could not start");
                    return ExitCode::FAILURE;
                }
            };
            match app.run_until_stopped(shutdown_signal()).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(
                        error = format!("{e:#}"),
                        "Switchboard stopped with an error"
                    );
                    ExitCode::FAILURE
                }
            }
        }
    }
}

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
    let tenant = tenant.trim();
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
        keys::create_tenant(pool, tenant, now).await?;
        eprintln!("created tenant {tenant} with default settings");
    }
    let (id, key) = keys::create(pool, tenant, name, now).await?;
    eprintln!("created key {id} for tenant {tenant}; it is shown only now:");
    println!("{key}");
    Ok(true)
}

/// `switchboard admin …`: API keys, in the configured store.
async fn admin(settings: &Settings, command: AdminCommand) -> ExitCode {
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

/// `switchboard check`: the configuration (already loaded), every card template, and every
/// workflow, service and calendar stored in the directory (when the store exists).
async fn check(settings: &Settings) -> ExitCode {
    println!(
        "configuration is valid ({} mode, bind {}, store {})",
        if settings.is_anonymous() {
            "anonymous dev"
        } else {
            "authenticated"
        },
        settings.server.bind,
        settings.store.url
    );
    let mut ok = true;
    match CardCatalog::load(settings.cards.dir.as_deref()) {
        Ok(catalog) => println!(
            "{} card templates are valid (parsed; version <= 1.5; Action.Execute verbs; size; nothing left over with sample data)",
            catalog.cards().count()
        ),
        Err(e) => {
            eprintln!("switchboard: invalid card template: {e}");
            ok = false;
        }
    }
    match switchboard::store::open_existing(&settings.store.url).await {
        Ok(None) => println!(
            "no store yet at {}: nothing stored to check",
            settings.store.url
        ),
        Ok(Some(pool)) => match switchboard::directory::check::check_all(&pool).await {
            Ok((checked, problems)) if problems.is_empty() => {
                println!("{checked} directory documents are valid")
            }
            Ok((_, problems)) => {
                for problem in &problems {
                    eprintln!("{problem}");
                }
                eprintln!("{} problem(s) in the directory", problems.len());
                ok = false;
            }
            Err(e) => {
                eprintln!("switchboard: reading the directory failed: {e:#}");
                ok = false;
            }
        },
        Err(e) => {
            eprintln!("switchboard: {e:#}");
            ok = false;
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The services of a tenant file, as a Transfer may name them.
fn tenant_file_services(
    file: &std::path::Path,
) -> Result<switchboard::workflow::ServiceNames, String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let bundle: switchboard::tenant_file::Bundle = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not a tenant file: {e}", file.display()))?;
    Ok(switchboard::workflow::ServiceNames::from_documents(
        &bundle.services,
    ))
}

/// `switchboard check --workflow FILE [--channel C] [--tenant-file T]`: every problem with its
/// JSON path; with a tenant file, Transfer targets must be among its services.
fn check_workflow(
    file: &std::path::Path,
    channel: Option<&str>,
    tenant_file: Option<&std::path::Path>,
) -> ExitCode {
    use switchboard::workflow::{self, Channel};
    let services = match tenant_file.map(tenant_file_services).transpose() {
        Ok(services) => services,
        Err(message) => {
            eprintln!("switchboard: {message}");
            return ExitCode::from(2);
        }
    };
    let channel = match channel.map(|c| Channel::parse(c).ok_or(c)).transpose() {
        Ok(channel) => channel,
        Err(other) => {
            eprintln!("switchboard: unknown channel {other:?} (interact or whatsapp)");
            return ExitCode::from(2);
        }
    };
    let document = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))
        .and_then(|text| {
            serde_json::from_str::<serde_json::Value>(&text)
                .map_err(|e| format!("{} is not valid JSON: {e}", file.display()))
        });
    let document = match document {
        Ok(document) => document,
        Err(message) => {
            eprintln!("switchboard: {message}");
            return ExitCode::FAILURE;
        }
    };
    let checked = workflow::check(&document, channel).and_then(|parsed| {
        let unknown = services
            .as_ref()
            .map(|s| workflow::unknown_transfer_targets(&parsed, s))
            .unwrap_or_default();
        if unknown.is_empty() {
            Ok(parsed)
        } else {
            Err(unknown)
        }
    });
    match checked {
        Ok(parsed) => {
            let transfers = parsed
                .activities
                .iter()
                .filter(|a| matches!(a.1.kind, workflow::model::Kind::Transfer { .. }))
                .count();
            if transfers > 0 && services.is_none() {
                println!(
                    "note: {transfers} Transfer activities name services that were not checked (give --tenant-file)"
                );
            }
            println!(
                "workflow {:?} is valid{}",
                parsed.name,
                channel
                    .map(|c| format!(" for {}", c.name()))
                    .unwrap_or_default()
            );
            ExitCode::SUCCESS
        }
        Err(problems) => {
            for problem in &problems {
                eprintln!("{}: {problem}", file.display());
            }
            if let (Some(channel), Ok(parsed)) = (channel, workflow::parse(&document)) {
                let names: Vec<String> = workflow::unsupported_activities(&parsed, channel)
                    .into_iter()
                    .map(|(_, t)| t)
                    .collect();
                if !names.is_empty() {
                    eprintln!("unsupported for {}: {}", channel.name(), names.join(", "));
                }
            }
            eprintln!("{} problem(s)", problems.len());
            ExitCode::FAILURE
        }
    }
}

async fn export(settings: &Settings, tenant: &str, out: Option<&std::path::Path>) -> ExitCode {
    let result = async {
        let pool = switchboard::store::connect(&settings.store.url).await?;
        let bundle =
            switchboard::tenant_file::export(&pool, &tenant.trim().to_ascii_lowercase()).await;
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

async fn import(settings: &Settings, file: &std::path::Path, prune: bool) -> ExitCode {
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
