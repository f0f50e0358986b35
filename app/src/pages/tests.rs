//! "Which tests are flaky, and how has this one behaved?": the flaky-tests
//! ranking of a branch and one test's history on each architecture.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use super::common::{use_query_param, ErrorNotice};
use crate::api::{get_flaky_tests, get_test_history};
use crate::model::{
    ago, encoded, percent, short_sha, FlakyTests, TestHistory, TestStats, TestStatus,
};

#[component]
pub fn FlakyPage() -> impl IntoView {
    let (branch, days) = (use_query_param("branch"), use_query_param("days"));
    let flaky = Resource::new(
        move || (branch.get(), days.get()),
        |(b, d)| get_flaky_tests(b, d),
    );
    view! {
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match flaky.await {
                    Ok(flaky) => view! { <Flaky flaky/> }.into_any(),
                    Err(e) => view! { <ErrorNotice error=e/> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn Flaky(flaky: FlakyTests) -> impl IntoView {
    let base = format!("/flaky?branch={}", encoded(&flaky.branch));
    let window = |days: u32| {
        let class = if flaky.days == days {
            "tab current"
        } else {
            "tab"
        };
        view! { <a class=class href=format!("{base}&days={days}")>{format!("{days} days")}</a> }
    };
    let empty = flaky.tests.is_empty().then(|| {
        view! { <p class="notice">"No test changed result between consecutive runs in this window."</p> }
    });
    let rows = flaky
        .tests
        .iter()
        .map(|t| {
            let last = t.last_flaky_commit.clone().map(|c| {
                view! { <a href=format!("/commit/{c}")><code>{short_sha(&c).to_string()}</code></a> }
            });
            view! {
                <tr>
                    <th scope="row"><a href=t.history_path(&flaky.branch)><code>{t.name.clone()}</code></a></th>
                    <td>{format!("{} {} {}", t.cell.component, t.cell.build_type, t.cell.arch)}</td>
                    <td>{percent(Some(t.flip_rate))}</td>
                    <td>{t.flips}</td>
                    <td>{t.runs}</td>
                    <td>{t.failures}</td>
                    <td>{last}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <Title text=format!("Flaky tests on {}", flaky.branch)/>
        <section class="flaky">
            <h1>"Flaky tests on " <code>{flaky.branch.clone()}</code></h1>
            <nav class="tabs" aria-label="Window">{window(7)} {window(30)} {window(90)}</nav>
            {empty}
            <div class="table-scroll">
                <table class="flaky-tests">
                    <caption>"Flip rate = result changes between consecutive runs of a cell ÷ (runs − 1); skipped runs are not runs"</caption>
                    <thead>
                        <tr>
                            <th scope="col">"Test"</th>
                            <th scope="col">"Cell"</th>
                            <th scope="col">"Flip rate"</th>
                            <th scope="col">"Flips"</th>
                            <th scope="col">"Runs"</th>
                            <th scope="col">"Failures"</th>
                            <th scope="col">"Last flaky commit"</th>
                        </tr>
                    </thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
        </section>
    }
}

#[component]
pub fn TestHistoryPage() -> impl IntoView {
    let params = use_params_map();
    let (branch, name) = (use_query_param("branch"), use_query_param("name"));
    let key = move || {
        let p = params.read();
        (
            branch.get().unwrap_or_default(),
            p.get("component").unwrap_or_default(),
            p.get("build_type").unwrap_or_default(),
            name.get().unwrap_or_default(),
        )
    };
    let history = Resource::new(key, |(branch, component, build_type, name)| {
        get_test_history(branch, component, build_type, name)
    });
    view! {
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match history.await {
                    Ok(history) => view! { <History history/> }.into_any(),
                    Err(e) => view! { <ErrorNotice error=e/> }.into_any(),
                }
            })}
        </Transition>
    }
}

fn status_word(status: TestStatus) -> &'static str {
    match status {
        TestStatus::Passed => "pass",
        TestStatus::Failed => "fail",
        TestStatus::Error => "error",
        TestStatus::Skipped => "skipped",
        TestStatus::Flaky => "flaky",
    }
}

#[component]
fn Arch(stats: TestStats, branch: String) -> impl IntoView {
    let now = stats.last_run_at;
    let pass_rate =
        (stats.runs > 0).then(|| f64::from(stats.runs - stats.failures) / f64::from(stats.runs));
    let flip_rate = (stats.runs > 1).then(|| f64::from(stats.flips) / f64::from(stats.runs - 1));
    let since = stats.failing_since.clone().map(|c| {
        view! { <li>"failing since " <a href=format!("/commit/{c}")><code>{short_sha(&c).to_string()}</code></a></li> }
    });
    let runs = stats
        .recent
        .iter()
        .map(|r| {
            let word = status_word(r.status);
            let result = if r.status.is_failure() { "fail" } else { "pass" };
            view! {
                <tr data-result=result>
                    <td><span class=format!("pill {result}")>{word}</span></td>
                    <td><a href=format!("/commit/{}", r.commit)><code>{short_sha(&r.commit).to_string()}</code></a></td>
                    <td><time datetime=r.at.to_rfc3339()>{ago(r.at, now)}</time></td>
                </tr>
            }
        })
        .collect_view();
    let cell = crate::model::CellId::new(
        &branch,
        &stats.cell.component,
        &stats.cell.arch,
        &stats.cell.build_type,
    );
    view! {
        <section class="test-arch" aria-label=format!("On {}", stats.cell.arch)>
            <h2>"On " {stats.cell.arch.clone()}</h2>
            <ul class="stats">
                <li><strong>{percent(pass_rate)}</strong>" pass rate"</li>
                <li><strong>{percent(flip_rate)}</strong>" flip rate"</li>
                <li><strong>{stats.runs}</strong>" runs"</li>
                <li><strong>{stats.failures}</strong>" failures"</li>
                {since}
                <li><a href=cell.history_path()>"the cell's builds"</a></li>
            </ul>
            <div class="table-scroll">
                <table class="test-runs">
                    <caption>"Latest runs, newest first"</caption>
                    <thead>
                        <tr>
                            <th scope="col">"Result"</th>
                            <th scope="col">"Commit"</th>
                            <th scope="col">"When"</th>
                        </tr>
                    </thead>
                    <tbody>{runs}</tbody>
                </table>
            </div>
        </section>
    }
}

#[component]
fn History(history: TestHistory) -> impl IntoView {
    let none = history.archs.is_empty().then(|| {
        view! { <p class="notice">"No failure of this test is recorded in this cell: the dashboard keeps a test's history from its first failure on, and this one has passed every run."</p> }
    });
    let branch = history.branch.clone();
    let archs = history
        .archs
        .into_iter()
        .map(|stats| view! { <Arch stats branch=branch.clone()/> })
        .collect_view();
    let flaky = format!("/flaky?branch={}", encoded(&history.branch));
    view! {
        <Title text=format!("{} on {}", history.name, history.branch)/>
        <section class="test-history">
            <h1><code>{history.name.clone()}</code></h1>
            <p>{format!("{} {} on ", history.component, history.build_type)} <code>{history.branch.clone()}</code></p>
            {none}
            {archs}
            <p><a href=flaky>"Flaky tests of this branch"</a></p>
        </section>
    }
}
