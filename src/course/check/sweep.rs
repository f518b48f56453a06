//! Train exercises that certify a sweep: the learner sweeps their own recipe
//! (`tunelings sweep NAME --grid …`), submits the best point, and the check
//! reads that sweep back. Copying a number from the book, without the sweep
//! it came from, does not pass.

use super::train::resolve_config;
use crate::course::catalog::{Exercise, Lesson, SweepCheck};
use crate::train::sweep::{self, RunSummary};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// Where a learner's sweep of `ex` lives: `sweeps/NAME/` in the folder that
/// holds the learner's files.
pub fn sweep_dir(learner_file: &Path, ex: &Exercise) -> PathBuf {
    let depth = ex.file.components().count();
    let root = learner_file.ancestors().nth(depth).unwrap_or(Path::new("."));
    root.join("sweeps").join(&ex.name)
}

/// Sweeps the learner's file of `ex` over `axes`, with the lesson's data and
/// held-out set, into `sweep_dir`. Returns that folder and the runs.
pub fn run_for_exercise(
    lesson: &Lesson,
    ex: &Exercise,
    heldout: &Path,
    learner_file: &Path,
    model: Option<&str>,
    axes: &[sweep::Axis],
    stop: &std::sync::atomic::AtomicBool,
) -> Result<(PathBuf, Vec<RunSummary>)> {
    let text = std::fs::read_to_string(learner_file)
        .with_context(|| format!("cannot read {}", learner_file.display()))?;
    let dir = sweep_dir(learner_file, ex);
    let resolved = resolve_config(&text, &lesson.dir, &dir, model)
        .with_context(|| format!("{} is not a valid config", learner_file.display()))?;
    let mut table: toml::Table = resolved.parse()?;
    table.insert(
        "eval_dataset".into(),
        lesson.dir.join(heldout).display().to_string().into(),
    );
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let base = dir.join("base.toml");
    std::fs::write(&base, toml::to_string(&table)?)?;
    sweep::run(&base, axes, stop)
}

/// Keys whose values are paths, resolved differently on each machine.
const PATH_KEYS: &[&str] = &[
    "model",
    "dataset",
    "dataset_dir",
    "eval_dataset",
    "adapter_name_or_path",
    "output_dir",
    "overwrite_output_dir",
    "resume_from_checkpoint",
];

/// A config's settings, without its paths and the swept key.
fn settings(table: &toml::Table, key: &str) -> toml::Table {
    let mut t = table.clone();
    for k in PATH_KEYS.iter().chain([&key]) {
        t.remove(*k);
    }
    t
}

fn as_f64(v: &toml::Value) -> Option<f64> {
    v.as_float().or_else(|| v.as_integer().map(|i| i as f64))
}

/// The sweep's held-out loss at the learner's point, once the sweep is
/// shown to be of this recipe, wide enough, and to pick that point;
/// `Err` says what is missing.
pub fn verify(
    c: &SweepCheck,
    ex: &Exercise,
    learner_text: &str,
    learner_file: &Path,
) -> Result<Result<f64, String>> {
    let dir = sweep_dir(learner_file, ex);
    let how = format!(
        "run `tunelings sweep {} --grid {}=v1,v2,…` with at least {} values spanning a factor of {} or more, then set `{}` to the ★ row",
        ex.name, c.key, c.min_values, c.min_span, c.key
    );
    let Ok(log) = std::fs::read_to_string(dir.join("sweep.jsonl")) else {
        return Ok(Err(format!("no sweep found in {}: {how}", dir.display())));
    };
    let Ok(mine) = learner_text.parse::<toml::Table>() else {
        return Ok(Err(format!("{} is not valid TOML", learner_file.display())));
    };
    let Some(my_value) = mine.get(&c.key).and_then(as_f64) else {
        return Ok(Err(format!("your config sets no number for `{}`", c.key)));
    };
    let mine = settings(&mine, &c.key);
    // The sweep's runs of this very recipe, with the value each tried.
    let mut points: Vec<(f64, f64)> = Vec::new();
    for (i, line) in log.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let run: RunSummary = serde_json::from_str(line).with_context(|| {
            format!(
                "{}: line {} is not a sweep result",
                dir.join("sweep.jsonl").display(),
                i + 1
            )
        })?;
        let (Some(loss), "completed") = (run.eval_loss, run.status.as_str()) else {
            continue;
        };
        let cfg = dir.join(format!("{}.toml", run.run));
        let Some(table) = std::fs::read_to_string(&cfg)
            .ok()
            .and_then(|t| t.parse::<toml::Table>().ok())
        else {
            continue;
        };
        if settings(&table, &c.key) != mine {
            continue;
        }
        if let Some(v) = table.get(&c.key).and_then(as_f64) {
            points.push((v, loss));
        }
    }
    let mut values: Vec<f64> = points.iter().map(|p| p.0).collect();
    values.sort_by(f64::total_cmp);
    values.dedup();
    if points.is_empty() {
        return Ok(Err(format!(
            "the sweep in {} has no finished run of the recipe you submit (other settings differ, or it was changed since): {how}",
            dir.display()
        )));
    }
    let span = values.last().unwrap() / values.first().unwrap();
    if values.len() < c.min_values || span.is_nan() || span < c.min_span {
        return Ok(Err(format!(
            "the sweep tried {} value(s) of `{}` spanning a factor of {span:.3}; it needs at least {} spanning {} or more: {how}",
            values.len(),
            c.key,
            c.min_values,
            c.min_span
        )));
    }
    let (best, best_loss) = points.iter().copied().min_by(|a, b| a.1.total_cmp(&b.1)).unwrap();
    if (my_value - best).abs() > 1e-9 * best.abs() {
        return Ok(Err(format!(
            "your sweep's best point is `{} = {best}` (held-out loss {best_loss:.4}), but your config sets {my_value}",
            c.key
        )));
    }
    Ok(Ok(best_loss))
}

impl SweepCheck {
    /// The `--grid` argument of the reference sweep.
    pub fn reference_axis(&self) -> Result<sweep::Axis> {
        if self.reference_grid.len() < self.min_values {
            bail!("`reference_grid` lists fewer than `min_values` values");
        }
        let values: Vec<String> = self.reference_grid.iter().map(|v| v.to_string()).collect();
        sweep::Axis::parse(&format!("{}={}", self.key, values.join(",")))
    }
}
