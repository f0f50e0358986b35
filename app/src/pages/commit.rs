//! "Did my change break arm64 or amd64?": a commit's verdict per cell.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use super::common::{use_query_param, ErrorNotice, Sha};
use crate::api::get_commit;
use crate::model::{
    github, is_http_url, short_sha, test_history_path, CellId, CellKey, CommitCandidate,
    CommitLookup, CommitReport, FailingTest, FailureReason, TestVerdict, Verdict,
};

/// `/commit/<sha>`.
#[component]
pub fn CommitPage() -> impl IntoView {
    let params = use_params_map();
    view! { <Lookup query=Signal::derive(move || params.read().get("sha").unwrap_or_default())/> }
}

/// `/search?q=<sha prefix or PR>`, the target of the search box.
#[component]
pub fn SearchPage() -> impl IntoView {
    let q = use_query_param("q");
    view! { <Lookup query=Signal::derive(move || q.get().unwrap_or_default())/> }
}

#[component]
fn Lookup(query: Signal<String>) -> impl IntoView {
    let found = Resource::new(move || query.get(), get_commit);
    view! {
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match found.await {
                    Ok(CommitLookup::Report(report)) => view! { <Report report=*report/> }.into_any(),
                    Ok(CommitLookup::Candidates(candidates)) => {
                        view! { <Candidates query=query.get_untracked() candidates/> }.into_any()
                    }
                    Err(e) => view! { <ErrorNotice error=e/> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn Candidates(query: String, candidates: Vec<CommitCandidate>) -> impl IntoView {
    let rows = candidates
        .into_iter()
        .map(|c| {
            let href = format!("/commit/{}", c.commit);
            view! {
                <li>
                    <a href=href><code>{short_sha(&c.commit).to_string()}</code></a>
                    " on " <code>{c.branch}</code>
                    {c.pr.map(|pr| format!(" · PR #{pr}"))}
                    {c.title.map(|t| view! { " · " <span class="title">{t}</span> })}
                </li>
            }
        })
        .collect_view();
    view! {
        <Title text=format!("Commits matching {query}")/>
        <h1>"Several commits match " <code>{query.clone()}</code></h1>
        <ul class="candidates">{rows}</ul>
    }
}

#[component]
fn Report(report: CommitReport) -> impl IntoView {
    let alarming = report
        .verdicts
        .iter()
        .any(|v| v.verdict == Verdict::NewFailure);
    let headline_class = if alarming {
        "headline bad"
    } else {
        "headline good"
    };
    let suspect = (!report.suspect_of.is_empty()).then(|| {
        let items = report
            .suspect_of
            .iter()
            .map(|i| {
                let cells = i
                    .red
                    .iter()
                    .map(CellKey::label)
                    .collect::<Vec<_>>()
                    .join(", ");
                view! { <li><a href=format!("/incident/{}", i.id)>{format!("{cells} failing on {}", i.branch)}</a></li> }
            })
            .collect_view();
        view! {
            <section class="freeze" aria-labelledby="suspect-title">
                <h2 id="suspect-title">"Suspect of an open incident"</h2>
                <ul>{items}</ul>
            </section>
        }
    });
    let divergent = (!report.divergent.is_empty()).then(|| {
        let items = report
            .divergent
            .iter()
            .map(|d| match &d.test {
                Some(test) => format!(
                    "{test} fails on {} but passes on {} ({} {})",
                    d.failing_arch, d.passing_arch, d.component, d.build_type
                ),
                None => format!(
                    "{} {} fails on {} but passes on {}",
                    d.component, d.build_type, d.failing_arch, d.passing_arch
                ),
            })
            .map(|text| view! { <li>{text}</li> })
            .collect_view();
        view! {
            <section class="divergent" aria-label="Architecture divergence">
                <h2>"Architecture divergence"</h2>
                <ul>{items}</ul>
            </section>
        }
    });
    let rows = report
        .verdicts
        .iter()
        .map(|v| {
            let history = CellId::new(&report.branch, &v.cell.component, &v.cell.arch, &v.cell.build_type).history_path();
            let compare = v
                .baseline_commit
                .as_ref()
                .map(|b| view! { <a href=report.compare_url(b)>"compare"</a> });
            let since = v.failing_since.as_ref().map(|s| {
                view! { " since " <Sha repository=report.repository.clone() commit=s.clone()/> }
            });
            let logs = v.url.clone().map(|u| view! { <a href=u rel="noopener nofollow">"logs"</a> });
            let counts = v.tests.as_ref().map(|t| {
                format!("{} passed, {} failed, {} skipped", t.passed, t.failed, t.skipped)
            });
            let failing = v.tests.as_ref().filter(|t| !t.failing.is_empty()).map(|t| {
                let test_item = |f: &FailingTest| {
                        let (class, label) = match f.verdict {
                            TestVerdict::NewFailure => ("verdict-new_failure", "new failure"),
                            TestVerdict::StillFailing => ("verdict-still_failing", "still failing"),
                            TestVerdict::Flaky => ("verdict-flaky_failure", "flaky"),
                        };
                        let since = (f.verdict == TestVerdict::StillFailing).then(|| {
                            view! { " since " <Sha repository=report.repository.clone() commit=f.since_commit.clone()/> }
                        });
                        let quarantined = f.quarantined.then(|| {
                            view! { " " <span class="pill quarantined" title="in quarantine: opens no incident, fails no gate">"quarantined"</span> }
                        });
                        view! {
                            <li data-test-verdict=label>
                                <a href=test_history_path(&report.branch, &v.cell.component, &v.cell.build_type, &f.name)>
                                    <code>{f.name.clone()}</code>
                                </a>
                                " "
                                <span class=format!("pill {class}")>{label}</span>
                                {quarantined}
                                {since}
                                {f.message.clone().map(|m| view! { <div class="message">{m}</div> })}
                            </li>
                        }
                };
                let items = by_reason(&t.failing)
                    .into_iter()
                    .map(|(reason, tests)| {
                        let known = tests.iter().find_map(|f| f.known_issue.clone()).filter(|k| is_http_url(&k.url)).map(|k| {
                            view! { " " <a class="known-issue" href=k.url.clone() rel="noopener nofollow">{format!("known: {}", k.label())}</a> }
                        });
                        let count = tests.len();
                        let tests = tests.into_iter().map(test_item).collect_view();
                        let id = reason.as_ref().map(|r| r.id.clone());
                        let text = reason.map_or_else(|| "no message".to_string(), |r| r.text);
                        view! {
                            <li class="reason" data-reason=id>
                                <div class="reason-head">
                                    <span class="reason-text">{text}</span>
                                    {known}
                                    {format!(" · {count} test{}", if count == 1 { "" } else { "s" })}
                                </div>
                                <ul>{tests}</ul>
                            </li>
                        }
                    })
                    .collect_view();
                view! {
                    <tr class="failing-tests">
                        <td colspan="6">
                            <ul aria-label=format!("Failing tests of {} {} {}", v.cell.component, v.cell.build_type, v.cell.arch)>{items}</ul>
                        </td>
                    </tr>
                }
            });
            view! {
                <tr data-verdict=v.verdict.as_str()>
                    <td>{v.cell.component.clone()}</td>
                    <td>{v.cell.arch.clone()}</td>
                    <td><a href=history>{v.cell.build_type.clone()}</a></td>
                    <td><span class=format!("pill verdict-{}", v.verdict.as_str())>{v.verdict.label()}</span>{since}</td>
                    <td class="tests">{counts}</td>
                    <td class="links">{logs} " " {compare}</td>
                </tr>
                {failing}
            }
        })
        .collect_view();
    let title = format!("Commit {}", short_sha(&report.commit));
    view! {
        <Title text=title/>
        <section class="commit">
            <h1>
                "Commit " <Sha repository=report.repository.clone() commit=report.commit.clone()/>
                " on " <code>{report.branch.clone()}</code>
            </h1>
            <p class="meta">
                {report.title.clone().map(|t| view! { <span class="title">{t}</span> })}
                {report.author.clone().map(|a| view! { " by " <span>{a}</span> })}
                {report.pr.map(|pr| {
                    view! {
                        " · "
                        <a href=github::pull(&report.repository, pr)>
                            {format!("PR #{pr}")}
                        </a>
                    }
                })}
            </p>
            <p class=headline_class role="status">{report.headline.clone()}</p>
            {suspect}
            {divergent}
            <div class="table-scroll">
                <table class="verdicts">
                    <thead>
                        <tr>
                            <th scope="col">"Component"</th>
                            <th scope="col">"Arch"</th>
                            <th scope="col">"Build type"</th>
                            <th scope="col">"Verdict"</th>
                            <th scope="col">"Tests"</th>
                            <th scope="col">"Links"</th>
                        </tr>
                    </thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
        </section>
    }
}

/// Failing tests grouped by their reason, in the order reasons first
/// appear.
fn by_reason(failing: &[FailingTest]) -> Vec<(Option<FailureReason>, Vec<&FailingTest>)> {
    let mut groups: Vec<(Option<FailureReason>, Vec<&FailingTest>)> = Vec::new();
    for test in failing {
        match groups.iter_mut().find(|(reason, _)| *reason == test.reason) {
            Some((_, tests)) => tests.push(test),
            None => groups.push((test.reason.clone(), vec![test])),
        }
    }
    groups
}
