//! "How has this build behaved?": one cell's builds, charts and flakiness.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use super::common::{minutes, use_query_param, ErrorNotice, ResultBadge};
use crate::api::get_history;
use crate::model::{ago, encoded, overview_path, percent, HistoryView};

#[component]
pub fn HistoryPage() -> impl IntoView {
    let params = use_params_map();
    let (branch, days, cursor) = (
        use_query_param("branch"),
        use_query_param("days"),
        use_query_param("cursor"),
    );
    let key = move || {
        let p = params.read();
        let days = match days.get().as_deref() {
            Some("90") => 90,
            _ => 30,
        };
        (
            branch.get().unwrap_or_default(),
            p.get("component").unwrap_or_default(),
            p.get("arch").unwrap_or_default(),
            p.get("build_type").unwrap_or_default(),
            days,
            cursor.get(),
        )
    };
    let history = Resource::new(
        key,
        |(branch, component, arch, build_type, days, cursor)| {
            get_history(branch, component, arch, build_type, days, cursor)
        },
    );
    view! {
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match history.await {
                    Ok(view) => view! { <History view/> }.into_any(),
                    Err(e) => view! { <ErrorNotice error=e/> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn History(view: HistoryView) -> impl IntoView {
    let base = view.cell.history_path();
    let s = view.stats.clone();
    let now = view.generated_at;
    let window = |days: u32| {
        let class = if s.days == days { "tab current" } else { "tab" };
        view! { <a class=class href=format!("{base}&days={days}")>{format!("{days} days")}</a> }
    };
    let flaky = if s.flaky_commits.is_empty() {
        "no flaky commits".to_string()
    } else {
        format!(
            "{} flaky ({} of {} commits passed and failed)",
            percent(s.flaky_rate),
            s.flaky_commits.len(),
            s.tested_commits
        )
    };
    let rows = view
        .builds
        .iter()
        .map(|b| {
            let duration = b.duration_minutes().map(minutes);
            let logs = b
                .url
                .clone()
                .filter(|u| crate::model::is_http_url(u))
                .map(|u| view! { <a href=u rel="noopener nofollow">"logs"</a> });
            view! {
                <tr data-result=b.result.as_str()>
                    <td><ResultBadge result=b.result/></td>
                    <td>
                        <a href=format!("/commit/{}", b.commit)><code>{crate::model::short_sha(&b.commit).to_string()}</code></a>
                    </td>
                    <td class="title">{b.commit_title.clone()}</td>
                    <td><time datetime=b.started_at.to_rfc3339()>{ago(b.started_at, now)}</time></td>
                    <td>{duration}</td>
                    <td>{b.runner.clone()}</td>
                    <td>{logs}</td>
                </tr>
            }
        })
        .collect_view();
    let next = view.next_cursor.clone().map(|c| {
        view! { <a class="next" href=format!("{base}&days={}&cursor={}", s.days, encoded(&c))>"Older builds →"</a> }
    });
    let title = format!(
        "{} {} {} on {}",
        view.cell.component, view.cell.build_type, view.cell.arch, view.cell.branch
    );
    view! {
        <Title text=title.clone()/>
        <section class="history">
            <h1>{title}</h1>
            <nav class="tabs" aria-label="Window">{window(30)} {window(90)}</nav>
            <ul class="stats">
                <li><strong>{percent(s.pass_rate)}</strong>" pass rate"</li>
                <li><strong>{s.builds}</strong>" builds"</li>
                <li><strong>{s.failures}</strong>" failures"</li>
                <li><strong>{s.errors}</strong>" infra errors"</li>
                <li class="flaky">{flaky}</li>
                <li>
                    {s.median_minutes.map(|m| format!("median {}", minutes(m))).unwrap_or_default()}
                </li>
            </ul>
            <div class="charts">
                <figure class="chart" inner_html=view.pass_rate_chart.clone()></figure>
                <figure class="chart" inner_html=view.duration_chart.clone()></figure>
            </div>
            <div class="table-scroll">
                <table class="builds">
                    <thead>
                        <tr>
                            <th scope="col">"Result"</th>
                            <th scope="col">"Commit"</th>
                            <th scope="col">"Title"</th>
                            <th scope="col">"Started"</th>
                            <th scope="col">"Duration"</th>
                            <th scope="col">"Runner"</th>
                            <th scope="col">"Logs"</th>
                        </tr>
                    </thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
            {next}
            <p><a href=overview_path(&view.cell.branch)>"Back to the overview"</a></p>
        </section>
    }
}
