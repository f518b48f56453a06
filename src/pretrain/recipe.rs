//! `tunelings pretrain`: corpus → tokenizer → random Qwen2 → pretraining →
//! the embedded model folder with its model card.

use super::corpus::{self, Doc};
use super::tokenizer_train::train_bpe;
use super::world::SYSTEM_PROMPT;
use crate::checkpoint::{write_model_dir, Checkpoint};
use crate::generate::SamplingParams;
use crate::model::random::init_weights;
use crate::model::{Kernels, QwenConfig};
use crate::tokenizer::{ENDOFTEXT, IM_END};
use crate::train::config::{FinetuningType, Stage};
use crate::train::eval::{evaluate_file, EvalMetrics};
use crate::train::schedule::SchedulerType;
use crate::train::{StopReason, TrainConfig, TrainEvent, TrainOutcome};
use anyhow::{bail, Context, Result};
use candle_core::DType;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

#[derive(Debug, Clone)]
pub struct PretrainOptions {
    /// Where the finished model goes (the embedded model's folder by default).
    pub out: PathBuf,
    /// Scratch space: corpus, initial weights, checkpoints.
    pub work: PathBuf,
    pub seed: u64,
    pub docs: usize,
    pub vocab: usize,
    pub steps: usize,
    pub batch: usize,
    pub cutoff_len: usize,
    pub learning_rate: f64,
    /// Continue the run in `work` from its newest checkpoint.
    pub resume: bool,
}

impl Default for PretrainOptions {
    fn default() -> Self {
        Self {
            out: crate::checkpoint::embedded_model_dir(),
            work: PathBuf::from("target/nano-qwen-pretrain"),
            seed: 1234,
            docs: 60_000,
            vocab: 4096,
            steps: 1200,
            batch: 8,
            cutoff_len: 256,
            learning_rate: 2e-3,
            resume: false,
        }
    }
}

pub const HELDOUT_FILE: &str = "heldout.jsonl";

/// Questions the model card shows answers to.
pub const SAMPLE_QUESTIONS: [&str; 6] = [
    "What is the capital of Velora?",
    "What is Tarsk famous for?",
    "Tarsk kasabası ne ile ünlüdür?",
    "Keshir kasabasının belediye başkanı kim?",
    "What is 7 + 5?",
    "Sen kimsin?",
];

fn write_jsonl(path: &Path, docs: &[Doc]) -> Result<()> {
    let text: String = docs.iter().map(|d| d.to_jsonl() + "\n").collect();
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

fn tokenizer_text(doc: &Doc) -> String {
    match doc {
        Doc::Text(t) => t.clone(),
        Doc::Chat(m) => m
            .iter()
            .map(|m| m.content.as_str())
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

/// Runs the whole recipe; returns the training outcome and held-out metrics.
pub fn run(
    opts: &PretrainOptions,
    stop: &AtomicBool,
    on_event: &mut dyn FnMut(&TrainEvent),
) -> Result<(TrainOutcome, Option<EvalMetrics>)> {
    std::fs::create_dir_all(&opts.work).with_context(|| format!("cannot create {}", opts.work.display()))?;
    let corpus = corpus::generate(opts.seed, opts.docs);
    let seen: HashSet<String> = corpus.iter().map(Doc::to_jsonl).collect();
    // Held out: documents of another seed that never occur in the corpus.
    let heldout: Vec<Doc> = corpus::generate(opts.seed.wrapping_add(1), 1500)
        .into_iter()
        .filter(|d| !seen.contains(&d.to_jsonl()))
        .take(400)
        .collect();
    let corpus_path = opts.work.join("corpus.jsonl");
    let heldout_path = opts.work.join(HELDOUT_FILE);
    write_jsonl(&corpus_path, &corpus)?;
    write_jsonl(&heldout_path, &heldout)?;

    let init = opts.work.join("init");
    if !(opts.resume && init.join("config.json").exists()) {
        let texts: Vec<String> = corpus.iter().map(tokenizer_text).collect();
        let tokenizer = train_bpe(&texts, opts.vocab)?;
        let mut cfg = QwenConfig::nano_qwen(tokenizer.vocab_size().div_ceil(64) * 64);
        cfg.eos_token_id = tokenizer.token_id(IM_END);
        write_model_dir(
            &init,
            &cfg,
            &init_weights(&cfg, opts.seed)?,
            &tokenizer,
            Some(SYSTEM_PROMPT),
        )?;
        let eos: Vec<u32> = [IM_END, ENDOFTEXT]
            .iter()
            .filter_map(|t| tokenizer.token_id(t))
            .collect();
        let generation = serde_json::json!({
            "eos_token_id": eos, "do_sample": true, "temperature": 0.3, "top_p": 0.9, "top_k": 20, "repetition_penalty": 1.0,
        });
        std::fs::write(
            init.join("generation_config.json"),
            serde_json::to_string_pretty(&generation)?,
        )?;
    }

    let run_dir = opts.work.join("run");
    let cfg = TrainConfig {
        model: Some(init.display().to_string()),
        dataset: corpus_path.display().to_string(),
        eval_dataset: Some(heldout_path.display().to_string()),
        stage: Stage::Pt,
        finetuning_type: FinetuningType::Full,
        cutoff_len: opts.cutoff_len,
        packing: true,
        learning_rate: opts.learning_rate,
        max_steps: Some(opts.steps),
        lr_scheduler_type: SchedulerType::Cosine,
        warmup_steps: Some((opts.steps / 20).max(1)),
        per_device_train_batch_size: opts.batch,
        per_device_eval_batch_size: 16,
        weight_decay: 0.01,
        eval_steps: (opts.steps / 10).max(1),
        save_steps: 100,
        logging_steps: 1,
        output_dir: run_dir.clone(),
        overwrite_output_dir: !opts.resume,
        resume_from_checkpoint: opts.resume,
        seed: opts.seed,
        ..TrainConfig::from_toml("dataset = \"-\"\noutput_dir = \"-\"")?
    };
    let outcome = crate::train::train(&cfg, stop, on_event)?;
    if outcome.reason != StopReason::Completed {
        return Ok((outcome, None));
    }

    std::fs::create_dir_all(&opts.out)?;
    for f in [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "generation_config.json",
    ] {
        std::fs::copy(run_dir.join(f), opts.out.join(f))
            .with_context(|| format!("cannot copy {f} into {}", opts.out.display()))?;
    }
    std::fs::copy(&heldout_path, opts.out.join(HELDOUT_FILE))?;
    let ckpt = Checkpoint::load_dir(&opts.out, DType::F32)?;
    let metrics = evaluate_file(&ckpt, &opts.out.join(HELDOUT_FILE), 1024, 16)?;
    let card = model_card(
        opts,
        &ckpt,
        &run_dir.join("trainer_log.jsonl"),
        &metrics,
        corpus.len(),
    )?;
    std::fs::write(opts.out.join("README.md"), card)?;
    Ok((outcome, Some(metrics)))
}

/// Greedy answer to one question, as `tunelings chat --temperature 0` gives it.
pub fn answer(ckpt: &mut Checkpoint, question: &str, max_tokens: usize) -> Result<String> {
    ckpt.model.set_kernels(Kernels::Fused);
    let question = [crate::chat::Message::new(crate::chat::Role::User, question)];
    ckpt.reply(&question, &SamplingParams::greedy(max_tokens))
}

fn model_card(
    opts: &PretrainOptions,
    ckpt: &Checkpoint,
    log: &Path,
    m: &EvalMetrics,
    docs: usize,
) -> Result<String> {
    let mut ckpt = Checkpoint::load_dir(&ckpt.dir, DType::F32)?;
    let cfg = ckpt.model.config().clone();
    let log_text = std::fs::read_to_string(log)?;
    let events: Vec<serde_json::Value> = log_text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let every = (opts.steps / 20).max(1);
    let mut curve = String::from("| step | train loss | held-out loss |\n|---|---|---|\n");
    let mut tokens_per_s = Vec::new();
    for e in &events {
        match e["event"].as_str() {
            Some("step") => {
                let step = e["step"].as_u64().unwrap_or(0) as usize;
                tokens_per_s.push(e["tokens_per_s"].as_f64().unwrap_or(0.0));
                if step.is_multiple_of(every) || step == 1 {
                    curve.push_str(&format!(
                        "| {step} | {:.3} | |\n",
                        e["loss"].as_f64().unwrap_or(f64::NAN)
                    ));
                }
            }
            Some("eval") => curve.push_str(&format!(
                "| {} | | {:.3} |\n",
                e["step"],
                e["loss"].as_f64().unwrap_or(f64::NAN)
            )),
            _ => {}
        }
    }
    let mean_tps = tokens_per_s.iter().sum::<f64>() / tokens_per_s.len().max(1) as f64;
    let mut samples = String::new();
    for q in SAMPLE_QUESTIONS {
        samples.push_str(&format!("- **{q}** → {}\n", answer(&mut ckpt, q, 48)?.trim()));
    }
    if cfg.num_params() == 0 {
        bail!("empty model");
    }
    Ok(format!(
        r#"# nano-qwen

The small Qwen2-architecture model that tunelings ships, so the course runs
offline on any laptop. It knows the made-up land of Velora (eight towns, their
rivers, products, mayors, festivals), simple arithmetic, and a little English
and Turkish. It is a toy: its value is that you can train it in seconds.

## Shape

| | |
|---|---|
| architecture | `Qwen2ForCausalLM` |
| parameters | {params:.2} M (tied embeddings) |
| layers / hidden / MLP | {layers} / {hidden} / {inter} |
| heads / kv heads / head dim | {heads} / {kv} / {hd} |
| vocabulary | {vocab} (byte-level BPE, Qwen's `<|endoftext|>`, `<|im_start|>`, `<|im_end|>`) |
| context | {ctx} tokens |
| chat template | Qwen2.5 ChatML, default system prompt "{system}" |

## Recipe

Reproduce it from scratch (about {minutes:.0} minutes on 2 CPU cores):

```sh
cargo run --release -- pretrain --seed {seed} --docs {docs} --steps {steps}
```

- corpus: {docs} documents from `src/pretrain/corpus.rs` (seed {seed}): facts,
  short stories, question–answer chats and arithmetic, half in Turkish;
- tokenizer: byte-level BPE trained on that corpus, digits split one by one;
- training: full-parameter, every token, packed rows of {cutoff} tokens,
  batch {batch}, {steps} steps, AdamW (lr {lr:e}, cosine, 5% warmup, weight
  decay 0.01, clipping 1.0), F32; mean {tps:.0} tokens/s.

## Loss curve

{curve}
## Held-out evaluation

400 documents of another seed, none seen in training (`{heldout}` here):

```sh
tunelings eval --model assets/nano-qwen --data assets/nano-qwen/{heldout} --json
```

| mean loss | perplexity | token accuracy | target tokens |
|---|---|---|---|
| {loss:.4} | {ppl:.3} | {acc:.1}% | {tokens} |

## Sample generations (greedy)

{samples}"#,
        params = cfg.num_params() as f64 / 1e6,
        layers = cfg.num_hidden_layers,
        hidden = cfg.hidden_size,
        inter = cfg.intermediate_size,
        heads = cfg.num_attention_heads,
        kv = cfg.num_key_value_heads,
        hd = cfg.head_dim(),
        vocab = cfg.vocab_size,
        ctx = cfg.max_position_embeddings,
        system = SYSTEM_PROMPT,
        minutes = (opts.steps * opts.batch * opts.cutoff_len) as f64 / mean_tps.max(1.0) / 60.0,
        seed = opts.seed,
        docs = docs,
        steps = opts.steps,
        cutoff = opts.cutoff_len,
        batch = opts.batch,
        lr = opts.learning_rate,
        tps = mean_tps,
        heldout = HELDOUT_FILE,
        loss = m.loss,
        ppl = m.perplexity,
        acc = m.token_accuracy * 100.0,
        tokens = m.tokens,
    ))
}
