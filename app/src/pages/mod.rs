mod commit;
mod common;
mod console;
mod history;
mod incident;
mod live;
mod overview;
mod release;
mod report;
mod tests;

pub use commit::{CommitPage, SearchPage};
pub use console::ConsolePage;
pub use history::HistoryPage;
pub use incident::IncidentPage;
pub use overview::OverviewPage;
pub use release::{ReleasePage, ReleasesPage};
pub use report::ReportPage;
pub use tests::{FlakyPage, TestHistoryPage};

use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    {
        if let Some(resp) = use_context::<leptos_axum::ResponseOptions>() {
            resp.set_status(http::StatusCode::NOT_FOUND);
        }
    }
    view! {
        <Title text="Not found"/>
        <h1>"Page not found"</h1>
        <p><a href="/">"Back to the overview"</a></p>
    }
}
