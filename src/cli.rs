//! The command line: `switchboard [--config FILE] [serve | check | admin | export | import |
//! manifest | card]`, parsed by clap; `main` runs the subcommand.

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
        /// A tenant file (`switchboard export`) whose services the workflow's Transfer
        /// activities must name.
        #[arg(long, requires = "workflow")]
        tenant_file: Option<PathBuf>,
    },
    /// Admin API keys.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Write a whole tenant (settings, calendars, workflows, users, services) as one JSON file.
    Export {
        /// The tenant (Entra tenant id; `demo` for the demo tenant).
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
    /// Write the Teams app package (manifest.json and icons, zipped) for this deployment,
    /// validated against the official manifest schema; upload it in the Teams admin center.
    Manifest(ManifestFlags),
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
        /// The tenant (Entra tenant id; `demo` for the demo tenant) the key may act for.
        #[arg(long)]
        tenant: String,
        /// What the key is for (shown in lists).
        #[arg(long, default_value = "admin")]
        name: String,
        /// Create the tenant (default settings) when the store does not know it yet; without
        /// it, a tenant id the store has never seen is refused (a typo would make a key that
        /// opens an empty tenant).
        #[arg(long)]
        new_tenant: bool,
    },
    /// Revoke an admin API key by its id.
    RevokeKey { id: String },
    /// List the admin API keys (never their secrets).
    ListKeys,
}

/// The flags of `switchboard manifest`.
#[derive(Debug, clap::Args)]
pub struct ManifestFlags {
    /// The bot's Microsoft App ID (default: bot.app_id).
    #[arg(long)]
    pub app_id: Option<String>,
    /// The service's public host name (default: the host of server.public_url).
    #[arg(long)]
    pub domain: Option<String>,
    /// Where to write the zip.
    #[arg(long, default_value = "switchboard.zip")]
    pub out: PathBuf,
    /// The Teams app's own id (default: the app id).
    #[arg(long)]
    pub manifest_id: Option<String>,
    /// The app's version; raise it for every upload that changes the package.
    #[arg(long, default_value = env!("CARGO_PKG_VERSION"))]
    pub version: String,
    /// The app's name in Teams.
    #[arg(long, default_value = "Switchboard")]
    pub name: String,
    /// Your organisation's name (shown as the developer).
    #[arg(long, default_value = "Switchboard")]
    pub developer: String,
    /// Your website (default: the service's Preferences page).
    #[arg(long)]
    pub website_url: Option<String>,
    /// Your privacy statement (default: the website).
    #[arg(long)]
    pub privacy_url: Option<String>,
    /// Your terms of use (default: the website).
    #[arg(long)]
    pub terms_url: Option<String>,
}
