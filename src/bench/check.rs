//! Time from a saved edit to a verdict for a code exercise: the learner's
//! inner loop (rebuild of one file, both runs, comparison).

use super::emit;
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
    if ex.kind() != crate::course::catalog::Kind::Code {
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
