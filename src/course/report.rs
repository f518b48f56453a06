//! Verdicts as text for people, JSON for programs and JUnit XML for CI.

use super::check::{Status, Verdict};
use serde::Serialize;
use std::fmt::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    #[default]
    Text,
    Json,
    Junit,
}

#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, PartialEq)]
pub struct Totals {
    pub count: usize,
    pub passed: usize,
    pub failed: usize,
    pub errors: usize,
    pub score: u32,
    pub max_score: u32,
    pub duration_s: f64,
}

impl Totals {
    pub fn of(verdicts: &[Verdict]) -> Self {
        let count = |s| verdicts.iter().filter(|v| v.status == s).count();
        Self {
            count: verdicts.len(),
            passed: count(Status::Pass),
            failed: count(Status::Fail),
            errors: count(Status::Error),
            score: verdicts.iter().map(|v| v.score).sum(),
            max_score: verdicts.iter().map(|v| v.max_score).sum(),
            duration_s: verdicts.iter().map(|v| v.duration_s).sum(),
        }
    }
}

pub fn render(verdicts: &[Verdict], format: Format) -> String {
    match format {
        Format::Text => text(verdicts),
        Format::Json => json(verdicts),
        Format::Junit => junit("tunelings", verdicts),
    }
}

pub fn text(verdicts: &[Verdict]) -> String {
    let mut out = String::new();
    for v in verdicts {
        let mark = match v.status {
            Status::Pass => "✓",
            Status::Fail => "✗",
            Status::Error => "!",
        };
        let _ = writeln!(
            out,
            "{mark} {} ({}, lesson {:02}) {}/{} in {:.1} s",
            v.name,
            v.kind.as_str(),
            v.lesson,
            v.score,
            v.max_score,
            v.duration_s
        );
        if v.status != Status::Pass || verdicts.len() == 1 {
            for line in v.message.lines() {
                let _ = writeln!(out, "    {line}");
            }
        }
    }
    let t = Totals::of(verdicts);
    let _ = writeln!(
        out,
        "{} of {} passed, score {}/{}{}",
        t.passed,
        t.count,
        t.score,
        t.max_score,
        if t.errors > 0 {
            format!(", {} could not be checked", t.errors)
        } else {
            String::new()
        }
    );
    out
}

pub fn json(verdicts: &[Verdict]) -> String {
    serde_json::json!({ "exercises": verdicts, "totals": Totals::of(verdicts) }).to_string()
}

pub fn xml_escape(s: &str) -> String {
    s.chars()
        .filter(|&c| c == '\n' || c == '\t' || c >= ' ')
        .fold(String::new(), |mut o, c| {
            match c {
                '&' => o.push_str("&amp;"),
                '<' => o.push_str("&lt;"),
                '>' => o.push_str("&gt;"),
                '"' => o.push_str("&quot;"),
                '\'' => o.push_str("&apos;"),
                c => o.push(c),
            }
            o
        })
}

/// One `<testsuite>` element.
pub fn junit_suite(name: &str, verdicts: &[Verdict]) -> String {
    let t = Totals::of(verdicts);
    let mut out = format!(
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" time=\"{:.3}\">\n",
        xml_escape(name),
        t.count,
        t.failed,
        t.errors,
        t.duration_s
    );
    for v in verdicts {
        let _ = write!(
            out,
            "    <testcase classname=\"lesson{:02}\" name=\"{}\" time=\"{:.3}\"",
            v.lesson,
            xml_escape(&v.name),
            v.duration_s
        );
        let first = xml_escape(v.message.lines().next().unwrap_or_default());
        let body = xml_escape(&v.message);
        match v.status {
            Status::Pass => out.push_str("/>\n"),
            Status::Fail => {
                let _ = write!(
                    out,
                    ">\n      <failure message=\"{first}\">{body}</failure>\n    </testcase>\n"
                );
            }
            Status::Error => {
                let _ = write!(
                    out,
                    ">\n      <error message=\"{first}\">{body}</error>\n    </testcase>\n"
                );
            }
        }
    }
    out.push_str("  </testsuite>\n");
    out
}

/// A JUnit document around `<testsuite>` elements.
pub fn junit_document(suites: &str) -> String {
    format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n{suites}</testsuites>\n")
}

pub fn junit(name: &str, verdicts: &[Verdict]) -> String {
    junit_document(&junit_suite(name, verdicts))
}
