mod commit;
mod common;
mod console;
mod failures;
mod history;
mod incident;
mod live;
mod overview;
mod release;
mod report;
mod tests;

pub use overview::OverviewPage;

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{lazy_route, LazyRoute};

/// A page whose code the WASM app loads with it, not with the first page
/// visited: a route type whose view is split into its own WASM file.
macro_rules! lazy_page {
    ($route:ident, $page:path) => {
        pub struct $route;

        #[lazy_route]
        impl LazyRoute for $route {
            fn data() -> Self {
                $route
            }

            fn view(this: Self) -> AnyView {
                let _ = this;
                view! { <MarkHydrated/> {$page()} }.into_any()
            }
        }
    };
}

lazy_page!(ConsoleRoute, console::ConsolePage);
lazy_page!(CommitRoute, commit::CommitPage);
lazy_page!(SearchRoute, commit::SearchPage);
lazy_page!(HistoryRoute, history::HistoryPage);
lazy_page!(ReleaseRoute, release::ReleasePage);
lazy_page!(ReleasesRoute, release::ReleasesPage);
lazy_page!(IncidentRoute, incident::IncidentPage);
lazy_page!(ReportRoute, report::ReportPage);
lazy_page!(FlakyRoute, tests::FlakyPage);
lazy_page!(FailuresRoute, failures::FailuresPage);
lazy_page!(TestHistoryRoute, tests::TestHistoryPage);

/// Whether the WASM app has hydrated the page's view.
#[derive(Clone, Copy)]
pub struct Hydrated(pub RwSignal<bool>);

/// Says, once its route's view has hydrated, that the page has.
#[component]
pub fn MarkHydrated() -> impl IntoView {
    let hydrated = use_context::<Hydrated>();
    Effect::new(move |_| {
        if let Some(Hydrated(hydrated)) = hydrated {
            hydrated.set(true);
        }
    });
}

#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    {
        if let Some(resp) = use_context::<leptos_axum::ResponseOptions>() {
            resp.set_status(http::StatusCode::NOT_FOUND);
        }
    }
    view! {
        <MarkHydrated/>
        <Title text="Not found"/>
        <h1>"Page not found"</h1>
        <p><a href="/">"Back to the overview"</a></p>
    }
}
