//! Validation of posted build records: turns untrusted JSON into [`Build`]s
//! or a [`FieldError`] naming the first bad field. Pure: no HTTP, no storage.

use std::collections::HashSet;

use app::model::{is_http_url, Build, BuildResult};
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use serde_json::{Map, Value};

use super::field_error::FieldError;
use super::ids::{check_build_id, Branch, CommitSha, Name, Repository};

/// Largest array accepted in one post.
pub const MAX_BATCH: usize = 1000;
const MAX_TEXT: usize = 256;
const MAX_URL: usize = 2048;
/// Clocks of CI runners drift; a little slack keeps honest posts valid.
const MAX_FUTURE: TimeDelta = TimeDelta::minutes(5);

const FIELDS: [&str; 17] = [
    "id",
    "repository",
    "commit",
    "parent",
    "branch",
    "pr",
    "component",
    "build_type",
    "arch",
    "result",
    "started_at",
    "finished_at",
    "url",
    "runner",
    "version",
    "commit_title",
    "author",
];

/// What the server knows that the body does not.
pub struct Context<'a> {
    pub default_repository: &'a str,
    pub now: DateTime<Utc>,
}

/// Parses a request body: one build object or an array of 1 to
/// [`MAX_BATCH`] of them. One invalid element rejects the whole body.
/// Builds without an `id` get a fresh one from `new_id`.
pub fn parse_body(
    body: &[u8],
    ctx: &Context,
    new_id: impl FnMut() -> String,
) -> Result<Vec<Build>, FieldError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| FieldError::body(format!("body is not valid JSON: {e}")))?;
    parse_value(value, ctx, new_id)
}

/// [`parse_body`] for a body already parsed as JSON (the legacy import).
pub fn parse_value(
    value: Value,
    ctx: &Context,
    mut new_id: impl FnMut() -> String,
) -> Result<Vec<Build>, FieldError> {
    let (elements, is_array) = match value {
        Value::Array(items) => (items, true),
        object @ Value::Object(_) => (vec![object], false),
        _ => {
            return Err(FieldError::body(
                "body must be a build object or an array of build objects",
            ))
        }
    };
    if elements.is_empty() {
        return Err(FieldError::body("the array of builds is empty"));
    }
    if elements.len() > MAX_BATCH {
        return Err(FieldError::body(format!(
            "at most {MAX_BATCH} builds per post, got {}",
            elements.len()
        )));
    }
    let mut seen = HashSet::new();
    let mut builds = Vec::with_capacity(elements.len());
    for (index, element) in elements.iter().enumerate() {
        let at = |e: FieldError| if is_array { e.at(index) } else { e };
        let build = parse_build(element, ctx, &mut new_id).map_err(at)?;
        if !seen.insert(build.id.clone()) {
            return Err(at(FieldError::field(
                "id",
                format!("id '{}' appears twice in this batch", build.id),
            )));
        }
        builds.push(build);
    }
    Ok(builds)
}

fn parse_build(
    value: &Value,
    ctx: &Context,
    new_id: &mut impl FnMut() -> String,
) -> Result<Build, FieldError> {
    let Value::Object(obj) = value else {
        return Err(FieldError::body("each build must be a JSON object"));
    };
    if let Some(unknown) = obj.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(FieldError::field(
            unknown,
            format!("unknown field '{unknown}'"),
        ));
    }
    let id = match text(obj, "id")? {
        Some(id) => {
            check_build_id(&id)?;
            id
        }
        None => new_id(),
    };
    let repository = match text(obj, "repository")? {
        Some(r) => Repository::parse(&r)?.into_string(),
        None => ctx.default_repository.to_string(),
    };
    let commit = sha(obj, "commit")?.ok_or_else(|| missing("commit"))?;
    let parent = sha(obj, "parent")?;
    let branch = Branch::parse(&required(obj, "branch")?)?.into_string();
    let pr = pr(obj)?;
    let component = Name::parse("component", &required(obj, "component")?)?.into_string();
    let build_type = Name::parse("build_type", &required(obj, "build_type")?)?.into_string();
    let arch = Name::arch(&required(obj, "arch")?)?.into_string();
    let result_word = required(obj, "result")?;
    let result = BuildResult::parse(&result_word).ok_or_else(|| {
        FieldError::field(
            "result",
            format!(
                "unknown result '{result_word}': use running, pass, fail, error or cancelled \
                 (success, failure and inconclusive are accepted too)"
            ),
        )
    })?;
    let started_at = time(obj, "started_at", ctx)?.ok_or_else(|| missing("started_at"))?;
    let finished_at = time(obj, "finished_at", ctx)?;
    match (result, finished_at) {
        (BuildResult::Running, Some(_)) => {
            return Err(FieldError::field(
                "finished_at",
                "a running build has no finished_at yet",
            ))
        }
        (r, None) if r.is_finished() => {
            return Err(FieldError::field(
                "finished_at",
                format!("finished_at is required when result is {}", r.as_str()),
            ))
        }
        (_, Some(finished)) if finished < started_at => {
            return Err(FieldError::field(
                "finished_at",
                "finished_at is before started_at",
            ))
        }
        _ => {}
    }
    let url = match text(obj, "url")? {
        Some(u) => Some(log_url(&u)?),
        None => None,
    };
    Ok(Build {
        id,
        repository,
        commit,
        parent,
        cell: app::model::CellId {
            branch,
            component,
            arch,
            build_type,
        },
        pr,
        result,
        started_at,
        finished_at,
        url,
        runner: free_text(obj, "runner")?,
        version: free_text(obj, "version")?,
        commit_title: free_text(obj, "commit_title")?,
        author: free_text(obj, "author")?,
        posted_by: None,
    })
}

fn missing(field: &str) -> FieldError {
    FieldError::field(field, format!("{field} is required"))
}

/// A string field; JSON `null` counts as absent.
fn text(obj: &Map<String, Value>, field: &str) -> Result<Option<String>, FieldError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(FieldError::field(
            field,
            format!("{field} must be a string, not {}", kind(other)),
        )),
    }
}

fn required(obj: &Map<String, Value>, field: &str) -> Result<String, FieldError> {
    text(obj, field)?.ok_or_else(|| missing(field))
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn sha(obj: &Map<String, Value>, field: &str) -> Result<Option<String>, FieldError> {
    let Some(value) = text(obj, field)? else {
        return Ok(None);
    };
    Ok(Some(CommitSha::parse(field, &value)?.into_string()))
}

fn pr(obj: &Map<String, Value>) -> Result<Option<u64>, FieldError> {
    match obj.get("pr") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_u64() {
            // Stores keep signed 64-bit integers: a larger number would be
            // stored as nothing.
            Some(pr) if pr > 0 && i64::try_from(pr).is_ok() => Ok(Some(pr)),
            _ => Err(FieldError::field(
                "pr",
                "pr must be a positive integer up to 9223372036854775807",
            )),
        },
        Some(other) => Err(FieldError::field(
            "pr",
            format!("pr must be a positive integer, not {}", kind(other)),
        )),
    }
}

fn time(
    obj: &Map<String, Value>,
    field: &str,
    ctx: &Context,
) -> Result<Option<DateTime<Utc>>, FieldError> {
    let Some(value) = text(obj, field)? else {
        return Ok(None);
    };
    let parsed = DateTime::parse_from_rfc3339(&value).map_err(|e| {
        FieldError::field(
            field,
            format!(
                "{field} '{value}' is not an RFC 3339 date-time ({e}), e.g. 2026-11-27T10:00:00Z"
            ),
        )
    })?;
    // Stores keep microseconds; truncating here makes every store agree.
    let utc = parsed
        .with_timezone(&Utc)
        .duration_trunc(TimeDelta::microseconds(1))
        .map_err(|e| FieldError::field(field, format!("{field} is out of range: {e}")))?;
    // Stores order builds by non-negative microseconds since the epoch.
    if utc.timestamp() < 0 {
        return Err(FieldError::field(
            field,
            format!("{field} is before 1970-01-01"),
        ));
    }
    if utc > ctx.now + MAX_FUTURE {
        return Err(FieldError::field(
            field,
            format!("{field} is more than 5 minutes in the future"),
        ));
    }
    Ok(Some(utc))
}

fn log_url(value: &str) -> Result<String, FieldError> {
    if value.len() > MAX_URL {
        return Err(FieldError::field(
            "url",
            "url is longer than 2048 characters",
        ));
    }
    let parsed = url::Url::parse(value)
        .map_err(|e| FieldError::field("url", format!("url is not an absolute URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(FieldError::field(
            "url",
            "url must be an http or https link to the logs",
        ));
    }
    let normalised = parsed.to_string();
    debug_assert!(is_http_url(&normalised));
    Ok(normalised)
}

/// Free text is stored as sent (HTML included: it is escaped when shown),
/// but control characters have no place in a one-line label.
fn free_text(obj: &Map<String, Value>, field: &str) -> Result<Option<String>, FieldError> {
    let Some(value) = text(obj, field)? else {
        return Ok(None);
    };
    if value.chars().count() > MAX_TEXT {
        return Err(FieldError::field(
            field,
            format!("{field} is longer than {MAX_TEXT} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(FieldError::field(
            field,
            format!("{field} contains control characters"),
        ));
    }
    Ok(Some(value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    const SHA: &str = "0123456789ABCDEF0123456789abcdef01234567";

    fn ctx() -> Context<'static> {
        Context {
            default_repository: "magma/magma",
            now: Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap(),
        }
    }

    fn valid() -> Value {
        json!({
            "commit": SHA,
            "branch": "refs/heads/master",
            "component": "AGW",
            "arch": "aarch64",
            "build_type": "bazel-build",
            "result": "success",
            "started_at": "2026-11-27T10:00:00.1234567Z",
            "finished_at": "2026-11-27T11:30:00+01:00",
        })
    }

    fn parse(value: Value) -> Result<Vec<Build>, FieldError> {
        let mut n = 0;
        parse_body(value.to_string().as_bytes(), &ctx(), || {
            n += 1;
            format!("gen-{n}")
        })
    }

    fn with(field: &str, value: Value) -> Value {
        let mut v = valid();
        v[field] = value;
        v
    }

    fn without(field: &str) -> Value {
        let mut v = valid();
        v.as_object_mut().unwrap().remove(field);
        v
    }

    fn rejected(value: Value) -> (Option<String>, String) {
        let e = parse(value).expect_err("must be rejected");
        (e.field, e.message)
    }

    fn field_of(value: Value) -> String {
        rejected(value).0.expect("error names a field")
    }

    #[test]
    fn normalises_a_valid_build() {
        let b = parse(valid()).unwrap().remove(0);
        assert_eq!(b.id, "gen-1");
        assert_eq!(b.repository, "magma/magma");
        assert_eq!(b.commit, SHA.to_ascii_lowercase());
        assert_eq!(b.cell.branch, "master");
        assert_eq!(b.cell.component, "agw");
        assert_eq!(b.cell.arch, "arm64");
        assert_eq!(b.result, BuildResult::Pass);
        assert_eq!(
            b.started_at,
            Utc.with_ymd_and_hms(2026, 11, 27, 10, 0, 0).unwrap()
                + TimeDelta::microseconds(123_456)
        );
        assert_eq!(
            b.finished_at,
            Some(Utc.with_ymd_and_hms(2026, 11, 27, 10, 30, 0).unwrap())
        );
    }

    #[test]
    fn finished_before_started_is_rejected() {
        assert_eq!(
            rejected(with("finished_at", json!("2026-11-27T10:59:59+01:00"))),
            (
                Some("finished_at".into()),
                "finished_at is before started_at".into()
            )
        );
    }

    #[test]
    fn accepts_optional_fields() {
        let b = parse(json!({
            "id": "gha:123:1.agw-arm64",
            "repository": "magma/magma",
            "commit": SHA,
            "parent": "ffffffffffffffffffffffffffffffffffffffff",
            "branch": "v1.8",
            "pr": 1234,
            "component": "agw",
            "arch": "x86_64",
            "build_type": "unit-tests",
            "result": "failure",
            "started_at": "2026-11-27T10:00:00Z",
            "finished_at": "2026-11-27T10:05:00Z",
            "url": "https://github.com/magma/magma/actions/runs/1",
            "runner": "<b>graviton</b>",
            "version": "1.8.1",
            "commit_title": "Fix Vec<u8> parsing",
            "author": "dev",
        }))
        .unwrap()
        .remove(0);
        assert_eq!(b.id, "gha:123:1.agw-arm64");
        assert_eq!(b.cell.arch, "amd64");
        assert_eq!(b.pr, Some(1234));
        assert_eq!(b.result, BuildResult::Fail);
        assert_eq!(b.runner.as_deref(), Some("<b>graviton</b>"));
        assert_eq!(b.commit_title.as_deref(), Some("Fix Vec<u8> parsing"));
    }

    #[test]
    fn result_words_and_new_architectures() {
        for (word, result) in [
            ("pass", BuildResult::Pass),
            ("SUCCESS", BuildResult::Pass),
            ("fail", BuildResult::Fail),
            ("failure", BuildResult::Fail),
            ("error", BuildResult::Error),
            ("inconclusive", BuildResult::Error),
            ("cancelled", BuildResult::Cancelled),
        ] {
            assert_eq!(
                parse(with("result", json!(word))).unwrap()[0].result,
                result
            );
        }
        assert_eq!(
            parse(with("arch", json!("riscv64"))).unwrap()[0].cell.arch,
            "riscv64"
        );
        assert_eq!(field_of(with("result", json!("skipped"))), "result");
    }

    #[test]
    fn running_builds_have_no_finish_time() {
        let mut running = with("result", json!("running"));
        running.as_object_mut().unwrap().remove("finished_at");
        assert_eq!(parse(running).unwrap()[0].finished_at, None);
        assert_eq!(field_of(with("result", json!("running"))), "finished_at");
        let mut pass = valid();
        pass.as_object_mut().unwrap().remove("finished_at");
        assert_eq!(field_of(pass), "finished_at");
    }

    #[test]
    fn required_fields() {
        for field in [
            "commit",
            "branch",
            "component",
            "build_type",
            "arch",
            "result",
            "started_at",
        ] {
            let mut v = valid();
            v.as_object_mut().unwrap().remove(field);
            assert_eq!(
                rejected(v),
                (Some(field.into()), format!("{field} is required"))
            );
            assert_eq!(field_of(with(field, Value::Null)), field);
        }
        assert_eq!(field_of(without("commit")), "commit");
    }

    #[test]
    fn wrong_types_name_the_field() {
        for field in [
            "id",
            "commit",
            "branch",
            "component",
            "arch",
            "url",
            "author",
            "started_at",
        ] {
            assert_eq!(field_of(with(field, json!(42))), field);
            assert_eq!(field_of(with(field, json!(["x"]))), field);
        }
        assert_eq!(field_of(with("pr", json!("12"))), "pr");
        assert_eq!(field_of(with("pr", json!(0))), "pr");
        assert_eq!(field_of(with("pr", json!(-3))), "pr");
        assert_eq!(field_of(with("pr", json!(1.5))), "pr");
        assert_eq!(
            field_of(with("pr", json!(9_223_372_036_854_775_808u64))),
            "pr"
        );
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let (field, message) = rejected(with("comit", json!(SHA)));
        assert_eq!(field.as_deref(), Some("comit"));
        assert!(message.contains("unknown field"));
    }

    #[test]
    fn identifiers() {
        assert_eq!(field_of(with("id", json!(""))), "id");
        assert_eq!(
            field_of(with("started_at", json!("1969-12-31T23:59:59Z"))),
            "started_at"
        );
        assert_eq!(field_of(with("id", json!("a b"))), "id");
        assert_eq!(field_of(with("id", json!("x".repeat(129)))), "id");
        assert!(parse(with("id", json!("x".repeat(128)))).is_ok());
        assert_eq!(field_of(with("commit", json!("abc1234"))), "commit");
        assert_eq!(field_of(with("commit", json!("g".repeat(40)))), "commit");
        assert_eq!(field_of(with("parent", json!("123"))), "parent");
        assert_eq!(field_of(with("component", json!("<script>"))), "component");
        assert_eq!(
            field_of(with("component", json!("a".repeat(65)))),
            "component"
        );
        assert_eq!(
            field_of(with("build_type", json!("bazel build"))),
            "build_type"
        );
        assert_eq!(field_of(with("arch", json!("arm/64"))), "arch");
        assert_eq!(field_of(with("repository", json!("magma"))), "repository");
        assert_eq!(field_of(with("repository", json!("a/b/c"))), "repository");
        assert_eq!(field_of(with("repository", json!("<x>/y"))), "repository");
    }

    #[test]
    fn branches_follow_git_rules() {
        for good in ["master", "v1.8", "feature/arm64-fix", "refs/heads/v1.7"] {
            assert!(parse(with("branch", json!(good))).is_ok(), "{good}");
        }
        for bad in [
            "", "a b", "a..b", "a~1", "x:y", "/x", "x/", "x.lock", ".hidden", "a\u{7}b", "x@{1}",
        ] {
            assert_eq!(field_of(with("branch", json!(bad))), "branch", "{bad:?}");
        }
        assert_eq!(field_of(with("branch", json!("b".repeat(256)))), "branch");
    }

    #[test]
    fn times() {
        assert_eq!(
            field_of(with("started_at", json!("yesterday"))),
            "started_at"
        );
        assert_eq!(
            field_of(with("started_at", json!("10000-01-01T00:00:00Z"))),
            "started_at"
        );
        assert_eq!(
            field_of(with("started_at", json!("2026-11-27 10:00"))),
            "started_at"
        );
        // 4 minutes ahead is clock drift; 6 minutes is an error.
        let mut v = with("started_at", json!("2026-11-27T12:04:00Z"));
        v["finished_at"] = json!("2026-11-27T12:04:00Z");
        assert!(parse(v).is_ok());
        let mut v = with("started_at", json!("2026-11-27T10:00:00Z"));
        v["finished_at"] = json!("2026-11-27T12:06:00Z");
        assert_eq!(field_of(v), "finished_at");
    }

    #[test]
    fn only_http_log_links() {
        for bad in [
            "javascript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "ftp://ci.example/log",
            "/relative/log",
            "https://",
        ] {
            assert_eq!(field_of(with("url", json!(bad))), "url", "{bad}");
        }
        let b = parse(with("url", json!("https://ci.example/run/1?x=<y>"))).unwrap();
        assert!(b[0]
            .url
            .as_deref()
            .unwrap()
            .starts_with("https://ci.example/run/1"));
        let long = format!("https://ci.example/{}", "a".repeat(2100));
        assert_eq!(field_of(with("url", json!(long))), "url");
    }

    #[test]
    fn free_text_limits() {
        assert_eq!(field_of(with("author", json!("a".repeat(257)))), "author");
        assert!(parse(with("author", json!("é".repeat(256)))).is_ok());
        assert_eq!(
            field_of(with("commit_title", json!("a\nb"))),
            "commit_title"
        );
        assert_eq!(field_of(with("runner", json!("a\u{0}b"))), "runner");
    }

    #[test]
    fn batches_are_all_or_nothing() {
        let good = parse(json!([valid(), valid()])).unwrap();
        assert_eq!(good.len(), 2);
        assert_ne!(good[0].id, good[1].id);

        let e = parse(json!([valid(), with("arch", json!("")), valid()])).unwrap_err();
        assert_eq!((e.field.as_deref(), e.index), (Some("arch"), Some(1)));

        let e = parse(json!([with("id", json!("a")), with("id", json!("a"))])).unwrap_err();
        assert_eq!((e.field.as_deref(), e.index), (Some("id"), Some(1)));

        assert_eq!(parse(json!([])).unwrap_err().field, None);
        let too_many: Vec<Value> = (0..=MAX_BATCH).map(|_| valid()).collect();
        assert!(parse(Value::Array(too_many))
            .unwrap_err()
            .message
            .contains("at most 1000"));
        assert!(parse(json!([1])).is_err());
        assert!(parse(json!("build")).is_err());
    }

    #[test]
    fn malformed_bodies() {
        let mut n = 0;
        let mut gen = || {
            n += 1;
            n.to_string()
        };
        assert!(parse_body(b"{", &ctx(), &mut gen).is_err());
        assert!(parse_body(b"\xff\xfe", &ctx(), &mut gen).is_err());
        let deep = "[".repeat(10_000);
        assert!(parse_body(deep.as_bytes(), &ctx(), &mut gen).is_err());
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Values a hostile or confused client might send for any field.
        fn value() -> impl Strategy<Value = Value> {
            prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<i64>().prop_map(|n| json!(n)),
                any::<f64>().prop_map(|f| json!(f)),
                ".{0,80}".prop_map(Value::String),
                "[0-9a-f]{7,40}".prop_map(Value::String),
                "(https?|javascript|data|ftp):.{0,40}".prop_map(Value::String),
                "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z".prop_map(Value::String),
                Just(json!(["pass"])),
                Just(json!({"nested": {"deeper": [1, 2]}})),
            ]
        }

        /// A valid build with some fields replaced, removed or added.
        fn mutated() -> impl Strategy<Value = Value> {
            let names = prop_oneof![
                proptest::sample::select(FIELDS.to_vec()).prop_map(str::to_string),
                "[a-z_]{1,12}",
            ];
            proptest::collection::vec((names, proptest::option::of(value())), 0..6).prop_map(
                |changes| {
                    let mut build = valid();
                    let obj = build.as_object_mut().unwrap();
                    for (name, change) in changes {
                        match change {
                            Some(v) => obj.insert(name, v),
                            None => obj.remove(&name),
                        };
                    }
                    build
                },
            )
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]

            #[test]
            fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
                let _ = parse_body(&bytes, &ctx(), || "generated".into());
            }

            #[test]
            fn every_outcome_is_a_valid_build_or_a_named_rejection(body in mutated()) {
                let sent = body.as_object().unwrap().clone();
                match parse(body) {
                    Ok(builds) => {
                        let b = &builds[0];
                        prop_assert!(b.url.as_deref().is_none_or(|u| u.starts_with("http://") || u.starts_with("https://")));
                        prop_assert!(b.commit.len() >= 7 && b.commit.chars().all(|c| c.is_ascii_hexdigit()));
                        prop_assert!(b.finished_at.is_none_or(|f| f >= b.started_at));
                        prop_assert!(b.started_at.timestamp() >= 0);
                    }
                    Err(e) => {
                        prop_assert!(!e.message.is_empty());
                        let field = e.field.expect("a rejected object names its field");
                        prop_assert!(FIELDS.contains(&field.as_str()) || sent.contains_key(&field), "{}", field);
                    }
                }
            }
        }
    }
}
