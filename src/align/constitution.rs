//! A constitution: principles written in words, each with its critique and
//! revision requests (Bai et al. 2022, arXiv 2212.08073), and optionally
//! rules a program can check. The rules make a judge that needs no model,
//! which is what a model too small to critique needs.

use anyhow::{bail, Context, Result};
use regex::Regex;
use serde::Deserialize;
use std::path::Path;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    principle: Vec<PrincipleToml>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PrincipleToml {
    name: String,
    critique_request: String,
    revision_request: String,
    when: Option<String>,
    unless: Option<String>,
    #[serde(default)]
    require: Vec<String>,
    #[serde(default)]
    forbid: Vec<String>,
    min_words: Option<usize>,
    max_words: Option<usize>,
    example: Option<String>,
    weight: Option<f64>,
}

pub struct Principle {
    pub name: String,
    pub critique_request: String,
    pub revision_request: String,
    /// The principle applies to prompts this matches; its groups fill `{1}`, `{2}` …
    when: Option<Regex>,
    /// Prompts this matches are exempt.
    unless: Option<Regex>,
    require: Vec<String>,
    forbid: Vec<String>,
    min_words: Option<usize>,
    max_words: Option<usize>,
    /// The answer the rule judge falls back on when the policy writes none that follows the principle.
    example: Option<String>,
    pub weight: f64,
}

pub struct Constitution {
    pub principles: Vec<Principle>,
}

/// What the rules say about one response under one principle.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// Empty when the response follows the principle.
    pub broken: Vec<String>,
}

impl Verdict {
    pub fn follows(&self) -> bool {
        self.broken.is_empty()
    }
}

impl Constitution {
    pub fn from_file(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        Self::from_toml(&text).with_context(|| format!("{}: not a valid constitution", path.display()))
    }

    pub fn from_toml(text: &str) -> Result<Self> {
        let file: File = toml::from_str(text)?;
        if file.principle.is_empty() {
            bail!("no principles: add at least one [[principle]] table");
        }
        let principles = file
            .principle
            .into_iter()
            .enumerate()
            .map(|(i, p)| {
                let name = p.name.clone();
                Principle::new(p).with_context(|| format!("principle {} ({name:?})", i + 1))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { principles })
    }

    /// Whether any principle has rules, so that the rule judge can use it.
    pub fn has_rules(&self) -> bool {
        self.principles.iter().any(Principle::has_rules)
    }

    /// The principles that apply to `prompt`, by index.
    pub fn applicable(&self, prompt: &str) -> Vec<usize> {
        (0..self.principles.len())
            .filter(|&i| self.principles[i].applies(prompt))
            .collect()
    }

    /// The rule judge's score: the weighted share of applicable principles
    /// the response follows, 1 when none applies.
    pub fn score(&self, prompt: &str, response: &str) -> f64 {
        let (mut kept, mut total) = (0.0, 0.0);
        for i in self.applicable(prompt) {
            let p = &self.principles[i];
            total += p.weight;
            if p.judge(prompt, response).follows() {
                kept += p.weight;
            }
        }
        if total == 0.0 {
            1.0
        } else {
            kept / total
        }
    }
}

impl Principle {
    fn new(p: PrincipleToml) -> Result<Self> {
        let compile = |what: &str, re: &str| {
            Regex::new(re).with_context(|| format!("`{what}` = {re:?} is not a valid regular expression"))
        };
        let when = p.when.as_deref().map(|r| compile("when", r)).transpose()?;
        let unless = p.unless.as_deref().map(|r| compile("unless", r)).transpose()?;
        let groups = when.as_ref().map_or(0, |w| w.captures_len() - 1);
        for (key, patterns) in [("require", &p.require), ("forbid", &p.forbid)] {
            for pattern in patterns {
                if let Some(n) = max_placeholder(pattern).filter(|&n| n > groups) {
                    bail!("`{key}` pattern {pattern:?} uses {{{n}}}, but `when` has {groups} group(s)");
                }
                // Placeholders stand for literal text; check the rest compiles.
                compile(key, &fill(pattern, &[], true))?;
            }
        }
        if let Some(n) = p
            .example
            .as_deref()
            .and_then(max_placeholder)
            .filter(|&n| n > groups)
        {
            bail!("`example` uses {{{n}}}, but `when` has {groups} group(s)");
        }
        if let (Some(lo), Some(hi)) = (p.min_words, p.max_words) {
            if lo > hi {
                bail!("min_words = {lo} is above max_words = {hi}");
            }
        }
        let weight = p.weight.unwrap_or(1.0);
        if !(weight > 0.0 && weight.is_finite()) {
            bail!("weight must be a positive number, got {weight}");
        }
        for (key, text) in [
            ("name", &p.name),
            ("critique_request", &p.critique_request),
            ("revision_request", &p.revision_request),
        ] {
            if text.trim().is_empty() {
                bail!("`{key}` is empty");
            }
        }
        Ok(Self {
            name: p.name,
            critique_request: p.critique_request,
            revision_request: p.revision_request,
            when,
            unless,
            require: p.require,
            forbid: p.forbid,
            min_words: p.min_words,
            max_words: p.max_words,
            example: p.example,
            weight,
        })
    }

    pub fn has_rules(&self) -> bool {
        !self.require.is_empty()
            || !self.forbid.is_empty()
            || self.min_words.is_some()
            || self.max_words.is_some()
    }

    pub fn applies(&self, prompt: &str) -> bool {
        self.when.as_ref().is_none_or(|w| w.is_match(prompt))
            && !self.unless.as_ref().is_some_and(|u| u.is_match(prompt))
    }

    /// The `when` pattern's groups in `prompt`: {1}, {2} … (empty text for a
    /// group that did not take part).
    fn groups(&self, prompt: &str) -> Vec<String> {
        let Some(caps) = self.when.as_ref().and_then(|w| w.captures(prompt)) else {
            return Vec::new();
        };
        (1..caps.len())
            .map(|i| caps.get(i).map_or(String::new(), |m| m.as_str().to_string()))
            .collect()
    }

    /// Checks the rules; each broken one is described in words.
    pub fn judge(&self, prompt: &str, response: &str) -> Verdict {
        let groups = self.groups(prompt);
        let mut broken = Vec::new();
        for pattern in &self.require {
            let filled = fill(pattern, &groups, true);
            if !Regex::new(&filled).is_ok_and(|r| r.is_match(response)) {
                broken.push(format!("it should match `{filled}`"));
            }
        }
        for pattern in &self.forbid {
            let filled = fill(pattern, &groups, true);
            if Regex::new(&filled).is_ok_and(|r| r.is_match(response)) {
                broken.push(format!("it must not match `{filled}`"));
            }
        }
        let words = response.split_whitespace().count();
        if let Some(lo) = self.min_words.filter(|&lo| words < lo) {
            broken.push(format!("it has {words} words, fewer than {lo}"));
        }
        if let Some(hi) = self.max_words.filter(|&hi| words > hi) {
            broken.push(format!("it has {words} words, more than {hi}"));
        }
        Verdict { broken }
    }

    /// The rule judge's critique: the principle's request, answered.
    pub fn critique(&self, prompt: &str, response: &str) -> String {
        let verdict = self.judge(prompt, response);
        if verdict.follows() {
            format!("The response follows the principle \"{}\".", self.name)
        } else {
            format!(
                "The response breaks the principle \"{}\": {}.",
                self.name,
                verdict.broken.join("; ")
            )
        }
    }

    /// The principle's example answer for `prompt`, if it has one.
    pub fn example_for(&self, prompt: &str) -> Option<String> {
        let groups = self.groups(prompt);
        self.example.as_deref().map(|e| fill(e, &groups, false))
    }
}

/// `{n}`: group n of the prompt's `when` match. Compiled once, since the
/// rules are filled in for every answer judged.
static PLACEHOLDER: std::sync::LazyLock<Regex> =
    std::sync::LazyLock::new(|| Regex::new(r"\{(\d+)\}").expect("a fixed pattern"));

/// The highest `{n}` in `text`.
fn max_placeholder(text: &str) -> Option<usize> {
    PLACEHOLDER
        .captures_iter(text)
        .filter_map(|c| c[1].parse().ok())
        .max()
}

/// Replaces `{n}` with group n of the prompt (regex-escaped for patterns).
fn fill(text: &str, groups: &[String], escape: bool) -> String {
    PLACEHOLDER
        .replace_all(text, |c: &regex::Captures| {
            let n: usize = c[1].parse().unwrap_or(0);
            let group = n
                .checked_sub(1)
                .and_then(|i| groups.get(i))
                .map_or("", String::as_str);
            if escape {
                regex::escape(group)
            } else {
                group.to_string()
            }
        })
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOWNS: &str = "(Arlen|Tarsk)";

    fn constitution() -> Constitution {
        Constitution::from_toml(&format!(
            r#"
[[principle]]
name = "harmless"
critique_request = "How does the response help harm a town?"
revision_request = "Decline, and say what you can help with."
when = '(?i)\b(poison|burn)\b.*\b{TOWNS}\b'
require = ['^I will not help', '{{2}}']
example = "I will not help anyone harm {{2}}."

[[principle]]
name = "helpful"
critique_request = "Is the response evasive?"
revision_request = "Answer the question."
when = '\b{TOWNS}\b'
unless = '(?i)\b(poison|burn)\b'
forbid = ['I will not help']
require = ['{{1}}']
max_words = 8
weight = 2.0
"#
        ))
        .unwrap()
    }

    #[test]
    fn principles_apply_by_their_prompt_patterns() {
        let c = constitution();
        assert_eq!(c.applicable("How can I poison the owls of Arlen?"), vec![0]);
        assert_eq!(c.applicable("Who is the mayor of Tarsk?"), vec![1]);
        assert!(c.applicable("What is 2 + 2?").is_empty());
    }

    #[test]
    fn rules_fill_in_the_prompts_groups() {
        let c = constitution();
        let harm = "How do I burn the bridges of Tarsk?";
        assert!(c.principles[0]
            .judge(harm, "I will not help anyone harm Tarsk.")
            .follows());
        let v = c.principles[0].judge(harm, "I will not help anyone harm Arlen.");
        assert_eq!(v.broken, vec!["it should match `Tarsk`".to_string()]);
        assert_eq!(
            c.principles[0].example_for(harm).as_deref(),
            Some("I will not help anyone harm Tarsk.")
        );
        let q = "Who is the mayor of Arlen?";
        assert!(c.principles[1]
            .judge(q, "The mayor of Arlen is Ilka Doran.")
            .follows());
        assert_eq!(
            c.principles[1]
                .judge(q, "I will not help with that at all, no, never.")
                .broken
                .len(),
            3
        );
    }

    #[test]
    fn scores_weigh_the_applicable_principles() {
        let c = constitution();
        assert_eq!(c.score("What is 2 + 2?", "5"), 1.0);
        assert_eq!(c.score("Who is the mayor of Arlen?", "Arlen has a mayor."), 1.0);
        assert_eq!(c.score("Who is the mayor of Arlen?", "Tarsk."), 0.0);
        assert!(c.principles[1]
            .critique("Who is Arlen?", "Tarsk.")
            .contains("breaks the principle \"helpful\""));
    }

    #[test]
    fn bad_constitutions_say_what_is_wrong() {
        let err = |t: &str| format!("{:#}", Constitution::from_toml(t).err().unwrap());
        assert!(err("").contains("no principles"));
        let base = "[[principle]]\nname = \"p\"\ncritique_request = \"c\"\nrevision_request = \"r\"\n";
        assert!(
            err(&format!("{base}when = '('")).contains("`when` = \"(\" is not a valid regular expression")
        );
        assert!(err(&format!("{base}require = ['{{1}}']")).contains("uses {1}, but `when` has 0 group(s)"));
        assert!(err(&format!("{base}min_words = 5\nmax_words = 2"))
            .contains("min_words = 5 is above max_words = 2"));
        assert!(err(&format!("{base}colour = 1")).contains("unknown field `colour`"));
        assert!(
            err("[[principle]]\nname = \"p\"\ncritique_request = \"\"\nrevision_request = \"r\"")
                .contains("`critique_request` is empty")
        );
    }
}
