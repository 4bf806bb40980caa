use std::process::ExitCode;

use clap::Parser;
use switchboard::cli::{Cli, Command};
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
        Command::Check => {
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
            ExitCode::SUCCESS
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
