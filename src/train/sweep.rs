//! `tunelings sweep`: one base config, a grid of values for some of its keys,
//! one run per combination, each in its own folder with the exact config it
//! ran, then a table that compares them (held-out metric, time, memory).

use super::config::{closest, TrainConfig, KEYS};
use super::events::TrainEvent;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// One `key=v1,v2,…` argument.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    pub key: String,
    pub values: Vec<toml::Value>,
}

/// A value as TOML reads it (`8`, `1e-3`, `true`), else as text.
fn parse_value(raw: &str) -> toml::Value {
    format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()))
}

impl Axis {
    pub fn parse(arg: &str) -> Result<Self> {
        let Some((key, values)) = arg.split_once('=') else {
            bail!("`{arg}`: a grid axis is key=value1,value2,… (for example lora_rank=4,8,16)");
        };
        let key = key.trim();
        if !KEYS.contains(&key) {
            let hint = closest(key, KEYS)
                .map(|k| format!("; did you mean `{k}`?"))
                .unwrap_or_default();
            bail!("`{arg}`: `{key}` is not a training config key{hint}");
        }
        if matches!(
            key,
            "output_dir" | "overwrite_output_dir" | "resume_from_checkpoint"
        ) {
            bail!("`{arg}`: the sweep sets `{key}` itself, one folder per run");
        }
        let values: Vec<toml::Value> = values
            .split(',')
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(parse_value)
            .collect();
        if values.is_empty() {
            bail!("`{arg}` lists no values");
        }
        Ok(Self {
            key: key.to_string(),
            values,
        })
    }
}

/// Every combination of the axes' values, the first axis slowest.
pub fn combinations(axes: &[Axis]) -> Vec<Vec<(String, toml::Value)>> {
    axes.iter().fold(vec![Vec::new()], |acc, axis| {
        acc.into_iter()
            .flat_map(|prefix| {
                axis.values.iter().map(move |v| {
                    let mut combo = prefix.clone();
                    combo.push((axis.key.clone(), v.clone()));
                    combo
                })
            })
            .collect()
    })
}

fn show(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A folder name that says what the run changed: `lora_rank-8_learning_rate-0.001`.
pub fn run_name(combo: &[(String, toml::Value)]) -> String {
    combo
        .iter()
        .map(|(k, v)| {
            let v: String = show(v)
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            format!("{k}-{v}")
        })
        .collect::<Vec<_>>()
        .join("_")
}

/// What one run reached, read back from its `trainer_log.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunSummary {
    pub run: String,
    pub values: Vec<(String, String)>,
    pub status: String,
    pub steps: usize,
    pub train_loss: Option<f64>,
    pub eval_loss: Option<f64>,
    pub eval_perplexity: Option<f64>,
    pub seconds: f64,
    pub peak_rss_mib: Option<f64>,
    pub trainable_params: Option<usize>,
}

fn summarize(run_dir: &Path, combo: &[(String, toml::Value)], seconds: f64, exited_ok: bool) -> RunSummary {
    let mut s = RunSummary {
        run: run_dir
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned(),
        values: combo.iter().map(|(k, v)| (k.clone(), show(v))).collect(),
        status: if exited_ok { "completed" } else { "failed" }.into(),
        steps: 0,
        train_loss: None,
        eval_loss: None,
        eval_perplexity: None,
        seconds,
        peak_rss_mib: None,
        trainable_params: None,
    };
    let log = std::fs::read_to_string(run_dir.join("trainer_log.jsonl")).unwrap_or_default();
    for event in log
        .lines()
        .filter_map(|l| serde_json::from_str::<TrainEvent>(l).ok())
    {
        match event {
            TrainEvent::Started { trainable_params, .. } => s.trainable_params = Some(trainable_params),
            TrainEvent::Step {
                step,
                loss,
                peak_rss_mib,
                ..
            } => {
                s.steps = step;
                s.train_loss = Some(loss);
                s.peak_rss_mib = peak_rss_mib.or(s.peak_rss_mib);
            }
            TrainEvent::Eval { loss, perplexity, .. } => {
                s.eval_loss = Some(loss);
                s.eval_perplexity = Some(perplexity);
            }
            TrainEvent::Finished { reason, .. } if exited_ok => {
                s.status = serde_json::to_value(reason)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_default();
            }
            _ => {}
        }
    }
    s
}

/// The comparison as a markdown table; ★ marks the lowest held-out loss.
pub fn table(runs: &[RunSummary]) -> String {
    let keys: Vec<&str> = runs
        .first()
        .map(|r| r.values.iter().map(|(k, _)| k.as_str()).collect())
        .unwrap_or_default();
    let best = runs.iter().filter_map(|r| r.eval_loss).min_by(f64::total_cmp);
    let num = |v: Option<f64>, digits: usize| v.map_or("—".to_string(), |x| format!("{x:.digits$}"));
    let mut out = format!(
        "| {} | held-out loss | perplexity | train loss | steps | time s | peak RSS MiB | trainable | status |\n",
        keys.join(" | ")
    );
    out += &format!("|{}\n", "---|".repeat(keys.len() + 8));
    for r in runs {
        let star = if r.eval_loss.is_some() && r.eval_loss == best {
            " ★"
        } else {
            ""
        };
        let values: Vec<&str> = r.values.iter().map(|(_, v)| v.as_str()).collect();
        out += &format!(
            "| {} | {}{star} | {} | {} | {} | {:.1} | {} | {} | {} |\n",
            values.join(" | "),
            num(r.eval_loss, 4),
            num(r.eval_perplexity, 2),
            num(r.train_loss, 4),
            r.steps,
            r.seconds,
            num(r.peak_rss_mib, 0),
            r.trainable_params.map_or("—".into(), |p| p.to_string()),
            r.status
        );
    }
    out
}

/// Runs the grid. Each run is a child `tunelings train`, so its memory is
/// its own; `stopped` ends the sweep after the run in progress.
pub fn run(
    config: &Path,
    axes: &[Axis],
    stopped: &std::sync::atomic::AtomicBool,
) -> Result<(PathBuf, Vec<RunSummary>)> {
    // Absolute, so the paths it resolves hold from the sweep folder too.
    let config = &std::path::absolute(config)?;
    let text =
        std::fs::read_to_string(config).with_context(|| format!("cannot read {}", config.display()))?;
    let base: toml::Table = text
        .parse()
        .with_context(|| format!("{}: not valid TOML", config.display()))?;
    let base_cfg = TrainConfig::from_file(config)?;
    let sweep_dir = std::path::absolute(&base_cfg.output_dir)?;
    std::fs::create_dir_all(&sweep_dir).with_context(|| format!("cannot create {}", sweep_dir.display()))?;
    let exe = std::env::current_exe().context("cannot find the tunelings binary")?;

    // Every combination is validated before the first run starts.
    let combos = combinations(axes);
    let mut planned = Vec::new();
    for combo in &combos {
        let mut table = base.clone();
        // Paths as `from_file` resolved them, so the copy runs from anywhere.
        table.insert("dataset".into(), base_cfg.dataset.clone().into());
        table.insert("dataset_dir".into(), base_cfg.dataset_dir.clone().into());
        if let Some(e) = &base_cfg.eval_dataset {
            table.insert("eval_dataset".into(), e.clone().into());
        }
        if let Some(m) = &base_cfg.model {
            table.insert("model".into(), m.clone().into());
        }
        for (k, v) in combo {
            table.insert(k.clone(), v.clone());
        }
        let run_dir = sweep_dir.join(run_name(combo));
        table.insert("output_dir".into(), run_dir.display().to_string().into());
        table.insert("overwrite_output_dir".into(), true.into());
        table.insert("resume_from_checkpoint".into(), false.into());
        let rendered = toml::to_string(&table)?;
        TrainConfig::from_toml(&rendered).with_context(|| format!("run {}", run_name(combo)))?;
        planned.push((combo, run_dir, rendered));
    }

    let mut results = Vec::new();
    for (i, (combo, run_dir, rendered)) in planned.into_iter().enumerate() {
        if stopped.load(std::sync::atomic::Ordering::SeqCst) {
            break;
        }
        eprintln!("[{}/{}] {}", i + 1, combos.len(), run_name(combo));
        // The run's recipe sits beside it (training clears the folder first).
        let cfg_path = sweep_dir.join(format!("{}.toml", run_name(combo)));
        std::fs::write(&cfg_path, &rendered)?;
        let started = Instant::now();
        let status = std::process::Command::new(&exe)
            .arg("train")
            .arg(&cfg_path)
            .status()
            .context("cannot start `tunelings train`")?;
        results.push(summarize(
            &run_dir,
            combo,
            started.elapsed().as_secs_f64(),
            status.success(),
        ));
    }

    let lines: Vec<String> = results
        .iter()
        .map(serde_json::to_string)
        .collect::<Result<_, _>>()?;
    std::fs::write(sweep_dir.join("sweep.jsonl"), lines.join("\n") + "\n")?;
    std::fs::write(sweep_dir.join("sweep.md"), table(&results))?;
    Ok((sweep_dir, results))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_parse_typed_values_and_reject_unknown_keys() {
        let a = Axis::parse("lora_rank=4, 8,16").unwrap();
        assert_eq!(a.values, vec![4.into(), 8.into(), 16.into()]);
        let a = Axis::parse("learning_rate=1e-3,3e-3").unwrap();
        assert_eq!(a.values, vec![1e-3.into(), 3e-3.into()]);
        let a = Axis::parse("lr_scheduler_type=cosine,linear").unwrap();
        assert_eq!(a.values, vec!["cosine".into(), "linear".into()]);
        let e = Axis::parse("lora_rnk=4").unwrap_err().to_string();
        assert!(e.contains("did you mean `lora_rank`?"), "{e}");
        assert!(Axis::parse("lora_rank").is_err());
        assert!(Axis::parse("output_dir=a,b").is_err());
    }

    #[test]
    fn combinations_cover_the_grid_first_axis_slowest() {
        let axes = [
            Axis::parse("lora_rank=4,8").unwrap(),
            Axis::parse("use_rslora=false,true").unwrap(),
        ];
        let names: Vec<String> = combinations(&axes).iter().map(|c| run_name(c)).collect();
        assert_eq!(
            names,
            [
                "lora_rank-4_use_rslora-false",
                "lora_rank-4_use_rslora-true",
                "lora_rank-8_use_rslora-false",
                "lora_rank-8_use_rslora-true"
            ]
        );
    }
}
