//! `ci-dashboard post`: the CI-side client. It fills fields from GitHub
//! Actions' environment, derives a stable id so retries and re-runs of a
//! step are idempotent, retries outages with backoff, and by default never
//! fails the CI job because the dashboard is down.

use std::time::Duration;

use clap::Args;
use serde_json::{json, Map, Value};

/// One build to post; flags win over GitHub Actions' environment.
#[derive(Args, Debug, Clone)]
pub struct PostArgs {
    /// Dashboard URL, e.g. https://ci.example.org
    #[arg(long, env = "CI_DASHBOARD_URL")]
    pub server: String,
    /// Ingestion token (`ci-dashboard token create`).
    #[arg(long, env = "CI_DASHBOARD_TOKEN", hide_env_values = true)]
    pub token: String,
    /// Component, e.g. agw.
    #[arg(long)]
    pub component: String,
    /// Build type, e.g. bazel-build or lte-integ-test.
    #[arg(long)]
    pub build_type: String,
    /// pass, fail, error, cancelled or running (success/failure accepted).
    #[arg(long)]
    pub result: String,
    /// Architecture [default: this machine's, amd64 or arm64]
    #[arg(long)]
    pub arch: Option<String>,
    /// Commit SHA [default: $GITHUB_SHA]
    #[arg(long)]
    pub commit: Option<String>,
    /// Branch [default: $GITHUB_HEAD_REF for pull requests, else $GITHUB_REF_NAME]
    #[arg(long)]
    pub branch: Option<String>,
    /// owner/name [default: $GITHUB_REPOSITORY]
    #[arg(long)]
    pub repository: Option<String>,
    /// Idempotency key [default: gha:$GITHUB_RUN_ID:$GITHUB_RUN_ATTEMPT:component-arch-build_type]
    #[arg(long)]
    pub id: Option<String>,
    /// Pull request number.
    #[arg(long)]
    pub pr: Option<u64>,
    /// Parent commit SHA, the baseline for verdicts.
    #[arg(long)]
    pub parent: Option<String>,
    /// RFC 3339 start time; required for a finished build unless the
    /// environment has it ($CI_DASHBOARD_STARTED_AT, or GitLab's
    /// $CI_JOB_STARTED_AT) [default for a running build: now]
    #[arg(long, env = "CI_DASHBOARD_STARTED_AT")]
    pub started_at: Option<String>,
    /// RFC 3339 end time [default: now, for finished results]
    #[arg(long)]
    pub finished_at: Option<String>,
    /// Logs link [default: the GitHub Actions run]
    #[arg(long)]
    pub url: Option<String>,
    /// Runner name [default: $RUNNER_NAME]
    #[arg(long)]
    pub runner: Option<String>,
    /// Package version built.
    #[arg(long)]
    pub version: Option<String>,
    /// Commit title.
    #[arg(long)]
    pub commit_title: Option<String>,
    /// Commit author [default: $GITHUB_ACTOR]
    #[arg(long)]
    pub author: Option<String>,
    /// JUnit XML files of the build's tests (a glob, e.g. 'reports/*.xml';
    /// repeatable): uploaded, gzipped, once the build is posted.
    #[arg(long)]
    pub junit: Vec<String>,
    /// Fail (exit 1) when the dashboard cannot be reached, instead of warning.
    #[arg(long)]
    pub strict: bool,
    /// Attempts before giving up on an unreachable dashboard.
    #[arg(long, default_value_t = 6)]
    pub attempts: u32,
    /// Seconds of the first retry delay; it doubles each time, up to 60.
    #[arg(long, default_value_t = 2.0)]
    pub backoff: f64,
}

/// How a post ended, and what the process should exit with.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Posted {
        id: String,
        status: u16,
    },
    /// The dashboard refused the build: fix the call.
    Rejected {
        status: u16,
        message: String,
    },
    /// The dashboard stayed unreachable or failing for every attempt.
    Unreachable {
        last_error: String,
    },
}

impl Outcome {
    pub fn exit_code(&self, strict: bool) -> u8 {
        match self {
            Outcome::Posted { .. } => 0,
            Outcome::Rejected { .. } => 1,
            Outcome::Unreachable { .. } => u8::from(strict),
        }
    }
}

pub(super) fn this_arch() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "arm64",
        "x86_64" => "amd64",
        other => other,
    }
}

/// The JSON body: flags, else GitHub Actions' variables from `env`; an
/// error when a finished build's start time is nowhere to be found.
pub fn body(args: &PostArgs, env: &dyn Fn(&str) -> Option<String>) -> Result<Value, String> {
    let env = |name: &str| env(name).filter(|v| !v.is_empty());
    let arch = args.arch.clone().unwrap_or_else(|| this_arch().to_string());
    let id = args.id.clone().or_else(|| {
        let run = env("GITHUB_RUN_ID")?;
        let attempt = env("GITHUB_RUN_ATTEMPT").unwrap_or_else(|| "1".into());
        Some(format!(
            "gha:{run}:{attempt}:{}-{arch}-{}",
            args.component, args.build_type
        ))
    });
    let repository = args.repository.clone().or_else(|| env("GITHUB_REPOSITORY"));
    let url = args.url.clone().or_else(|| {
        Some(format!(
            "{}/{}/actions/runs/{}",
            env("GITHUB_SERVER_URL").unwrap_or_else(|| "https://github.com".into()),
            repository.clone()?,
            env("GITHUB_RUN_ID")?
        ))
    });
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let running = matches!(args.result.to_ascii_lowercase().as_str(), "running");
    // Posting time is a wrong start for a finished build: its duration
    // would read 0 and it would sort after builds that started later.
    let started_at = args
        .started_at
        .clone()
        .or_else(|| env("CI_JOB_STARTED_AT"))
        .or_else(|| running.then(|| now.clone()))
        .ok_or_else(|| {
            "--started-at is required for a finished build: pass the job's start time \
             (RFC 3339), or set CI_DASHBOARD_STARTED_AT in the job's first step, e.g. \
             `echo \"CI_DASHBOARD_STARTED_AT=$(date -u +%FT%TZ)\" >> \"$GITHUB_ENV\"`"
                .to_string()
        })?;
    let fields = [
        ("id", id),
        ("commit", args.commit.clone().or_else(|| env("GITHUB_SHA"))),
        (
            "branch",
            args.branch
                .clone()
                .or_else(|| env("GITHUB_HEAD_REF"))
                .or_else(|| env("GITHUB_REF_NAME")),
        ),
        ("repository", repository),
        ("component", Some(args.component.clone())),
        ("arch", Some(arch)),
        ("build_type", Some(args.build_type.clone())),
        ("result", Some(args.result.clone())),
        ("started_at", Some(started_at)),
        (
            "finished_at",
            args.finished_at
                .clone()
                .or_else(|| (!running).then(|| now.clone())),
        ),
        ("url", url),
        ("parent", args.parent.clone()),
        ("runner", args.runner.clone().or_else(|| env("RUNNER_NAME"))),
        ("version", args.version.clone()),
        ("commit_title", args.commit_title.clone()),
        (
            "author",
            args.author.clone().or_else(|| env("GITHUB_ACTOR")),
        ),
    ];
    let mut body: Map<String, Value> = fields
        .into_iter()
        .filter_map(|(k, v)| Some((k.to_string(), Value::String(v?))))
        .collect();
    if let Some(pr) = args.pr {
        body.insert("pr".into(), json!(pr));
    }
    Ok(Value::Object(body))
}

/// How the command line talks to a dashboard. Redirects are never followed:
/// a followed redirect turns a POST into a GET, and the build would be lost
/// while the job believes it posted.
pub fn dashboard_client(timeout: Duration) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("ci-dashboard-post/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// A warning when a token would cross a network in clear: `http://` to a
/// host other than this machine.
pub fn cleartext_warning(server: &str) -> Option<String> {
    let url = url::Url::parse(server).ok()?;
    if url.scheme() != "http" {
        return None;
    }
    let local = match url.host()? {
        url::Host::Domain(name) => name.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    };
    (!local).then(|| {
        format!(
            "warning: {server} is plain http: the token crosses the network in clear; use https"
        )
    })
}

/// Posts `body`, retrying network errors and 5xx (honouring Retry-After).
pub async fn post(args: &PostArgs, mut body: Value) -> Outcome {
    // Without a stable id from the environment, one id for every attempt
    // still keeps retries from creating duplicates.
    if body.get("id").is_none() {
        body["id"] = json!(format!("post:{}", uuid::Uuid::new_v4()));
    }
    let endpoint = format!("{}/api/v1/builds", args.server.trim_end_matches('/'));
    let id = body["id"].clone();
    send(
        args,
        |client| client.post(&endpoint).bearer_auth(&args.token).json(&body),
        // Only the dashboard answers with the posted id; anything else (a
        // proxy, a login page) did not store the build.
        |answer| {
            (answer["ids"][0] == id)
                .then(|| answer["ids"][0].as_str().unwrap_or_default().to_string())
        },
    )
    .await
}

/// Uploads the JUnit files matching `args.junit` for the posted build
/// `id`, gzipped, each with the same retries as the build. The first
/// refusal or outage ends it; no file matching is only a warning.
/// The files `--junit` globs name, sorted, each once.
pub fn junit_files(patterns: &[String]) -> Result<Vec<std::path::PathBuf>, String> {
    let mut files = Vec::new();
    for pattern in patterns {
        let paths = glob::glob(pattern)
            .map_err(|e| format!("--junit '{pattern}' is not a valid glob: {e}"))?;
        files.extend(paths.filter_map(Result::ok).filter(|p| p.is_file()));
    }
    files.sort();
    files.dedup();
    Ok(files)
}

pub async fn upload_junit(args: &PostArgs, id: &str) -> Vec<(String, Outcome)> {
    let files = match junit_files(&args.junit) {
        Ok(files) => files,
        Err(message) => {
            return vec![(
                args.junit.join(" "),
                Outcome::Rejected { status: 0, message },
            )]
        }
    };
    let Ok(mut endpoint) = url::Url::parse(args.server.trim_end_matches('/')) else {
        return vec![(
            args.server.clone(),
            Outcome::Rejected {
                status: 0,
                message: "--server is not a URL".into(),
            },
        )];
    };
    if let Ok(mut segments) = endpoint.path_segments_mut() {
        segments.extend(["api", "v1", "builds", id, "tests"]);
    }
    let mut done = Vec::new();
    for file in files {
        let name = file.display().to_string();
        let outcome = match std::fs::read(&file).and_then(|xml| gzip(&xml)) {
            Ok(body) => {
                send(
                    args,
                    |client| {
                        client
                            .post(endpoint.clone())
                            .bearer_auth(&args.token)
                            .header(reqwest::header::CONTENT_TYPE, "application/xml")
                            .header(reqwest::header::CONTENT_ENCODING, "gzip")
                            .body(body.clone())
                    },
                    |answer| (answer["build"] == id).then(|| id.to_string()),
                )
                .await
            }
            Err(e) => Outcome::Rejected {
                status: 0,
                message: format!("cannot read {name}: {e}"),
            },
        };
        let stop = !matches!(outcome, Outcome::Posted { .. });
        done.push((name, outcome));
        if stop {
            break;
        }
    }
    done
}

fn gzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes)?;
    encoder.finish()
}

/// Sends what `request` builds until the dashboard answers: 2xx whose JSON
/// `accept` recognises (returning the id) is done, other 4xx are refusals,
/// network errors, 429 and 5xx are retried with backoff.
async fn send(
    args: &PostArgs,
    request: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    accept: impl Fn(&Value) -> Option<String>,
) -> Outcome {
    let client = match dashboard_client(Duration::from_secs(30)) {
        Ok(c) => c,
        Err(e) => {
            return Outcome::Unreachable {
                last_error: e.to_string(),
            }
        }
    };
    let mut delay = args.backoff;
    let mut last_error = String::new();
    for attempt in 1..=args.attempts.max(1) {
        let sent = request(&client).send().await;
        let mut wait = delay;
        match sent {
            Ok(resp) if resp.status().is_success() => {
                let status = resp.status().as_u16();
                let answer: Value = resp.json().await.unwrap_or_default();
                if let Some(id) = accept(&answer) {
                    return Outcome::Posted { id, status };
                }
                last_error =
                    format!("HTTP {status} without the posted id: not a ci-dashboard answer");
            }
            Ok(resp) if resp.status().is_redirection() => {
                let status = resp.status().as_u16();
                let location = resp
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("nowhere");
                return Outcome::Rejected {
                    status,
                    message: format!(
                        "the server redirects the post to {location}: set --server to the \
                         address it names (redirects are not followed, they would drop the build)"
                    ),
                };
            }
            Ok(resp) if resp.status().is_client_error() && resp.status().as_u16() != 429 => {
                let status = resp.status().as_u16();
                let answer: Value = resp.json().await.unwrap_or_default();
                let message = match (answer["error"].as_str(), answer["field"].as_str()) {
                    (Some(error), Some(field)) => format!("{error} (field: {field})"),
                    (Some(error), None) => error.to_string(),
                    _ => format!("HTTP {status}"),
                };
                return Outcome::Rejected { status, message };
            }
            Ok(resp) => {
                if let Some(after) = resp
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<f64>().ok())
                    .filter(|after| after.is_finite())
                {
                    wait = after.clamp(1.0, 300.0);
                }
                last_error = format!("HTTP {}", resp.status());
            }
            Err(e) => last_error = e.to_string(),
        }
        if attempt < args.attempts {
            eprintln!(
                "ci-dashboard post: attempt {attempt} failed ({last_error}); retrying in {wait:.1} s"
            );
            tokio::time::sleep(Duration::from_secs_f64(wait)).await;
            delay = (delay * 2.0).min(60.0);
        }
    }
    Outcome::Unreachable { last_error }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_sent_in_clear_over_a_network_is_warned_about() {
        for server in [
            "http://ci.example.org",
            "http://10.0.0.5:3000",
            "HTTP://[2001:db8::1]/",
        ] {
            assert!(cleartext_warning(server).is_some(), "{server}");
        }
        for server in [
            "https://ci.example.org",
            "http://127.0.0.1:3000",
            "http://localhost:3000",
            "http://[::1]:3000",
        ] {
            assert_eq!(cleartext_warning(server), None, "{server}");
        }
    }
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        post: PostArgs,
    }

    fn args(extra: &[&str]) -> PostArgs {
        let base = [
            "post",
            "--server",
            "http://x",
            "--token",
            "t",
            "--component",
            "agw",
            "--build-type",
            "bazel-build",
            "--result",
            "pass",
        ];
        Cli::parse_from(base.iter().chain(extra)).post
    }

    #[test]
    fn fills_fields_from_github_actions() {
        let env = |name: &str| {
            Some(
                match name {
                    "GITHUB_SHA" => "abc1234abc1234abc1234abc1234abc1234abc12",
                    "GITHUB_REF_NAME" => "master",
                    "GITHUB_HEAD_REF" => "",
                    "GITHUB_REPOSITORY" => "magma/magma",
                    "GITHUB_RUN_ID" => "99",
                    "GITHUB_RUN_ATTEMPT" => "2",
                    "GITHUB_ACTOR" => "alice",
                    _ => return None,
                }
                .to_string(),
            )
        };
        let body = body(
            &args(&["--arch", "arm64", "--started-at", "2026-11-27T10:00:00Z"]),
            &env,
        )
        .unwrap();
        assert_eq!(body["started_at"], "2026-11-27T10:00:00Z");
        assert_eq!(body["id"], "gha:99:2:agw-arm64-bazel-build");
        assert_eq!(body["commit"], "abc1234abc1234abc1234abc1234abc1234abc12");
        assert_eq!(body["branch"], "master");
        assert_eq!(
            body["url"],
            "https://github.com/magma/magma/actions/runs/99"
        );
        assert_eq!(body["author"], "alice");
        assert!(body["finished_at"].is_string());
    }

    #[test]
    fn flags_win_and_running_has_no_end() {
        let env = |name: &str| (name == "GITHUB_SHA").then(|| "f".repeat(40));
        let mut a = args(&["--commit", "abc1234", "--branch", "v1.8", "--pr", "12"]);
        a.result = "running".into();
        let body = body(&a, &env).unwrap();
        assert!(body["started_at"].is_string());
        assert_eq!(body["commit"], "abc1234");
        assert_eq!(body["branch"], "v1.8");
        assert_eq!(body["pr"], 12);
        assert!(body.get("finished_at").is_none());
        assert!(body.get("id").is_none());
        assert!(body.get("url").is_none());
    }

    #[test]
    fn a_finished_build_needs_its_start_time() {
        let none = |_: &str| None;
        let error = body(&args(&[]), &none).unwrap_err();
        assert!(error.contains("--started-at is required"), "{error}");
        assert!(error.contains("CI_DASHBOARD_STARTED_AT"), "{error}");
        let gitlab =
            |name: &str| (name == "CI_JOB_STARTED_AT").then(|| "2026-11-27T09:00:00Z".into());
        assert_eq!(
            body(&args(&[]), &gitlab).unwrap()["started_at"],
            "2026-11-27T09:00:00Z"
        );
    }

    #[test]
    fn outages_only_fail_strict_jobs() {
        let down = Outcome::Unreachable {
            last_error: "refused".into(),
        };
        assert_eq!((down.exit_code(false), down.exit_code(true)), (0, 1));
        let bad = Outcome::Rejected {
            status: 400,
            message: "x".into(),
        };
        assert_eq!(bad.exit_code(false), 1);
    }
}
