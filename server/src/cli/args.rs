//! The command line: subcommands and their arguments. Settings shared by
//! every subcommand are in [`crate::config`].

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::Settings;

#[derive(Parser, Debug)]
#[command(
    name = "ci-dashboard",
    version,
    about = "CI health dashboard: CI jobs post build results, people see what is broken, \
             on which architecture, since which commit."
)]
pub struct Cli {
    #[command(flatten)]
    pub settings: Settings,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve the dashboard and the API.
    Serve,
    /// Serve a realistic demo: fills its own data directory (default
    /// ./demo-data) with Magma-like builds once, then prints a fresh token.
    Demo,
    /// Manage ingestion tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Post one build from a CI job (reads GitHub Actions' environment).
    /// A dashboard outage only warns, unless --strict.
    Post(Box<super::client::PostArgs>),
    /// Exit 1 while a branch is frozen (it has an open incident): a
    /// required check that holds merges until it is green again.
    FreezeCheck(super::freeze::FreezeCheckArgs),
    /// Freeze a branch by hand (recorded with the token's name and reason).
    Freeze(super::freeze::SetFreezeArgs),
    /// Lift a manual freeze; an open incident keeps the branch frozen.
    Unfreeze(super::freeze::SetFreezeArgs),
    /// Exit 0 when every test failing in the job's JUnit files is
    /// quarantined for its cell, 1 otherwise (naming the failures that
    /// decided); when the dashboard cannot be asked, the job's own verdict.
    Gate(super::quarantine::GateArgs),
    /// Put tests in quarantine, take them out, list them.
    #[command(subcommand)]
    Quarantine(super::quarantine::QuarantineCommand),
    /// On-call's commands on incidents.
    #[command(subcommand)]
    Incident(super::incident::IncidentCommand),
    /// Rules that tie failures to an issue ("known: #1234").
    #[command(subcommand)]
    KnownIssue(super::known_issue::KnownIssueCommand),
    /// Import a JSON export of the old magma-ci Firebase database
    /// (`firebase database:get /`); importing twice changes nothing.
    ImportLegacy {
        /// The export file.
        export: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create a token and print it once, on the last line.
    Create {
        name: String,
        /// May also change builds that other tokens posted (imports,
        /// corrections); ordinary tokens change only their own.
        #[arg(long)]
        admin: bool,
        /// May set and lift manual merge freezes (`ci-dashboard freeze`),
        /// which ordinary CI tokens may not.
        #[arg(long)]
        freeze: bool,
    },
    /// List token names and when they were created.
    List,
    /// Revoke a token: posts with it are refused from then on.
    Revoke { name: String },
}
