//! Time from a saved edit to a verdict for a code exercise: the learner's
//! inner loop (rebuild of one file, both runs, comparison). With a lesson,
//! the time each of its exercises takes to check a correct answer.

use super::emit;
use crate::course::catalog::Kind;
use crate::course::{Options, Session};
use anyhow::{bail, Result};
use serde::Serialize;
use std::time::Instant;

#[derive(Serialize)]
struct Record<'a> {
    bench: &'static str,
    exercise: &'a str,
    /// The first check, which may build the sandbox from scratch.
    cold_s: f64,
    edit_to_verdict_s: Vec<f64>,
    median_s: f64,
    status: crate::course::check::Status,
}

pub fn run(course: &Options, name: &str, runs: usize) -> Result<()> {
    let mut session = Session::open(course)?;
    session.record_progress = false;
    session.slot = "bench".into();
    let (lesson, ex) = session.course.find(name)?;
    if ex.kind() != Kind::Code {
        bail!("`{name}` is not a code exercise");
    }
    let file = session.learner_file(ex);
    let original = std::fs::read_to_string(&file)?;
    let t = Instant::now();
    session.check(lesson, ex)?;
    let cold_s = t.elapsed().as_secs_f64();
    let mut times = Vec::new();
    let mut status = crate::course::check::Status::Error;
    for i in 0..runs.max(1) {
        // A real edit: the file's bytes change, so cargo must rebuild it.
        std::fs::write(&file, format!("{original}\n// bench edit {i}\n"))?;
        let t = Instant::now();
        let v = session.check(lesson, ex);
        times.push(t.elapsed().as_secs_f64());
        std::fs::write(&file, &original)?;
        status = v?.status;
    }
    let mut sorted = times.clone();
    sorted.sort_by(f64::total_cmp);
    emit(&Record {
        bench: "check",
        exercise: name,
        cold_s,
        median_s: sorted[sorted.len() / 2],
        edit_to_verdict_s: times,
        status,
    })
}

#[derive(Serialize)]
struct LessonRecord<'a> {
    bench: &'static str,
    lesson: u32,
    exercise: &'a str,
    kind: &'static str,
    /// The first check: sandbox build or reference training included.
    cold_s: f64,
    /// A later check of a changed but correct answer: what a learner waits.
    check_s: f64,
    status: crate::course::check::Status,
}

/// Checks the reference solution of every exercise of lesson `number` in a
/// scratch folder, once cold and once after an edit.
pub fn run_lesson(course: &Options, number: u32) -> Result<()> {
    let mut session = Session::open(course)?;
    session.record_progress = false;
    session.slot = "bench".into();
    let scratch = session.engine.work_dir().join("bench-lesson");
    let _ = std::fs::remove_dir_all(&scratch);
    session.exercises_dir = scratch.clone();
    let Some(lesson) = session.course.lessons.iter().find(|l| l.number == number) else {
        bail!("there is no lesson {number:02}");
    };
    for ex in &lesson.exercises {
        let file = session.learner_file(ex);
        std::fs::create_dir_all(file.parent().unwrap_or(&scratch))?;
        let solution = std::fs::read_to_string(session.course.solution_file(ex))?;
        std::fs::write(&file, &solution)?;
        let t = Instant::now();
        session.check(lesson, ex)?;
        let cold_s = t.elapsed().as_secs_f64();
        // A comment changes the bytes: code is rebuilt and a config retrained.
        let comment = if ex.kind() == Kind::Code {
            "// bench edit"
        } else {
            "# bench edit"
        };
        std::fs::write(&file, format!("{solution}\n{comment}\n"))?;
        let t = Instant::now();
        let v = session.check(lesson, ex)?;
        emit(&LessonRecord {
            bench: "check",
            lesson: number,
            exercise: &ex.name,
            kind: ex.kind().as_str(),
            cold_s,
            check_s: t.elapsed().as_secs_f64(),
            status: v.status,
        })?;
    }
    Ok(())
}
