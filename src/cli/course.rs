//! The course commands: list, check, hint, solution, reset, watch, grade, dev.

use crate::course::check::Status;
use crate::course::grade::{self, GradeArgs};
use crate::course::report::{self, Format};
use crate::course::{dev, watch, Options, Session};
use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use std::process::ExitCode;

#[derive(Args)]
pub struct CheckArgs {
    /// Exercise to check (default: the first one not done yet).
    pub name: Option<String>,
    /// Check every exercise of lesson NN.
    #[arg(long)]
    pub lesson: Option<u32>,
    /// Check every exercise.
    #[arg(long)]
    pub all: bool,
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Build slot (used by `grade` to keep students apart).
    #[arg(long, hide = true)]
    pub slot: Option<String>,
    /// Leave the progress file alone (grading).
    #[arg(long, hide = true)]
    pub no_progress: bool,
    #[command(flatten)]
    pub course: Options,
}

#[derive(Subcommand)]
pub enum DevCommand {
    /// Prove the course consistent: every exercise fails as shipped and passes with its solution.
    Check {
        #[command(flatten)]
        course: Options,
    },
    /// Write lesson 07's persona data: the follow adapter's chats and the
    /// teacher's trained and held-out questions.
    Personas {
        /// Output folder.
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// Write lesson 12's prompts: harmful requests and ordinary questions,
    /// for the trained towns and the held-out ones.
    Requests {
        /// Output folder.
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// Write lesson 11's pictures and their caption and question files.
    Images {
        /// Output folder.
        #[arg(long)]
        out: std::path::PathBuf,
        /// Training pictures.
        #[arg(long, default_value_t = 320)]
        train: usize,
        /// Held-out pictures.
        #[arg(long, default_value_t = 60)]
        heldout: usize,
        /// Questions asked about each picture.
        #[arg(long, default_value_t = 3)]
        per_image: usize,
    },
    /// Pre-train nano-vit by its recipe (the shipped one is assets/nano-vit).
    Vision {
        /// Output folder.
        #[arg(long)]
        out: std::path::PathBuf,
        #[arg(long, default_value_t = crate::vision::pretrain::Recipe::default().steps)]
        steps: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
}

pub fn list(opts: &Options, format: Format) -> Result<ExitCode> {
    let session = Session::open(opts)?;
    let progress = session.progress();
    if format == Format::Json {
        let items: Vec<_> = session
            .course
            .exercises()
            .map(|(l, e)| {
                serde_json::json!({
                    "name": e.name, "lesson": l.number, "kind": e.kind(),
                    "title": e.title.get(session.lang), "file": session.learner_file(e),
                    "done": progress.done.contains(&e.name), "max_score": e.max_score(),
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(items));
        return Ok(ExitCode::SUCCESS);
    }
    for lesson in &session.course.lessons {
        println!("{:02} {}", lesson.number, lesson.title.get(session.lang));
        for e in &lesson.exercises {
            let mark = if progress.done.contains(&e.name) {
                "✓"
            } else {
                " "
            };
            println!(
                "   {mark} {:<28} {:<5} {}",
                e.name,
                e.kind().as_str(),
                e.title.get(session.lang)
            );
        }
    }
    let total = session.course.exercises().count();
    println!("{} of {total} done", progress.done.len().min(total));
    Ok(ExitCode::SUCCESS)
}

pub fn check(args: CheckArgs) -> Result<ExitCode> {
    let mut session = Session::open(&args.course)?;
    if let Some(slot) = &args.slot {
        session.slot = slot.clone();
    }
    session.record_progress = !args.no_progress;
    let picked = session.select(args.name.as_deref(), args.lesson, args.all)?;
    let mut verdicts = Vec::new();
    for (lesson, ex) in picked {
        verdicts.push(session.check(lesson, ex)?);
    }
    print!("{}", report::render(&verdicts, args.format));
    let all_pass = verdicts.iter().all(|v| v.status == Status::Pass);
    Ok(if all_pass {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

pub fn hint(opts: &Options, name: &str) -> Result<ExitCode> {
    print!("{}", Session::open(opts)?.hint(name)?);
    Ok(ExitCode::SUCCESS)
}

pub fn solution(opts: &Options, name: &str, force: bool) -> Result<ExitCode> {
    let (path, text) = Session::open(opts)?.solution(name, force)?;
    println!("// {}\n{text}", path.display());
    Ok(ExitCode::SUCCESS)
}

pub fn reset(opts: &Options, name: &str) -> Result<ExitCode> {
    let path = Session::open(opts)?.reset(name)?;
    println!("{} is back to its starting version", path.display());
    Ok(ExitCode::SUCCESS)
}

pub fn watch(opts: &Options, poll: bool) -> Result<ExitCode> {
    let session = Session::open(opts)?;
    watch::watch(&session, poll, &mut |line| println!("{line}"))?;
    Ok(ExitCode::SUCCESS)
}

pub fn grade(opts: &Options, args: &GradeArgs) -> Result<ExitCode> {
    let results = grade::grade(opts, args)?;
    print!("{}", grade::summary(&results));
    println!("report written to {}", args.out.display());
    Ok(ExitCode::SUCCESS)
}

pub fn dev(command: DevCommand) -> Result<ExitCode> {
    let course = match command {
        DevCommand::Check { course } => course,
        DevCommand::Personas { out } => {
            use crate::pretrain::personas;
            let chats: Vec<String> = personas::follow_chats().iter().map(|d| d.to_jsonl()).collect();
            write_lines(
                &out,
                [
                    ("follow_train.jsonl", chats),
                    ("questions.jsonl", personas::questions(false)),
                    ("heldout_questions.jsonl", personas::questions(true)),
                ],
            )?;
            return Ok(ExitCode::SUCCESS);
        }
        DevCommand::Requests { out } => {
            use crate::pretrain::requests::prompts;
            write_lines(
                &out,
                [
                    ("prompts.jsonl", prompts(false)),
                    ("heldout_prompts.jsonl", prompts(true)),
                ],
            )?;
            return Ok(ExitCode::SUCCESS);
        }
        DevCommand::Images {
            out,
            train,
            heldout,
            per_image,
        } => {
            let w = crate::vision::dataset::write(&out, train, heldout, per_image)?;
            println!(
                "{} pictures, {} captions, {} questions, {} held-out questions in {}",
                w.images,
                w.captions,
                w.questions,
                w.heldout_questions,
                out.display()
            );
            return Ok(ExitCode::SUCCESS);
        }
        DevCommand::Vision { out, steps, seed } => {
            use crate::vision::pretrain;
            let recipe = pretrain::Recipe {
                steps,
                seed,
                ..Default::default()
            };
            let (vit, report) = pretrain::pretrain(&recipe, &mut |step, loss| {
                if (step + 1) % 100 == 0 {
                    eprintln!("step {:>5}  loss {loss:.4}", step + 1);
                }
            })?;
            pretrain::save(&vit, &report, &out)?;
            println!("{}", serde_json::to_string(&report)?);
            return Ok(ExitCode::SUCCESS);
        }
    };
    let session = Session::open(&course)?;
    let problems = dev::check_course(&session, &mut |line| println!("{line}"));
    if problems.is_empty() {
        println!("the course is consistent");
        return Ok(ExitCode::SUCCESS);
    }
    for p in &problems {
        eprintln!("problem: {p}");
    }
    bail!("{} problem(s) in the course", problems.len())
}

/// Writes each (file name, lines) into `out` as JSONL.
fn write_lines<const N: usize>(out: &std::path::Path, files: [(&str, Vec<String>); N]) -> Result<()> {
    for (name, lines) in files {
        let path = super::write_jsonl(out, name, &lines)?;
        println!("{}: {} lines", path.display(), lines.len());
    }
    Ok(())
}
