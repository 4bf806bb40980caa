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
    /// Validate the configuration and exit (non-zero with a message when it is invalid).
    Check,
}
