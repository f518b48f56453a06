//! `tunelings dev check`: proves a course consistent. Every lesson parses,
//! its chapter files and hints exist, and every exercise fails as shipped
//! and passes with its solution.

use super::catalog::{Check, Exercise, Lang, Lesson};
use super::check::{self, Status};
use super::{quiz_file, Session};
use anyhow::{Context, Result};
use std::path::PathBuf;

/// The solution as a learner would submit it: for an exercise that
/// certifies a sweep, a copy in scratch space, swept there over the
/// check's reference grid first.
fn solved_file(session: &Session, lesson: &Lesson, ex: &Exercise) -> Result<PathBuf> {
    let solution = session.course.solution_file(ex);
    let Check::Train(c) = &ex.check else {
        return Ok(solution);
    };
    let Some(sweep) = &c.sweep else {
        return Ok(solution);
    };
    let copy = session.engine.work_dir().join("dev-sweep").join(&ex.file);
    std::fs::create_dir_all(copy.parent().unwrap_or(&copy))?;
    std::fs::copy(&solution, &copy).with_context(|| format!("cannot copy {}", solution.display()))?;
    let stop = std::sync::atomic::AtomicBool::new(false);
    let axis = sweep.reference_axis()?;
    check::sweep::run_for_exercise(
        lesson,
        ex,
        &c.heldout,
        &copy,
        session.model.as_deref(),
        &[axis],
        &stop,
    )?;
    Ok(copy)
}

/// The file a learner starts from: shipped in `start/`, or written from the
/// catalog for a quiz (in scratch space, with a shuffled choice order).
fn shipped_file(session: &Session, lesson: &Lesson, ex: &Exercise) -> Result<PathBuf> {
    let Check::Quiz(questions) = &ex.check else {
        return Ok(lesson.start_file(ex));
    };
    let dir = session.engine.work_dir().join("dev-quiz");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join(format!("{}.toml", ex.name));
    let text = quiz_file::render(ex, questions, session.lang, quiz_file::seed_for("dev", &ex.name));
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// Problems found, one line each (empty: the course is consistent).
pub fn check_course(session: &Session, on_line: &mut dyn FnMut(&str)) -> Vec<String> {
    let mut problems = Vec::new();
    let mut ctx = session.ctx();
    for lesson in &session.course.lessons {
        for lang in [Lang::En, Lang::Tr] {
            let chapter = lesson.chapter_path(lang);
            if !chapter.is_file() {
                problems.push(format!(
                    "lesson {:02}: chapter {} is missing",
                    lesson.number,
                    chapter.display()
                ));
            }
        }
    }
    for (lesson, ex) in session.course.exercises() {
        let name = &ex.name;
        if ex
            .hints
            .iter()
            .any(|h| h.en.trim().is_empty() || h.tr.as_deref().is_some_and(|t| t.trim().is_empty()))
        {
            problems.push(format!("{name}: a hint is blank"));
        }
        let start = match shipped_file(session, lesson, ex) {
            Ok(p) => p,
            Err(e) => {
                problems.push(format!("{name}: {e:#}"));
                continue;
            }
        };
        let solution = match solved_file(session, lesson, ex) {
            Ok(p) => p,
            Err(e) => {
                problems.push(format!("{name}: {e:#}"));
                continue;
            }
        };
        for (what, path) in [("starting file", &start), ("solution", &solution)] {
            if !path.is_file() {
                problems.push(format!("{name}: the {what} {} is missing", path.display()));
            }
        }
        if !start.is_file() || !solution.is_file() {
            continue;
        }
        ctx.slot = "dev-start".into();
        let shipped = check::check(&ctx, lesson, ex, &start);
        ctx.slot = "dev-solution".into();
        let solved = check::check(&ctx, lesson, ex, &solution);
        let ok = shipped.status == Status::Fail && solved.status == Status::Pass;
        on_line(&format!(
            "{} {name}: as shipped {:?}, with its solution {:?}",
            if ok { "✓" } else { "✗" },
            shipped.status,
            solved.status
        ));
        if shipped.status != Status::Fail {
            problems.push(format!(
                "{name}: should fail as shipped, got {:?}: {}",
                shipped.status, shipped.message
            ));
        }
        if solved.status != Status::Pass {
            problems.push(format!(
                "{name}: should pass with its solution, got {:?}: {}",
                solved.status, solved.message
            ));
        }
    }
    problems
}
