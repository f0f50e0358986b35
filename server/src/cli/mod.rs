//! Command dispatch: serve, demo, token management.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::bail;
use clap::Parser;

use anyhow::Context as _;
use std::path::Path;

use crate::config::{LogFormat, Settings};
use crate::domain::ids::Repository;
use crate::domain::{token, validation};
use crate::startup::{open_store, Application};
use crate::store::{Grants, Store, StoreError};
use args::{Cli, Command, TokenCommand};
use client::Outcome;

pub mod args;
pub mod client;
pub mod demo;
pub mod freeze;
pub mod incident;
pub mod known_issue;
pub mod legacy;
pub mod quarantine;

const DATA_DIR: &str = "./data";
const DEMO_DATA_DIR: &str = "./demo-data";
const DEMO_TOKEN: &str = "demo";

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,tower_http=info".into()),
        )
        .with_writer(std::io::stderr);
    match cli.settings.log_format {
        LogFormat::Json => logs.json().init(),
        LogFormat::Text => logs.init(),
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let settings = cli.settings;
    // The client runs on CI machines: no store, no server settings.
    let command = match cli.command {
        Command::Post(args) => return Ok(post(&args).await),
        Command::FreezeCheck(args) => return Ok(freeze_check(&args).await),
        Command::Freeze(args) => return Ok(set_freeze(&args, true).await),
        Command::Unfreeze(args) => return Ok(set_freeze(&args, false).await),
        Command::Gate(args) => return Ok(gate(&args).await),
        Command::Quarantine(command) => return Ok(manage_quarantine(command).await),
        Command::Incident(incident::IncidentCommand::Ack(args)) => {
            return Ok(match incident::ack(&args).await {
                Ok(incident) => {
                    for note in &incident.triage.notes {
                        println!(
                            "{} {}: {}",
                            note.at.format("%Y-%m-%d %H:%M"),
                            note.by,
                            note.what
                        );
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("ci-dashboard: {e}");
                    ExitCode::FAILURE
                }
            })
        }
        Command::KnownIssue(command) => {
            return Ok(match known_issue::run(command).await {
                Ok(lines) => {
                    lines.iter().for_each(|l| println!("{l}"));
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("ci-dashboard: {e}");
                    ExitCode::FAILURE
                }
            })
        }
        other => other,
    };
    if let Err(e) = Repository::parse(&settings.repository) {
        bail!("--repository: {}", e.message);
    }
    match command {
        Command::Serve => {
            let store = open_store(&settings, DATA_DIR).await?;
            if store.tokens().await?.is_empty() {
                tracing::warn!(
                    "no ingestion token exists yet: create one with `ci-dashboard token create NAME`"
                );
            }
            serve(settings, store, None).await?;
        }
        Command::Demo => {
            let store = open_store(&settings, DEMO_DATA_DIR).await?;
            if store.branches().await?.is_empty() {
                let service = crate::startup::service(&settings, store.clone())?;
                let started = std::time::Instant::now();
                let count = demo::seed(&service, &settings.repository).await?;
                println!(
                    "Loaded {count} demo builds (a month of history) into {} in {:.1} s",
                    settings.data_dir_or(DEMO_DATA_DIR).display(),
                    started.elapsed().as_secs_f64()
                );
            }
            store.revoke_token(DEMO_TOKEN).await?;
            let secret = create_token(store.as_ref(), DEMO_TOKEN, Grants::default()).await?;
            serve(settings, store, Some(secret)).await?;
        }
        Command::Token(command) => {
            let store = open_store(&settings, DATA_DIR).await?;
            manage_tokens(store.as_ref(), command).await?;
        }
        Command::ImportLegacy { export } => {
            let store = open_store(&settings, DATA_DIR).await?;
            let service = crate::startup::service(&settings, store)?;
            import_legacy(&service, &export, &settings.repository).await?;
        }
        Command::Post(_)
        | Command::FreezeCheck(_)
        | Command::Freeze(_)
        | Command::Unfreeze(_)
        | Command::Gate(_)
        | Command::Quarantine(_)
        | Command::KnownIssue(_)
        | Command::Incident(_) => {
            unreachable!("handled above")
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn set_freeze(args: &freeze::SetFreezeArgs, frozen: bool) -> ExitCode {
    if let Some(warning) = client::cleartext_warning(&args.server) {
        eprintln!("ci-dashboard: {warning}");
    }
    match freeze::set(args, frozen).await {
        Ok(state) => {
            let now = if state.frozen {
                "frozen"
            } else {
                "open for merges"
            };
            println!("ci-dashboard: {} is {now}", state.branch);
            if let Some(reason) = state.reason {
                println!("{reason}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ci-dashboard: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn gate(args: &quarantine::GateArgs) -> ExitCode {
    match quarantine::gate(args).await {
        Ok((code, why)) => {
            if code == 0 {
                println!("ci-dashboard gate: pass: {why}");
            } else {
                println!("::error::ci-dashboard gate: {why}");
                eprintln!("ci-dashboard gate: fail: {why}");
            }
            ExitCode::from(code)
        }
        Err(e) => {
            eprintln!("ci-dashboard gate: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn manage_quarantine(command: quarantine::QuarantineCommand) -> ExitCode {
    use quarantine::QuarantineCommand;
    let done = match command {
        QuarantineCommand::Add {
            target,
            reason,
            expires_at,
            evidence_url,
        } => {
            let fields = serde_json::json!({
                "reason": reason, "expires_at": expires_at, "evidence_url": evidence_url,
            });
            quarantine::change(&target, Some(fields))
                .await
                .map(|e| vec![e])
        }
        QuarantineCommand::Remove { target } => {
            quarantine::change(&target, None).await.map(|e| vec![e])
        }
        QuarantineCommand::List { server, branch } => {
            quarantine::list(&server, &[("branch", branch.as_str())]).await
        }
    };
    match done {
        Ok(entries) => {
            for e in entries {
                let state = match &e.released_why {
                    Some(why) => format!("out ({why})"),
                    None => format!("in since {} by {}", e.since.format("%Y-%m-%d %H:%M"), e.by),
                };
                println!("{} {}: {state}: {}", e.cell.key().label(), e.name, e.reason);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ci-dashboard: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn freeze_check(args: &freeze::FreezeCheckArgs) -> ExitCode {
    let branch = args
        .branch
        .clone()
        .or_else(|| {
            std::env::var("GITHUB_BASE_REF")
                .ok()
                .filter(|b| !b.is_empty())
        })
        .unwrap_or_else(|| "master".to_string());
    let verdict = freeze::check(args, &branch).await;
    match &verdict {
        freeze::Verdict::Open => println!("ci-dashboard: {branch} is open for merges"),
        freeze::Verdict::Frozen(reason) => {
            println!("::error::{branch} is frozen: {reason}");
            eprintln!("ci-dashboard: {branch} is frozen: {reason}");
        }
        freeze::Verdict::Unknown(why) => {
            println!("::warning::ci-dashboard: cannot tell whether {branch} is frozen: {why}")
        }
    }
    ExitCode::from(verdict.exit_code(args.strict))
}

async fn post(args: &client::PostArgs) -> ExitCode {
    if let Some(warning) = client::cleartext_warning(&args.server) {
        eprintln!("ci-dashboard: {warning}");
    }
    let body = match client::body(args, &|name| std::env::var(name).ok()) {
        Ok(body) => body,
        Err(e) => {
            eprintln!("ci-dashboard: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = client::post(args, body).await;
    match &outcome {
        Outcome::Posted { id, status } => {
            let what = if *status == 201 {
                "posted"
            } else {
                "already posted"
            };
            println!("ci-dashboard: build {id} {what}");
        }
        Outcome::Rejected { status, message } => {
            eprintln!("error: the dashboard refused the build (HTTP {status}): {message}");
        }
        Outcome::Unreachable { last_error } if args.strict => {
            eprintln!("error: the dashboard is unreachable ({last_error})");
        }
        Outcome::Unreachable { last_error } => {
            // GitHub Actions shows this as an annotation on the job.
            eprintln!(
                "::warning::ci-dashboard: result not posted, the dashboard is unreachable \
                 ({last_error}); the job is not failed for it (use --strict to fail it)"
            );
        }
    }
    let Outcome::Posted { id, .. } = &outcome else {
        return ExitCode::from(outcome.exit_code(args.strict));
    };
    if args.junit.is_empty() {
        return ExitCode::SUCCESS;
    }
    let uploads = client::upload_junit(args, id).await;
    if uploads.is_empty() {
        eprintln!(
            "::warning::ci-dashboard: no file matches --junit {}; no test results uploaded",
            args.junit.join(" ")
        );
    }
    let mut code = 0;
    for (file, outcome) in &uploads {
        match outcome {
            Outcome::Posted { status, .. } => {
                let what = if *status == 201 {
                    "uploaded"
                } else {
                    "already uploaded"
                };
                println!("ci-dashboard: tests of {file} {what}");
            }
            Outcome::Rejected { status, message } => {
                eprintln!("error: the dashboard refused {file} (HTTP {status}): {message}");
            }
            Outcome::Unreachable { last_error } => eprintln!(
                "::warning::ci-dashboard: {file} not uploaded, the dashboard is unreachable \
                 ({last_error})"
            ),
        }
        code = code.max(outcome.exit_code(args.strict));
    }
    ExitCode::from(code)
}

async fn import_legacy(
    service: &crate::service::Service,
    path: &Path,
    repository: &str,
) -> anyhow::Result<()> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let export: serde_json::Value = serde_json::from_reader(std::io::BufReader::new(file))
        .with_context(|| format!("{} is not a JSON export", path.display()))?;
    let ctx = validation::Context {
        default_repository: repository,
        now: chrono::Utc::now(),
    };
    let entries = legacy::entries(&export, &ctx);
    let builds = entries
        .iter()
        .filter(|e| matches!(e, legacy::Entry::Build(_)))
        .count();
    let bar = indicatif::ProgressBar::new(builds as u64).with_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} builds ({eta} left)")
            .expect("a valid template"),
    );
    let summary = legacy::import(service, entries, |n| bar.inc(n as u64)).await?;
    bar.finish_and_clear();
    for (path, reason) in &summary.skipped {
        eprintln!("skipped {path}: {reason}");
    }
    println!(
        "Imported {} builds, {} already present, {} entries skipped.",
        summary.imported,
        summary.unchanged,
        summary.skipped.len()
    );
    Ok(())
}

async fn create_token(store: &dyn Store, name: &str, grants: Grants) -> anyhow::Result<String> {
    if !token::valid_name(name) {
        bail!("token name must be 1-64 characters of letters, digits, '.', '_' or '-'");
    }
    let secret = token::generate();
    match store
        .create_token(name, &token::hash(&secret), grants)
        .await
    {
        Ok(()) => Ok(secret),
        Err(StoreError::TokenExists(_)) => {
            bail!("a token named '{name}' already exists; revoke it first or pick another name")
        }
        Err(e) => Err(e.into()),
    }
}

async fn manage_tokens(store: &dyn Store, command: TokenCommand) -> anyhow::Result<()> {
    match command {
        TokenCommand::Create {
            name,
            admin,
            freeze,
        } => {
            let secret = create_token(store, &name, Grants { admin, freeze }).await?;
            eprintln!("Token '{name}' created. It is shown only once; store it as a CI secret:");
            println!("{secret}");
        }
        TokenCommand::List => {
            let tokens = store.tokens().await?;
            if tokens.is_empty() {
                println!("no tokens");
            }
            for t in tokens {
                let used = t.last_used_at.map_or_else(
                    || "never used".to_string(),
                    |at| format!("last used {}", at.format("%Y-%m-%d %H:%M UTC")),
                );
                println!(
                    "{}\tcreated {}\t{used}{}",
                    t.name,
                    t.created_at.format("%Y-%m-%d %H:%M UTC"),
                    match (t.grants.admin, t.grants.freeze) {
                        (true, _) => "\tadmin",
                        (false, true) => "\tfreeze",
                        (false, false) => "",
                    }
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
