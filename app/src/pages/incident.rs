//! "What broke, since when, and who may have done it": one incident, its
//! cells, suspects and timeline.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use super::common::{exact_time, ErrorNotice};
use crate::api::get_incident;
use crate::model::{
    is_http_url, short_sha, test_history_path, CellId, CellTestFailures, Delivery, DeliveryState,
    Incident, IncidentDetail, IncidentState, NotifyEvent,
};

#[component]
pub fn IncidentPage() -> impl IntoView {
    let params = use_params_map();
    let incident = Resource::new(
        move || params.read().get("id").unwrap_or_default(),
        get_incident,
    );
    view! {
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match incident.await {
                    Ok(IncidentDetail { incident, deliveries, failing_tests }) => {
                        view! { <IncidentView incident deliveries failing_tests/> }.into_any()
                    }
                    Err(e) => view! { <ErrorNotice error=e/> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// One line of the timeline per webhook message: when it reached its
/// receiver, or why it has not yet.
fn notified(delivery: &Delivery) -> String {
    let what = match delivery.event {
        NotifyEvent::Opened => "Opening",
        NotifyEvent::Resolved => "Resolution",
        // Never an incident's: cells' own messages.
        NotifyEvent::CellStale => "Stale cell",
        NotifyEvent::CellReporting => "Cell reporting again",
        NotifyEvent::CommitStatus => "Commit status",
    };
    let tries = |n: u32| format!("{n} attempt{}", if n == 1 { "" } else { "s" });
    let why = delivery
        .last_error
        .as_deref()
        .map(|e| format!(": {e}"))
        .unwrap_or_default();
    match (delivery.state, delivery.delivered_at) {
        (DeliveryState::Delivered, Some(at)) => format!(
            "{what} notified to {} {} ({})",
            delivery.target,
            exact_time(at),
            tries(delivery.attempts)
        ),
        (DeliveryState::Failed, _) => format!(
            "{what} not delivered to {} after {}{why}",
            delivery.target,
            tries(delivery.attempts)
        ),
        (DeliveryState::Superseded, _) => {
            format!("{what} for {} superseded by a newer one", delivery.target)
        }
        _ if delivery.attempts == 0 => format!("{what} queued for {}", delivery.target),
        _ => format!(
            "{what} to {}: retrying at {} after {}{why}",
            delivery.target,
            exact_time(delivery.next_attempt_at),
            tries(delivery.attempts)
        ),
    }
}

#[component]
fn IncidentView(
    incident: Incident,
    deliveries: Vec<Delivery>,
    failing_tests: Vec<CellTestFailures>,
) -> impl IntoView {
    let branch = incident.branch.as_str();
    let tests = (!failing_tests.is_empty()).then(|| {
        // By reason: the server groups each cell's failing tests.
        let items = failing_tests
            .iter()
            .flat_map(|c| {
                let test = move |t: &String| {
                    let path = test_history_path(branch, &c.cell.component, &c.cell.build_type, t);
                    view! { <li><a href=path><code>{t.clone()}</code></a>{format!(" on {}", c.cell.arch)}</li> }
                };
                c.reasons.iter().map(move |g| {
                    let known = g.known_issue.clone().filter(|k| is_http_url(&k.url)).map(|k| {
                        view! { " " <a class="known-issue" href=k.url.clone() rel="noopener nofollow">{format!("known: {}", k.label())}</a> }
                    });
                    let tests = g.tests.iter().map(test).collect_view();
                    view! {
                        <li class="reason">
                            <div class="reason-head"><span class="reason-text">{g.reason.text.clone()}</span>{known}</div>
                            <ul>{tests}</ul>
                        </li>
                    }
                })
            })
            .collect_view();
        view! {
            <h2>"Failing tests at the first bad commit"</h2>
            <ul class="incident-tests">{items}</ul>
        }
    });
    let open = incident.state == IncidentState::Open;
    let headline = if open {
        format!("Open: {} is frozen", incident.branch)
    } else {
        "Resolved".to_string()
    };
    let cells = incident
        .cells
        .iter()
        .map(|c| {
            let red = incident.red.contains(c);
            let history =
                CellId::new(&incident.branch, &c.component, &c.arch, &c.build_type).history_path();
            view! {
                <li data-red=red.then_some("true")>
                    <a href=history>{c.label()}</a>
                    {if red { " still failing" } else { " passing again" }}
                </li>
            }
        })
        .collect_view();
    let suspects = incident
        .suspects
        .iter()
        .map(|s| {
            let pr = s.pr.map(|n| format!(" #{n}")).unwrap_or_default();
            view! {
                <li>
                    <a href=format!("/commit/{}", s.commit)><code>{short_sha(&s.commit).to_string()}</code></a>
                    {pr} " " {s.title.clone().unwrap_or_default()}
                    {s.author.clone().map(|a| format!(" ({a})"))}
                </li>
            }
        })
        .collect_view();
    let chain = (!incident.suspects_complete).then(|| {
        view! { <p class="notice">"The parent chain broke before the last good commit: these are the suspects known."</p> }
    });
    let compare = incident
        .compare_url
        .clone()
        .filter(|u| u.starts_with("https://"))
        .map(|url| view! { <p><a href=url rel="noopener nofollow">"Compare last good and first bad on GitHub"</a></p> });
    let last_good = incident.last_good_commit.clone().map(|g| {
        view! { " · last good " <a href=format!("/commit/{g}")><code>{short_sha(&g).to_string()}</code></a> }
    });
    // Oldest first, each after the event it tells of.
    let lines = |event: NotifyEvent| {
        deliveries
            .iter()
            .rev()
            .filter(|d| d.event == event)
            .map(|d| {
                let failed = d.state == DeliveryState::Failed;
                view! { <li class="notified" data-failed=failed.then_some("true")>{notified(d)}</li> }
            })
            .collect_view()
    };
    let (opening, resolution) = (lines(NotifyEvent::Opened), lines(NotifyEvent::Resolved));
    let resolved = incident
        .resolved_at
        .map(|at| view! { <li>{format!("Resolved {}", exact_time(at))}</li> });
    let notes = incident
        .triage
        .notes
        .iter()
        .map(|n| view! { <li class="note">{format!("{} by {} {}", capitalized(&n.what), n.by, exact_time(n.at))}</li> })
        .collect_view();
    let on_it = incident.triage.ack.clone().map(|ack| {
        let issue = ack.issue_url.clone().filter(|u| is_http_url(u)).map(|u| {
            view! { " · " <a href=u.clone() rel="noopener nofollow">"issue"</a> }
        });
        let who = ack.assignee.clone().unwrap_or_else(|| ack.by.clone());
        view! { <p class="on-it">{format!("On it: {who} (acknowledged by {} {})", ack.by, exact_time(ack.at))}{issue}</p> }
    });
    view! {
        <Title text=format!("Incident on {}", incident.branch)/>
        <h1>"Incident on " <code>{incident.branch.clone()}</code></h1>
        <p class=if open { "headline bad" } else { "headline good" }>{headline}</p>
        {on_it}
        <p>
            "First bad commit "
            <a href=format!("/commit/{}", incident.first_bad_commit)><code>{short_sha(&incident.first_bad_commit).to_string()}</code></a>
            {last_good}
        </p>
        <h2>"Cells"</h2>
        <ul class="incident-cells">{cells}</ul>
        {tests}
        <h2>"Suspect commits"</h2>
        <ul class="suspects">{suspects}</ul>
        {chain}
        {compare}
        <h2>"Timeline"</h2>
        <ul class="timeline">
            <li>{format!("Opened {}", exact_time(incident.opened_at))}</li>
            {opening}
            {notes}
            {resolved}
            {resolution}
        </ul>
    }
}

/// "acknowledged: looking" as a timeline line starts: "Acknowledged: looking".
fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}
