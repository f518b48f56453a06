//! Quizzes: the learner writes `id = "choice"` lines in a TOML file; each
//! answer is marked with the key's explanation of that choice.

use super::{Outcome, Status};
use crate::course::catalog::{Lang, Question};
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
    let mut report = String::new();
    let mut correct = 0u32;
    for q in questions {
        let given = answers
            .get(&q.id)
            .and_then(|v| v.as_str())
            .map(|s| s.trim().to_lowercase());
        let line = match given.as_deref() {
            None | Some("") => format!("{}: not answered yet", q.id),
            Some(choice) => match q.explain.get(choice) {
                None => format!(
                    "{}: {choice:?} is not a choice; pick one of {:?}",
                    q.id,
                    q.choices.keys().collect::<Vec<_>>()
                ),
                Some(why) if choice == q.answer => {
                    correct += 1;
                    format!("{}: ✓ {}", q.id, why.get(lang))
                }
                Some(why) => format!("{}: ✗ {}", q.id, why.get(lang)),
            },
        };
        writeln!(report, "{line}")?;
    }
    for key in answers.keys().filter(|k| !questions.iter().any(|q| &q.id == *k)) {
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
