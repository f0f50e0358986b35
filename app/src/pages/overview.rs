//! The health matrix of one branch: components × architectures, each cell
//! broken down by build type.

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{
    hooks::{use_navigate, use_query_map},
    params::ParamsMap,
};

use super::common::ErrorNotice;
use crate::api::get_health;
use crate::model::{ago, BuildResult, BuildSummary, Cell, HealthMatrix, HistoryView};

#[component]
pub fn OverviewPage() -> impl IntoView {
    let query = use_query_map();
    let branch = move || query.read().get("branch");
    let health = Resource::new(branch, get_health);

    view! {
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match health.await {
                    Ok(matrix) => view! { <Overview matrix/> }.into_any(),
                    Err(e) => view! { <ErrorNotice error=e.to_string()/> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn Overview(matrix: HealthMatrix) -> impl IntoView {
    let title = format!("{} health", matrix.branch);
    let now = matrix.generated_at;
    let empty = matrix.cells.is_empty();
    let header = matrix
        .architectures
        .iter()
        .map(|arch| view! { <th scope="col">{arch.clone()}</th> })
        .collect_view();
    let rows = matrix
        .components
        .iter()
        .map(|component| {
            let cells = matrix
                .architectures
                .iter()
                .map(|arch| {
                    let cells = matrix.cells_of(component, arch);
                    view! { <td><CellList cells now/></td> }
                })
                .collect_view();
            view! {
                <tr>
                    <th scope="row" class="component">{component.clone()}</th>
                    {cells}
                </tr>
            }
        })
        .collect_view();

    view! {
        <Title text=title/>
        <section class="overview">
            <div class="overview-head">
                <h1>"Health of " <code>{matrix.branch.clone()}</code></h1>
                <BranchSelector current=matrix.branch.clone() branches=matrix.branches.clone()/>
            </div>
            <Summary matrix=matrix.clone()/>
            {if empty {
                view! {
                    <p class="notice">
                        "No builds have been posted for this branch yet."
                    </p>
                }
                    .into_any()
            } else {
                view! {
                    <div class="matrix-scroll">
                        <table class="matrix">
                            <thead>
                                <tr>
                                    <th scope="col">"Component"</th>
                                    {header}
                                </tr>
                            </thead>
                            <tbody>{rows}</tbody>
                        </table>
                    </div>
                }
                    .into_any()
            }}
        </section>
    }
}

/// A plain GET form, so it works without JavaScript; once hydrated,
/// choosing a branch navigates at once, client-side.
#[component]
fn BranchSelector(current: String, branches: Vec<String>) -> impl IntoView {
    let navigate = use_navigate();
    // The button is for pages without JavaScript; once hydrated, choosing
    // a branch is enough.
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));
    let options = branches
        .into_iter()
        .map(|b| {
            let selected = b == current;
            let label = b.clone();
            view! { <option value=b selected=selected>{label}</option> }
        })
        .collect_view();
    view! {
        <form method="get" action="/" class="branch-form">
            <label for="branch">"Branch"</label>
            <select
                id="branch"
                name="branch"
                on:change=move |ev| {
                    let query: ParamsMap = [("branch", event_target_value(&ev))]
                        .into_iter()
                        .collect();
                    navigate(&format!("/{}", query.to_query_string()), Default::default());
                }
            >
                {options}
            </select>
            <button type="submit" hidden=move || hydrated.get()>"Show"</button>
        </form>
    }
}

#[component]
fn Summary(matrix: HealthMatrix) -> impl IntoView {
    let parts = matrix
        .summary
        .iter()
        .map(|s| {
            let class = if s.red > 0 { "sum red" } else { "sum green" };
            let text = if s.red == 0 {
                format!("{}: all {} green", s.arch, s.cells)
            } else {
                format!("{}: {} of {} red", s.arch, s.red, s.cells)
            };
            view! { <li class=class data-arch=s.arch.clone()>{text}</li> }
        })
        .collect_view();
    view! { <ul class="summary" aria-label="Red cells per architecture">{parts}</ul> }
}

#[component]
fn CellList(cells: Vec<Cell>, now: DateTime<Utc>) -> impl IntoView {
    if cells.is_empty() {
        return view! { <span class="no-data">"no data"</span> }.into_any();
    }
    let items = cells
        .into_iter()
        .map(|cell| view! { <BuildTypeStatus cell now/> })
        .collect_view();
    view! { <ul class="cell">{items}</ul> }.into_any()
}

#[component]
fn BuildTypeStatus(cell: Cell, now: DateTime<Utc>) -> impl IntoView {
    let status = cell.status();
    let history = HistoryView::path(&cell.branch, &cell.component, &cell.arch, &cell.build_type);
    let testid = format!("{}/{}/{}", cell.component, cell.arch, cell.build_type);
    let latest = cell
        .latest
        .clone()
        .map(|b| view! { <BuildLine summary=b now/> });
    let running = cell.running.clone().map(|b| {
        view! {
            <div class="running-now">
                <span aria-hidden="true">{BuildResult::Running.icon()}</span>
                " running on "
                <CommitLink summary=b/>
            </div>
        }
    });
    let streak = cell.streak.clone().map(|s| {
        let builds = if s.builds == 1 {
            "1 build".to_string()
        } else {
            format!("{} builds", s.builds)
        };
        view! {
            <div class="since">
                "failing since " <CommitLink summary=s.since/> ", " {builds}
            </div>
        }
    });
    view! {
        <li class=format!("bt status-{}", status.as_str()) data-cell=testid data-status=status.as_str()>
            <div class="bt-head">
                <span class="icon" aria-hidden="true">{status.icon()}</span>
                <a class="bt-name" href=history>{cell.build_type.clone()}</a>
                <span class="word">{status.label()}</span>
            </div>
            {latest}
            {streak}
            {running}
        </li>
    }
}

#[component]
fn BuildLine(summary: BuildSummary, now: DateTime<Utc>) -> impl IntoView {
    let when = summary.finished_at.unwrap_or(summary.started_at);
    let log = summary.safe_url().map(|url| {
        view! {
            " · "
            <a href=url.to_string() rel="noopener nofollow">"logs"</a>
        }
    });
    view! {
        <div class="build-line">
            <CommitLink summary=summary.clone()/>
            " · "
            <time datetime=when.to_rfc3339() title=when.format("%Y-%m-%d %H:%M UTC").to_string()>
                {ago(when, now)}
            </time>
            {log}
        </div>
    }
}

#[component]
fn CommitLink(summary: BuildSummary) -> impl IntoView {
    view! {
        <a class="sha" href=summary.commit_url() title=summary.commit.clone()>
            <code>{summary.short_commit().to_string()}</code>
        </a>
    }
}
