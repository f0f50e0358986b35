//! The composition root: opens the store, loads the configuration and
//! builds the application, so `main` and the tests run exactly the same
//! router.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use leptos::prelude::*;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::{Settings, StoreKind};
use crate::domain::github::GithubConfig;
use crate::domain::incident::{IncidentConfig, IncidentRules};
use crate::domain::notification::{NotifyConfig, Owner, Webhook};
use crate::domain::release::{ReleaseConfig, MAGMA_DEFAULT};
use crate::domain::stale::StaleConfig;
use crate::http::ratelimit::{AddressLimiter, TokenLimiter};
use crate::http::router::router;
use crate::http::serve::{serve, ConnectionLimits};
use crate::http::slots::Slots;
use crate::http::state::AppState;
use crate::http::{fanout, metrics};
use crate::notify::github::StatusSender;
use crate::notify::Deliverer;
use crate::service::recent::Recent;
use crate::service::Service;
use crate::store::embedded::{EmbeddedOptions, EmbeddedStore};
use crate::store::firestore::{FirestoreSettings, FirestoreStore};
use crate::store::Store;

pub async fn open_store(settings: &Settings, default_dir: &str) -> anyhow::Result<Arc<dyn Store>> {
    Ok(match settings.store {
        StoreKind::Embedded => Arc::new(EmbeddedStore::open_with(
            &settings.data_dir_or(default_dir),
            &EmbeddedOptions {
                timeout: Duration::from_secs(settings.store_timeout),
                ..EmbeddedOptions::default()
            },
        )?),
        StoreKind::Firestore => {
            let project = settings
                .firestore_project
                .clone()
                .or_else(|| std::env::var("GOOGLE_CLOUD_PROJECT").ok())
                .filter(|p| !p.is_empty())
                .context(
                    "--store firestore needs --firestore-project \
                     (or CI_DASHBOARD_FIRESTORE_PROJECT or GOOGLE_CLOUD_PROJECT)",
                )?;
            Arc::new(
                FirestoreStore::open(&FirestoreSettings {
                    project,
                    database: settings.firestore_database.clone(),
                    timeout: Duration::from_secs(settings.store_timeout.max(1)),
                })
                .await?,
            )
        }
    })
}

pub fn load_release_config(settings: &Settings) -> anyhow::Result<ReleaseConfig> {
    match &settings.release_config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            ReleaseConfig::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
        }
        None => ReleaseConfig::parse(MAGMA_DEFAULT)
            .map_err(|e| anyhow::anyhow!("built-in release config: {e}")),
    }
}

/// When cells are stale: the file's rules, else each cell's own rhythm.
pub fn load_stale_config(settings: &Settings) -> anyhow::Result<StaleConfig> {
    match &settings.stale_config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            StaleConfig::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
        }
        None => Ok(StaleConfig::default()),
    }
}

/// `--github-config`; commit statuses need the token to set them.
pub fn load_github_config(settings: &Settings) -> anyhow::Result<Option<GithubConfig>> {
    let Some(path) = &settings.github_config else {
        return Ok(None);
    };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let config =
        GithubConfig::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    if config.statuses.is_some() && settings.github_token.is_none() {
        anyhow::bail!(
            "{}: [statuses] needs a token to set them: set CI_DASHBOARD_GITHUB_TOKEN",
            path.display()
        );
    }
    Ok(Some(config))
}

/// Which branches incidents watch, when they open, which webhooks hear of
/// them, and whom their messages mention.
pub fn load_notify_config(
    settings: &Settings,
    release: &ReleaseConfig,
) -> anyhow::Result<(IncidentRules, Vec<Webhook>, Vec<Owner>)> {
    let (incidents, webhooks, owners) = match &settings.notify_config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            NotifyConfig::parse(&text)
                .and_then(NotifyConfig::split)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
        }
        None => (IncidentConfig::default(), Vec::new(), Vec::new()),
    };
    let rules = IncidentRules::new(
        incidents,
        settings.default_branch.as_str(),
        release.release_branches(),
    )
    .map_err(|e| anyhow::anyhow!("notify config: {e}"))?;
    Ok((rules, webhooks, owners))
}

/// What pages, the API and ingestion read and write through, as configured.
pub fn service(settings: &Settings, store: Arc<dyn Store>) -> anyhow::Result<Service> {
    Ok(wire(settings, store)?.0)
}

/// The service, the webhooks its incidents queue deliveries to, and the
/// owners their messages mention.
fn wire(settings: &Settings, store: Arc<dyn Store>) -> anyhow::Result<(Service, Notified)> {
    let release = Arc::new(load_release_config(settings)?);
    let (rules, webhooks, owners) = load_notify_config(settings, &release)?;
    let service = Service {
        incident_rules: Arc::new(rules),
        webhooks: Arc::new(webhooks.iter().map(Webhook::as_ref).collect()),
        outbox: Arc::default(),
        reports: Arc::new(Recent::new(Duration::from_secs(60), 64)),
        store,
        default_branch: settings.default_branch.clone(),
        release,
        stale: Arc::new(load_stale_config(settings)?),
        repository: settings.repository.clone(),
        github: load_github_config(settings)?.map(Arc::new),
    };
    Ok((service, (Arc::new(webhooks), Arc::new(owners))))
}

/// Who hears of incidents: the webhooks, and the owners messages mention.
type Notified = (Arc<Vec<Webhook>>, Arc<Vec<Owner>>);

/// The site this binary's pages hydrate with, when `cargo leptos build`
/// built it (it sets this at compile time, with the build settings the
/// WASM was compiled with); `None` for a plain `cargo build`, `test` or
/// `bench`, whose server renders pages that site's WASM cannot hydrate.
const BUILT_FOR_SITE: Option<&str> = option_env!("LEPTOS_OUTPUT_NAME");

/// Why this binary must not serve the site at `site_root`: a built site is
/// there, and this binary was not built with it.
pub fn site_mismatch(site_root: &Path, built_for: Option<&str>) -> Option<String> {
    if built_for.is_some() || !site_root.join("pkg").is_dir() {
        return None;
    }
    Some(format!(
        "this binary was built by plain cargo (cargo build, test or bench), not by `cargo leptos \
         build`: the pages of {} would not hydrate with it. Rebuild it with `cargo leptos build \
         --release` (./scripts/demo does), or serve it from a directory without a built site.",
        site_root.display()
    ))
}

/// `cargo leptos build` with `hash-files` writes hash.txt next to the
/// binary; test binaries have none and use the plain names.
fn asset_hashes_exist() -> bool {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("hash.txt").is_file()))
        .unwrap_or(false)
}

pub struct Application {
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    stopping: watch::Sender<bool>,
    deliverer: Option<Deliverer>,
}

impl Application {
    /// Binds the listen address (port 0 picks a free port, as tests do).
    pub async fn build(settings: Settings, store: Arc<dyn Store>) -> anyhow::Result<Self> {
        if let Some(why) = site_mismatch(&settings.site_root, BUILT_FOR_SITE) {
            anyhow::bail!(why);
        }
        metrics::install();
        let listener = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("cannot listen on {}", settings.listen))?;
        let addr = listener.local_addr()?;
        let leptos_options = LeptosOptions::builder()
            .output_name("ci-dashboard")
            .site_root(settings.site_root.to_string_lossy().as_ref())
            .site_pkg_dir("pkg")
            .site_addr(addr)
            .env(leptos::config::Env::PROD)
            .hash_files(asset_hashes_exist())
            .build();
        let (service, (webhooks, owners)) = wire(&settings, store.clone())?;
        let statuses = service
            .github
            .as_ref()
            .filter(|g| g.statuses.is_some())
            .zip(settings.github_token.clone())
            .map(|(github, token)| StatusSender::new(github.api.clone(), token));
        // Without webhooks or statuses there is nothing to deliver and no
        // queue to poll.
        let deliverer = if webhooks.is_empty() && statuses.is_none() {
            None
        } else {
            let dashboard_url = settings
                .public_url
                .as_ref()
                .map(|u| u.as_str().trim_end_matches('/').to_string())
                .unwrap_or_else(|| format!("http://{addr}"));
            Some(Deliverer::new(
                service.clone(),
                webhooks,
                owners,
                dashboard_url,
                Duration::from_secs(settings.stale_check_interval),
                statuses,
            )?)
        };
        let (stopping, shutdown) = watch::channel(false);
        let limits = ConnectionLimits {
            header_timeout: Duration::from_secs(settings.header_timeout),
            slots: Slots::new(
                "connections",
                settings.max_connections as usize,
                settings.max_connections_per_client as usize,
            ),
        };
        let readers =
            AddressLimiter::new(settings.read_rate_limit, settings.read_burst).map(Arc::new);
        if let Some(readers) = readers.clone() {
            tokio::spawn(async move {
                let mut every_minute = tokio::time::interval(Duration::from_secs(60));
                loop {
                    every_minute.tick().await;
                    readers.forget_idle();
                }
            });
        }
        let state = AppState {
            cell_changes: fanout::fan_out(&store, service.stale.clone()),
            streams: Slots::new(
                "event_streams",
                settings.max_streams as usize,
                settings.max_streams_per_client as usize,
            ),
            leptos_options,
            service,
            limiter: TokenLimiter::new(
                settings.rate_limit,
                settings.rate_burst,
                settings.build_rate_limit,
            )
            .map(Arc::new),
            readers: readers.clone(),
            tokens: Arc::default(),
            settings: Arc::new(settings),
            shutdown,
        };
        Ok(Application {
            listener,
            router: router(state),
            limits,
            stopping,
            deliverer,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests finish.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let stopping = self.stopping;
        let delivering = self
            .deliverer
            .map(|deliverer| tokio::spawn(deliverer.run(stopping.subscribe())));
        let served = serve(self.listener, self.router, self.limits, async move {
            shutdown.await;
            stopping.send_replace(true);
        })
        .await;
        // Attempts under way are recorded before the process ends, so a
        // restart neither repeats nor loses them.
        if let Some(delivering) = delivering {
            if tokio::time::timeout(Duration::from_secs(15), delivering)
                .await
                .is_err()
            {
                tracing::warn!(
                    "webhook deliveries still under way at exit are retried after their lease"
                );
            }
        }
        served
    }
}

#[cfg(test)]
mod tests {
    use super::site_mismatch;

    #[test]
    fn a_plain_cargo_binary_refuses_a_built_site() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(site_mismatch(dir.path(), None), None, "no site built");
        std::fs::create_dir(dir.path().join("pkg")).unwrap();
        let why = site_mismatch(dir.path(), None).unwrap();
        assert!(why.contains("cargo leptos build --release"), "{why}");
        assert_eq!(site_mismatch(dir.path(), Some("ci-dashboard")), None);
    }
}
