use leptos::prelude::*;
use leptos_meta::{provide_meta_context, HashedStylesheet, MetaTags, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    path, Lazy, SsrMode, StaticSegment,
};

use crate::pages::{
    CommitRoute, ConsoleRoute, FailuresRoute, FlakyRoute, HistoryRoute, Hydrated, IncidentRoute,
    MarkHydrated, NotFound, OverviewPage, ReleaseRoute, ReleasesRoute, ReportRoute, SearchRoute,
    TestHistoryRoute,
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
    // Set once the WASM app has taken over the page, its route's view
    // included (a lazy route's hydrates after its file arrives): browser
    // tests wait for it, and it is harmless for people.
    let hydrated = RwSignal::new(false);
    provide_context(Hydrated(hydrated));

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
                    <a href="/failures">"Failures"</a>
                </nav>
                <form class="search" method="get" action="/search" role="search">
                    <label for="q" class="visually-hidden">"Commit SHA or PR number"</label>
                    <input id="q" name="q" type="search" placeholder="SHA or #PR" required/>
                    <button type="submit">"Find"</button>
                </form>
            </header>
            <main data-hydrated=move || hydrated.get().then_some("true")>
                // Async: pages arrive fully rendered, so they work without JavaScript.
                // The overview is in the main WASM file; every other page's code is
                // loaded with the page (`cargo leptos build --split`).
                <Routes fallback=NotFound>
                    <Route
                        path=StaticSegment("")
                        view=|| view! { <MarkHydrated/> <OverviewPage/> }
                        ssr=SsrMode::Async
                    />
                    <Route path=path!("/console") view={Lazy::<ConsoleRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/commit/:sha") view={Lazy::<CommitRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/search") view={Lazy::<SearchRoute>::new()} ssr=SsrMode::Async/>
                    <Route
                        path=path!("/history/:component/:arch/:build_type")
                        view={Lazy::<HistoryRoute>::new()}
                        ssr=SsrMode::Async
                    />
                    <Route path=path!("/release") view={Lazy::<ReleaseRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/releases") view={Lazy::<ReleasesRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/incident/:id") view={Lazy::<IncidentRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/report") view={Lazy::<ReportRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/flaky") view={Lazy::<FlakyRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/failures") view={Lazy::<FailuresRoute>::new()} ssr=SsrMode::Async/>
                    <Route
                        path=path!("/test/:component/:build_type")
                        view={Lazy::<TestHistoryRoute>::new()}
                        ssr=SsrMode::Async
                    />
                </Routes>
            </main>
        </Router>
    }
}
