//! Small pieces shared by pages.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::model::{short_sha, BuildResult};

/// Server function errors arrive prefixed with their kind; people only
/// need the message.
#[component]
pub fn ErrorNotice(error: String) -> impl IntoView {
    let message = error
        .split_once(": ")
        .map(|(_, m)| m.to_string())
        .unwrap_or(error);
    // Monitors and retrying clients should see what people read.
    #[cfg(feature = "ssr")]
    if message == crate::api::UNAVAILABLE {
        if let Some(resp) = use_context::<leptos_axum::ResponseOptions>() {
            resp.set_status(http::StatusCode::SERVICE_UNAVAILABLE);
        }
    }
    view! {
        <Title text="Unavailable"/>
        <div class="notice error" role="alert">{message}</div>
    }
}

#[component]
pub fn Sha(repository: String, commit: String) -> impl IntoView {
    let href = format!("https://github.com/{repository}/commit/{commit}");
    let short = short_sha(&commit).to_string();
    view! {
        <a class="sha" href=href title=commit>
            <code>{short}</code>
        </a>
    }
}

#[component]
pub fn ResultBadge(result: BuildResult) -> impl IntoView {
    view! {
        <span class=format!("pill status-{}", result.as_str())>
            <span aria-hidden="true">{result.icon()}</span>
            " "
            {result.label()}
        </span>
    }
}

pub fn percent(ratio: Option<f64>) -> String {
    ratio.map_or_else(|| "–".to_string(), |r| format!("{:.0}%", r * 100.0))
}
