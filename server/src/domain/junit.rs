//! JUnit XML, as CI tools write it (Ant/JUnit, pytest, go-junit-report,
//! Bazel's test.xml, Jest, Surefire, nested `testsuites`), read into test
//! cases with quick-xml's pull reader. Untrusted input: no DOCTYPE (so no
//! entity can be declared, expanded or fetched), bounded depth, test count,
//! attributes per element, name and message sizes, UTF-8 only, and a
//! truncated file is an error. What real tools write but the dashboard
//! cannot key (control characters in names, unnamed cases) is mended, not
//! refused: refusing loses every result of the build.

use app::model::{TestCase, TestStatus, TestTotals};
use quick_xml::escape::resolve_xml_entity;
use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::{Reader, XmlVersion};

use super::field_error::FieldError;

/// Test cases one file may hold.
pub const MAX_TESTS: usize = 50_000;
/// Characters of a test's suite or name.
pub const MAX_NAME: usize = 1_000;
/// Characters kept of a failure message; longer ones are cut there.
pub const MAX_MESSAGE: usize = 2_000;
const MAX_DEPTH: usize = 64;
/// Attributes one element the parser reads may carry. Real tools write a
/// handful; the bound keeps reading a start tag linear in its size whatever
/// the XML library does with many attributes.
pub const MAX_ATTRIBUTES: usize = 64;

fn invalid(message: impl Into<String>) -> FieldError {
    FieldError::field("body", message)
}

/// The values of the attributes `names` of an element, read in one pass.
fn attributes<const N: usize>(
    element: &BytesStart,
    names: [&str; N],
) -> Result<[Option<String>; N], FieldError> {
    let mut values = [const { None }; N];
    for (count, attr) in element.attributes().enumerate() {
        if count == MAX_ATTRIBUTES {
            return Err(invalid(format!(
                "an element has more than {MAX_ATTRIBUTES} attributes"
            )));
        }
        let attr = attr.map_err(|e| invalid(format!("malformed attribute: {e}")))?;
        let Some(at) = names.iter().position(|n| *n == attr.key.as_ref()) else {
            continue;
        };
        // Normalized as the XML specification says (line breaks and tabs
        // become spaces), as every other JUnit reader sees the value.
        let value = attr
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|e| invalid(format!("malformed attribute value: {e}")))?;
        values[at].get_or_insert_with(|| value.into_owned());
    }
    Ok(values)
}

fn attribute(element: &BytesStart, name: &str) -> Result<Option<String>, FieldError> {
    let [value] = attributes(element, [name])?;
    Ok(value)
}

fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

/// A suite or test name as the dashboard keys and shows it: line breaks
/// and tabs become spaces, other control characters (Jest keeps terminal
/// colour codes in names) the replacement character.
fn bounded_name(what: &str, text: String) -> Result<String, FieldError> {
    if text.chars().count() > MAX_NAME {
        return Err(invalid(format!(
            "a test {what} is longer than {MAX_NAME} characters"
        )));
    }
    if !text.chars().any(char::is_control) {
        return Ok(text);
    }
    Ok(text
        .chars()
        .map(|c| match c {
            '\t' | '\n' | '\r' => ' ',
            c if c.is_control() => char::REPLACEMENT_CHARACTER,
            c => c,
        })
        .collect())
}

/// A test's name as the dashboard keys it: `classname::name` when the
/// file gives a class (pytest, JUnit, Go), else the name (Bazel).
fn full_name(classname: Option<&str>, name: &str) -> String {
    match classname.filter(|c| !c.is_empty() && *c != name) {
        Some(class) => format!("{class}::{name}"),
        None => name.to_string(),
    }
}

/// The worse of two outcomes: error over failure over flaky (failed,
/// then passed on a rerun) over skip over pass.
fn worse(a: TestStatus, b: TestStatus) -> TestStatus {
    let rank = |s: TestStatus| match s {
        TestStatus::Passed => 0,
        TestStatus::Skipped => 1,
        TestStatus::Flaky => 2,
        TestStatus::Failed => 3,
        TestStatus::Error => 4,
    };
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}

/// What a child of `<testcase>` says. Surefire's `flakyFailure` and
/// `flakyError` mark a test that failed and then passed on a rerun;
/// `rerunFailure` and `rerunError` sit beside a `failure` of a test that
/// failed every rerun too: a failure, which the `failure` already says.
fn outcome(tag: &str) -> Option<TestStatus> {
    match tag {
        "failure" => Some(TestStatus::Failed),
        "error" => Some(TestStatus::Error),
        "skipped" => Some(TestStatus::Skipped),
        "flakyFailure" | "flakyError" => Some(TestStatus::Flaky),
        _ => None,
    }
}

/// The case being read and where its message comes from.
struct Open {
    case: TestCase,
    /// Inside a failure/error/skipped element without a `message`: its
    /// text is the message.
    text_message: bool,
}

/// `position` is the case's place in the file, from 1: the name of a case
/// that has neither a name nor a class (Surefire's JUnit 5 provider writes
/// `name=""` for some dynamic tests).
fn start_case(element: &BytesStart, suite: &str, position: usize) -> Result<TestCase, FieldError> {
    let [name, classname, time] = attributes(element, ["name", "classname", "time"])?;
    let classname = classname.filter(|c| !c.trim().is_empty());
    let name = match name.filter(|n| !n.trim().is_empty()) {
        Some(name) => full_name(classname.as_deref(), name.trim()),
        None => match classname.as_deref() {
            Some(class) => class.trim().to_string(),
            None => format!("unnamed test #{position}"),
        },
    };
    let time_s = time
        .and_then(|t| t.trim().parse::<f64>().ok())
        .filter(|t| t.is_finite() && *t >= 0.0);
    Ok(TestCase {
        suite: bounded_name("suite", suite.to_string())?,
        name: bounded_name("name", name)?,
        status: TestStatus::Passed,
        time_s,
        message: None,
    })
}

fn mark(
    open: &mut Open,
    element: &BytesStart,
    status: TestStatus,
    empty: bool,
) -> Result<(), FieldError> {
    open.case.status = worse(open.case.status, status);
    if status == TestStatus::Skipped && open.case.status != TestStatus::Skipped {
        return Ok(());
    }
    match attribute(element, "message")?.filter(|m| !m.trim().is_empty()) {
        Some(message) => {
            open.case.message = Some(cut(message.trim(), MAX_MESSAGE));
            open.text_message = false;
        }
        None => open.text_message = !empty,
    }
    Ok(())
}

/// One case per test, in order of first appearance: a test a file
/// repeats (pytest-rerunfailures, Gradle's test-retry, `go test -count`)
/// failed and passed there is flaky, failed in every attempt is a failure.
pub fn collapse(cases: &[TestCase]) -> Vec<TestCase> {
    let mut order: Vec<TestCase> = Vec::new();
    let mut index: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for case in cases {
        let Some(&i) = index.get(case.name.as_str()) else {
            index.insert(&case.name, order.len());
            order.push(case.clone());
            continue;
        };
        let kept = &mut order[i];
        let passed = |s: TestStatus| matches!(s, TestStatus::Passed | TestStatus::Flaky);
        kept.status = match (kept.status, case.status) {
            (a, TestStatus::Skipped) => a,
            (TestStatus::Skipped, b) => b,
            (a, b) if a.is_failure() && b.is_failure() => worse(a, b),
            (a, b) if a.is_failure() || b.is_failure() => TestStatus::Flaky,
            (a, b) if passed(a) && passed(b) => worse(a, b),
            (a, _) => a,
        };
        if kept.message.is_none() {
            kept.message.clone_from(&case.message);
        }
    }
    order
}

/// The test cases of one JUnit XML file, in file order.
pub fn parse(bytes: &[u8]) -> Result<Vec<TestCase>, FieldError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        invalid(format!(
            "the file is not valid UTF-8 (byte {})",
            e.valid_up_to()
        ))
    })?;
    let mut reader = Reader::from_str(text);
    let mut cases = Vec::new();
    let mut depth: Vec<String> = Vec::new();
    let mut suites: Vec<String> = Vec::new();
    let mut open: Option<Open> = None;
    let mut saw_root = false;
    loop {
        let event = reader.read_event().map_err(|e| {
            invalid(format!(
                "not well-formed XML at byte {}: {e}",
                reader.buffer_position()
            ))
        })?;
        match event {
            Event::DocType(_) => {
                return Err(invalid(
                    "a DOCTYPE is not accepted: JUnit XML needs no entities or external references",
                ))
            }
            Event::Start(ref element) | Event::Empty(ref element) => {
                let empty = matches!(event, Event::Empty(_));
                let tag = AsRef::<str>::as_ref(&element.name()).to_string();
                if !saw_root {
                    if tag != "testsuites" && tag != "testsuite" {
                        return Err(invalid(
                            "not JUnit XML: the root element must be <testsuites> or <testsuite>",
                        ));
                    }
                    saw_root = true;
                }
                match tag.as_str() {
                    "testsuite" if open.is_none() => {
                        let name = attribute(element, "name")?.unwrap_or_default();
                        if !empty {
                            suites.push(name);
                        }
                    }
                    "testcase" if open.is_none() => {
                        if cases.len() == MAX_TESTS {
                            return Err(invalid(format!(
                                "the file holds more than {MAX_TESTS} test cases: split it"
                            )));
                        }
                        let case = start_case(
                            element,
                            suites.last().map_or("", String::as_str),
                            cases.len() + 1,
                        )?;
                        if empty {
                            cases.push(case);
                        } else {
                            open = Some(Open {
                                case,
                                text_message: false,
                            });
                        }
                    }
                    other => {
                        if let (Some(open), Some(status)) = (open.as_mut(), outcome(other)) {
                            mark(open, element, status, empty)?;
                        }
                    }
                }
                if !empty {
                    if depth.len() == MAX_DEPTH {
                        return Err(invalid(format!("elements nest deeper than {MAX_DEPTH}")));
                    }
                    depth.push(tag);
                }
            }
            Event::End(ref element) => {
                let tag = AsRef::<str>::as_ref(&element.name()).to_string();
                depth.pop();
                match tag.as_str() {
                    "testcase" => {
                        if let Some(done) = open.take() {
                            cases.push(finished(done.case));
                        }
                    }
                    "testsuite" if open.is_none() => {
                        suites.pop();
                    }
                    t if outcome(t).is_some() => {
                        if let Some(open) = open.as_mut() {
                            open.text_message = false;
                        }
                    }
                    _ => {}
                }
            }
            Event::Text(ref text) => {
                if let Some(open) = open.as_mut().filter(|o| o.text_message) {
                    append(&mut open.case.message, &text.xml10_content());
                }
            }
            // Entity and character references in text arrive apart from it.
            Event::GeneralRef(ref reference) => {
                let text = referenced(reference)?;
                if let Some(open) = open.as_mut().filter(|o| o.text_message) {
                    append(&mut open.case.message, &text);
                }
            }
            Event::CData(ref data) => {
                if let Some(open) = open.as_mut().filter(|o| o.text_message) {
                    append(&mut open.case.message, data);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !saw_root {
        return Err(invalid("the file is empty: no <testsuites> or <testsuite>"));
    }
    if !depth.is_empty() {
        return Err(invalid(
            "the file is truncated: elements are left open at its end",
        ));
    }
    Ok(cases)
}

/// The text a reference in element text stands for: a character, or one of
/// XML's five predefined entities (no other can be declared: no DOCTYPE).
fn referenced(reference: &BytesRef) -> Result<String, FieldError> {
    let malformed = |e: &dyn std::fmt::Display| invalid(format!("malformed text: {e}"));
    if let Some(c) = reference.resolve_char_ref().map_err(|e| malformed(&e))? {
        return Ok(c.to_string());
    }
    let name: &str = reference;
    resolve_xml_entity(name)
        .map(str::to_string)
        .ok_or_else(|| malformed(&format!("unknown entity '&{name};'")))
}

/// Text of a failure element, gathered piece by piece (references arrive
/// apart from the text around them) up to a bound; [`finished`] trims it.
fn append(message: &mut Option<String>, text: &str) {
    let so_far = message.get_or_insert_with(String::new);
    // Bytes, not characters: counting characters on every piece would cost
    // the square of a message split into many pieces.
    if so_far.len() < MAX_MESSAGE * 4 {
        so_far.push_str(text);
    }
}

/// A case as stored: its text message trimmed and cut at [`MAX_MESSAGE`].
fn finished(mut case: TestCase) -> TestCase {
    case.message = case
        .message
        .map(|m| cut(m.trim(), MAX_MESSAGE))
        .filter(|m| !m.is_empty());
    case
}

pub fn totals(cases: &[TestCase]) -> TestTotals {
    let mut totals = TestTotals::default();
    for case in cases {
        match case.status {
            // It passed in the end.
            TestStatus::Passed | TestStatus::Flaky => totals.passed += 1,
            TestStatus::Failed => totals.failed += 1,
            TestStatus::Error => totals.errors += 1,
            TestStatus::Skipped => totals.skipped += 1,
        }
        totals.duration_s += case.time_s.unwrap_or(0.0);
    }
    totals
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status_of<'a>(cases: &'a [TestCase], name: &str) -> &'a TestCase {
        cases
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("{name} in {cases:?}"))
    }

    #[test]
    fn pytest_files() {
        let xml = r#"<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" errors="1" failures="1" skipped="1" tests="4" time="1.2">
<testcase classname="lte.test_attach" name="test_ok" time="0.50"/>
<testcase classname="lte.test_attach" name="test_bad" time="0.25"><failure message="assert 1 == 2">def test_bad():
&gt;  assert 1 == 2</failure></testcase>
<testcase classname="lte.test_attach" name="test_skip" time="0"><skipped type="pytest.skip" message="needs arm64">skip</skipped></testcase>
<testcase classname="lte.test_attach" name="test_setup" time="0.1"><error message="fixture &apos;enb&apos; not found"/></testcase>
</testsuite></testsuites>"#;
        let cases = parse(xml.as_bytes()).unwrap();
        assert_eq!(cases.len(), 4);
        assert_eq!(cases[0].suite, "pytest");
        assert_eq!(cases[0].name, "lte.test_attach::test_ok");
        assert_eq!(cases[0].time_s, Some(0.5));
        let bad = status_of(&cases, "lte.test_attach::test_bad");
        assert_eq!(
            (bad.status, bad.message.as_deref()),
            (TestStatus::Failed, Some("assert 1 == 2"))
        );
        let skipped = status_of(&cases, "lte.test_attach::test_skip");
        assert_eq!(
            (skipped.status, skipped.message.as_deref()),
            (TestStatus::Skipped, Some("needs arm64"))
        );
        let error = status_of(&cases, "lte.test_attach::test_setup");
        assert_eq!(
            (error.status, error.message.as_deref()),
            (TestStatus::Error, Some("fixture 'enb' not found"))
        );
        let t = totals(&cases);
        assert_eq!((t.passed, t.failed, t.errors, t.skipped), (1, 1, 1, 1));
        assert!((t.duration_s - 0.85).abs() < 1e-9);
    }

    #[test]
    fn go_and_bazel_files() {
        let go = r#"<testsuites>
<testsuite tests="2" failures="1" time="0.010" name="magma/orc8r/cloud/go/services/state">
<properties><property name="go.version" value="go1.21"></property></properties>
<testcase classname="state" name="TestReport" time="0.000"></testcase>
<testcase classname="state" name="TestSync" time="0.010"><failure message="Failed" type="">state_test.go:42: expected 3, got 2</failure></testcase>
</testsuite></testsuites>"#;
        let cases = parse(go.as_bytes()).unwrap();
        assert_eq!(cases[0].suite, "magma/orc8r/cloud/go/services/state");
        assert_eq!(cases[1].name, "state::TestSync");
        assert_eq!(cases[1].message.as_deref(), Some("Failed"));
        let bazel = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites>
  <testsuite name="//lte/gateway/c/core:test_mme" tests="1" failures="0" errors="1">
    <testcase name="//lte/gateway/c/core:test_mme" status="run" duration="12" time="12"><error message="exited with error code 1"></error></testcase>
      <system-out><![CDATA[Generated test.log (if the file is not UTF-8, then this may be unreadable):
exec ${PAGER:-/usr/bin/less} "$0" || exit 1]]></system-out>
    </testsuite>
</testsuites>"#;
        let cases = parse(bazel.as_bytes()).unwrap();
        assert_eq!(cases.len(), 1);
        assert_eq!(cases[0].name, "//lte/gateway/c/core:test_mme");
        assert_eq!(cases[0].status, TestStatus::Error);
        assert_eq!(cases[0].time_s, Some(12.0));
    }

    #[test]
    fn nested_suites_name_their_cases_and_text_messages_are_cut() {
        let long = "x".repeat(MAX_MESSAGE + 50);
        let xml = format!(
            r#"<testsuite name="outer"><testsuite name="inner"><testcase name="a"><failure><![CDATA[{long}]]></failure></testcase></testsuite><testcase name="b"/></testsuite>"#
        );
        let cases = parse(xml.as_bytes()).unwrap();
        assert_eq!(
            (cases[0].suite.as_str(), cases[1].suite.as_str()),
            ("inner", "outer")
        );
        let message = cases[0].message.as_deref().unwrap();
        assert_eq!(
            message.chars().count(),
            MAX_MESSAGE + 1,
            "cut, with an ellipsis"
        );
    }

    #[test]
    fn hostile_and_broken_files_are_refused() {
        let refused = |xml: &[u8]| parse(xml).unwrap_err().message;
        let bomb = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]><testsuite><testcase name="&lol2;"/></testsuite>"#;
        assert!(refused(bomb.as_bytes()).contains("DOCTYPE"));
        let external = r#"<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><testsuite><testcase name="&xxe;"/></testsuite>"#;
        assert!(refused(external.as_bytes()).contains("DOCTYPE"));
        assert!(
            refused(br#"<testsuite><testcase name="&xxe;"/></testsuite>"#).contains("malformed")
        );
        assert!(refused(b"<testsuite><testcase name=\"a\"/>").contains("truncated"));
        assert!(refused(b"<testsuite><testcase name=\"a\"></testsuite>").contains("well-formed"));
        assert!(refused(b"<testsuite name=\"\xff\"/>").contains("UTF-8"));
        assert!(refused(b"<html><body/></html>").contains("root element"));
        assert!(refused(b"").contains("empty"));
        let deep = format!(
            "<testsuite>{}{}</testsuite>",
            "<a>".repeat(100),
            "</a>".repeat(100)
        );
        assert!(refused(deep.as_bytes()).contains("deeper"));
        let long_name = format!(
            r#"<testsuite><testcase name="{}"/></testsuite>"#,
            "n".repeat(MAX_NAME + 1)
        );
        assert!(refused(long_name.as_bytes()).contains("longer"));
        let many = format!(
            "<testsuite>{}</testsuite>",
            r#"<testcase name="t"/>"#.repeat(MAX_TESTS + 1)
        );
        assert!(refused(many.as_bytes()).contains("more than"));
    }

    #[test]
    fn jest_names_with_control_characters_are_mended() {
        let cases = parse(include_bytes!("../../tests/fixtures/junit/jest-junit.xml")).unwrap();
        assert_eq!(cases.len(), 3);
        let t = totals(&cases);
        assert_eq!((t.passed, t.failed, t.skipped), (1, 1, 1));
        let red = &cases[1];
        assert_eq!(
            red.name,
            "NetworkSelector shows \u{FFFD}[31merrors\u{FFFD}[39m in red"
        );
        assert_eq!(red.status, TestStatus::Failed);
        let message = red.message.as_deref().unwrap();
        assert!(
            message.starts_with("Error: expect(received).toBe(expected)")
                && message.contains("Expected: \"lte\"")
                && message.contains("at Object.<anonymous> (app/"),
            "references between text pieces keep the spaces around them: {message}"
        );
        let tabs =
            parse(b"<testsuite name=\"a\tb\"><testcase name=\"c\nd\"/></testsuite>").unwrap();
        assert_eq!(
            (tabs[0].suite.as_str(), tabs[0].name.as_str()),
            ("a b", "c d")
        );
    }

    #[test]
    fn unnamed_surefire_cases_are_named_by_class_or_position() {
        let cases = parse(include_bytes!(
            "../../tests/fixtures/junit/surefire-junit5.xml"
        ))
        .unwrap();
        assert_eq!(cases.len(), 3);
        assert_eq!(cases[0].name, "org.magma.nms.ConfigTest::parsesDefaults");
        assert_eq!(cases[1].name, "org.magma.nms.ConfigTest");
        assert_eq!(
            (cases[1].status, cases[1].message.as_deref()),
            (TestStatus::Failed, Some("expected: <1> but was: <2>"))
        );
        let bare = parse(br#"<testsuite><testcase name="a"/><testcase/></testsuite>"#).unwrap();
        assert_eq!(bare[1].name, "unnamed test #2");
    }

    #[test]
    fn elements_with_too_many_attributes_are_refused() {
        let at = |n: usize| {
            let attrs: String = (0..n).map(|i| format!(" a{i}=\"x\"")).collect();
            format!(r#"<testsuite><testcase name="t"{attrs}/></testsuite>"#)
        };
        assert_eq!(parse(at(MAX_ATTRIBUTES - 1).as_bytes()).unwrap().len(), 1);
        assert!(parse(at(MAX_ATTRIBUTES).as_bytes())
            .unwrap_err()
            .message
            .contains("more than 64 attributes"));
        // The attack the bound stops: one start tag with 900,000 distinct
        // attributes (9 MiB) is refused after reading 64 of them.
        let hostile = at(900_000);
        assert!(hostile.len() > 9_000_000);
        assert!(parse(hostile.as_bytes())
            .unwrap_err()
            .message
            .contains("attributes"));
    }

    #[test]
    fn references_in_text_are_resolved_and_unknown_ones_refused() {
        let cases = parse(
            br#"<testsuite><testcase name="t"><failure>a &lt; b &amp;&#32;c &#x263A;</failure></testcase></testsuite>"#,
        )
        .unwrap();
        assert_eq!(cases[0].message.as_deref(), Some("a < b & c \u{263A}"));
        assert!(parse(
            br#"<testsuite><testcase name="t"><failure>&xxe;</failure></testcase></testsuite>"#
        )
        .unwrap_err()
        .message
        .contains("unknown entity"));
    }

    #[test]
    fn reruns_are_flaky_evidence() {
        // Surefire with rerunFailingTestsCount: one test passed on a rerun,
        // one failed every rerun.
        let surefire = br#"<testsuite name="org.magma.AttachTest">
          <testcase classname="org.magma.AttachTest" name="attach"><flakyFailure message="timed out" type="java.lang.AssertionError"><stackTrace>at ...</stackTrace></flakyFailure></testcase>
          <testcase classname="org.magma.AttachTest" name="detach"><failure message="expected 1"/><rerunFailure message="expected 1"/></testcase>
        </testsuite>"#;
        let cases = parse(surefire).unwrap();
        let attach = status_of(&cases, "org.magma.AttachTest::attach");
        assert_eq!(
            (attach.status, attach.message.as_deref()),
            (TestStatus::Flaky, Some("timed out"))
        );
        assert_eq!(
            status_of(&cases, "org.magma.AttachTest::detach").status,
            TestStatus::Failed
        );
        let totals = totals(&cases);
        assert_eq!((totals.passed, totals.failed), (1, 1));

        // pytest-rerunfailures, Gradle's test-retry, `go test -count=2`: the
        // case again in the same file.
        let repeated = br#"<testsuite name="go">
          <testcase classname="s1ap" name="TestAttach"><failure message="flapped"/></testcase>
          <testcase classname="s1ap" name="TestAttach"/>
          <testcase classname="s1ap" name="TestDetach"><failure message="a"/></testcase>
          <testcase classname="s1ap" name="TestDetach"><error message="b"/></testcase>
          <testcase classname="s1ap" name="TestOk"/>
          <testcase classname="s1ap" name="TestOk"/>
        </testsuite>"#;
        let once = collapse(&parse(repeated).unwrap());
        let statuses: Vec<(&str, TestStatus)> =
            once.iter().map(|c| (c.name.as_str(), c.status)).collect();
        assert_eq!(
            statuses,
            [
                ("s1ap::TestAttach", TestStatus::Flaky),
                ("s1ap::TestDetach", TestStatus::Error),
                ("s1ap::TestOk", TestStatus::Passed),
            ]
        );
        assert_eq!(once[0].message.as_deref(), Some("flapped"));
    }
}
