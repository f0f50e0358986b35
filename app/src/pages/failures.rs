//! "What broke today, and why?": a branch's failures grouped into the few
//! reasons behind them, most failures first, split by architecture, with
//! the issue a known-issue rule ties each to.

use leptos::prelude::*;
use leptos_meta::Title;

use super::common::{use_query_param, ErrorNotice};
use crate::api::get_failures;
use crate::model::{ago, encoded, is_http_url, Failures, ReasonSummary};

#[component]
pub fn FailuresPage() -> impl IntoView {
    let (branch, days) = (use_query_param("branch"), use_query_param("days"));
    let failures = Resource::new(
        move || (branch.get(), days.get()),
        |(b, d)| get_failures(b, d),
    );
    view! {
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match failures.await {
                    Ok(failures) => view! { <FailureReasons failures/> }.into_any(),
                    Err(e) => view! { <ErrorNotice error=e/> }.into_any(),
                }
            })}
        </Transition>
    }
}

fn reason_row(r: &ReasonSummary, now: chrono::DateTime<chrono::Utc>) -> impl IntoView {
    let arches = r
        .arches
        .iter()
        .map(|a| format!("{} {}", a.arch, a.failures))
        .collect::<Vec<_>>()
        .join(", ");
    let known = r.known_issue.clone().filter(|k| is_http_url(&k.url)).map(|k| {
        view! { <a class="known-issue" href=k.url.clone() rel="noopener nofollow">{format!("known: {}", k.label())}</a> }
    });
    let shown_tests = r
        .tests
        .iter()
        .take(5)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    let more = r.tests.len().saturating_sub(5);
    let tests = if more > 0 {
        format!("{shown_tests} and {more} more")
    } else {
        shown_tests
    };
    let latest = r.builds.first().map(|b| {
        view! { <a href=format!("/api/v1/builds/{}/tests", encoded(b))>"latest results"</a> }
    });
    view! {
        <tr data-reason=r.id.clone()>
            <th scope="row">
                <code class="reason-text">{r.text.clone()}</code>
                <div class="message">{r.example.clone()}</div>
            </th>
            <td class="count">{r.failures}</td>
            <td>{arches}</td>
            <td>{tests}</td>
            <td>{format!("{} – {}", ago(r.first_seen, now), ago(r.last_seen, now))}</td>
            <td>{known} " " {latest}</td>
        </tr>
    }
}

#[component]
fn FailureReasons(failures: Failures) -> impl IntoView {
    let now = failures.generated_at;
    let base = format!("/failures?branch={}", encoded(&failures.branch));
    let window = |days: u32| {
        let class = if failures.days == days {
            "tab current"
        } else {
            "tab"
        };
        view! { <a class=class href=format!("{base}&days={days}")>{format!("{days} days")}</a> }
    };
    let total: u32 = failures.reasons.iter().map(|r| r.failures).sum();
    let empty = failures.reasons.is_empty().then(|| {
        view! { <p class="notice">"No test failed in this window."</p> }
    });
    let rows = failures
        .reasons
        .iter()
        .map(|r| reason_row(r, now))
        .collect_view();
    view! {
        <Title text=format!("Failures on {}", failures.branch)/>
        <section class="failures">
            <h1>"Failures on " <code>{failures.branch.clone()}</code></h1>
            <nav class="tabs" aria-label="Window">{window(1)} {window(7)} {window(30)}</nav>
            <p class="summary">
                {format!("{total} test failures in the last {} days, for {} reasons.", failures.days, failures.reasons.len())}
            </p>
            {empty}
            <div class="table-scroll" tabindex="0" role="region" aria-label="Failure reasons">
                <table class="failure-reasons">
                    <caption>"A reason is a failure message with its numbers, ids, addresses, paths and times masked"</caption>
                    <thead>
                        <tr>
                            <th scope="col">"Reason"</th>
                            <th scope="col">"Failures"</th>
                            <th scope="col">"By architecture"</th>
                            <th scope="col">"Tests"</th>
                            <th scope="col">"Seen"</th>
                            <th scope="col">"Issue"</th>
                        </tr>
                    </thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
        </section>
    }
}
