use std::process::ExitCode;

use clap::Parser;
use switchboard::cards::CardCatalog;
use switchboard::cli::{CardCommand, Cli, Command};
use switchboard::config::Settings;
use switchboard::startup::{Application, shutdown_signal};

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
        Command::Check => check(&settings),
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

/// `switchboard check`: the configuration (already loaded) and every card template.
fn check(settings: &Settings) -> ExitCode {
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
    match CardCatalog::load(settings.cards.dir.as_deref()) {
        Ok(catalog) => {
            println!(
                "{} card templates are valid (parsed; version <= 1.5; Action.Execute verbs; size; nothing left over with sample data)",
                catalog.cards().count()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("switchboard: invalid card template: {e}");
            ExitCode::FAILURE
        }
    }
}
