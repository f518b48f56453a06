//! Checking one exercise: the verdict, and dispatch to the kind's checker.

pub mod capstone;
pub mod code;
pub mod export;
pub mod judge;
pub mod quiz;
pub mod sweep;
pub mod train;
pub mod vision;

use super::catalog::{Check, Course, Exercise, Kind, Lang, Lesson};
use super::sandbox::Engine;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    /// The learner's work is not right yet (including code that does not build).
    Fail,
    /// The check itself could not run: a course or machine problem.
    Error,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Verdict {
    pub name: String,
    pub lesson: u32,
    pub kind: Kind,
    pub status: Status,
    pub message: String,
    pub duration_s: f64,
    pub score: u32,
    pub max_score: u32,
}

/// What a check needs besides the exercise.
pub struct Ctx<'a> {
    pub course: &'a Course,
    pub engine: &'a Engine,
    /// Keeps the builds and scratch files of concurrent checks apart.
    pub slot: String,
    /// Base model for train checks (default: nano-qwen).
    pub model: Option<String>,
    pub lang: Lang,
    /// Set to stop a running training cleanly (the UI's abort key).
    pub stop: &'a std::sync::atomic::AtomicBool,
}

/// The outcome of a checker before timing and scoring.
pub struct Outcome {
    pub status: Status,
    pub message: String,
    /// Partial credit (quizzes); None means all or nothing.
    pub score: Option<u32>,
}

impl Outcome {
    pub fn pass(message: impl Into<String>) -> Self {
        Self {
            status: Status::Pass,
            message: message.into(),
            score: None,
        }
    }

    pub fn fail(message: impl Into<String>) -> Self {
        Self {
            status: Status::Fail,
            message: message.into(),
            score: None,
        }
    }
}

/// Checks `learner_file` as the answer to `ex`. Never panics on learner input:
/// every problem becomes a verdict.
pub fn check(ctx: &Ctx, lesson: &Lesson, ex: &Exercise, learner_file: &Path) -> Verdict {
    let start = Instant::now();
    let outcome = if !learner_file.exists() {
        Ok(Outcome::fail(format!("{} is missing", learner_file.display())))
    } else {
        match &ex.check {
            Check::Code(c) => code::check(ctx, ex, c, learner_file),
            Check::Train(c) => train::check(ctx, lesson, ex, c, learner_file),
            Check::Quiz(q) => quiz::check(ctx.lang, q, learner_file),
            Check::Export(c) => export::check(ctx, lesson, ex, c, learner_file),
            Check::Judge(c) => judge::check(lesson, c, learner_file),
            Check::Vision(c) => vision::check(ctx, lesson, ex, c, learner_file),
            Check::Capstone(c) => capstone::check(ctx, ex, c, learner_file),
        }
    };
    let outcome = outcome.unwrap_or_else(|e| Outcome {
        status: Status::Error,
        message: format!("{e:#}"),
        score: None,
    });
    let max_score = ex.max_score();
    let score = match (outcome.status, outcome.score) {
        (_, Some(s)) => s.min(max_score),
        (Status::Pass, None) => max_score,
        _ => 0,
    };
    Verdict {
        name: ex.name.clone(),
        lesson: ex.lesson,
        kind: ex.kind(),
        status: outcome.status,
        message: outcome.message,
        duration_s: start.elapsed().as_secs_f64(),
        score,
        max_score,
    }
}
