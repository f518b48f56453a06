//! Grading a class: every subfolder of the submissions folder is one
//! student's `exercises/`. Each is checked in its own process, with time and
//! memory limits, against the instructor's lessons and solutions.

use super::check::{Status, Verdict};
use super::process::{self, Limits};
use super::report::{self, Totals};
use super::{Options, Session};
use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

#[derive(Debug, Clone, clap::Args)]
pub struct GradeArgs {
    /// One subfolder per student, each a copy of `exercises/`.
    #[arg(long)]
    pub submissions: PathBuf,
    /// Students checked at once.
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
    /// Report file: .csv, .json or .xml (JUnit).
    #[arg(long)]
    pub out: PathBuf,
    /// Wall-clock limit per student, in seconds.
    #[arg(long, default_value_t = 3600)]
    pub time_limit_s: u64,
    /// Memory (address space) limit per student, in MiB.
    #[arg(long, default_value_t = 16384)]
    pub memory_mib: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct StudentResult {
    pub student: String,
    pub exercises: Vec<Verdict>,
    pub totals: Totals,
}

fn students(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let entries = std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    let mut out: Vec<(String, PathBuf)> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .map(|p| {
            (
                p.file_name().unwrap_or_default().to_string_lossy().into_owned(),
                p,
            )
        })
        .collect();
    out.sort();
    if out.is_empty() {
        bail!("{} has no student folders", dir.display());
    }
    Ok(out)
}

/// One student's verdicts from a child `tunelings check --all`.
fn grade_one(session: &Session, opts: &Options, args: &GradeArgs, student: &str, dir: &Path) -> Vec<Verdict> {
    let broken = |message: String| -> Vec<Verdict> {
        session
            .course
            .exercises()
            .map(|(_, ex)| Verdict {
                name: ex.name.clone(),
                lesson: ex.lesson,
                kind: ex.kind(),
                status: Status::Error,
                message: message.clone(),
                duration_s: 0.0,
                score: 0,
                max_score: ex.max_score(),
            })
            .collect()
    };
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => return broken(format!("cannot find the tunelings binary: {e}")),
    };
    let mut cmd = Command::new(exe);
    cmd.args(["check", "--all", "--no-progress", "--format", "json", "--slot"])
        .arg(format!("grade-{student}"))
        .arg("--course")
        .arg(&session.course.root)
        .arg("--exercises")
        .arg(dir);
    if let Some(m) = &opts.model {
        cmd.arg("--model").arg(m);
    }
    let limits = Limits {
        time: Duration::from_secs(args.time_limit_s),
        output: 16 << 20,
        memory: Some(args.memory_mib << 20),
    };
    match process::run(cmd, limits) {
        Err(e) => broken(format!("{e:#}")),
        Ok(run) if run.timed_out => broken(format!("grading stopped after {} s", args.time_limit_s)),
        Ok(run) => match serde_json::from_str::<serde_json::Value>(&run.stdout)
            .ok()
            .and_then(|v| serde_json::from_value::<Vec<Verdict>>(v["exercises"].clone()).ok())
        {
            Some(v) => v,
            None => broken(format!("the checker crashed:\n{}", run.stderr_tail(10))),
        },
    }
}

pub fn grade(opts: &Options, args: &GradeArgs) -> Result<Vec<StudentResult>> {
    let session = Session::open(&Options {
        exercises: Some(args.submissions.clone()),
        ..opts.clone()
    })?;
    let list = students(&args.submissions)?;
    let next = AtomicUsize::new(0);
    let results = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..args.jobs.max(1) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some((student, dir)) = list.get(i) else { break };
                let exercises = grade_one(&session, opts, args, student, dir);
                let totals = Totals::of(&exercises);
                eprintln!("graded {student}: {}/{}", totals.score, totals.max_score);
                results
                    .lock()
                    .expect("no panics while holding")
                    .push(StudentResult {
                        student: student.clone(),
                        exercises,
                        totals,
                    });
            });
        }
    });
    let mut results = results.into_inner().expect("threads joined");
    results.sort_by(|a, b| a.student.cmp(&b.student));
    write_report(&results, &args.out)?;
    Ok(results)
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

pub fn write_report(results: &[StudentResult], out: &Path) -> Result<()> {
    let ext = out.extension().and_then(|e| e.to_str()).unwrap_or_default();
    let text = match ext {
        "csv" => {
            let mut t = String::from("student,exercise,status,score,max_score,message\n");
            for r in results {
                for v in &r.exercises {
                    let status = serde_json::to_value(v.status)?
                        .as_str()
                        .unwrap_or_default()
                        .to_string();
                    let row = [
                        csv_field(&r.student),
                        csv_field(&v.name),
                        status,
                        v.score.to_string(),
                        v.max_score.to_string(),
                        csv_field(&v.message),
                    ];
                    t += &(row.join(",") + "\n");
                }
            }
            t
        }
        "json" => serde_json::to_string_pretty(&serde_json::json!({ "students": results }))?,
        "xml" => {
            let suites: String = results
                .iter()
                .map(|r| report::junit_suite(&r.student, &r.exercises))
                .collect();
            report::junit_document(&suites)
        }
        _ => bail!("--out must end in .csv, .json or .xml, got {}", out.display()),
    };
    std::fs::write(out, text).with_context(|| format!("cannot write {}", out.display()))
}

/// The per-student summary printed after grading.
pub fn summary(results: &[StudentResult]) -> String {
    let width = results.iter().map(|r| r.student.len()).max().unwrap_or(7).max(7);
    let mut out = format!("{:width$}  passed  score\n", "student");
    for r in results {
        let t = &r.totals;
        out += &format!(
            "{:width$}  {:>6}  {}/{}\n",
            r.student,
            format!("{}/{}", t.passed, t.count),
            t.score,
            t.max_score
        );
    }
    out
}
