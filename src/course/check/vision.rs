//! Vision exercises: train a tiny LLaVA with the learner's two-stage config
//! in a child process; its greedy answers to held-out questions about
//! pictures must reach the exercise's accuracy.

use super::{Ctx, Outcome};
use crate::course::catalog::{Exercise, Lesson, VisionCheck};
use crate::vision::LlavaConfig;
use anyhow::{Context, Result};
use std::path::Path;
use std::process::Command;

/// The learner's config made runnable here: dataset paths from the lesson
/// folder, the lesson's held-out questions, output in scratch space.
fn resolve_config(text: &str, lesson_dir: &Path, out: &Path, heldout: &Path) -> Result<String> {
    let mut table: toml::Table = text.parse()?;
    for stage in ["stage1", "stage2"] {
        if let Some(toml::Value::Table(t)) = table.get_mut(stage) {
            if let Some(p) = t.get("dataset").and_then(|v| v.as_str()) {
                let joined = lesson_dir.join(p.trim()).display().to_string();
                t.insert("dataset".into(), joined.into());
            }
        }
    }
    table.insert("output_dir".into(), out.display().to_string().into());
    table.insert("eval_dataset".into(), heldout.display().to_string().into());
    let resolved = toml::to_string(&table)?;
    let cfg: LlavaConfig = toml::from_str(&resolved)?;
    cfg.validate()?;
    Ok(resolved)
}

pub fn check(
    ctx: &Ctx,
    lesson: &Lesson,
    ex: &Exercise,
    c: &VisionCheck,
    learner_file: &Path,
) -> Result<Outcome> {
    let dir = super::train::learner_runs(ctx).join(&ex.name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let out = dir.join("run");
    let text = std::fs::read_to_string(learner_file)?;
    let resolved = match resolve_config(&text, &lesson.dir, &out, &lesson.dir.join(&c.heldout)) {
        Ok(r) => r,
        Err(e) => return Ok(Outcome::fail(format!("the config is not valid: {e:#}"))),
    };
    let cfg_path = dir.join("config.toml");
    std::fs::write(&cfg_path, resolved)?;
    let exe = std::env::current_exe().context("cannot find the tunelings binary")?;
    let mut train = Command::new(exe);
    train.arg("llava").arg(&cfg_path);
    if let Err(why) = super::train::run_training(ctx, train, "training and evaluation", c.time_limit_s, &out)?
    {
        return Ok(Outcome::fail(why));
    }
    let report_path = out.join("llava_report.json");
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(&report_path)
            .with_context(|| format!("cannot read {}", report_path.display()))?,
    )?;
    let eval = &report["eval"];
    let accuracy = eval["accuracy"]
        .as_f64()
        .context("the run's report has no accuracy")?;
    let mut stages = Vec::new();
    for s in report["stages"].as_array().into_iter().flatten() {
        stages.push(format!(
            "{}: {} steps, loss {:.2} → {:.2}",
            s["stage"].as_str().unwrap_or("?"),
            s["steps"],
            s["first_loss"].as_f64().unwrap_or(f64::NAN),
            s["last_loss"].as_f64().unwrap_or(f64::NAN)
        ));
    }
    let head = format!(
        "held-out questions about pictures: {} of {} right ({:.1}%; needed {:.0}%). {}",
        eval["correct"],
        eval["total"],
        100.0 * accuracy,
        100.0 * c.min_accuracy,
        stages.join("; ")
    );
    if accuracy >= c.min_accuracy {
        return Ok(Outcome::pass(format!(
            "{head}\nThe trained model is in {}",
            out.display()
        )));
    }
    let misses: Vec<String> = eval["misses"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| {
            let m: Vec<&str> = m.as_array()?.iter().filter_map(|v| v.as_str()).collect();
            Some(format!(
                "  {}: {:?} expected {:?}, got {:?}",
                m.first()?,
                m.get(1)?,
                m.get(2)?,
                m.get(3)?
            ))
        })
        .collect();
    Ok(Outcome::fail(format!(
        "{head}\nSome misses:\n{}",
        misses.join("\n")
    )))
}
