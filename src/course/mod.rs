//! The course runner: the lesson catalog, checks against reference
//! solutions, progress, and the commands built on them.

pub mod catalog;
pub mod check;
pub mod compile_help;
pub mod dev;
pub mod grade;
pub mod process;
pub mod progress;
pub mod quiz_file;
pub mod report;
pub mod sandbox;
pub mod watch;

use anyhow::{bail, Context, Result};
use catalog::{Course, Exercise, Lang, Lesson};
use check::{Ctx, Status, Verdict};
use progress::Progress;
use sandbox::Engine;
use std::path::{Path, PathBuf};

/// Where the course and the learner's files are.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Options {
    /// Course folder (with `lessons/` and `solutions/`); default: found from
    /// the current folder, else the one tunelings was built from.
    #[arg(long, env = "TUNELINGS_COURSE")]
    pub course: Option<PathBuf>,
    /// The learner's files; default: the course's `exercises/`.
    #[arg(long)]
    pub exercises: Option<PathBuf>,
    #[arg(long, value_enum, env = "TUNELINGS_LANG")]
    pub lang: Option<Lang>,
    /// Base model for train exercises (default: nano-qwen).
    #[arg(long)]
    pub model: Option<String>,
}

fn find_course(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(dir) = explicit {
        if !dir.join("lessons").is_dir() {
            bail!("{} is not a course folder: it has no lessons/", dir.display());
        }
        return Ok(dir.to_path_buf());
    }
    let cwd = std::env::current_dir()?;
    if let Some(dir) = cwd
        .ancestors()
        .find(|d| d.join("lessons").is_dir() && d.join("solutions").is_dir())
    {
        return Ok(dir.to_path_buf());
    }
    let built_from = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    if built_from.join("lessons").is_dir() {
        return Ok(built_from);
    }
    bail!("no course found: run tunelings inside the course folder or pass --course")
}

pub struct Session {
    pub course: Course,
    pub engine: Engine,
    pub exercises_dir: PathBuf,
    /// The learner's own working copy: missing files are created from the lessons.
    pub own_copy: bool,
    /// Passes and hints go to the progress file (not when grading).
    pub record_progress: bool,
    pub lang: Lang,
    pub model: Option<String>,
    pub slot: String,
    /// The UI's abort key: a train check in progress stops and keeps its checkpoint.
    pub stop_training: std::sync::atomic::AtomicBool,
}

impl Session {
    pub fn open(opts: &Options) -> Result<Self> {
        // Absolute paths: checks run children in other folders.
        let root = std::path::absolute(find_course(opts.course.as_deref())?)?;
        let course = Course::load(&root)?;
        let own = root.join("exercises");
        let exercises_dir = std::path::absolute(opts.exercises.clone().unwrap_or_else(|| own.clone()))?;
        let own_copy = opts.exercises.is_none();
        let session = Self {
            course,
            engine: Engine::locate()?,
            exercises_dir,
            own_copy,
            record_progress: true,
            lang: Lang::detect(opts.lang),
            model: opts.model.clone(),
            slot: "learner".into(),
            stop_training: Default::default(),
        };
        if own_copy {
            session.create_missing_files()?;
        }
        Ok(session)
    }

    pub fn learner_file(&self, ex: &Exercise) -> PathBuf {
        self.exercises_dir.join(&ex.file)
    }

    /// Writes the starting version of every learner file that is not there
    /// yet; files already there keep the learner's work, in any language.
    pub fn create_missing_files(&self) -> Result<()> {
        for (lesson, ex) in self.course.exercises() {
            if !self.learner_file(ex).exists() {
                self.write_start(lesson, ex)?;
            }
            for rel in &ex.files {
                let dest = self.exercises_dir.join(rel);
                if !dest.exists() {
                    copy_start(&lesson.start_file_in_at(rel, self.lang), &dest)?;
                }
            }
        }
        Ok(())
    }

    /// The starting version of a learner file, in the learner's language; a
    /// quiz gets the learner's own choice order.
    fn write_start(&self, lesson: &Lesson, ex: &Exercise) -> Result<PathBuf> {
        let dest = self.learner_file(ex);
        if let catalog::Check::Quiz(questions) = &ex.check {
            if let Some(parent) = dest.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create {}", parent.display()))?;
            }
            let seed = quiz_file::seed_for(&self.exercises_dir.display().to_string(), &ex.name);
            let text = quiz_file::render(ex, questions, self.lang, seed);
            std::fs::write(&dest, text).with_context(|| format!("cannot write {}", dest.display()))?;
        } else {
            copy_start(&lesson.start_file_in(ex, self.lang), &dest)?;
        }
        Ok(dest)
    }

    pub fn ctx(&self) -> Ctx<'_> {
        Ctx {
            course: &self.course,
            engine: &self.engine,
            slot: self.slot.clone(),
            model: self.model.clone(),
            lang: self.lang,
            stop: &self.stop_training,
        }
    }

    pub fn progress_path(&self) -> PathBuf {
        Progress::path(&self.exercises_dir)
    }

    pub fn progress(&self) -> Progress {
        Progress::load(&self.progress_path())
    }

    /// Checks one exercise and records a pass in the learner's progress.
    pub fn check(&self, lesson: &Lesson, ex: &Exercise) -> Result<Verdict> {
        let verdict = check::check(&self.ctx(), lesson, ex, &self.learner_file(ex));
        if self.record_progress && verdict.status == Status::Pass {
            let mut p = self.progress();
            p.done.insert(ex.name.clone());
            p.save(&self.progress_path())?;
        }
        Ok(verdict)
    }

    /// The exercises a `check` selection names.
    pub fn select(
        &self,
        name: Option<&str>,
        lesson: Option<u32>,
        all: bool,
    ) -> Result<Vec<(&Lesson, &Exercise)>> {
        let picked: Vec<_> = match (name, lesson, all) {
            (Some(n), None, false) => vec![self.course.find(n)?],
            (None, Some(l), false) => {
                let v: Vec<_> = self
                    .course
                    .exercises()
                    .filter(|(les, _)| les.number == l)
                    .collect();
                if v.is_empty() {
                    bail!("lesson {l:02} has no exercises");
                }
                v
            }
            (None, None, true) => self.course.exercises().collect(),
            (None, None, false) => match self.next_pending() {
                Some(found) => vec![found],
                None => bail!("every exercise is done; name one, or use --all"),
            },
            _ => bail!("choose one of: an exercise name, --lesson NN, --all"),
        };
        Ok(picked)
    }

    /// The first exercise not yet done.
    pub fn next_pending(&self) -> Option<(&Lesson, &Exercise)> {
        let p = self.progress();
        self.course.exercises().find(|(_, e)| !p.done.contains(&e.name))
    }

    /// The next hint (each call reveals one more, remembered in progress).
    pub fn hint(&self, name: &str) -> Result<String> {
        let (_, ex) = self.course.find(name)?;
        let mut p = self.progress();
        let shown = p.hints.get(name).copied().unwrap_or(0);
        let n = (shown + 1).min(ex.hints.len());
        p.hints.insert(name.to_string(), n);
        if self.record_progress {
            p.save(&self.progress_path())?;
        }
        let mut out = String::new();
        for (i, h) in ex.hints.iter().take(n).enumerate() {
            out += &format!("Hint {} of {}: {}\n", i + 1, ex.hints.len(), h.get(self.lang));
        }
        if n == ex.hints.len() {
            out += "That was the last hint.\n";
        }
        Ok(out)
    }

    /// The reference solution, once the exercise passed (or when forced).
    pub fn solution(&self, name: &str, force: bool) -> Result<(PathBuf, String)> {
        let (_, ex) = self.course.find(name)?;
        if !force && !self.progress().done.contains(name) {
            bail!("solve `{name}` first (`tunelings check {name}`), or see it anyway with `solution {name} --force`");
        }
        let path = self.course.solution_file(ex);
        let mut text =
            std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        if let catalog::Check::Quiz(questions) = &ex.check {
            // In the letters of the learner's own file.
            let seed = std::fs::read_to_string(self.learner_file(ex))
                .ok()
                .and_then(|t| t.parse::<toml::Table>().ok())
                .and_then(|t| t.get(quiz_file::ORDER_KEY)?.as_integer())
                .and_then(|n| u64::try_from(n).ok());
            text.clear();
            for q in questions {
                text += &format!(
                    "{}. {}\n   {}) {} — {}\n",
                    q.id,
                    q.prompt.get(self.lang),
                    quiz_file::letter_shown_for(q, seed, &q.answer),
                    q.choices[&q.answer].get(self.lang),
                    q.explain[&q.answer].get(self.lang)
                );
            }
        }
        Ok((path, text))
    }

    /// Sweeps the learner's file of train exercise `name` (`tunelings sweep NAME`).
    pub fn sweep(
        &self,
        name: &str,
        axes: &[crate::train::sweep::Axis],
        stop: &std::sync::atomic::AtomicBool,
    ) -> Result<(PathBuf, Vec<crate::train::sweep::RunSummary>)> {
        let (lesson, ex) = self
            .course
            .find(name)
            .with_context(|| format!("`{name}` is neither a config file nor an exercise"))?;
        let catalog::Check::Train(c) = &ex.check else {
            bail!(
                "`{name}` is a {} exercise; only train exercises can be swept",
                ex.kind().as_str()
            );
        };
        let file = self.learner_file(ex);
        check::sweep::run_for_exercise(lesson, ex, &c.heldout, &file, self.model.as_deref(), axes, stop)
    }

    /// Puts the starting version of the learner's file back.
    pub fn reset(&self, name: &str) -> Result<PathBuf> {
        let (lesson, ex) = self.course.find(name)?;
        self.write_start(lesson, ex)
    }
}

fn copy_start(from: &Path, to: &Path) -> Result<()> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    }
    std::fs::copy(from, to).with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))?;
    Ok(())
}
