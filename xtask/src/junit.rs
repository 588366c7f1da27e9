//! How many service-backed tests skipped, from nextest's JUnit report.
//!
//! A test that needs Postgres, Redis or Chromium and finds none prints a line starting with
//! `SKIPPED:` on stderr and passes (unless `JOBBY_REQUIRE_SERVICES=1`). nextest hides the
//! output of passing tests, so `.config/nextest.toml` has it kept in the JUnit report, and
//! `cargo xtask test` counts the test cases whose captured output holds that mark.
//!
//! The report is read with a small scan, not an XML library: nextest writes one flat
//! `<testcase>` per test with its output in `<system-out>` / `<system-err>`, and text and
//! attribute values are escaped, so `<` inside them never starts a tag.

use std::path::{Path, PathBuf};

/// What a skipping test prints.
const MARK: &str = "SKIPPED:";

/// The nextest profile `cargo nextest run <extra>` uses: `--profile`/`-P`, else
/// `NEXTEST_PROFILE`, else `default`.
pub fn profile(extra: &[String], env: Option<String>) -> String {
    let mut args = extra.iter();
    while let Some(a) = args.next() {
        if a == "--profile" || a == "-P" {
            if let Some(p) = args.next() {
                return p.clone();
            }
        } else if let Some(p) = a.strip_prefix("--profile=") {
            return p.to_owned();
        } else if let Some(p) = a.strip_prefix("-P").filter(|p| !p.is_empty()) {
            return p.to_owned();
        }
    }
    env.filter(|p| !p.is_empty())
        .unwrap_or_else(|| "default".to_owned())
}

/// Where the report of `profile` may be written. nextest keeps its store under the
/// workspace's `target/` even when `CARGO_TARGET_DIR` points elsewhere (0.9.143 does);
/// the target directory is looked at too in case a nextest version follows it.
pub fn report_paths(root: &Path, target_dir: Option<&Path>, profile: &str) -> Vec<PathBuf> {
    let store = |target: &Path| target.join("nextest").join(profile).join("junit.xml");
    let mut paths = vec![];
    if let Some(dir) = target_dir {
        paths.push(store(&root.join(dir)));
    }
    let in_root = store(&root.join("target"));
    if !paths.contains(&in_root) {
        paths.push(in_root);
    }
    paths
}

/// The line `cargo xtask test` ends with.
pub fn summary(skipped: &[String]) -> String {
    match skipped {
        [] => "==> 0 service-backed tests skipped".to_owned(),
        [one] => format!("==> 1 service-backed test skipped (no Postgres/Redis/Chromium): {one}"),
        many => format!(
            "==> {} service-backed tests skipped (no Postgres/Redis/Chromium): {}",
            many.len(),
            many.join(", ")
        ),
    }
}

/// The test cases (`<binary> <test>`, as nextest names them) whose captured stdout or
/// stderr holds `SKIPPED:`, in report order.
pub fn skipped_tests(xml: &str) -> Vec<String> {
    let mut skipped = vec![];
    let mut rest = xml;
    while let Some(tag) = next_element(rest, "testcase") {
        let body = tag.body.unwrap_or("");
        let output = ["system-out", "system-err"]
            .iter()
            .flat_map(|name| elements(body, name));
        if output.into_iter().any(|text| text.contains(MARK)) {
            let name = attr(tag.attrs, "name").unwrap_or_default();
            skipped.push(match attr(tag.attrs, "classname") {
                Some(class) if !class.is_empty() => format!("{class} {name}"),
                _ => name,
            });
        }
        rest = tag.after;
    }
    skipped
}

/// One element found by [`next_element`].
struct Element<'a> {
    /// The start tag's attributes, raw.
    attrs: &'a str,
    /// The content up to the end tag; `None` for `<name/>`.
    body: Option<&'a str>,
    /// The text after the element.
    after: &'a str,
}

/// The first `<name …>…</name>` or `<name …/>` in `xml`. Elements of one name do not nest
/// in a JUnit report, so the first end tag closes it.
fn next_element<'a>(xml: &'a str, name: &str) -> Option<Element<'a>> {
    let open = format!("<{name}");
    let mut from = 0;
    let start = loop {
        let at = from + xml[from..].find(&open)?;
        let next = xml[at + open.len()..].chars().next();
        if matches!(next, Some(c) if c.is_whitespace() || c == '>' || c == '/') {
            break at + open.len();
        }
        from = at + open.len();
    };
    // The start tag ends at the first `>` outside a quoted attribute value.
    let mut quote = None;
    let end = xml[start..].char_indices().find_map(|(i, c)| {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '>') => return Some(start + i),
            _ => {}
        }
        None
    })?;
    let tag = &xml[start..end];
    if let Some(attrs) = tag.strip_suffix('/') {
        return Some(Element {
            attrs,
            body: None,
            after: &xml[end + 1..],
        });
    }
    let content = &xml[end + 1..];
    let close = format!("</{name}>");
    let (body, after) = match content.find(&close) {
        Some(i) => (&content[..i], &content[i + close.len()..]),
        None => (content, ""),
    };
    Some(Element {
        attrs: tag,
        body: Some(body),
        after,
    })
}

/// The contents of every `<name>` element in `xml`.
fn elements<'a>(mut xml: &'a str, name: &str) -> Vec<&'a str> {
    let mut found = vec![];
    while let Some(e) = next_element(xml, name) {
        found.extend(e.body);
        xml = e.after;
    }
    found
}

/// The unescaped value of attribute `key` in a start tag's attributes.
fn attr(attrs: &str, key: &str) -> Option<String> {
    let mut rest = attrs;
    loop {
        rest = rest.trim_start();
        let eq = rest.find('=')?;
        let name = rest[..eq].trim();
        let value = rest[eq + 1..].trim_start();
        let quote = value.chars().next().filter(|c| *c == '"' || *c == '\'')?;
        let len = value[1..].find(quote)?;
        if name == key {
            return Some(unescape(&value[1..1 + len]));
        }
        rest = &value[len + 2..];
    }
}

/// XML's five named entities and numeric character references.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let entity = rest.find(';').map(|semi| (&rest[1..semi], semi));
        let decoded = entity.and_then(|(e, semi)| {
            let c = match e {
                "lt" => '<',
                "gt" => '>',
                "amp" => '&',
                "quot" => '"',
                "apos" => '\'',
                _ => {
                    let code = match e.strip_prefix("#x").or_else(|| e.strip_prefix("#X")) {
                        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                        None => e.strip_prefix('#')?.parse().ok()?,
                    };
                    char::from_u32(code)?
                }
            };
            Some((c, semi))
        });
        match decoded {
            Some((c, semi)) => {
                out.push(c);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shaped like the report nextest 0.9 writes with `store-success-output = true`.
    const REPORT: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="nextest-run" tests="7" skipped="1" failures="1" errors="0">
    <testsuite name="jobby-postgres" tests="3" skipped="0" errors="0" failures="0">
        <testcase name="tests::claims_seats_once" classname="jobby-postgres" time="0.004">
            <system-out>
running 1 test
test tests::claims_seats_once ... ok
</system-out>
            <system-err>SKIPPED: postgres unreachable (connection refused); set JOBBY_REQUIRE_SERVICES=1 to make this a failure
</system-err>
        </testcase>
        <testcase name="tests::pure_logic" classname="jobby-postgres" time="0.001">
            <system-out>
running 1 test
test tests::pure_logic ... ok
</system-out>
            <system-err></system-err>
        </testcase>
        <testcase name="tests::quiet" classname="jobby-postgres" time="0.001"/>
    </testsuite>
    <testsuite name="jobby-tests::e2e" tests="4" skipped="1" errors="0" failures="1">
        <testcase name="browser::accepts_a_match" classname="jobby-tests::e2e" time="0.010">
            <system-out><![CDATA[SKIPPED: chromedriver is missing (apt-get install chromium chromium-driver)]]></system-out>
        </testcase>
        <testcase name="queue::&lt;two&gt; &amp; &quot;three&quot;" classname="jobby-tests::e2e" time="0.2">
            <failure message="assertion &apos;x &gt; 1&apos; failed" type="test failure">SKIPPED: only in the failure text</failure>
            <system-out></system-out>
            <system-err>thread panicked: expected &lt;/testcase&gt;
</system-err>
        </testcase>
        <testcase name="queue::flaky" classname="jobby-tests::e2e" time="0.3">
            <flakyFailure message="first try" type="test failure">
                <system-err>SKIPPED: redis unreachable at redis://127.0.0.1:6379: refused</system-err>
            </flakyFailure>
            <system-out></system-out>
        </testcase>
        <testcase name="queue::ignored" classname="jobby-tests::e2e">
            <skipped/>
        </testcase>
    </testsuite>
</testsuites>
"#;

    #[test]
    fn counts_the_test_cases_whose_output_says_skipped() {
        assert_eq!(
            skipped_tests(REPORT),
            [
                "jobby-postgres tests::claims_seats_once",
                "jobby-tests::e2e browser::accepts_a_match",
                "jobby-tests::e2e queue::flaky",
            ]
        );
    }

    #[test]
    fn a_report_without_skips_counts_none() {
        let report = REPORT.replace("SKIPPED:", "ok:");
        assert!(skipped_tests(&report).is_empty());
        assert!(skipped_tests("").is_empty());
        assert!(skipped_tests("<testsuites></testsuites>").is_empty());
    }

    #[test]
    fn names_are_unescaped_and_quoted_angle_brackets_do_not_end_a_tag() {
        let report = r#"<testcase classname='bin' name="a &gt; b > c &amp; &#x41;&#66;"><system-err>SKIPPED: x</system-err></testcase>"#;
        assert_eq!(skipped_tests(report), ["bin a > b > c & AB"]);
        // `<testcases` or `<testcase-x` are other elements.
        let other = "<testcase-x name=\"n\"><system-err>SKIPPED: x</system-err></testcase-x>";
        assert!(skipped_tests(other).is_empty());
    }

    #[test]
    fn the_summary_line() {
        assert_eq!(summary(&[]), "==> 0 service-backed tests skipped");
        assert_eq!(
            summary(&["pg a".into()]),
            "==> 1 service-backed test skipped (no Postgres/Redis/Chromium): pg a"
        );
        assert_eq!(
            summary(&["pg a".into(), "e2e b".into()]),
            "==> 2 service-backed tests skipped (no Postgres/Redis/Chromium): pg a, e2e b"
        );
    }

    #[test]
    fn the_profile_comes_from_the_arguments_then_the_environment() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(profile(&args(&[]), None), "default");
        assert_eq!(profile(&args(&[]), Some(String::new())), "default");
        assert_eq!(profile(&args(&["-E", "test(x)"]), Some("ci".into())), "ci");
        assert_eq!(profile(&args(&["--profile", "ci"]), Some("x".into())), "ci");
        assert_eq!(profile(&args(&["--profile=ci"]), None), "ci");
        assert_eq!(profile(&args(&["-P", "ci"]), None), "ci");
        assert_eq!(profile(&args(&["-Pci"]), None), "ci");
    }

    #[test]
    fn the_report_is_looked_for_in_the_target_dir_and_the_workspace_target() {
        let root = Path::new("/w/jobby");
        assert_eq!(
            report_paths(root, None, "default"),
            [PathBuf::from("/w/jobby/target/nextest/default/junit.xml")]
        );
        assert_eq!(
            report_paths(root, Some(Path::new("/cache/t")), "ci"),
            [
                PathBuf::from("/cache/t/nextest/ci/junit.xml"),
                PathBuf::from("/w/jobby/target/nextest/ci/junit.xml"),
            ]
        );
        // A relative CARGO_TARGET_DIR is relative to the workspace, where cargo runs.
        assert_eq!(
            report_paths(root, Some(Path::new("target")), "default"),
            [PathBuf::from("/w/jobby/target/nextest/default/junit.xml")]
        );
    }
}
