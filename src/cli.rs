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
    /// Admin API keys.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Write a whole tenant (settings, calendars, workflows, users, services) as one JSON file.
    Export {
        /// The tenant (Entra tenant id).
        #[arg(long)]
        tenant: String,
        /// Where to write it (default: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Apply a tenant file written by `export` (or by hand): every document is checked first and
    /// nothing is written unless all are valid; applying it again changes nothing. A running
    /// service takes the change at its next start (or use the admin API's import).
    Import {
        file: PathBuf,
        /// Also delete the tenant's documents that are not in the file.
        #[arg(long)]
        prune: bool,
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

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an admin API key for a tenant; the key is printed once.
    CreateKey {
        /// The tenant (Entra tenant id) the key may act for.
        #[arg(long)]
        tenant: String,
        /// What the key is for (shown in lists).
        #[arg(long, default_value = "admin")]
        name: String,
    },
    /// Revoke an admin API key by its id.
    RevokeKey { id: String },
    /// List the admin API keys (never their secrets).
    ListKeys,
}
