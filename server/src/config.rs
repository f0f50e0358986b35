//! Typed configuration: command-line flags first, then environment
//! variables, then defaults.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::domain::ids::Branch;
use crate::domain::token::Secret;

/// A branch flag, parsed once at start-up as posts parse branches.
fn parse_branch(value: &str) -> Result<Branch, String> {
    Branch::parse(value).map_err(|e| e.message)
}

fn parse_secret(value: &str) -> Result<Secret, String> {
    Secret::parse(value)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum StoreKind {
    /// SQLite file in the data directory.
    Embedded,
    /// Cloud Firestore (or its emulator, with FIRESTORE_EMULATOR_HOST set).
    Firestore,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event.
    Text,
    /// One JSON object per event, for log collectors.
    Json,
}

#[derive(Args, Clone, Debug)]
pub struct Settings {
    /// Address to listen on.
    #[arg(
        long,
        env = "CI_DASHBOARD_LISTEN",
        default_value = "127.0.0.1:3000",
        global = true
    )]
    pub listen: SocketAddr,
    /// Directory of the embedded store [default: ./data, ./demo-data for demo]
    #[arg(long, env = "CI_DASHBOARD_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// Where builds are stored.
    #[arg(long, value_enum, env = "CI_DASHBOARD_STORE", default_value_t = StoreKind::Embedded, global = true)]
    pub store: StoreKind,
    /// Google Cloud project of the Firestore database [default: $GOOGLE_CLOUD_PROJECT]
    #[arg(long, env = "CI_DASHBOARD_FIRESTORE_PROJECT", global = true)]
    pub firestore_project: Option<String>,
    /// Firestore database id [default: (default)]
    #[arg(long, env = "CI_DASHBOARD_FIRESTORE_DATABASE", global = true)]
    pub firestore_database: Option<String>,
    /// Seconds to wait for the store before answering 503.
    #[arg(
        long,
        env = "CI_DASHBOARD_STORE_TIMEOUT",
        default_value_t = 5,
        global = true
    )]
    pub store_timeout: u64,
    /// Posts per second each token may make on average (0: no limit);
    /// over it, posts get 429 with Retry-After.
    #[arg(
        long,
        env = "CI_DASHBOARD_RATE_LIMIT",
        default_value_t = 50,
        global = true
    )]
    pub rate_limit: u32,
    /// Posts a token may make at once before the rate limit applies.
    #[arg(
        long,
        env = "CI_DASHBOARD_RATE_BURST",
        default_value_t = 200,
        global = true
    )]
    pub rate_burst: u32,
    /// Builds per second each token may post on average (0: no limit),
    /// in bursts of twice that, and at least one full post of 1,000: over
    /// it, posts get 429 with Retry-After. Counts what the store must do,
    /// where the post limit counts requests.
    #[arg(
        long,
        env = "CI_DASHBOARD_BUILD_RATE_LIMIT",
        default_value_t = 10_000,
        global = true
    )]
    pub build_rate_limit: u32,
    /// Seconds a client may take to send a request's headers; idle
    /// connections are closed after as long.
    #[arg(long, env = "CI_DASHBOARD_HEADER_TIMEOUT", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..), global = true)]
    pub header_timeout: u64,
    /// Seconds a request may take from its headers to its answer (event
    /// streams excepted); over it, 408.
    #[arg(long, env = "CI_DASHBOARD_REQUEST_TIMEOUT", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..), global = true)]
    pub request_timeout: u64,
    /// Open connections in total; over it, new ones get 503 and are closed.
    #[arg(long, env = "CI_DASHBOARD_MAX_CONNECTIONS", default_value_t = 4096, value_parser = clap::value_parser!(u64).range(1..), global = true)]
    pub max_connections: u64,
    /// Open connections per client address; over it, new ones get 429.
    #[arg(long, env = "CI_DASHBOARD_MAX_CONNECTIONS_PER_CLIENT", default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..), global = true)]
    pub max_connections_per_client: u64,
    /// Live event streams in total; over it, 503.
    #[arg(long, env = "CI_DASHBOARD_MAX_STREAMS", default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..), global = true)]
    pub max_streams: u64,
    /// Live event streams per client address; over it, 429.
    #[arg(long, env = "CI_DASHBOARD_MAX_STREAMS_PER_CLIENT", default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..), global = true)]
    pub max_streams_per_client: u64,
    /// Seconds an event stream lives; the browser then reconnects (and
    /// refetches), so no stream is held for ever.
    #[arg(long, env = "CI_DASHBOARD_STREAM_LIFETIME", default_value_t = 900, value_parser = clap::value_parser!(u64).range(1..), global = true)]
    pub stream_lifetime: u64,
    /// Anonymous requests per second each client address may make on
    /// average (0: no limit); over it, 429 with Retry-After. Static files,
    /// probes and token-authenticated posts do not count.
    #[arg(
        long,
        env = "CI_DASHBOARD_READ_RATE_LIMIT",
        default_value_t = 20,
        global = true
    )]
    pub read_rate_limit: u32,
    /// Anonymous requests a client address may make at once before the
    /// read rate limit applies.
    #[arg(
        long,
        env = "CI_DASHBOARD_READ_BURST",
        default_value_t = 100,
        global = true
    )]
    pub read_burst: u32,
    /// Log format on stderr; RUST_LOG sets the level.
    #[arg(long, value_enum, env = "CI_DASHBOARD_LOG_FORMAT", default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    /// Repository (owner/name) of builds that do not name one; used for commit links.
    #[arg(
        long,
        env = "CI_DASHBOARD_REPOSITORY",
        default_value = "magma/magma",
        global = true
    )]
    pub repository: String,
    /// Branch shown when none is chosen.
    #[arg(
        long,
        env = "CI_DASHBOARD_DEFAULT_BRANCH",
        default_value = "master",
        value_parser = parse_branch,
        global = true
    )]
    pub default_branch: Branch,
    /// Release readiness config (TOML) [default: Magma's, config/release.toml]
    #[arg(long, env = "CI_DASHBOARD_RELEASE_CONFIG", global = true)]
    pub release_config: Option<PathBuf>,
    /// Incident and notification config (TOML: `watch`, `failures_to_open`,
    /// `[[webhook]]` targets) [default: watch the default branch and release
    /// branches, open at 3 failures, no webhooks]
    #[arg(long, env = "CI_DASHBOARD_NOTIFY_CONFIG", global = true)]
    pub notify_config: Option<PathBuf>,
    /// When cells are stale (TOML: `[[stale]]` rules of `build_type`,
    /// `after` and optional `component`, `arch`, `branch` globs) [default:
    /// silent for three of the cell's usual gaps between builds]
    #[arg(long, env = "CI_DASHBOARD_STALE_CONFIG", global = true)]
    pub stale_config: Option<PathBuf>,
    /// Seconds between two looks for cells that went stale, whose webhook
    /// messages then go out.
    #[arg(long, env = "CI_DASHBOARD_STALE_CHECK_INTERVAL", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..), global = true)]
    pub stale_check_interval: u64,
    /// GitHub (TOML: `api`, `[statuses]` `branches`, `cells`, `group`;
    /// `[[job]]` `workflow`, `job`, `component`, `arch`, `build_type`):
    /// the commit statuses builds set, the jobs the webhook maps [default:
    /// neither]
    #[arg(long, env = "CI_DASHBOARD_GITHUB_CONFIG", global = true)]
    pub github_config: Option<PathBuf>,
    /// Token that sets commit statuses (a GitHub App installation token or
    /// a fine-grained token with commit statuses write); set it in the
    /// environment, not on the command line
    #[arg(long, env = "CI_DASHBOARD_GITHUB_TOKEN", hide_env_values = true, value_parser = parse_secret, global = true)]
    pub github_token: Option<Secret>,
    /// Secret of GitHub's webhook (`POST /api/v1/github/webhook`, checked
    /// against `X-Hub-Signature-256`); set it in the environment [default:
    /// the webhook answers 404]
    #[arg(long, env = "CI_DASHBOARD_GITHUB_WEBHOOK_SECRET", hide_env_values = true, value_parser = parse_secret, global = true)]
    pub github_webhook_secret: Option<Secret>,
    /// The dashboard's address as people reach it, for links in
    /// notifications [default: http://<listen address>]
    #[arg(long, env = "CI_DASHBOARD_PUBLIC_URL", global = true)]
    pub public_url: Option<url::Url>,
    /// Directory of the built web assets (cargo leptos build output).
    #[arg(
        long,
        env = "LEPTOS_SITE_ROOT",
        default_value = "target/site",
        global = true
    )]
    pub site_root: PathBuf,
}

/// Settings as the command line would give them: tests and benchmarks
/// start from the same defaults as the binary.
#[derive(clap::Parser)]
struct SettingsOnly {
    #[command(flatten)]
    settings: Settings,
}

impl Settings {
    pub fn parse_from<I, T>(args: I) -> Result<Settings, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        use clap::Parser;
        let args = std::iter::once("ci-dashboard".into()).chain(args.into_iter().map(Into::into));
        Ok(SettingsOnly::try_parse_from(args)?.settings)
    }

    pub fn data_dir_or(&self, default: &str) -> PathBuf {
        self.data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(default))
    }
}
