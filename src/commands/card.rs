//! `switchboard card render`: an Adaptive Card template rendered with data, as a host would.

use std::path::Path;
use std::process::ExitCode;

use switchboard::cards::CardCatalog;
use switchboard::config::Settings;

/// `switchboard card render`: a template rendered with data, as a host would.
pub fn render(
    settings: &Settings,
    template: &str,
    data: Option<&Path>,
    host: Option<&Path>,
) -> ExitCode {
    let rendered = CardCatalog::load(settings.cards.dir.as_deref())
        .map_err(anyhow::Error::from)
        .and_then(|catalog| switchboard::cards::render_cli::render(&catalog, template, data, host));
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
