//! The capstone: a project of the learner's own in `capstone/`, graded
//! against a checklist, one point per item: the data and its disjoint
//! held-out split, a recipe that beats the base model on that split, an
//! export that loads and answers, and a model card that tells the truth.

use super::train::{eval_json, limits, run_training};
use super::{Ctx, Outcome, Status};
use crate::chat::Role;
use crate::checkpoint::Checkpoint;
use crate::course::catalog::{CapstoneCheck, Exercise};
use crate::data::{read_jsonl, Sample};
use crate::export::gguf::Quant;
use crate::export::gguf_model::GgufModel;
use anyhow::{Context, Result};
use candle_core::DType;
use std::collections::HashSet;
use std::fmt::Write;
use std::path::{Component, Path, PathBuf};
use std::process::Command;

/// The card's sections, by their English and Turkish headings.
const SECTIONS: [[&str; 2]; 4] = [
    ["data", "veri"],
    ["method", "yöntem"],
    ["metric", "ölçüt"],
    ["limits", "sınırlar"],
];
const MIN_SECTION_WORDS: usize = 12;
const CARD: &str = "MODEL_CARD.md";
/// The tuned loss the card states may be rounded this much.
const CARD_TOLERANCE: f64 = 0.02;

/// A question as the data holds it, compared without case or spacing.
fn key(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// The questions of a JSONL file (the last user turn of each record).
fn questions(path: &Path) -> Result<Vec<String>> {
    Ok(read_jsonl(path)?
        .into_iter()
        .map(|s| match s {
            Sample::Chat(m) => m
                .iter()
                .rev()
                .find(|m| m.role == Role::User)
                .map(|m| m.content.clone())
                .unwrap_or_default(),
            Sample::Text(t) => t,
        })
        .collect())
}

/// A recipe's data file: a plain relative path inside the project folder.
fn data_file(recipe: &toml::Table, key: &str, project: &Path) -> std::result::Result<PathBuf, String> {
    let Some(rel) = recipe.get(key).and_then(|v| v.as_str()) else {
        return Err(format!(
            "the recipe needs `{key}`, a file in your capstone folder"
        ));
    };
    let path = Path::new(rel.trim());
    if rel.contains(',') || !path.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(format!(
            "`{key} = \"{rel}\"` must name one file inside your capstone folder (no `..`, no absolute path, no list)"
        ));
    }
    Ok(project.join(path))
}

/// Item 1: the data. Returns (train, held-out) paths and a line.
fn check_data(
    c: &CapstoneCheck,
    recipe: &toml::Table,
    project: &Path,
) -> std::result::Result<(PathBuf, PathBuf, String), String> {
    let train = data_file(recipe, "dataset", project)?;
    let heldout = data_file(recipe, "eval_dataset", project)?;
    if train == heldout {
        return Err(
            "`dataset` and `eval_dataset` are the same file: the held-out split must be kept apart".into(),
        );
    }
    let read = |p: &Path| questions(p).map_err(|e| format!("{e:#}"));
    let (tq, hq) = (read(&train)?, read(&heldout)?);
    if tq.len() < c.min_train || hq.len() < c.min_heldout {
        return Err(format!(
            "{} training and {} held-out records; the project needs at least {} and {}",
            tq.len(),
            hq.len(),
            c.min_train,
            c.min_heldout
        ));
    }
    let seen: HashSet<String> = tq.iter().map(|q| key(q)).collect();
    if let Some(leak) = hq.iter().find(|q| seen.contains(&key(q))) {
        return Err(format!(
            "the held-out question {leak:?} is also a training question: a held-out loss then measures memory"
        ));
    }
    let line = format!(
        "{} training and {} held-out records; no held-out question is a training question",
        tq.len(),
        hq.len()
    );
    Ok((train, heldout, line))
}

/// The recipe made runnable in scratch space, on the runner's model.
fn runnable(
    recipe: &toml::Table,
    train: &Path,
    heldout: &Path,
    out: &Path,
    model: Option<&str>,
) -> Result<String> {
    let mut t = recipe.clone();
    t.insert("dataset".into(), train.display().to_string().into());
    t.insert("eval_dataset".into(), heldout.display().to_string().into());
    t.insert("output_dir".into(), out.display().to_string().into());
    t.insert("overwrite_output_dir".into(), true.into());
    t.insert("resume_from_checkpoint".into(), false.into());
    t.remove("model");
    t.remove("dataset_dir");
    if let Some(m) = model {
        t.insert("model".into(), m.into());
    }
    let text = toml::to_string(&t)?;
    crate::train::config::TrainConfig::from_toml(&text)?;
    Ok(text)
}

/// Item 3: export the run to a GGUF with its Modelfile, load it, and ask it
/// the first held-out question. Returns the answer.
fn export_and_ask(run: &Path, out: &Path, question: &str) -> Result<String> {
    let mut ckpt = Checkpoint::load(Some(&run.display().to_string()), DType::F32)?;
    crate::export::export(&mut ckpt, None, crate::export::Format::Gguf, Quant::Q8_0, out)?;
    anyhow::ensure!(out.join("Modelfile").is_file(), "no Modelfile was written");
    let mut model = GgufModel::load(&out.join(crate::export::gguf_file_name(Quant::Q8_0)))?;
    let prompt = ckpt.tokenizer.encode(&ckpt.template.prompt(None, question))?;
    let stops = ckpt.stop_ids();
    let ids = model.greedy(&prompt, 40, |ids| ids.last().is_some_and(|t| stops.contains(t)))?;
    let ids: Vec<u32> = ids.into_iter().filter(|t| !stops.contains(t)).collect();
    Ok(ckpt.tokenizer.decode(&ids, true)?.trim().to_string())
}

/// The card's sections by their index in `SECTIONS`.
fn card_sections(card: &str) -> [Option<String>; 4] {
    let mut found: [Option<String>; 4] = Default::default();
    let mut current: Option<usize> = None;
    for line in card.lines() {
        if let Some(h) = line.strip_prefix("## ") {
            let h = h.trim().to_lowercase();
            current = SECTIONS.iter().position(|names| names.contains(&h.as_str()));
            if let Some(i) = current {
                found[i].get_or_insert_with(String::new);
            }
        } else if let Some(body) = current.and_then(|i| found[i].as_mut()) {
            body.push_str(line);
            body.push('\n');
        }
    }
    found
}

/// Item 4: four sections, each with real text.
fn check_card(card: &str) -> std::result::Result<String, String> {
    let sections = card_sections(card);
    for (names, body) in SECTIONS.iter().zip(&sections) {
        let Some(body) = body else {
            return Err(format!(
                "{CARD} has no `## {}` (or `## {}`) section",
                title(names[0]),
                title(names[1])
            ));
        };
        let words = body
            .split_whitespace()
            .filter(|w| w.chars().any(char::is_alphanumeric))
            .count();
        if body.contains("TODO") || words < MIN_SECTION_WORDS {
            return Err(format!(
                "{CARD}'s `{}` section needs real text: {words} word(s){}; at least {MIN_SECTION_WORDS}",
                title(names[0]),
                if body.contains("TODO") {
                    " and a TODO left"
                } else {
                    ""
                }
            ));
        }
    }
    Ok(format!("{CARD} has its four sections, each written"))
}

fn title(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// The numbers a text states, with a decimal point or a Turkish comma.
fn numbers(text: &str) -> Vec<f64> {
    let re = regex::Regex::new(r"\d+(?:[.,]\d+)?").expect("a valid pattern");
    re.find_iter(text)
        .filter_map(|m| m.as_str().replace(',', ".").parse().ok())
        .collect()
}

/// Item 5: the card names the recipe's method and states the measured loss.
fn check_card_truth(card: &str, method: &str, tuned: f64) -> std::result::Result<String, String> {
    let [_, method_text, metric_text, _] = card_sections(card);
    let method_text = method_text.unwrap_or_default().to_lowercase();
    if !method_text.contains(&method.to_lowercase()) {
        return Err(format!(
            "the card's Method section does not name your recipe's method (`finetuning_type = \"{method}\"`)"
        ));
    }
    let stated = numbers(&metric_text.unwrap_or_default());
    if !stated.iter().any(|n| (n - tuned).abs() <= CARD_TOLERANCE * tuned) {
        return Err(format!(
            "the card's Metric section does not state the tuned held-out loss this check measured, {tuned:.3} \
             (numbers found: {stated:?})"
        ));
    }
    Ok(format!(
        "the card names the method ({method}) and states the measured held-out loss {tuned:.3}"
    ))
}

pub fn check(ctx: &Ctx, ex: &Exercise, c: &CapstoneCheck, learner_file: &Path) -> Result<Outcome> {
    let project = learner_file.parent().unwrap_or(Path::new("."));
    let text = std::fs::read_to_string(learner_file)
        .with_context(|| format!("cannot read {}", learner_file.display()))?;
    let recipe: toml::Table = match text.parse() {
        Ok(t) => t,
        Err(e) => {
            return Ok(Outcome::fail(format!(
                "{} is not valid TOML: {e}",
                learner_file.display()
            )))
        }
    };
    let card = std::fs::read_to_string(project.join(CARD)).unwrap_or_default();
    let mut items: Vec<(&str, std::result::Result<String, String>)> = Vec::new();

    let data = check_data(c, &recipe, project);
    let mut tuned = None;
    let trained = match &data {
        Err(_) => Err("not tried: the data is not ready".to_string()),
        Ok((train, heldout, _)) => {
            let dir = ctx
                .engine
                .work_dir()
                .join("capstone")
                .join(crate::course::sandbox::slot_name(&ctx.slot))
                .join(&ex.name);
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
            let run = dir.join("run");
            match runnable(&recipe, train, heldout, &run, ctx.model.as_deref()) {
                Err(e) => Err(format!("the recipe is not valid: {e:#}")),
                Ok(cfg) => {
                    let cfg_path = dir.join("recipe.toml");
                    std::fs::write(&cfg_path, cfg)?;
                    let exe = std::env::current_exe().context("cannot find the tunelings binary")?;
                    let mut train_cmd = Command::new(exe);
                    train_cmd.arg("train").arg(&cfg_path);
                    match run_training(ctx, train_cmd, "training", c.time_limit_s, &run)? {
                        Err(why) => Err(why),
                        Ok(()) => Ok((dir, run, heldout.clone())),
                    }
                }
            }
        }
    };
    items.push(("data", data.as_ref().map(|d| d.2.clone()).map_err(Clone::clone)));

    let improved = match &trained {
        Err(why) => Err(why.clone()),
        Ok((_, run, heldout)) => {
            let limits = limits(c.time_limit_s);
            let mut base_args: Vec<std::ffi::OsString> = vec!["--data".into(), heldout.into()];
            if let Some(m) = &ctx.model {
                base_args.extend(["--model".into(), m.into()]);
            }
            let loss = |args: &[std::ffi::OsString]| -> Result<f64> {
                eval_json(args, limits)?[crate::course::catalog::Metric::EvalLoss.eval_key()]
                    .as_f64()
                    .context("eval printed no loss")
            };
            let base = loss(&base_args)?;
            let mine = loss(&["--model".into(), run.into(), "--data".into(), heldout.into()])?;
            tuned = Some(mine);
            let line = format!(
                "held-out loss {mine:.3} against the base model's {base:.3} ({:+.1}%; at least −{:.0}% needed)",
                (mine / base - 1.0) * 100.0,
                c.min_gain * 100.0
            );
            if mine <= base * (1.0 - c.min_gain) {
                Ok(line)
            } else {
                Err(line)
            }
        }
    };
    items.push(("training improves on the base model", improved));

    let exported = match &trained {
        Err(_) => Err("not tried: there is no trained run".to_string()),
        Ok((dir, run, heldout)) => {
            let first = questions(heldout)?.into_iter().next().unwrap_or_default();
            match export_and_ask(run, &dir.join("export"), &first) {
                Ok(answer) if !answer.is_empty() => Ok(format!(
                    "the GGUF and its Modelfile load; asked {first:?}, the GGUF answers {answer:?}"
                )),
                Ok(_) => Err(format!("the exported GGUF gives an empty answer to {first:?}")),
                Err(e) => Err(format!("the export failed: {e:#}")),
            }
        }
    };
    items.push(("export", exported));

    items.push(("model card", check_card(&card)));
    let method = recipe
        .get("finetuning_type")
        .and_then(|v| v.as_str())
        .unwrap_or("lora");
    let truth = match tuned {
        None => Err("not tried: there is no measured loss to compare with".to_string()),
        Some(t) => check_card_truth(&card, method, t),
    };
    items.push(("the card is true", truth));

    let passed = items.iter().filter(|(_, r)| r.is_ok()).count();
    let mut msg = format!("{passed} of {} checklist items", items.len());
    for (name, r) in &items {
        let (mark, line) = match r {
            Ok(l) => ("✓", l),
            Err(l) => ("✗", l),
        };
        write!(msg, "\n{mark} {name}: {line}")?;
    }
    Ok(Outcome {
        status: if passed == items.len() {
            Status::Pass
        } else {
            Status::Fail
        },
        message: msg,
        score: Some(passed as u32 * ex.points / items.len() as u32),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CARD_TEXT: &str = "# Card\n\n## Data\nForty-eight questions about the ferry, with twelve held-out phrasings never trained on.\n\n\
        ## Method\nA LoRA adapter of rank eight on all seven projections, ninety steps at a modest rate.\n\n\
        ## Metric\nHeld-out loss fell from 9.81 for the base model to 2,345 after tuning, on twelve questions.\n\n\
        ## Limits\nIt knows only these facts and will invent answers to anything else it is asked about.\n";

    #[test]
    fn a_card_is_read_by_its_sections_in_either_language() {
        assert!(check_card(CARD_TEXT).is_ok());
        let tr = CARD_TEXT
            .replace("## Data", "## Veri")
            .replace("## Method", "## Yöntem")
            .replace("## Metric", "## Ölçüt")
            .replace("## Limits", "## Sınırlar");
        assert!(check_card(&tr).is_ok());
        let e = check_card(&CARD_TEXT.replace("## Limits", "## Notes")).unwrap_err();
        assert!(e.contains("no `## Limits` (or `## Sınırlar`)"), "{e}");
        let e = check_card(&CARD_TEXT.replace("It knows only these facts", "TODO")).unwrap_err();
        assert!(
            e.contains("`Limits` section needs real text") && e.contains("TODO"),
            "{e}"
        );
    }

    #[test]
    fn the_card_must_state_the_measured_loss_and_name_the_method() {
        // 2,345 is a Turkish-style 2.345.
        assert!(check_card_truth(CARD_TEXT, "lora", 2.35).is_ok());
        let e = check_card_truth(CARD_TEXT, "lora", 2.6).unwrap_err();
        assert!(e.contains("does not state the tuned held-out loss"), "{e}");
        let e = check_card_truth(CARD_TEXT, "full", 2.35).unwrap_err();
        assert!(e.contains("does not name your recipe's method"), "{e}");
    }

    #[test]
    fn data_paths_must_stay_in_the_project_and_apart() {
        let dir = tempfile::tempdir().unwrap();
        let c = CapstoneCheck {
            min_train: 2,
            min_heldout: 1,
            min_gain: 0.1,
            time_limit_s: 1.0,
        };
        let recipe = |d: &str, e: &str| -> toml::Table {
            format!("dataset = {d:?}\neval_dataset = {e:?}").parse().unwrap()
        };
        let e = check_data(&c, &recipe("../train.jsonl", "h.jsonl"), dir.path()).unwrap_err();
        assert!(e.contains("inside your capstone folder"), "{e}");
        let e = check_data(&c, &recipe("/etc/passwd", "h.jsonl"), dir.path()).unwrap_err();
        assert!(e.contains("inside your capstone folder"), "{e}");
        let e = check_data(&c, &recipe("t.jsonl", "t.jsonl"), dir.path()).unwrap_err();
        assert!(e.contains("the same file"), "{e}");
        let line = |q: &str| format!("{{\"instruction\": {q:?}, \"output\": \"An answer.\"}}\n");
        std::fs::write(
            dir.path().join("t.jsonl"),
            line("When does it leave?") + &line("Where is it?"),
        )
        .unwrap();
        std::fs::write(dir.path().join("h.jsonl"), line("  where IS it? ")).unwrap();
        let e = check_data(&c, &recipe("t.jsonl", "h.jsonl"), dir.path()).unwrap_err();
        assert!(e.contains("is also a training question"), "{e}");
        std::fs::write(dir.path().join("h.jsonl"), line("At what time does it go?")).unwrap();
        assert!(check_data(&c, &recipe("t.jsonl", "h.jsonl"), dir.path()).is_ok());
    }
}
