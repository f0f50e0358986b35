//! "How healthy was CI?": a branch's health report over a window, with
//! its charts and a Markdown copy.

use leptos::prelude::*;
use leptos_meta::Title;

use super::common::{use_query_param, ErrorNotice};
use crate::api::get_report;
use crate::model::{encoded, percent, span, streak_text, test_history_path, CellId, ReportView};

#[component]
pub fn ReportPage() -> impl IntoView {
    let (branch, days) = (use_query_param("branch"), use_query_param("days"));
    let report = Resource::new(
        move || (branch.get(), days.get()),
        |(b, d)| get_report(b, d),
    );
    view! {
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match report.await {
                    Ok(view) => view! { <Report view/> }.into_any(),
                    Err(e) => view! { <ErrorNotice error=e/> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn Report(view: ReportView) -> impl IntoView {
    let r = view.report;
    let base = format!("/report?branch={}", encoded(&r.branch));
    let window = |days: u32| {
        let class = if r.days == days { "tab current" } else { "tab" };
        view! { <a class=class href=format!("{base}&days={days}")>{format!("{days} days")}</a> }
    };
    let share = (r.commits > 0).then(|| r.deployable_commits as f64 / r.commits as f64);
    let matrix = if r.required.is_empty() {
        "every cell they built passed".to_string()
    } else {
        format!("all {} required cells passed", r.required.len())
    };
    let partial = (!r.complete).then(|| {
        view! { <p class="notice">"The window holds more builds than a report reads: this one is computed from the newest of them."</p> }
    });
    let rows = r
        .cells
        .iter()
        .map(|c| {
            let history =
                CellId::new(&r.branch, &c.cell.component, &c.cell.arch, &c.cell.build_type).history_path();
            let red = c.current_streak < 0;
            view! {
                <tr data-red=red.then_some("true")>
                    <th scope="row"><a href=history>{format!("{} {} {}", c.cell.component, c.cell.build_type, c.cell.arch)}</a></th>
                    <td>{c.builds}</td>
                    <td>{percent(c.success_rate)}</td>
                    <td>{c.longest_breakage_s.map_or("–".to_string(), span)}</td>
                    <td>{streak_text(c.current_streak)}</td>
                </tr>
            }
        })
        .collect_view();
    let failing = (!r.failing_tests.is_empty()).then(|| {
        let rows = r
            .failing_tests
            .iter()
            .map(|t| {
                view! {
                    <tr>
                        <th scope="row">
                            <a href=test_history_path(&r.branch, &t.cell.component, &t.cell.build_type, &t.name)><code>{t.name.clone()}</code></a>
                        </th>
                        <td>{format!("{} {} {}", t.cell.component, t.cell.build_type, t.cell.arch)}</td>
                        <td>{t.failures}</td>
                        <td>{t.runs}</td>
                    </tr>
                }
            })
            .collect_view();
        view! {
            <h2>"Most failing tests"</h2>
            <div class="table-scroll">
                <table class="report-tests">
                    <thead>
                        <tr>
                            <th scope="col">"Test"</th>
                            <th scope="col">"Cell"</th>
                            <th scope="col">"Failures"</th>
                            <th scope="col">"Runs"</th>
                        </tr>
                    </thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
        }
    });
    view! {
        <Title text=format!("CI health of {}", r.branch)/>
        <section class="report">
            <h1>"CI health of " <code>{r.branch.clone()}</code></h1>
            <nav class="tabs" aria-label="Window">{window(7)} {window(30)} {window(90)}</nav>
            <ul class="stats">
                <li><strong>{r.commits}</strong>" commits"</li>
                <li>
                    <strong>{percent(share)}</strong>
                    {format!(" deployable ({} commits: {matrix})", r.deployable_commits)}
                </li>
                <li><strong>{r.incidents_opened}</strong>" incidents opened"</li>
                <li>
                    <strong>{r.median_resolve_s.map_or("–".to_string(), span)}</strong>
                    " median time to resolve"
                </li>
            </ul>
            {partial}
            <div class="charts">
                <figure class="chart" inner_html=view.success_chart></figure>
                <figure class="chart" inner_html=view.incidents_chart></figure>
            </div>
            <div class="table-scroll">
                <table class="report-cells">
                    <caption>"Per cell, success rate = pass ÷ (pass + fail + error); cancelled builds are left out"</caption>
                    <thead>
                        <tr>
                            <th scope="col">"Cell"</th>
                            <th scope="col">"Builds"</th>
                            <th scope="col">"Success rate"</th>
                            <th scope="col">"Longest breakage"</th>
                            <th scope="col">"Current streak"</th>
                        </tr>
                    </thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
            {failing}
            <h2><label for="markdown">"Copy as Markdown"</label></h2>
            // The text is the server's rendering; the value property is what
            // a page swapped in by the router shows.
            <textarea id="markdown" class="markdown" readonly rows="12" prop:value=r.markdown.clone()>
                {r.markdown.clone()}
            </textarea>
        </section>
    }
}
