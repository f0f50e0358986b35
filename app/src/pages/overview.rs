//! The health matrix of one branch: components × architectures, each cell
//! broken down by build type.

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_navigate;

use super::common::{exact_time, use_query_param, ErrorNotice};
use super::live::{follow_cells, CellEvent};
use crate::api::get_health;
use crate::model::{
    ago, overview_path, short_sha, stale_text, BuildResult, BuildSummary, Cell, CellKey,
    HealthMatrix, Incident,
};

#[component]
pub fn OverviewPage() -> impl IntoView {
    let branch = use_query_param("branch");
    let health = Resource::new(move || branch.get(), get_health);

    view! {
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match health.await {
                    Ok(matrix) => view! { <Overview matrix/> }.into_any(),
                    Err(e) => view! { <ErrorNotice error=e/> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn Overview(matrix: HealthMatrix) -> impl IntoView {
    let title = format!("{} health", matrix.branch);
    let branch = matrix.branch.clone();
    let branches = matrix.branches.clone();
    // Ages stay relative to the first render, so a live change re-renders
    // only its own cell ("just now"), never the whole matrix.
    let now = matrix.generated_at;
    let live = RwSignal::new(matrix);
    let connected = RwSignal::new(false);
    follow_changes(branch.clone(), live, connected);

    let layout = Memo::new(move |_| live.with(|m| (m.components.clone(), m.architectures.clone())));
    let empty = Memo::new(move |_| live.with(|m| m.cells.is_empty()));
    let matrix_table = move || {
        let (components, architectures) = layout.get();
        let header = architectures
            .iter()
            .map(|arch| view! { <th scope="col">{arch.clone()}</th> })
            .collect_view();
        let rows = components
            .into_iter()
            .map(|component| {
                let cells = architectures
                    .iter()
                    .map(|arch| {
                        let label = arch.clone();
                        let (component, arch) = (component.clone(), arch.clone());
                        let cells =
                            Memo::new(move |_| live.with(|m| m.cells_of(&component, &arch)));
                        view! { <td data-arch=label>{move || view! { <CellList cells=cells.get() now/> }}</td> }
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
    };

    view! {
        <Title text=title/>
        <section class="overview" data-live=move || if connected.get() { "on" } else { "off" }>
            <div class="overview-head">
                <h1>"Health of " <code>{branch.clone()}</code></h1>
                <BranchSelector current=branch branches/>
            </div>
            {move || view! { <FreezeBanner incidents=live.with(|m| m.incidents.clone())/> }}
            {move || view! { <Summary matrix=live.get()/> }}
            <Show
                when=move || !empty.get()
                fallback=|| {
                    view! {
                        <p class="notice">"No builds have been posted for this branch yet."</p>
                    }
                }
            >
                {matrix_table}
            </Show>
        </section>
    }
}

/// Keeps `live` up to date from the server's cell events. The `ready`
/// event (on connecting and after any gap) triggers one refetch, so
/// nothing posted between the page render and the connection is missed.
fn follow_changes(branch: String, live: RwSignal<HealthMatrix>, connected: RwSignal<bool>) {
    let branch_of_events = branch.clone();
    follow_cells(&branch_of_events, connected, move |event| {
        let branch = branch.clone();
        async move {
            match event {
                CellEvent::Ready => {
                    if let Ok(fresh) = get_health(Some(branch)).await {
                        live.update(|m| {
                            let now = m.generated_at;
                            *m = fresh;
                            m.generated_at = now;
                        });
                    }
                }
                CellEvent::Cells(cells) => {
                    // A streak that grew, shrank or ended may have opened or
                    // resolved an incident: the banner asks the server then.
                    let streak = |c: &Cell| c.streak.as_ref().map(|s| s.builds);
                    let streaks_moved = live.with_untracked(|m| {
                        cells.iter().any(|new| {
                            let old = m.cells.iter().find(|c| c.id() == new.id());
                            old.map(streak) != Some(streak(new))
                        })
                    });
                    live.update(|m| {
                        for cell in cells {
                            *m = m.with_cell(cell);
                        }
                    });
                    if streaks_moved {
                        if let Ok(fresh) = get_health(Some(branch)).await {
                            live.update(|m| m.incidents = fresh.incidents);
                        }
                    }
                }
            }
        }
    });
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
                    navigate(&overview_path(&event_target_value(&ev)), Default::default());
                }
            >
                {options}
            </select>
            <button type="submit" hidden=move || hydrated.get()>"Show"</button>
        </form>
    }
}

/// On-call's first questions, answered at the top: is the branch frozen,
/// what is red since which commit, and who may have broken it.
#[component]
fn FreezeBanner(incidents: Vec<Incident>) -> impl IntoView {
    if incidents.is_empty() {
        return ().into_any();
    }
    let title = match incidents.len() {
        1 => "Merge freeze: 1 open incident".to_string(),
        n => format!("Merge freeze: {n} open incidents"),
    };
    let items = incidents
        .into_iter()
        .map(|incident| {
            let cells: String = incident
                .red
                .iter()
                .map(CellKey::label)
                .collect::<Vec<_>>()
                .join(", ");
            let suspects = match incident.suspects.len() {
                1 => ", 1 suspect commit".to_string(),
                n => format!(", {n} suspect commits"),
            };
            let compare = incident
                .compare_url
                .filter(|u| u.starts_with("https://"))
                .map(|url| view! { " (" <a href=url rel="noopener nofollow">"compare"</a> ")" });
            let first_bad = incident.first_bad_commit.clone();
            view! {
                <li data-incident=incident.id.clone()>
                    <a href=format!("/incident/{}", incident.id)>{cells}</a>
                    " failing since "
                    <a href=format!("/commit/{first_bad}")><code>{short_sha(&first_bad).to_string()}</code></a>
                    {suspects}
                    {compare}
                </li>
            }
        })
        .collect_view();
    view! {
        <section class="freeze" aria-labelledby="freeze-title">
            <h2 id="freeze-title">{title}</h2>
            <ul>{items}</ul>
        </section>
    }
    .into_any()
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
    // A failure only in flaky tests: its own colour, icon and word.
    let (class, icon, word) = if cell.is_flaky_failure() {
        ("flaky", "≈", "flaky failure")
    } else {
        (status.as_str(), status.icon(), status.label())
    };
    let history = cell.id().history_path();
    let testid = format!(
        "{}/{}/{}",
        cell.cell.component, cell.cell.arch, cell.cell.build_type
    );
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
    let stale = cell.stale.then(|| {
        let text = stale_text(cell.cadence.as_ref().map(|c| c.last_start), now);
        view! {
            <div class="stale-note">
                <span aria-hidden="true">"⌛ "</span>
                {text}
            </div>
        }
    });
    let tests = cell.latest_tests.as_ref().map(|t| {
        let text = if t.failed == 0 {
            format!("{} tests passed", t.passed)
        } else if t.flaky >= t.failed {
            format!(
                "{} of {} tests failed, all flaky",
                t.failed,
                t.passed + t.failed
            )
        } else {
            format!("{} of {} tests failed", t.failed, t.passed + t.failed)
        };
        view! { <div class="tests">{text}</div> }
    });
    view! {
        <li
            class=format!("bt status-{class}")
            class:stale=cell.stale
            data-cell=testid
            data-status=class
            data-stale=cell.stale.then_some("true")
        >
            <div class="bt-head">
                <span class="icon" aria-hidden="true">{icon}</span>
                <a class="bt-name" href=history>{cell.cell.build_type.clone()}</a>
                <span class="word">{word}</span>
            </div>
            {stale}
            {latest}
            {tests}
            {streak}
            {running}
        </li>
    }
}

// Not `format("%Y-%m-%d %H:%M")`: chrono's strftime parser would ship in
// the WASM bundle.
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
            <time datetime=when.to_rfc3339() title=exact_time(when)>
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
