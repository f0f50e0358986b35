use leptos::prelude::*;
use leptos_meta::{provide_meta_context, HashedStylesheet, MetaTags, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    path, SsrMode, StaticSegment,
};

use crate::pages::{
    CommitPage, ConsolePage, FlakyPage, HistoryPage, IncidentPage, NotFound, OverviewPage,
    ReleasePage, ReleasesPage, ReportPage, SearchPage, TestHistoryPage,
};

pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    content_security_policy();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta
                    name="description"
                    content="CI health: what is broken, on which architecture, since which commit, and whether a release is ready."
                />
                <link rel="icon" type="image/svg+xml" href="/favicon.svg"/>
                <HashedStylesheet options=options.clone() id="leptos"/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// Only this response's own inline scripts (carrying its nonce), the
/// site's files and the WASM app may run; no framing.
#[cfg(feature = "ssr")]
fn content_security_policy() {
    use leptos::nonce::use_nonce;
    let (Some(nonce), Some(response)) =
        (use_nonce(), use_context::<leptos_axum::ResponseOptions>())
    else {
        return;
    };
    let policy = format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    );
    if let Ok(value) = http::HeaderValue::from_str(&policy) {
        response.insert_header(http::header::CONTENT_SECURITY_POLICY, value);
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // Set once the WASM app has taken over the page: browser tests wait for
    // it, and it is harmless for people.
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));

    view! {
        <Title formatter=|text| format!("{text} · ci-dashboard")/>
        <Router>
            <header class="top">
                <a class="brand" href="/">"ci-dashboard"</a>
                <nav aria-label="Main">
                    <a href="/">"Overview"</a>
                    <a href="/console">"Console"</a>
                    <a href="/releases">"Releases"</a>
                    <a href="/report">"Report"</a>
                    <a href="/flaky">"Flaky tests"</a>
                </nav>
                <form class="search" method="get" action="/search" role="search">
                    <label for="q" class="visually-hidden">"Commit SHA or PR number"</label>
                    <input id="q" name="q" type="search" placeholder="SHA or #PR" required/>
                    <button type="submit">"Find"</button>
                </form>
            </header>
            <main data-hydrated=move || hydrated.get().then_some("true")>
                // Async: pages arrive fully rendered, so they work without JavaScript.
                <Routes fallback=NotFound>
                    <Route path=StaticSegment("") view=OverviewPage ssr=SsrMode::Async/>
                    <Route path=path!("/console") view=ConsolePage ssr=SsrMode::Async/>
                    <Route path=path!("/commit/:sha") view=CommitPage ssr=SsrMode::Async/>
                    <Route path=path!("/search") view=SearchPage ssr=SsrMode::Async/>
                    <Route
                        path=path!("/history/:component/:arch/:build_type")
                        view=HistoryPage
                        ssr=SsrMode::Async
                    />
                    <Route path=path!("/release") view=ReleasePage ssr=SsrMode::Async/>
                    <Route path=path!("/releases") view=ReleasesPage ssr=SsrMode::Async/>
                    <Route path=path!("/incident/:id") view=IncidentPage ssr=SsrMode::Async/>
                    <Route path=path!("/report") view=ReportPage ssr=SsrMode::Async/>
                    <Route path=path!("/flaky") view=FlakyPage ssr=SsrMode::Async/>
                    <Route
                        path=path!("/test/:component/:build_type")
                        view=TestHistoryPage
                        ssr=SsrMode::Async
                    />
                </Routes>
            </main>
        </Router>
    }
}
