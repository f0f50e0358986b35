//! "Is the release ready?": one branch's readiness, and the index.

use leptos::prelude::*;
use leptos_meta::Title;

use super::common::{use_query_param, ErrorNotice, Sha};
use crate::api::{get_release, get_releases};
use crate::model::{release_path, stale_text, CellId, ReleaseReport};

#[component]
pub fn ReleasePage() -> impl IntoView {
    let branch = use_query_param("branch");
    let report = Resource::new(move || branch.get().unwrap_or_default(), get_release);
    view! {
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match report.await {
                    Ok(report) => view! { <Release report/> }.into_any(),
                    Err(e) => view! { <ErrorNotice error=e/> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn Release(report: ReleaseReport) -> impl IntoView {
    let repo = report.repository.clone();
    let verdict = if report.ready {
        "Ready to release"
    } else {
        "Not ready"
    };
    let class = if report.ready {
        "headline good"
    } else {
        "headline bad"
    };
    let head = report.head.clone().map(|h| {
        view! { <p>"Head: " <Sha repository=repo.clone() commit=h/> {format!(" · {} required builds", report.required)}</p> }
    });
    let green = report.last_green_commit.clone().map(|g| {
        view! { <p>"Last fully green commit: " <Sha repository=repo.clone() commit=g/></p> }
    });
    let blockers = (!report.blockers.is_empty()).then(|| {
        let rows = report
            .blockers
            .iter()
            .map(|b| {
                let history = CellId::new(&report.branch, &b.cell.component, &b.cell.arch, &b.cell.build_type).history_path();
                let since = b.since_commit.clone().map(|s| view! { <Sha repository=repo.clone() commit=s/> });
                let logs = b.url.clone().map(|u| view! { <a href=u rel="noopener nofollow">"logs"</a> });
                view! {
                    <tr data-reason=b.reason.as_str()>
                        <td>{b.cell.component.clone()}</td>
                        <td>{b.cell.arch.clone()}</td>
                        <td><a href=history>{b.cell.build_type.clone()}</a></td>
                        <td><span class=format!("pill reason-{}", b.reason.as_str())>{b.reason.as_str()}</span></td>
                        <td>{since}</td>
                        <td>{logs}</td>
                    </tr>
                }
            })
            .collect_view();
        view! {
            <h2>"Blockers"</h2>
            <div class="table-scroll">
                <table class="blockers">
                    <thead>
                        <tr>
                            <th scope="col">"Component"</th>
                            <th scope="col">"Arch"</th>
                            <th scope="col">"Build type"</th>
                            <th scope="col">"Blocker"</th>
                            <th scope="col">"Failing since"</th>
                            <th scope="col">"Logs"</th>
                        </tr>
                    </thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
        }
    });
    let conflicts = report
        .version_conflicts
        .iter()
        .map(|c| {
            let text = format!(
                "Version {} was built from {} different commits: bump the version before release.",
                c.version,
                c.commits.len()
            );
            view! { <p class="notice error version-conflict">{text}</p> }
        })
        .collect_view();
    let stale = (!report.stale.is_empty()).then(|| {
        let items = report
            .stale
            .iter()
            .map(|c| {
                let text = format!(
                    "{}: {}",
                    c.cell.label(),
                    stale_text(Some(c.last_build), report.generated_at)
                );
                view! {
                    <li class="stale-note" data-stale=c.cell.label()>
                        <span aria-hidden="true">"⌛ "</span>
                        {text}
                    </li>
                }
            })
            .collect_view();
        view! {
            <h2>"Stale cells"</h2>
            <p>"Required cells that stopped reporting: their last result may no longer hold."</p>
            <ul class="stale-cells">{items}</ul>
        }
    });
    let markdown = report.markdown();
    let value = markdown.clone();
    view! {
        <Title text=format!("Release {}", report.branch)/>
        <section class="release">
            <h1>"Release readiness of " <code>{report.branch.clone()}</code></h1>
            <p class=class role="status" data-ready=report.ready.to_string()>{verdict}</p>
            {head}
            {green}
            {blockers}
            {stale}
            {conflicts}
            <h2><label for="markdown">"Copy as Markdown"</label></h2>
            // The text is the server's rendering; the value property is what
            // a page swapped in by the router shows.
            <textarea id="markdown" class="markdown" readonly rows="10" prop:value=value>
                {markdown}
            </textarea>
        </section>
    }
}

#[component]
pub fn ReleasesPage() -> impl IntoView {
    let releases = Resource::new(|| (), |_| get_releases());
    view! {
        <Title text="Releases"/>
        <h1>"Release branches"</h1>
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match releases.await {
                    Ok(list) if list.is_empty() => {
                        view! { <p class="notice">"No release branches have builds yet."</p> }.into_any()
                    }
                    Ok(list) => {
                        let rows = list
                            .into_iter()
                            .map(|r| {
                                let state = if r.ready {
                                    "ready".to_string()
                                } else {
                                    format!("not ready: {} blockers", r.blockers)
                                };
                                let class = if r.ready { "pill status-pass" } else { "pill status-fail" };
                                view! {
                                    <li>
                                        <a href=release_path(&r.branch)><code>{r.branch.clone()}</code></a>
                                        " " <span class=class>{state}</span>
                                    </li>
                                }
                            })
                            .collect_view();
                        view! { <ul class="releases">{rows}</ul> }.into_any()
                    }
                    Err(e) => view! { <ErrorNotice error=e/> }.into_any(),
                }
            })}
        </Transition>
    }
}
