//! Quizzes: the learner writes `id = "choice"` lines in a TOML file; each
//! answer is marked with the key's explanation of that choice. The file's
//! `order` (see `quiz_file`) maps the learner's letters back to the key's.

use super::{Outcome, Status};
use crate::course::catalog::{Lang, Question};
use crate::course::quiz_file::{self, ORDER_KEY};
use anyhow::{Context, Result};
use std::fmt::Write;
use std::path::Path;

pub fn check(lang: Lang, questions: &[Question], learner_file: &Path) -> Result<Outcome> {
    let text = std::fs::read_to_string(learner_file)
        .with_context(|| format!("cannot read {}", learner_file.display()))?;
    let answers: toml::Table = match text.parse() {
        Ok(t) => t,
        Err(e) => {
            return Ok(Outcome::fail(format!(
                "{} is not valid TOML: {e}\nWrite one line per question, like: q1 = \"b\"",
                learner_file.display()
            )))
        }
    };
    let seed = match answers.get(ORDER_KEY) {
        None => None,
        Some(v) => match v.as_integer().and_then(|n| u64::try_from(n).ok()) {
            Some(n) => Some(n),
            None => {
                return Ok(Outcome::fail(format!(
                    "{}: `{ORDER_KEY}` must be the whole number the file was created with; \
                     `tunelings reset` writes a fresh file",
                    learner_file.display()
                )))
            }
        },
    };
    let mut report = String::new();
    let mut correct = 0u32;
    for q in questions {
        let given = answers
            .get(&q.id)
            .and_then(|v| v.as_str())
            .map(|s| s.trim().to_lowercase());
        writeln!(report, "{}. {}", q.id, q.prompt.get(lang))?;
        let line = match given.as_deref() {
            None | Some("") => "not answered yet".to_string(),
            Some(shown) => match quiz_file::key_letter(q, seed, shown) {
                None => {
                    let letters: Vec<String> = (0..q.choices.len()).map(quiz_file::shown_letter).collect();
                    format!("{shown:?} is not a choice; pick one of {}", letters.join(", "))
                }
                Some(key) if key == q.answer => {
                    correct += 1;
                    format!("✓ {}", q.explain[&key].get(lang))
                }
                Some(key) => format!("✗ {}", q.explain[&key].get(lang)),
            },
        };
        writeln!(report, "   {line}")?;
    }
    for key in answers
        .keys()
        .filter(|k| *k != ORDER_KEY && !questions.iter().any(|q| &q.id == *k))
    {
        writeln!(report, "{key}: there is no such question (ignored)")?;
    }
    let status = if correct as usize == questions.len() {
        Status::Pass
    } else {
        Status::Fail
    };
    Ok(Outcome {
        status,
        message: format!("{correct} of {} correct\n{}", questions.len(), report.trim_end()),
        score: Some(correct),
    })
}
