//! `switchboard check`: the configuration, the card templates and the stored directory, or
//! one workflow file (`--workflow`), validated with every problem named.

use std::process::ExitCode;

use switchboard::cards::CardCatalog;
use switchboard::config::Settings;

/// `switchboard check`: the configuration (already loaded), every card template, and every
/// workflow, service and calendar stored in the directory (when the store exists).
pub async fn all(settings: &Settings) -> ExitCode {
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
    let bundle: switchboard::tenant_file::Bundle = switchboard::strict_json::from_str(&text)
        .map_err(|e| e.to_string())
        .and_then(|value| serde_json::from_value(value).map_err(|e| e.to_string()))
        .map_err(|e| format!("{} is not a tenant file: {e}", file.display()))?;
    Ok(switchboard::workflow::ServiceNames::from_documents(
        &bundle.services,
    ))
}

/// `switchboard check --workflow FILE [--channel C] [--tenant-file T]`: every problem with its
/// JSON path; with a tenant file, Transfer targets must be among its services.
pub fn workflow(
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
            switchboard::strict_json::from_str(&text)
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
