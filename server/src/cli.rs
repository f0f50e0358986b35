//! Command dispatch: serve, demo, token management.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::bail;
use clap::Parser;

use crate::config::{Cli, Command, Settings, TokenCommand};
use crate::startup::{open_store, Application};
use crate::store::{Store, StoreError};
use crate::{demo, ingest, token};

const DATA_DIR: &str = "./data";
const DEMO_DATA_DIR: &str = "./demo-data";
const DEMO_TOKEN: &str = "demo";

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,tower_http=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = cli.settings;
    if let Err(e) = ingest::parse_repository(&settings.repository) {
        bail!("--repository: {}", e.message);
    }
    if let Err(e) = ingest::parse_branch(&settings.default_branch) {
        bail!("--default-branch: {}", e.message);
    }
    match cli.command {
        Command::Serve => {
            let store = open_store(&settings, DATA_DIR).await?;
            if store.tokens().await?.is_empty() {
                tracing::warn!(
                    "no ingestion token exists yet: create one with `ci-dashboard token create NAME`"
                );
            }
            serve(settings, store, None).await
        }
        Command::Demo => {
            let store = open_store(&settings, DEMO_DATA_DIR).await?;
            if store.branches().await?.is_empty() {
                let count = demo::seed(store.as_ref(), &settings.repository).await?;
                println!(
                    "Loaded {count} demo builds into {}",
                    settings.data_dir_or(DEMO_DATA_DIR).display()
                );
            }
            store.revoke_token(DEMO_TOKEN).await?;
            let secret = create_token(store.as_ref(), DEMO_TOKEN).await?;
            serve(settings, store, Some(secret)).await
        }
        Command::Token(command) => {
            let store = open_store(&settings, DATA_DIR).await?;
            manage_tokens(store.as_ref(), command).await
        }
    }
}

async fn create_token(store: &dyn Store, name: &str) -> anyhow::Result<String> {
    if !token::valid_name(name) {
        bail!("token name must be 1-64 characters of letters, digits, '.', '_' or '-'");
    }
    let secret = token::generate();
    match store.create_token(name, &token::hash(&secret)).await {
        Ok(()) => Ok(secret),
        Err(StoreError::TokenExists(_)) => {
            bail!("a token named '{name}' already exists; revoke it first or pick another name")
        }
        Err(e) => Err(e.into()),
    }
}

async fn manage_tokens(store: &dyn Store, command: TokenCommand) -> anyhow::Result<()> {
    match command {
        TokenCommand::Create { name } => {
            let secret = create_token(store, &name).await?;
            eprintln!("Token '{name}' created. It is shown only once; store it as a CI secret:");
            println!("{secret}");
        }
        TokenCommand::List => {
            let tokens = store.tokens().await?;
            if tokens.is_empty() {
                println!("no tokens");
            }
            for t in tokens {
                println!(
                    "{}\tcreated {}",
                    t.name,
                    t.created_at.format("%Y-%m-%d %H:%M UTC")
                );
            }
        }
        TokenCommand::Revoke { name } => {
            if !store.revoke_token(&name).await? {
                bail!("no token named '{name}'");
            }
            println!("Token '{name}' revoked.");
        }
    }
    Ok(())
}

async fn serve(
    settings: Settings,
    store: Arc<dyn Store>,
    demo_token: Option<String>,
) -> anyhow::Result<()> {
    let app = Application::build(settings, store).await?;
    let url = format!("http://{}", app.local_addr());
    if let Some(secret) = demo_token {
        println!("\nPost a build (the demo token below is valid until the next `demo` run):\n");
        println!(
            "  curl -X POST {url}/api/v1/builds \\\n    -H \"Authorization: Bearer {secret}\" \\\n    -H 'Content-Type: application/json' \\\n    -d '{{\"commit\": \"{}\", \"branch\": \"master\", \"component\": \"agw\", \"arch\": \"arm64\", \"build_type\": \"bazel-build\", \"result\": \"fail\", \"started_at\": \"{}\", \"finished_at\": \"{}\", \"url\": \"https://github.com/magma/magma/actions\"}}'\n",
            "c0ffee".repeat(6) + "c0ff",
            (chrono::Utc::now() - chrono::TimeDelta::minutes(10)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        );
        println!("Demo token:\n{secret}\n");
    }
    println!("ci-dashboard is ready on {url}");
    app.run(shutdown_signal()).await?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down after in-flight requests");
}
