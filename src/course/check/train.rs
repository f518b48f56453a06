//! Train exercises: train with the learner's config, evaluate on the lesson's
//! held-out set, and compare with the reference config's run on the same
//! model. Reference results are cached per machine, model and inputs.

use super::{Ctx, Outcome};
use crate::course::catalog::{Exercise, Lesson, TrainCheck};
use crate::course::process::{self, Limits};
use crate::train::config::TrainConfig;
use anyhow::{bail, Context, Result};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A learner's config made runnable here: dataset paths from the lesson
/// folder, output in scratch space, the runner's model.
fn resolve_config(text: &str, lesson_dir: &Path, out: &Path, model: Option<&str>) -> Result<String> {
    let mut table: toml::Table = text.parse()?;
    for key in ["dataset", "eval_dataset"] {
        if let Some(v) = table.get(key).and_then(|v| v.as_str()) {
            let joined: Vec<String> = v
                .split(',')
                .map(|p| lesson_dir.join(p.trim()).display().to_string())
                .collect();
            table.insert(key.into(), joined.join(",").into());
        }
    }
    table.remove("model");
    if let Some(m) = model {
        table.insert("model".into(), m.into());
    }
    table.insert("output_dir".into(), out.display().to_string().into());
    table.insert("overwrite_output_dir".into(), true.into());
    table.insert("resume_from_checkpoint".into(), false.into());
    let resolved = toml::to_string(&table)?;
    TrainConfig::from_toml(&resolved)?;
    Ok(resolved)
}

/// Trains `config` in a child process and returns the held-out metric, or
/// Err(message) when the run itself failed.
fn train_and_eval(
    ctx: &Ctx,
    c: &TrainCheck,
    lesson: &Lesson,
    config_text: &str,
    dir: &Path,
) -> Result<std::result::Result<f64, String>> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let out = dir.join("run");
    let resolved = match resolve_config(config_text, &lesson.dir, &out, ctx.model.as_deref()) {
        Ok(r) => r,
        Err(e) => return Ok(Err(format!("the config is not valid: {e:#}"))),
    };
    let cfg_path = dir.join("config.toml");
    std::fs::write(&cfg_path, resolved)?;
    let exe = std::env::current_exe().context("cannot find the tunelings binary")?;
    let limits = Limits {
        time: Duration::from_secs_f64(c.time_limit_s),
        output: 1 << 20,
        memory: None,
    };
    let mut train = Command::new(&exe);
    train.arg("train").arg(&cfg_path);
    let run = process::run(train, limits)?;
    if run.timed_out {
        return Ok(Err(format!(
            "training took longer than {} s and was stopped",
            c.time_limit_s
        )));
    }
    if !run.success() {
        return Ok(Err(format!("training failed:\n{}", run.stderr_tail(15))));
    }
    let mut eval = Command::new(&exe);
    eval.args(["eval", "--json", "--model"])
        .arg(&out)
        .arg("--data")
        .arg(lesson.dir.join(&c.heldout));
    let run = process::run(eval, limits)?;
    if !run.success() {
        bail!("evaluating {} failed:\n{}", out.display(), run.stderr_tail(15));
    }
    let metrics: serde_json::Value =
        serde_json::from_str(run.stdout.trim()).context("eval printed no JSON")?;
    let v = metrics[c.metric.eval_key()]
        .as_f64()
        .with_context(|| format!("eval output has no `{}`", c.metric.eval_key()))?;
    Ok(Ok(v))
}

fn hash_file(h: &mut impl Hasher, path: &Path, contents: bool) {
    path.hash(h);
    if contents && std::fs::metadata(path).is_ok_and(|m| m.len() < 64 << 20) {
        std::fs::read(path).unwrap_or_default().hash(h);
    } else if let Ok(m) = std::fs::metadata(path) {
        // Large weight files: size and time stand in for the bytes.
        m.len().hash(h);
        m.modified().ok().hash(h);
    }
}

/// Changes when the solution, the lesson's data, the model or tunelings change.
fn reference_key(ctx: &Ctx, lesson: &Lesson, ex: &Exercise, c: &TrainCheck) -> Result<u64> {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    env!("CARGO_PKG_VERSION").hash(&mut h);
    std::fs::read(ctx.course.solution_file(ex))?.hash(&mut h);
    format!("{c:?}").hash(&mut h);
    for entry in walk(&lesson.dir.join("data")) {
        hash_file(&mut h, &entry, true);
    }
    hash_file(&mut h, &lesson.dir.join(&c.heldout), true);
    let model_dir = match &ctx.model {
        None => Some(crate::checkpoint::embedded_model_dir()),
        Some(m) if Path::new(m).is_dir() => Some(PathBuf::from(m)),
        Some(m) => {
            m.hash(&mut h);
            None
        }
    };
    if let Some(dir) = model_dir {
        for entry in walk(&dir) {
            hash_file(&mut h, &entry, entry.extension().is_some_and(|e| e == "json"));
        }
    }
    Ok(h.finish())
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The reference run's metric, from the cache or computed (under a lock, so
/// concurrent graders train it once).
fn reference_metric(ctx: &Ctx, lesson: &Lesson, ex: &Exercise, c: &TrainCheck) -> Result<f64> {
    let key = reference_key(ctx, lesson, ex, c)?;
    let cache = ctx.engine.work_dir().join("reference");
    std::fs::create_dir_all(&cache)?;
    let path = cache.join(format!("{}-{key:016x}.json", ex.name));
    let lock = std::fs::File::create(cache.join(format!("{}.lock", ex.name)))?;
    lock.lock()?;
    if let Some(v) = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v["metric"].as_f64())
    {
        return Ok(v);
    }
    let solution = ctx.course.solution_file(ex);
    let text =
        std::fs::read_to_string(&solution).with_context(|| format!("cannot read {}", solution.display()))?;
    let dir = ctx
        .engine
        .work_dir()
        .join("runs")
        .join("reference")
        .join(&ex.name);
    let v = match train_and_eval(ctx, c, lesson, &text, &dir)? {
        Ok(v) => v,
        Err(why) => bail!("the reference run failed: {why}"),
    };
    let tmp = path.with_extension("tmp");
    std::fs::write(
        &tmp,
        serde_json::json!({ "metric": v, "model": ctx.model }).to_string(),
    )?;
    std::fs::rename(&tmp, &path)?;
    Ok(v)
}

/// The first required key the learner's config lacks or sets otherwise.
fn missing_requirement(text: &str, c: &TrainCheck) -> Option<String> {
    let table: toml::Table = text.parse().ok()?; // a broken config fails in training, with its error
    c.require.iter().find_map(|(key, want)| match table.get(key) {
        Some(got) if got == want => None,
        Some(got) => Some(format!(
            "this exercise needs `{key} = {want}` in your config; it has `{key} = {got}`"
        )),
        None => Some(format!(
            "this exercise needs `{key} = {want}` in your config; it has no `{key}`"
        )),
    })
}

pub fn check(
    ctx: &Ctx,
    lesson: &Lesson,
    ex: &Exercise,
    c: &TrainCheck,
    learner_file: &Path,
) -> Result<Outcome> {
    let text = std::fs::read_to_string(learner_file)
        .with_context(|| format!("cannot read {}", learner_file.display()))?;
    if let Some(why) = missing_requirement(&text, c) {
        return Ok(Outcome::fail(why));
    }
    let reference = reference_metric(ctx, lesson, ex, c)?;
    let dir = ctx
        .engine
        .work_dir()
        .join("runs")
        .join(crate::course::sandbox::slot_name(&ctx.slot))
        .join(&ex.name);
    let got = match train_and_eval(ctx, c, lesson, &text, &dir)? {
        Ok(v) => v,
        Err(why) => return Ok(Outcome::fail(why)),
    };
    let name = c.metric.eval_key().replace('_', " ");
    let (ok, bound) = if c.metric.lower_is_better() {
        let bound = reference * (1.0 + c.margin);
        (got <= bound, format!("≤ {bound:.4}"))
    } else {
        let bound = reference * (1.0 - c.margin);
        (got >= bound, format!("≥ {bound:.4}"))
    };
    let msg =
        format!("held-out {name} {got:.4}; the reference reaches {reference:.4}, passing needs {bound}");
    Ok(if ok && got.is_finite() {
        Outcome::pass(msg)
    } else {
        Outcome::fail(msg)
    })
}
