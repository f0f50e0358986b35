//! Small pieces shared by pages.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_url;

use crate::error::DashboardError;
use crate::model::{github, short_sha, BuildResult};

#[component]
pub fn ErrorNotice(error: DashboardError) -> impl IntoView {
    let (title, _status) = match &error {
        DashboardError::Unavailable => ("Unavailable", 503),
        DashboardError::NotFound(_) => ("Not found", 404),
        DashboardError::BadRequest(_) => ("Bad request", 400),
        DashboardError::Call(_) => ("Unavailable", 502),
    };
    // Monitors, crawlers and retrying clients should see what people read.
    #[cfg(feature = "ssr")]
    if let (Some(resp), Ok(status)) = (
        use_context::<leptos_axum::ResponseOptions>(),
        http::StatusCode::from_u16(_status),
    ) {
        resp.set_status(status);
    }
    view! {
        <Title text=title/>
        <div class="notice error" role="alert">{error.to_string()}</div>
    }
}

#[component]
pub fn Sha(repository: String, commit: String) -> impl IntoView {
    let href = github::commit(&repository, &commit);
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

/// "2026-11-27 10:05 UTC", with integer formatting only (chrono's
/// `strftime` would add its formatter to the WASM).
pub fn exact_time(when: chrono::DateTime<chrono::Utc>) -> String {
    use chrono::Timelike;
    format!(
        "{} {:02}:{:02} UTC",
        when.date_naive(),
        when.hour(),
        when.minute()
    )
}

pub fn minutes(m: f64) -> String {
    let tenths = (m * 10.0).round().max(0.0) as u64;
    format!("{}.{} min", tenths / 10, tenths % 10)
}

/// One query parameter of the page's URL, decoded once. (The router's
/// query map decodes values twice, so a branch named `a%2Fb` would read as
/// `a/b`.)
pub fn use_query_param(name: &'static str) -> Memo<Option<String>> {
    // The URL the router matched: its path and query change together.
    let url = use_url();
    Memo::new(move |_| {
        url.with(|url| {
            form_urlencoded::parse(url.search().trim_start_matches('?').as_bytes())
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.into_owned())
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_without_float_printing() {
        assert_eq!(minutes(12.0), "12.0 min");
        assert_eq!(minutes(0.04), "0.0 min");
        assert_eq!(minutes(7.25), "7.3 min");
        assert_eq!(minutes(59.96), "60.0 min");
    }
}
