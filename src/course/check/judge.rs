//! Judge exercises: the learner's constitution labels a set of pairs whose
//! better answer people chose; every pair must go the chosen way.

use super::Outcome;
use crate::align::constitution::Constitution;
use crate::course::catalog::{JudgeCheck, Lesson};
use crate::data::records::read_objects;
use anyhow::{Context, Result};
use std::path::Path;

pub fn check(lesson: &Lesson, c: &JudgeCheck, learner_file: &Path) -> Result<Outcome> {
    let constitution = match Constitution::from_file(learner_file) {
        Ok(c) => c,
        Err(e) => return Ok(Outcome::fail(format!("{e:#}"))),
    };
    if !constitution.has_rules() {
        return Ok(Outcome::fail(
            "no principle has rules yet (require, forbid, min_words, max_words), so the judge scores every answer alike",
        ));
    }
    let path = lesson.dir.join(&c.pairs);
    let mut misses = Vec::new();
    let mut total = 0;
    for (at, obj) in read_objects(&path)? {
        let field = |k: &str| {
            obj.get(k)
                .and_then(|v| v.as_str())
                .with_context(|| format!("{at}: expected a string `{k}`"))
        };
        let (prompt, chosen, rejected) = (field("prompt")?, field("chosen")?, field("rejected")?);
        let (good, bad) = (
            constitution.score(prompt, chosen),
            constitution.score(prompt, rejected),
        );
        total += 1;
        if good <= bad {
            let verdict = if good == bad { "a tie" } else { "the wrong way" };
            misses.push(format!(
                "  {prompt:?}: {verdict}, {good:.2} for {chosen:?} against {bad:.2} for {rejected:?}"
            ));
        }
    }
    let right = total - misses.len();
    let head = format!("your judge orders {right} of {total} labelled pairs the way people did");
    Ok(if misses.is_empty() {
        Outcome::pass(head)
    } else {
        Outcome::fail(format!(
            "{head}; a tie counts as a miss. Missed:\n{}",
            misses.join("\n")
        ))
    })
}
