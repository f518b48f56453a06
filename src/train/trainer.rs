//! One loop for every kind of training: batches → masked cross-entropy →
//! accumulated, clipped gradients → AdamW, with evaluation, checkpoints,
//! resume, NaN guard and clean interruption.

use super::config::{FinetuningType, Stage, TrainConfig};
use super::dataset::{prepare, PreparedData};
use super::dpo::{backward_pairs, pair_batches, PairData, PreferenceMetrics};
use super::eval::evaluate;
use super::events::{StopReason, TrainEvent};
use super::loss::backward_summed_loss;
use super::neftune::Neftune;
use super::optim::{clip, grad_norm, AdamW, AdamWConfig};
use super::run_dir::{read_state, RunDir, TrainerState};
use super::schedule::Schedule;
use crate::checkpoint::Checkpoint;
use crate::data::{Batch, Batcher};
use crate::memory;
use crate::tokenizer::ENDOFTEXT;
use anyhow::{bail, Context, Result};
use candle_core::DType;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

#[derive(Debug, Clone)]
pub struct TrainOutcome {
    pub reason: StopReason,
    pub message: String,
    pub steps: usize,
    /// Loss of every step taken in this call, in order.
    pub losses: Vec<f64>,
    pub final_eval: Option<super::EvalMetrics>,
    pub output_dir: PathBuf,
    /// The last checkpoint written, if any.
    pub last_checkpoint: Option<PathBuf>,
}

/// The micro-batches of the whole run, in order, epoch after epoch.
struct BatchStream {
    data: Batcher,
    per_epoch: usize,
    cached: Option<(usize, Vec<Vec<crate::data::batch::Row>>)>,
}

impl BatchStream {
    fn new(data: Batcher) -> Self {
        Self {
            per_epoch: data.batches_per_epoch(),
            data,
            cached: None,
        }
    }

    fn rows(&mut self, global: usize) -> &[crate::data::batch::Row] {
        let (epoch, i) = (global / self.per_epoch, global % self.per_epoch);
        if self.cached.as_ref().is_none_or(|(e, _)| *e != epoch) {
            self.cached = Some((epoch, self.data.epoch(epoch)));
        }
        &self.cached.as_ref().expect("just filled").1[i]
    }
}

/// What a run learns from: token batches (SFT, pre-training) or
/// preference pairs (DPO).
enum Objective {
    Tokens(BatchStream),
    Pairs(PairData),
}

impl Objective {
    fn batches_per_epoch(&self, batch_size: usize) -> usize {
        match self {
            Objective::Tokens(s) => s.per_epoch,
            Objective::Pairs(p) => p.pairs.len().div_ceil(batch_size.max(1)),
        }
    }

    fn num_samples(&self) -> usize {
        match self {
            Objective::Tokens(s) => s.data.num_samples(),
            Objective::Pairs(p) => p.pairs.len(),
        }
    }
}

/// The pairs of a DPO run, scored by the model as it is now: before its
/// adapter is attached, it is the reference policy.
fn prepare_pairs(cfg: &TrainConfig, ckpt: &Checkpoint, pad_id: u32) -> Result<PairData> {
    let template = super::dataset::template_for(cfg, ckpt)?;
    let encoder = crate::data::Encoder {
        tokenizer: &ckpt.tokenizer,
        template: &template,
        train_on_prompt: false,
        cutoff_len: cfg.cutoff_len,
    };
    let mut pairs = Vec::new();
    for source in cfg.datasets()? {
        if source.spec.is_some() {
            bail!(
                "`stage = \"dpo\"` reads pair files directly; name {} in `dataset` instead of its registry entry",
                source.path.display()
            );
        }
        pairs.extend(crate::data::preference::read_pairs(&source.path)?);
    }
    if let Some(n) = cfg.max_samples {
        pairs.truncate(n);
    }
    PairData::new(&pairs, &encoder, &ckpt.model, pad_id)
}

/// Runs the config to completion, interruption (`stop`) or a non-finite loss.
/// Every event is appended to `trainer_log.jsonl` and passed to `on_event`.
pub fn train(
    cfg: &TrainConfig,
    stop: &AtomicBool,
    on_event: &mut dyn FnMut(&TrainEvent),
) -> Result<TrainOutcome> {
    let mut ckpt = Checkpoint::load(cfg.model.as_deref(), DType::F32)?;
    for adapter in cfg.merge_adapters() {
        ckpt.attach_adapter(&adapter)?;
        crate::peft::merge_and_unload(&mut ckpt.model)?;
    }
    let pad_id = ckpt.tokenizer.token_id(ENDOFTEXT).unwrap_or(0);
    let (mut objective, eval) = if cfg.stage == Stage::Dpo {
        (Objective::Pairs(prepare_pairs(cfg, &ckpt, pad_id)?), None)
    } else {
        let PreparedData { train, eval, .. } = prepare(cfg, &ckpt)?;
        (Objective::Tokens(BatchStream::new(train)), eval)
    };

    let out_dir = &cfg.output_dir;
    prepare_output_dir(cfg)?;
    let adapter = attach_adapters(cfg, &mut ckpt.model)?;
    // An adapter trained on merged adapters names the last of them as its
    // base, so that loading it rebuilds the whole stack.
    let base_name = match cfg.merge_adapters().last() {
        Some(a) => std::path::absolute(a)?.display().to_string(),
        None => cfg
            .model
            .clone()
            .unwrap_or_else(|| crate::checkpoint::EMBEDDED_MODEL.to_string()),
    };
    let run = RunDir::new(out_dir, &ckpt.dir, adapter.map(|a| (a, base_name)))?;
    if let Objective::Pairs(pairs) = &objective {
        // Kept beside the run: the fixed reference the DPO loss measures against.
        let lines: Vec<String> = pairs
            .reference
            .iter()
            .map(|(c, r)| serde_json::json!({ "chosen": c, "rejected": r }).to_string())
            .collect();
        let path = run.root.join("reference_logps.jsonl");
        std::fs::write(&path, lines.join("\n") + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let emit = &mut |e: TrainEvent| -> Result<()> {
        run.log_event(&e)?;
        on_event(&e);
        Ok(())
    };

    let vars = match cfg.finetuning_type {
        FinetuningType::Full => ckpt.model.make_trainable()?,
        FinetuningType::Lora => crate::peft::make_trainable(&mut ckpt.model)?,
    };
    let adam = AdamWConfig {
        beta1: cfg.adam_beta1,
        beta2: cfg.adam_beta2,
        eps: cfg.adam_epsilon,
        weight_decay: cfg.weight_decay,
    };
    let mut opt = AdamW::new(vars, adam)?;
    if let Some(ratio) = cfg.loraplus_lr_ratio {
        opt.set_loraplus_ratio(ratio);
    }
    let mut state = TrainerState::default();
    if cfg.resume_from_checkpoint {
        if let Some((_, dir)) = run.latest_checkpoint() {
            restore(&mut opt, &dir)?;
            state = read_state(&dir)?;
        }
    }

    let per_epoch = objective.batches_per_epoch(cfg.per_device_train_batch_size);
    let accum = cfg.gradient_accumulation_steps;
    let total_steps = match cfg.max_steps {
        Some(n) => n,
        None => ((per_epoch as f64 * cfg.num_train_epochs) / accum as f64)
            .ceil()
            .max(1.0) as usize,
    };
    let warmup = cfg
        .warmup_steps
        .unwrap_or((cfg.warmup_ratio * total_steps as f64).ceil() as usize);
    let schedule = Schedule {
        kind: cfg.lr_scheduler_type,
        peak_lr: cfg.learning_rate,
        warmup_steps: warmup,
        total_steps,
    };
    emit(TrainEvent::Started {
        total_steps,
        start_step: state.step,
        train_samples: objective.num_samples(),
        eval_samples: eval.as_ref().map_or(0, Batcher::num_samples),
        trainable_params: opt.num_params(),
    })?;

    let model = &ckpt.model;
    let mut losses = Vec::new();
    let mut last_checkpoint = None;
    let started = Instant::now();
    let first_step = state.step;
    let mut reason = StopReason::Completed;
    let mut message = String::new();

    while state.step < total_steps {
        if stop.load(Ordering::SeqCst) {
            reason = StopReason::Interrupted;
            message = format!("interrupted at step {}", state.step);
            break;
        }
        let step_start = Instant::now();
        crate::peft::reseed_dropout(model, state.step);
        let mut sums = vec![None; opt.params.len()];
        let (loss, tokens, preference) = match &mut objective {
            Objective::Pairs(pairs) => {
                let (mut loss, mut tokens, mut metrics) = (0.0, 0, Vec::with_capacity(accum));
                for k in 0..accum {
                    let global = state.step * accum + k;
                    let plan = pair_batches(
                        pairs.pairs.len(),
                        cfg.per_device_train_batch_size,
                        cfg.seed,
                        global / per_epoch,
                    );
                    let (l, m, t) = backward_pairs(
                        model,
                        &*pairs,
                        &plan[global % per_epoch],
                        &cfg.dpo(),
                        pad_id,
                        1.0 / accum as f64,
                        &mut |g| opt.add_gradients(g, &mut sums),
                    )?;
                    loss += l / accum as f64;
                    tokens += t;
                    metrics.push(m);
                }
                (loss, tokens, Some(PreferenceMetrics::mean(&metrics)))
            }
            Objective::Tokens(stream) => {
                let batches = (0..accum)
                    .map(|k| Batch::from_rows(stream.rows(state.step * accum + k), pad_id, model.dtype()))
                    .collect::<Result<Vec<_>>>()?;
                let targets: usize = batches.iter().map(|b| b.num_targets).sum();
                let tokens: usize = batches.iter().map(|b| b.num_tokens).sum();
                // Each micro-batch is weighted by its share of the step's targets, so
                // accumulation gives the same gradient as one big batch.
                if targets == 0 {
                    bail!("step {} has no target tokens", state.step)
                }
                let mut loss_sum = 0.0;
                for (k, batch) in batches.iter().enumerate().filter(|(_, b)| b.num_targets > 0) {
                    let neftune = cfg.neftune_noise_alpha.map(|alpha| Neftune {
                        alpha,
                        seed: cfg.seed
                            ^ ((state.step * accum + k) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
                    });
                    loss_sum += backward_summed_loss(
                        model,
                        batch,
                        1.0 / targets as f64,
                        cfg.gradient_checkpointing,
                        neftune,
                        &mut |g| opt.add_gradients(g, &mut sums),
                    )?;
                }
                (loss_sum / targets.max(1) as f64, tokens, None)
            }
        };
        let grads = opt.finish_gradients(sums)?;
        let norm = grad_norm(&grads)?;
        if !loss.is_finite() || !norm.is_finite() {
            // The update has not been applied: the weights are the last good ones.
            let dir = save_checkpoint(&run, model, &opt, &state, emit)?;
            last_checkpoint = Some(dir.clone());
            reason = StopReason::NonFinite;
            message = format!(
                "training stopped at step {}: the loss became {} (grad norm {norm}). The learning rate \
                 ({}) is probably too high. The last good weights are in {}",
                state.step + 1,
                if loss.is_finite() {
                    "finite but the gradient did not".to_string()
                } else {
                    format!("{loss}")
                },
                cfg.learning_rate,
                dir.display()
            );
            break;
        }
        let lr = schedule.lr(state.step);
        opt.step(&clip(grads, norm, cfg.max_grad_norm)?, lr)?;
        state.step += 1;
        losses.push(loss);

        let done = state.step - first_step;
        let avg = started.elapsed().as_secs_f64() / done as f64;
        if state.step % cfg.logging_steps.max(1) == 0 || state.step == total_steps {
            emit(TrainEvent::Step {
                step: state.step,
                total_steps,
                epoch: (state.step * accum) as f64 / per_epoch as f64,
                loss,
                lr,
                grad_norm: norm,
                tokens_per_s: tokens as f64 / step_start.elapsed().as_secs_f64().max(1e-9),
                eta_s: avg * (total_steps - state.step) as f64,
                peak_rss_mib: memory::peak_rss_mib(),
                preference,
            })?;
        }
        let step = state.step;
        let at = |every: usize| every > 0 && step % every == 0 && step < total_steps;
        if at(cfg.eval_steps) {
            if let Some(eval) = &eval {
                run_eval(model, eval, pad_id, &run, &mut state, emit)?;
            }
        }
        if at(cfg.save_steps) {
            let dir = save_checkpoint(&run, model, &opt, &state, emit)?;
            last_checkpoint = Some(dir);
        }
    }

    let mut final_eval = None;
    if reason != StopReason::NonFinite {
        if reason == StopReason::Completed {
            if let Some(eval) = &eval {
                final_eval = Some(run_eval(model, eval, pad_id, &run, &mut state, emit)?);
            }
            run.save_final(model)?;
        }
        let dir = save_checkpoint(&run, model, &opt, &state, emit)?;
        last_checkpoint = Some(dir);
        if message.is_empty() {
            message = format!(
                "finished {} steps; the model is in {}",
                state.step,
                out_dir.display()
            );
        }
    }
    emit(TrainEvent::Finished {
        step: state.step,
        reason,
        message: message.clone(),
    })?;
    Ok(TrainOutcome {
        reason,
        message,
        steps: state.step,
        losses,
        final_eval,
        output_dir: out_dir.clone(),
        last_checkpoint,
    })
}

/// Refuses to overwrite a run's files unless asked to; clears them when asked.
fn prepare_output_dir(cfg: &TrainConfig) -> Result<()> {
    let out_dir = &cfg.output_dir;
    let has_contents = out_dir.read_dir().is_ok_and(|mut d| d.next().is_some());
    if has_contents && !cfg.overwrite_output_dir && !cfg.resume_from_checkpoint {
        bail!(
            "output_dir {} already has files; set `overwrite_output_dir = true` to replace them \
             or `resume_from_checkpoint = true` to continue",
            out_dir.display()
        );
    }
    if has_contents && cfg.overwrite_output_dir && !cfg.resume_from_checkpoint {
        std::fs::remove_dir_all(out_dir).with_context(|| format!("cannot clear {}", out_dir.display()))?;
    }
    Ok(())
}

/// For adapter runs: quantizes the base if asked and attaches the adapters.
fn attach_adapters(
    cfg: &TrainConfig,
    model: &mut crate::model::Qwen,
) -> Result<Option<crate::peft::LoraConfig>> {
    if cfg.finetuning_type == FinetuningType::Full {
        return Ok(None);
    }
    let lora = cfg.lora()?;
    let quantize = |m: &mut crate::model::Qwen| -> Result<()> {
        if cfg.quantization_bit == Some(4) {
            crate::quant::quantize_projections(m, cfg.double_quantization)?;
        }
        Ok(())
    };
    // PiSSA and OLoRA decompose the full-precision W and quantize the residual;
    // QLoRA/QDoRA initialise from the quantized W, as PEFT does.
    if lora.init.mutates_base() {
        crate::peft::attach(model, &lora)?;
        quantize(model)?;
    } else {
        quantize(model)?;
        crate::peft::attach(model, &lora)?;
    }
    // After attaching, so that tables in modules_to_save stay at full precision.
    if cfg.quantization_bit == Some(4) {
        model.compact_frozen_tables()?;
    }
    Ok(Some(lora))
}

fn run_eval(
    model: &crate::model::Qwen,
    eval: &Batcher,
    pad_id: u32,
    run: &RunDir,
    state: &mut TrainerState,
    emit: &mut dyn FnMut(TrainEvent) -> Result<()>,
) -> Result<super::EvalMetrics> {
    let m = evaluate(model, eval, pad_id)?;
    emit(TrainEvent::Eval {
        step: state.step,
        loss: m.loss,
        perplexity: m.perplexity,
        token_accuracy: m.token_accuracy,
    })?;
    if state.best_eval_loss.is_none_or(|best| m.loss < best) {
        state.best_eval_loss = Some(m.loss);
        state.best_step = Some(state.step);
        run.save_model(model, &run.root.join("best"), |_| Ok(()))?;
    }
    Ok(m)
}

fn save_checkpoint(
    run: &RunDir,
    model: &crate::model::Qwen,
    opt: &AdamW,
    state: &TrainerState,
    emit: &mut dyn FnMut(TrainEvent) -> Result<()>,
) -> Result<PathBuf> {
    let dir = run.save_checkpoint(model, opt, state)?;
    emit(TrainEvent::Checkpoint {
        step: state.step,
        path: dir.display().to_string(),
    })?;
    Ok(dir)
}

/// Loads a checkpoint's weights into the trainable vars and its optimizer state.
fn restore(opt: &mut AdamW, dir: &std::path::Path) -> Result<()> {
    let file = [crate::peft::files::WEIGHTS_FILE, "model.safetensors"]
        .iter()
        .map(|f| dir.join(f))
        .find(|p| p.exists())
        .with_context(|| format!("{}: no weights in the checkpoint", dir.display()))?;
    let weights = candle_core::safetensors::load(&file, &candle_core::Device::Cpu)
        .with_context(|| format!("cannot read {}", file.display()))?;
    for p in &opt.params {
        let t = weights
            .get(&p.name)
            .with_context(|| format!("{}: missing `{}`", file.display(), p.name))?;
        p.var.set(&t.to_dtype(p.var.dtype())?)?;
    }
    opt.load(&dir.join("optimizer.safetensors"))
}
