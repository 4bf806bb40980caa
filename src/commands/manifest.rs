//! `switchboard manifest`: the Teams app package (manifest and icons, zipped) for this
//! deployment.

use std::process::ExitCode;

use switchboard::cli::ManifestFlags;
use switchboard::config::Settings;

/// `switchboard manifest`: the Teams app package, from the flags or the configuration.
pub fn run(settings: &Settings, flags: ManifestFlags) -> ExitCode {
    let ManifestFlags {
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
    } = flags;
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
