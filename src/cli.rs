//! The command line: `switchboard [--config FILE] [serve | check]`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "switchboard",
    version,
    about = "Routes website chats into Microsoft Teams"
)]
pub struct Cli {
    /// Configuration file (TOML). Default: ./switchboard.toml if it exists.
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server and background workers (the default).
    Serve,
    /// Validate the configuration and every card template, or with `--workflow` one workflow
    /// file, then exit (non-zero with every problem when something is invalid).
    Check {
        /// A workflow document (JSON) to validate.
        #[arg(long)]
        workflow: Option<PathBuf>,
        /// The channel the workflow must run on: interact or whatsapp.
        #[arg(long, requires = "workflow")]
        channel: Option<String>,
    },
    /// Adaptive Card templates.
    Card {
        #[command(subcommand)]
        command: CardCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum CardCommand {
    /// Expand a template and print the card as JSON. TEMPLATE is a file, or the name of a card
    /// in the catalog (then the card's sample data is the default data).
    Render {
        template: String,
        /// JSON file with the data (`$root`).
        #[arg(long)]
        data: Option<PathBuf>,
        /// JSON file with the host data (`$host`).
        #[arg(long)]
        host: Option<PathBuf>,
    },
}
