//! Train exercises: train with the learner's config, evaluate on the lesson's
//! held-out set, and compare with the reference config's run on the same
//! model. Reference results are cached per machine, model and inputs.

use super::{Ctx, Outcome};
use crate::course::catalog::{BehaviourCheck, Exercise, Lesson, Metric, TrainCheck};
use crate::course::process::{self, Limits};
use crate::data::registry::is_file_entry;
use crate::train::config::TrainConfig;
use anyhow::{bail, Context, Result};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A learner's config made runnable here: dataset paths from the lesson
/// folder, output in scratch space, the runner's model.
pub(super) fn resolve_config(
    text: &str,
    lesson_dir: &Path,
    out: &Path,
    model: Option<&str>,
) -> Result<String> {
    let mut table: toml::Table = text.parse()?;
    let in_lesson = |p: &str| lesson_dir.join(p.trim()).display().to_string();
    for key in ["dataset", "eval_dataset"] {
        if let Some(v) = table.get(key).and_then(|v| v.as_str()) {
            // Registered dataset names stay names.
            let joined: Vec<String> = v
                .split(',')
                .map(|e| {
                    if is_file_entry(e) {
                        in_lesson(e)
                    } else {
                        e.trim().to_string()
                    }
                })
                .collect();
            table.insert(key.into(), joined.join(",").into());
        }
    }
    if let Some(v) = table.get("adapter_name_or_path").and_then(|v| v.as_str()) {
        let joined: Vec<String> = v.split(',').map(in_lesson).collect();
        table.insert("adapter_name_or_path".into(), joined.join(",").into());
    }
    let dir = table
        .get("dataset_dir")
        .and_then(|v| v.as_str())
        .unwrap_or("data");
    table.insert("dataset_dir".into(), in_lesson(dir).into());
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

/// What a run reached: the held-out metric, and its mean training speed in
/// target tokens per second (from the run's `trainer_log.jsonl`).
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
struct RunResult {
    metric: f64,
    tokens_per_s: Option<f64>,
    /// The constitution score of the trained model's greedy answers.
    #[serde(default)]
    behaviour: Option<f64>,
    /// The same score before training (kept with the reference run).
    #[serde(default)]
    base_behaviour: Option<f64>,
}

fn mean_tokens_per_s(run: &Path) -> Option<f64> {
    let log = std::fs::read_to_string(run.join("trainer_log.jsonl")).ok()?;
    let speeds: Vec<f64> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == "step")
        .filter_map(|v| v["tokens_per_s"].as_f64())
        .collect();
    (!speeds.is_empty()).then(|| speeds.iter().sum::<f64>() / speeds.len() as f64)
}

/// Trains `config` in a child process and returns what it reached, or
/// Err(message) when the run itself failed.
fn train_and_eval(
    ctx: &Ctx,
    c: &TrainCheck,
    lesson: &Lesson,
    config_text: &str,
    dir: &Path,
) -> Result<std::result::Result<RunResult, String>> {
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
    let limits = limits(c.time_limit_s);
    let mut train = Command::new(&exe);
    train.arg("train").arg(&cfg_path);
    if let Err(why) = run_training(ctx, train, "training", c.time_limit_s, &out)? {
        return Ok(Err(why));
    }
    let mut eval = vec!["--model".into(), out.clone().into_os_string()];
    eval.extend(["--data".into(), lesson.dir.join(&c.heldout).into_os_string()]);
    if c.metric.needs_generation() {
        eval.push("--generate".into());
    }
    if c.metric == Metric::PreferenceAccuracy {
        eval.push("--pairs".into());
    }
    let metrics = eval_json(&eval, limits)?;
    let metric = metrics[c.metric.eval_key()]
        .as_f64()
        .with_context(|| format!("eval output has no `{}`", c.metric.eval_key()))?;
    let behaviour = match &c.behaviour {
        Some(b) => Some(judge_behaviour(lesson, b, Some(&out), limits)?),
        None => None,
    };
    Ok(Ok(RunResult {
        metric,
        tokens_per_s: mean_tokens_per_s(&out),
        behaviour,
        base_behaviour: None,
    }))
}

/// What a training run and each evaluation of it may take.
pub(super) fn limits(time_limit_s: f64) -> Limits {
    Limits {
        time: Duration::from_secs_f64(time_limit_s),
        output: 1 << 20,
        memory: None,
    }
}

/// Runs a training child process that saves into `out`, stoppable by the
/// learner; `Err` says why it did not finish. `what` names what the child
/// does, for the messages.
pub(super) fn run_training(
    ctx: &Ctx,
    train: Command,
    what: &str,
    time_limit_s: f64,
    out: &Path,
) -> Result<std::result::Result<(), String>> {
    let run = process::run_stoppable(train, limits(time_limit_s), Some(ctx.stop))?;
    Ok(if run.timed_out {
        Err(format!(
            "{what} took longer than {time_limit_s} s and was stopped; fewer steps or a smaller batch finish sooner"
        ))
    } else if ctx.stop.load(std::sync::atomic::Ordering::SeqCst) {
        Err(format!(
            "training was stopped at your request; what it saved is in {}",
            out.display()
        ))
    } else if !run.success() {
        Err(format!("{what} failed:\n{}", run.stderr_tail(15)))
    } else {
        Ok(())
    })
}

/// `tunelings eval --json` with `args`; its JSON line.
pub(super) fn eval_json(args: &[std::ffi::OsString], limits: Limits) -> Result<serde_json::Value> {
    let exe = std::env::current_exe().context("cannot find the tunelings binary")?;
    let mut eval = Command::new(&exe);
    eval.args(["eval", "--json"]).args(args);
    let run = process::run(eval, limits)?;
    if !run.success() {
        let shown: Vec<_> = args.iter().map(|a| a.to_string_lossy()).collect();
        bail!(
            "`tunelings eval {}` failed:\n{}",
            shown.join(" "),
            run.stderr_tail(15)
        );
    }
    serde_json::from_str(run.stdout.trim()).context("eval printed no JSON")
}

/// The constitution score of `model`'s greedy answers to the prompts
/// (`None`: the runner's base model).
fn judge_behaviour(lesson: &Lesson, b: &BehaviourCheck, model: Option<&Path>, limits: Limits) -> Result<f64> {
    let mut args: Vec<std::ffi::OsString> = vec![
        "--constitution".into(),
        lesson.dir.join(&b.constitution).into_os_string(),
        "--data".into(),
        lesson.dir.join(&b.prompts).into_os_string(),
    ];
    if let Some(m) = model {
        args.extend(["--model".into(), m.as_os_str().to_owned()]);
    }
    eval_json(&args, limits)?["constitution_score"]
        .as_f64()
        .context("eval output has no `constitution_score`")
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

/// Where the reference and the learner's run of a train exercise live;
/// each trains into `run/` inside, so its log is `run/trainer_log.jsonl`.
pub fn run_dirs(ctx: &Ctx, ex: &Exercise) -> [PathBuf; 2] {
    [
        ctx.engine
            .work_dir()
            .join("runs")
            .join("reference")
            .join(&ex.name),
        learner_runs(ctx).join(&ex.name),
    ]
}

/// The folder holding one run per train exercise of this learner's slot.
pub fn learner_runs(ctx: &Ctx) -> PathBuf {
    ctx.engine
        .work_dir()
        .join("runs")
        .join(crate::course::sandbox::slot_name(&ctx.slot))
}

/// The reference run's result, from the cache or computed (under a lock, so
/// concurrent graders train it once).
fn reference_run(ctx: &Ctx, lesson: &Lesson, ex: &Exercise, c: &TrainCheck) -> Result<RunResult> {
    let key = reference_key(ctx, lesson, ex, c)?;
    let cache = ctx.engine.work_dir().join("reference");
    std::fs::create_dir_all(&cache)?;
    let path = cache.join(format!("{}-{key:016x}.json", ex.name));
    let lock = std::fs::File::create(cache.join(format!("{}.lock", ex.name)))?;
    lock.lock()?;
    if let Some(r) = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str::<RunResult>(&t).ok())
    {
        return Ok(r);
    }
    let solution = ctx.course.solution_file(ex);
    let text =
        std::fs::read_to_string(&solution).with_context(|| format!("cannot read {}", solution.display()))?;
    let [dir, _] = run_dirs(ctx, ex);
    let mut r = match train_and_eval(ctx, c, lesson, &text, &dir)? {
        Ok(r) => r,
        Err(why) => bail!("the reference run failed: {why}"),
    };
    if let Some(b) = &c.behaviour {
        let base = ctx.model.as_deref().map(Path::new);
        r.base_behaviour = Some(judge_behaviour(lesson, b, base, limits(c.time_limit_s))?);
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_string(&r)?)?;
    std::fs::rename(&tmp, &path)?;
    Ok(r)
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
    let swept = match &c.sweep {
        None => None,
        Some(s) => match super::sweep::verify(s, ex, &text, learner_file)? {
            Ok(loss) => Some((s, loss)),
            Err(why) => return Ok(Outcome::fail(why)),
        },
    };
    let reference_run = reference_run(ctx, lesson, ex, c)?;
    let reference = reference_run.metric;
    let [_, dir] = run_dirs(ctx, ex);
    // Training is seeded: the reference's own config would repeat its run.
    let same_as_reference = std::fs::read_to_string(ctx.course.solution_file(ex)).is_ok_and(|s| s == text);
    let run = if same_as_reference {
        reference_run
    } else {
        match train_and_eval(ctx, c, lesson, &text, &dir)? {
            Ok(r) => r,
            Err(why) => return Ok(Outcome::fail(why)),
        }
    };
    let got = run.metric;
    let name = c.metric.eval_key().replace('_', " ");
    let (mut ok, bound) = if c.metric.lower_is_better() {
        let bound = reference * (1.0 + c.margin);
        (got <= bound, format!("≤ {bound:.4}"))
    } else {
        let bound = reference * (1.0 - c.margin);
        (got >= bound, format!("≥ {bound:.4}"))
    };
    let mut msg =
        format!("held-out {name} {got:.4}; the reference reaches {reference:.4}, passing needs {bound}");
    if let (Some(yours), Some(theirs)) = (run.tokens_per_s, reference_run.tokens_per_s) {
        msg += &format!(
            ". Training speed: {yours:.0} tokens/s, padding not counted (the reference: {theirs:.0}, timed when it was cached)"
        );
    }
    if let (Some(_), Some(base)) = (&c.behaviour, reference_run.base_behaviour) {
        let yours = run.behaviour.unwrap_or(f64::NAN);
        let raised = yours > base;
        msg += &format!(
            ". Behaviour on held-out prompts, judged by the constitution: {yours:.3} (before training: {base:.3}; passing needs more{})",
            if raised { "" } else { ", so the model got no better, or worse, at what the constitution asks" }
        );
        ok &= raised;
    }
    if let Some((s, recorded)) = swept {
        let agrees = (got - recorded).abs() <= s.agreement * recorded.abs();
        msg += &format!(
            ". Your sweep recorded {recorded:.4} at this point{}",
            if agrees {
                String::new()
            } else {
                format!(
                    ", which this run does not repeat (within {:.0}%): sweep the recipe you submit again",
                    s.agreement * 100.0
                )
            }
        );
        ok &= agrees;
    }
    Ok(if ok && got.is_finite() {
        Outcome::pass(msg)
    } else {
        Outcome::fail(msg)
    })
}
