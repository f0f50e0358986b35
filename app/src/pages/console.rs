//! The console: a branch's latest commits (rows) against its builds
//! (columns grouped component → architecture → build type), live.

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use leptos_meta::Title;

use super::common::{exact_time, use_query_param, ErrorNotice};
use super::live::follow_cells;
use crate::api::get_console;
use crate::model::{
    ago, console_path, disagree, github, short_sha, stale_text, CellId, Console, ConsoleColumn,
    ConsoleCommit, ConsoleFilter, ConsoleResult,
};

#[component]
pub fn ConsolePage() -> impl IntoView {
    let params = (
        use_query_param("branch"),
        use_query_param("component"),
        use_query_param("arch"),
        use_query_param("only"),
        use_query_param("before"),
    );
    let asked = move || {
        (
            params.0.get(),
            params.1.get(),
            params.2.get(),
            params.3.get(),
            params.4.get(),
        )
    };
    let console = Resource::new(asked, |(branch, component, arch, only, before)| {
        get_console(branch, component, arch, only, before)
    });
    view! {
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match console.await {
                    Ok(page) => view! { <ConsoleView page/> }.into_any(),
                    Err(e) => view! { <ErrorNotice error=e/> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn ConsoleView(page: Console) -> impl IntoView {
    let title = format!("{} console", page.branch);
    let branch = page.branch.clone();
    let filter = page.filter.clone();
    let (components, architectures) = (page.components.clone(), page.architectures.clone());
    let now = page.generated_at;
    let older = page.older;
    let live = RwSignal::new(page);
    let connected = RwSignal::new(false);
    // An older page stays as it was asked for; the newest follows the branch.
    if !older {
        follow_console(live, connected);
    }
    let newer = older.then(|| {
        view! { <a href=console_path(&branch, &filter, None)>"← Newest commits"</a> }
    });
    let pager = move || {
        let older_link = live.with(|p| {
            p.next_before
                .as_deref()
                .map(|before| console_path(&p.branch, &p.filter, Some(before)))
        });
        older_link.map(|href| view! { <a href=href rel="next">"Older commits →"</a> })
    };
    view! {
        <Title text=title/>
        <section
            class="console"
            data-live=move || if connected.get() { "on" } else { "off" }
        >
            <div class="console-head">
                <h1>"Console of " <code>{branch.clone()}</code></h1>
                <Filters branch=branch.clone() filter=filter.clone() components architectures/>
            </div>
            <Legend/>
            {move || live.with(|p| view! { <Incidents page=p.clone()/> })}
            {move || live.with(|p| view! { <Grid page=p.clone() now/> })}
            <nav class="pager" aria-label="Pages">{newer} {pager}</nav>
        </section>
    }
}

/// Refetches the newest page when the branch's cells change: a posted
/// build changes its cell, a new commit brings its row.
fn follow_console(live: RwSignal<Console>, connected: RwSignal<bool>) {
    let (branch, filter) = live.with_untracked(|p| (p.branch.clone(), p.filter.clone()));
    follow_cells(&branch.clone(), connected, move |_| {
        let (branch, filter) = (branch.clone(), filter.clone());
        async move {
            let fresh = get_console(
                Some(branch),
                filter.component,
                filter.arch,
                filter.only_failing.then(|| "failing".to_string()),
                None,
            )
            .await;
            if let Ok(fresh) = fresh {
                live.update(|p| {
                    // Ages stay relative to the first render.
                    let now = p.generated_at;
                    *p = fresh;
                    p.generated_at = now;
                });
            }
        }
    });
}

/// A plain GET form: it works before (and without) the WASM app.
#[component]
fn Filters(
    branch: String,
    filter: ConsoleFilter,
    components: Vec<String>,
    architectures: Vec<String>,
) -> impl IntoView {
    let options = |all: Vec<String>, chosen: Option<String>| {
        all.into_iter()
            .map(|name| {
                let selected = chosen.as_ref() == Some(&name);
                let label = name.clone();
                view! { <option value=name selected=selected>{label}</option> }
            })
            .collect_view()
    };
    view! {
        <form method="get" action="/console" class="console-filters">
            <input type="hidden" name="branch" value=branch/>
            <label for="console-component">"Component"</label>
            <select id="console-component" name="component">
                <option value="">"all"</option>
                {options(components, filter.component.clone())}
            </select>
            <label for="console-arch">"Architecture"</label>
            <select id="console-arch" name="arch">
                <option value="">"all"</option>
                {options(architectures, filter.arch.clone())}
            </select>
            <label class="check">
                <input type="checkbox" name="only" value="failing" checked=filter.only_failing/>
                " only failing columns"
            </label>
            <button type="submit">"Apply"</button>
        </form>
    }
}

#[component]
fn Legend() -> impl IntoView {
    let items = [
        ("pass", "✓", "passed"),
        ("fail", "✗", "failed"),
        ("flaky", "≈", "flaky failure"),
        ("error", "⚠", "infra error"),
        ("running", "◔", "running"),
        ("cancelled", "⊘", "cancelled"),
        ("none", "·", "not built"),
    ]
    .into_iter()
    .map(|(state, icon, word)| {
        view! {
            <li>
                <span class=format!("r state-{state}") aria-hidden="true">{icon}</span>
                " "
                {word}
            </li>
        }
    })
    .collect_view();
    view! {
        <ul class="legend" aria-label="Legend">
            {items}
            <li><span class="r disagree-mark" aria-hidden="true">"±"</span> " reruns disagree"</li>
            <li><span class="mark-sample first-bad" aria-hidden="true"></span> " first bad commit"</li>
            <li><span class="mark-sample suspect" aria-hidden="true"></span> " suspect"</li>
        </ul>
    }
}

#[component]
fn Incidents(page: Console) -> impl IntoView {
    if page.incidents.is_empty() {
        return ().into_any();
    }
    let items = page
        .incidents
        .iter()
        .map(|incident| {
            let cells = incident
                .columns
                .iter()
                .filter_map(|&i| page.columns.get(i))
                .map(|c| c.cell.label())
                .collect::<Vec<_>>()
                .join(", ");
            let first_bad = incident.first_bad_commit.clone();
            view! {
                <li data-incident=incident.id.clone()>
                    <a href=format!("/incident/{}", incident.id)>{cells}</a>
                    " broken since "
                    <a href=format!("/commit/{first_bad}")><code>{short_sha(&first_bad).to_string()}</code></a>
                </li>
            }
        })
        .collect_view();
    view! {
        <section class="console-incidents" aria-label="Open incidents">
            <ul>{items}</ul>
        </section>
    }
    .into_any()
}

/// Column headers in three rows: component, architecture, build type, each
/// spanning the columns it groups.
fn spans(
    columns: &[ConsoleColumn],
    key: impl Fn(&ConsoleColumn) -> String,
) -> Vec<(String, usize)> {
    let mut out: Vec<(String, usize)> = Vec::new();
    let mut last: Option<String> = None;
    for column in columns {
        let k = key(column);
        match (&last, out.last_mut()) {
            (Some(prev), Some((_, n))) if *prev == k => *n += 1,
            _ => out.push((k.clone(), 1)),
        }
        last = Some(k);
    }
    out
}

#[component]
fn Grid(page: Console, now: DateTime<Utc>) -> impl IntoView {
    if page.commits.is_empty() {
        return view! { <p class="notice">"No builds have been posted for this branch yet."</p> }
            .into_any();
    }
    if page.columns.is_empty() {
        return view! { <p class="notice">"No column matches these filters on this page."</p> }
            .into_any();
    }
    // Keys hold the groups above them, so equal names in different groups
    // stay apart; the last part is shown.
    let header = |key: fn(&ConsoleColumn) -> String| {
        spans(&page.columns, key)
            .into_iter()
            .map(|(k, n)| {
                let text = k.rsplit('\u{0}').next().unwrap_or_default().to_string();
                view! { <th scope="colgroup" colspan=n>{text}</th> }
            })
            .collect_view()
    };
    let components = header(|c| c.cell.component.clone());
    let arches = header(|c| format!("{}\u{0}{}", c.cell.component, c.cell.arch));
    let branch = page.branch.clone();
    let build_types = page
        .columns
        .iter()
        .map(|c| {
            let history = CellId::new(&branch, &c.cell.component, &c.cell.arch, &c.cell.build_type)
                .history_path();
            let stale = c.stale_since.map(|_| {
                let text = stale_text(c.last_build, now);
                let title = text.clone();
                view! {
                    <span class="stale-note" title=title>
                        <span aria-hidden="true">"⌛ "</span>
                        <span class="stale-word">{text}</span>
                    </span>
                }
            });
            view! {
                <th
                    scope="col"
                    class="bt-col"
                    class:stale=c.stale_since.is_some()
                    title=c.cell.label()
                >
                    <a href=history>{c.cell.build_type.clone()}</a>
                    {stale}
                </th>
            }
        })
        .collect_view();
    let rows = rows_html(&page, now);
    view! {
        <div class="console-scroll" tabindex="0" role="region" aria-label="Commits and builds">
            <table class="console-grid">
                <thead>
                    <tr>
                        <th scope="col" rowspan="3" class="commit-col">"Commit"</th>
                        {components}
                    </tr>
                    <tr>{arches}</tr>
                    <tr>{build_types}</tr>
                </thead>
                <tbody inner_html=rows></tbody>
            </table>
        </div>
    }
    .into_any()
}

/// The grid's rows as HTML: thousands of cells a page, written as one
/// string that hydration sets at once instead of walking cell by cell
/// (which kept a phone's main thread busy for seconds). Every text and
/// attribute from a post goes through [`escape`].
fn rows_html(page: &Console, now: DateTime<Utc>) -> String {
    let mut html = String::new();
    for commit in &page.commits {
        row_html(&mut html, page, commit, now);
    }
    html
}

fn row_html(html: &mut String, page: &Console, commit: &ConsoleCommit, now: DateTime<Utc>) {
    let sha = escape(&commit.commit);
    let short = escape(short_sha(&commit.commit));
    let title = escape(commit.title.as_deref().unwrap_or_default());
    html.push_str(&format!(
        r#"<tr data-commit="{sha}"><th scope="row" class="commit-col"><a href="/commit/{sha}" title="{sha}"><code>{short}</code></a>"#
    ));
    if let Some(pr) = commit.pr.filter(|_| !commit.repository.is_empty()) {
        let href = escape(&github::pull(&commit.repository, pr));
        html.push_str(&format!(r#" <a class="pr" href="{href}">#{pr}</a>"#));
    }
    html.push_str(&format!(
        r#"<span class="commit-title" title="{title}">{title}</span><span class="commit-meta">"#
    ));
    if let Some(author) = &commit.author {
        html.push_str(&format!(
            r#"<span class="author">{}</span> · "#,
            escape(author)
        ));
    }
    html.push_str(&format!(
        r#"<time datetime="{}" title="{}">{}</time></span></th>"#,
        commit.at.to_rfc3339(),
        exact_time(commit.at),
        ago(commit.at, now)
    ));
    for (i, (column, results)) in page.columns.iter().zip(&commit.results).enumerate() {
        cell_html(html, column, results, &short, page.mark(i, &commit.commit));
    }
    html.push_str("</tr>");
}

fn cell_html(
    html: &mut String,
    column: &ConsoleColumn,
    results: &[ConsoleResult],
    short: &str,
    mark: Option<&'static str>,
) {
    let name = escape(&column.cell.label());
    let class = match mark {
        Some(mark) => format!("gc mark-{mark}"),
        None => "gc".to_string(),
    };
    let Some(newest) = results.first() else {
        let label = format!("{name} at {short}: not built");
        html.push_str(&format!(
            r#"<td class="{class}" data-state="none"><span class="r state-none" role="img" title="{label}" aria-label="{label}">·</span></td>"#
        ));
        return;
    };
    let differs = disagree(results);
    html.push_str(&format!(
        r#"<td class="{class}" data-state="{}"{}>"#,
        newest.state(),
        if differs {
            r#" data-disagree="true""#
        } else {
            ""
        }
    ));
    for r in results {
        let label = format!("{name} at {short}: {}", r.label());
        let (class, icon) = (format!("r state-{}", r.state()), r.icon());
        match r.safe_url() {
            Some(url) => html.push_str(&format!(
                r#"<a class="{class}" href="{}" rel="noopener nofollow" title="{label}" aria-label="{label}">{icon}</a>"#,
                escape(url)
            )),
            None => html.push_str(&format!(
                r#"<span class="{class}" role="img" title="{label}" aria-label="{label}">{icon}</span>"#
            )),
        }
    }
    if differs {
        html.push_str(
            r#"<span class="r disagree-mark" role="img" title="reruns disagree" aria-label="reruns disagree">±</span>"#,
        );
    }
    html.push_str("</td>");
}

/// Text or an attribute value, safe in HTML.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CellKey, ConsoleFilter};

    #[test]
    fn rows_escape_what_posts_wrote() {
        use crate::model::BuildResult;
        let page = Console {
            branch: "master".into(),
            columns: vec![ConsoleColumn {
                cell: CellKey::new("agw", "arm64", "bazel-build"),
                stale_since: None,
                last_build: None,
            }],
            commits: vec![ConsoleCommit {
                commit: "a1b2c3d4e5".into(),
                repository: "magma/magma".into(),
                pr: Some(7),
                title: Some("<img src=x onerror=alert(1)> \"quoted\" & 'single'".into()),
                author: Some("<b>dev</b>".into()),
                at: chrono::Utc::now(),
                results: vec![vec![ConsoleResult {
                    id: "b1".into(),
                    result: BuildResult::Fail,
                    flaky: false,
                    url: Some("https://ci.example/run?a=1&b=\"2\"".into()),
                }]],
            }],
            incidents: Vec::new(),
            next_before: None,
            filter: ConsoleFilter::default(),
            older: false,
            components: Vec::new(),
            architectures: Vec::new(),
            generated_at: chrono::Utc::now(),
        };
        let html = rows_html(&page, page.generated_at);
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("<b>"), "{html}");
        assert!(html.contains(
            "&lt;img src=x onerror=alert(1)&gt; &quot;quoted&quot; &amp; &#39;single&#39;"
        ));
        assert!(html.contains(r#"href="https://ci.example/run?a=1&amp;b=&quot;2&quot;""#));
        assert!(html.contains(r#"aria-label="agw bazel-build arm64 at a1b2c3d: failed""#));
        // A link that is not http(s) is never one.
        let mut unsafe_link = page.clone();
        unsafe_link.commits[0].results[0][0].url = Some("javascript:alert(1)".into());
        let html = rows_html(&unsafe_link, page.generated_at);
        assert!(!html.contains("javascript:"), "{html}");
    }

    #[test]
    fn headers_span_the_columns_they_group() {
        let columns: Vec<ConsoleColumn> = [
            ("agw", "amd64", "build"),
            ("agw", "amd64", "integ"),
            ("agw", "arm64", "build"),
            ("orc8r", "amd64", "unit"),
        ]
        .into_iter()
        .map(|(c, a, b)| ConsoleColumn {
            cell: CellKey::new(c, a, b),
            stale_since: None,
            last_build: None,
        })
        .collect();
        assert_eq!(
            spans(&columns, |c| c.cell.component.clone()),
            [("agw".to_string(), 3), ("orc8r".to_string(), 1)]
        );
        let arches: Vec<usize> = spans(&columns, |c| {
            format!("{}\u{0}{}", c.cell.component, c.cell.arch)
        })
        .into_iter()
        .map(|(_, n)| n)
        .collect();
        assert_eq!(arches, [2, 1, 1]);
    }
}
