//! LLaVA's two-stage recipe on nano-qwen. Stage 1 (feature alignment)
//! trains only the projector, on captions. Stage 2 (visual instruction
//! tuning) trains the projector and a LoRA adapter on questions. The
//! encoder stays frozen throughout, so its features are computed once.

use super::llava::{Example, Llava, LlavaManifest, ADAPTER_DIR, MANIFEST, PROJECTOR_FILE};
use super::splice::{read_image_dataset, slotted_ids, ImageSample};
use crate::generate::SamplingParams;
use crate::peft::{LoraConfig, Target};
use crate::train::optim::{clip, grad_norm, AdamW, AdamWConfig};
use anyhow::{bail, Context, Result};
use candle_core::{Tensor, Var};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StageConfig {
    /// Multimodal JSONL (`messages` + `images`), relative to the config file.
    pub dataset: PathBuf,
    pub steps: usize,
    pub learning_rate: f64,
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    /// Train the projector in this stage (LLaMA-Factory's
    /// `freeze_multi_modal_projector = false`).
    #[serde(default = "yes")]
    pub train_projector: bool,
    /// 0: no LoRA adapter on the language model in this stage.
    #[serde(default)]
    pub lora_rank: usize,
    #[serde(default = "default_alpha")]
    pub lora_alpha: f64,
    #[serde(default = "default_target")]
    pub lora_target: String,
}

fn default_batch() -> usize {
    16
}
fn yes() -> bool {
    true
}
fn default_alpha() -> f64 {
    16.0
}
fn default_target() -> String {
    "all".into()
}
fn default_output_dir() -> PathBuf {
    "llava-run".into()
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LlavaConfig {
    /// The language model (folder or hub id); default nano-qwen.
    #[serde(default)]
    pub model: Option<String>,
    /// The vision encoder's folder; default the shipped nano-vit.
    #[serde(default)]
    pub vision_tower: Option<PathBuf>,
    /// Where the run is saved; default `llava-run` beside the config.
    #[serde(default = "default_output_dir")]
    pub output_dir: PathBuf,
    #[serde(default)]
    pub seed: u64,
    #[serde(default)]
    pub stage1: Option<StageConfig>,
    #[serde(default)]
    pub stage2: Option<StageConfig>,
    /// Held-out questions, answered greedily at the end.
    #[serde(default)]
    pub eval_dataset: Option<PathBuf>,
}

impl LlavaConfig {
    /// Parses a TOML config; relative paths are taken from the file's folder.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        let mut cfg: Self =
            toml::from_str(&text).with_context(|| format!("{}: not a valid LLaVA config", path.display()))?;
        let folder = path.parent().unwrap_or(Path::new("."));
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = folder.join(&*p);
            }
        };
        fix(&mut cfg.output_dir);
        if let Some(v) = cfg.vision_tower.as_mut() {
            fix(v);
        }
        if let Some(e) = cfg.eval_dataset.as_mut() {
            fix(e);
        }
        for stage in [cfg.stage1.as_mut(), cfg.stage2.as_mut()].into_iter().flatten() {
            fix(&mut stage.dataset);
        }
        cfg.validate().with_context(|| format!("in {}", path.display()))?;
        Ok(cfg)
    }

    pub fn validate(&self) -> Result<()> {
        if self.stage1.is_none() && self.stage2.is_none() {
            bail!("neither [stage1] nor [stage2] is set; there is nothing to train");
        }
        for (name, s) in [("stage1", &self.stage1), ("stage2", &self.stage2)] {
            let Some(s) = s else { continue };
            if s.steps == 0 || s.batch_size == 0 {
                bail!("[{name}] needs steps and batch_size of at least 1");
            }
            if !(s.learning_rate > 0.0 && s.learning_rate < 1.0) {
                bail!("[{name}] learning_rate {} is outside (0, 1)", s.learning_rate);
            }
            if !s.train_projector && s.lora_rank == 0 {
                bail!("[{name}] trains nothing: train_projector is false and lora_rank is 0");
            }
            Target::parse(&s.lora_target).with_context(|| format!("[{name}] lora_target"))?;
        }
        if self.stage1.as_ref().is_some_and(|s| s.lora_rank > 0) {
            bail!("[stage1] is feature alignment: it trains the projector only, so lora_rank must be 0");
        }
        Ok(())
    }

    pub fn vision_tower(&self) -> PathBuf {
        self.vision_tower
            .clone()
            .unwrap_or_else(super::vit::embedded_vision_dir)
    }
}

/// What a stage or the whole run did.
#[derive(Debug, Clone, Serialize)]
pub struct StageReport {
    pub stage: String,
    pub steps: usize,
    pub trainable_params: usize,
    pub first_loss: f64,
    pub last_loss: f64,
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct LlavaReport {
    pub stages: Vec<StageReport>,
    pub eval: Option<QaAccuracy>,
    pub interrupted: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct QaAccuracy {
    pub accuracy: f64,
    pub correct: usize,
    pub total: usize,
    /// The first few wrong answers: picture, question, expected, got.
    pub misses: Vec<[String; 4]>,
}

/// The encoder's features of every picture the samples show, each picture
/// encoded once (captions come two to a picture, questions three).
fn features_by_picture(model: &Llava, samples: &[ImageSample]) -> Result<HashMap<PathBuf, Tensor>> {
    let mut images: Vec<PathBuf> = samples.iter().map(|s| s.image.clone()).collect();
    images.sort();
    images.dedup();
    Ok(images.iter().cloned().zip(model.features(&images)?).collect())
}

/// Examples of a dataset, with each picture's features computed once.
pub fn examples(model: &Llava, samples: &[ImageSample]) -> Result<Vec<Example>> {
    let features = features_by_picture(model, samples)?;
    samples
        .iter()
        .map(|s| {
            Ok(Example {
                slotted: slotted_ids(&model.ckpt.tokenizer, &model.ckpt.template, &s.messages, false)?,
                features: features[&s.image].clone(),
            })
        })
        .collect()
}

fn lora_config(s: &StageConfig, seed: u64) -> Result<LoraConfig> {
    Ok(LoraConfig {
        rank: s.lora_rank,
        alpha: s.lora_alpha,
        target: Target::parse(&s.lora_target)?,
        seed,
        ..Default::default()
    })
}

/// One stage: AdamW on the chosen parameters, constant rate after a short
/// warm-up, gradients clipped at 1.
fn run_stage(
    model: &mut Llava,
    name: &str,
    s: &StageConfig,
    seed: u64,
    stop: &AtomicBool,
    on_step: &mut dyn FnMut(&str, usize, f64),
) -> Result<StageReport> {
    let started = Instant::now();
    let samples = read_image_dataset(&s.dataset)?;
    let data = examples(model, &samples)?;
    let mut vars: Vec<(String, Var)> = Vec::new();
    if s.train_projector {
        vars.extend(model.projector.make_trainable()?);
    }
    if s.lora_rank > 0 {
        crate::peft::attach(&mut model.ckpt.model, &lora_config(s, seed)?)?;
        vars.extend(crate::peft::make_trainable(&mut model.ckpt.model)?);
    }
    let mut opt = AdamW::new(
        vars,
        AdamWConfig {
            weight_decay: 0.0,
            ..Default::default()
        },
    )?;
    let trainable_params = opt.num_params();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut order: Vec<usize> = Vec::new();
    let mut losses = Vec::new();
    for step in 0..s.steps {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let mut batch = Vec::with_capacity(s.batch_size);
        while batch.len() < s.batch_size.min(data.len()) {
            if order.is_empty() {
                order = (0..data.len()).collect();
                order.shuffle(&mut rng);
            }
            batch.push(&data[order.pop().expect("refilled")]);
        }
        let (sum, n) = model.summed_loss(&batch)?;
        let loss = (sum / n as f64)?;
        let value = loss.to_scalar::<f32>()? as f64;
        if !value.is_finite() {
            bail!(
                "{name}: the loss became {value} at step {}; lower learning_rate",
                step + 1
            );
        }
        let grads = loss.backward()?;
        let mut sums = vec![None; opt.params.len()];
        opt.add_gradients(&grads, &mut sums)?;
        let grads = opt.finish_gradients(sums)?;
        let norm = grad_norm(&grads)?;
        let grads = clip(grads, norm, 1.0)?;
        let warm = ((step + 1) as f64 / 10.0).min(1.0);
        opt.step(&grads, s.learning_rate * warm)?;
        losses.push(value);
        on_step(name, step + 1, value);
    }
    Ok(StageReport {
        stage: name.into(),
        steps: losses.len(),
        trainable_params,
        first_loss: losses.first().copied().unwrap_or(f64::NAN),
        last_loss: losses.last().copied().unwrap_or(f64::NAN),
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Greedy answers to held-out questions, compared with the reference answer
/// (trimmed, case-insensitive).
pub fn qa_accuracy(model: &Llava, samples: &[ImageSample]) -> Result<QaAccuracy> {
    let features = features_by_picture(model, samples)?;
    let params = SamplingParams::greedy(8);
    let (mut correct, mut misses) = (0, Vec::new());
    for s in samples {
        let (question, expected) = question_and_answer(s)?;
        let got = model.answer(&features[&s.image], question, &params)?;
        if got.trim().to_lowercase() == expected.trim().to_lowercase() {
            correct += 1;
        } else if misses.len() < 5 {
            let picture = s.image.file_name().map(|n| n.to_string_lossy().into_owned());
            misses.push([
                picture.unwrap_or_default(),
                question.replace(super::splice::IMAGE_TOKEN, ""),
                expected.into(),
                got,
            ]);
        }
    }
    Ok(QaAccuracy {
        accuracy: correct as f64 / samples.len().max(1) as f64,
        correct,
        total: samples.len(),
        misses,
    })
}

/// The first user turn and the assistant's answer of a one-question record.
pub fn question_and_answer(s: &ImageSample) -> Result<(&str, &str)> {
    use crate::chat::Role;
    let user = s.messages.iter().find(|m| m.role == Role::User);
    let answer = s.messages.iter().find(|m| m.role == Role::Assistant);
    match (user, answer) {
        (Some(u), Some(a)) => Ok((&u.content, &a.content)),
        _ => bail!("a question record needs a user turn and an assistant answer"),
    }
}

/// Runs the configured stages, saves the result in `output_dir` (after
/// each stage, so an interruption keeps what was done) and evaluates.
pub fn train_llava(
    cfg: &LlavaConfig,
    stop: &AtomicBool,
    on_step: &mut dyn FnMut(&str, usize, f64),
) -> Result<(Llava, LlavaReport)> {
    let mut model = Llava::new(cfg.model.as_deref(), &cfg.vision_tower(), cfg.seed)?;
    let manifest = LlavaManifest {
        model: cfg.model.clone(),
        vision_tower: cfg.vision_tower.as_deref().map(std::path::absolute).transpose()?,
        projector_type: "mlp2x_gelu".into(),
    };
    // A stale adapter from an earlier run in the same folder would be loaded with this one.
    let _ = std::fs::remove_dir_all(cfg.output_dir.join(ADAPTER_DIR));
    let mut stages = Vec::new();
    for (name, stage) in [("stage1", &cfg.stage1), ("stage2", &cfg.stage2)] {
        let Some(stage) = stage else { continue };
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let report = run_stage(&mut model, name, stage, cfg.seed, stop, on_step)
            .with_context(|| format!("[{name}]"))?;
        stages.push(report);
        save(
            &model,
            &manifest,
            cfg.stage2.as_ref().filter(|_| name == "stage2"),
            cfg,
        )?;
    }
    let interrupted = stop.load(Ordering::Relaxed);
    let eval = match (&cfg.eval_dataset, interrupted) {
        (Some(path), false) => Some(qa_accuracy(&model, &read_image_dataset(path)?)?),
        _ => None,
    };
    let report = LlavaReport {
        stages,
        eval,
        interrupted,
    };
    std::fs::write(
        cfg.output_dir.join("llava_report.json"),
        serde_json::to_string_pretty(&report)? + "\n",
    )?;
    Ok((model, report))
}

fn save(
    model: &Llava,
    manifest: &LlavaManifest,
    lora_stage: Option<&StageConfig>,
    cfg: &LlavaConfig,
) -> Result<()> {
    let dir = &cfg.output_dir;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::write(dir.join(MANIFEST), serde_json::to_string_pretty(manifest)? + "\n")?;
    model.projector.save(&dir.join(PROJECTOR_FILE))?;
    if let Some(stage) = lora_stage.filter(|s| s.lora_rank > 0) {
        let base = cfg.model.clone().unwrap_or_else(|| "nano-qwen".into());
        crate::peft::files::save(
            model.lm(),
            &lora_config(stage, cfg.seed)?,
            &base,
            &dir.join(ADAPTER_DIR),
        )?;
    }
    Ok(())
}
