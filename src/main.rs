//! The `switchboard` binary: parses the command line, loads the settings, starts telemetry and
//! runs the subcommand ([`commands`]); `serve` (the default) builds the application and runs it
//! until a shutdown signal.

use std::process::ExitCode;

use clap::Parser;
use switchboard::cli::{CardCommand, Cli, Command};
use switchboard::config::Settings;
use switchboard::startup::{Application, shutdown_signal};

mod commands;

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
        } => commands::check::workflow(&file, channel.as_deref(), tenant_file.as_deref()),
        Command::Check { workflow: None, .. } => commands::check::all(&settings).await,
        Command::Admin { command } => commands::admin::run(&settings, command).await,
        Command::Export { tenant, out } => {
            commands::tenant::export(&settings, &tenant, out.as_deref()).await
        }
        Command::Import { file, prune } => commands::tenant::import(&settings, &file, prune).await,
        Command::Manifest(flags) => commands::manifest::run(&settings, flags),
        Command::Card {
            command:
                CardCommand::Render {
                    template,
                    data,
                    host,
                },
        } => commands::card::render(&settings, &template, data.as_deref(), host.as_deref()),
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
