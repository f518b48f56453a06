//! Training-step speed and memory: forward, backward and optimizer update on
//! random tokens.

use super::emit;
use crate::data::{Batch, Batcher, Encoded, IGNORE_INDEX};
use crate::model::random::LazyRandomWeights;
use crate::model::{Qwen, QwenConfig};
use crate::peft::lora::LoraInit;
use crate::peft::{LoraConfig, Target};
use crate::train::dpo::{backward_pairs, pair_logps, DpoConfig, PairData};
use crate::train::loss::backward_summed_loss;
use crate::train::optim::{AdamW, AdamWConfig};
use crate::{memory, threads};
use anyhow::{bail, Result};
use candle_core::backprop::GradStore;
use candle_core::DType;
use serde::Serialize;
use std::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Method {
    /// Every weight trained.
    Full,
    /// LoRA on all seven projections.
    Lora,
    /// DoRA on all seven projections.
    Dora,
    /// LoRA initialised by PiSSA (randomized SVD, 16 iterations).
    Pissa,
    /// LoRA on an NF4 base with double quantization.
    Qlora,
    /// DoRA on an NF4 base with double quantization.
    Qdora,
    /// DPO with a LoRA adapter: `--batch` pairs of `--seq` tokens each, the
    /// second half of every sequence the answer.
    Dpo,
}

impl Method {
    fn name(self) -> &'static str {
        match self {
            Method::Full => "full",
            Method::Lora => "lora",
            Method::Dora => "dora",
            Method::Pissa => "pissa",
            Method::Qlora => "qlora",
            Method::Qdora => "qdora",
            Method::Dpo => "dpo",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TrainShape {
    /// The embedded nano-qwen's shape.
    Nano,
    #[value(name = "qwen2.5-0.5b")]
    Qwen25_05b,
}

impl TrainShape {
    pub fn config(self) -> QwenConfig {
        match self {
            TrainShape::Nano => QwenConfig::nano_qwen(4096),
            TrainShape::Qwen25_05b => QwenConfig::qwen2_5_0_5b(),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            TrainShape::Nano => "nano",
            TrainShape::Qwen25_05b => "qwen2.5-0.5b",
        }
    }
}

#[derive(Serialize)]
struct Record {
    bench: &'static str,
    method: &'static str,
    shape: &'static str,
    threads: usize,
    batch: usize,
    seq: usize,
    steps: usize,
    checkpointing: bool,
    tokens_per_s: f64,
    step_seconds: f64,
    peak_rss_mib: Option<f64>,
    trainable_params: usize,
}

pub struct Options {
    pub method: Method,
    pub batch: usize,
    pub seq: usize,
    pub steps: usize,
    pub rank: usize,
    pub checkpointing: bool,
}

pub fn run(shape: TrainShape, opts: &Options) -> Result<()> {
    if opts.steps == 0 || opts.seq < 2 || opts.batch == 0 {
        bail!("--steps, --batch must be ≥ 1 and --seq ≥ 2");
    }
    let cfg = shape.config();
    let quantized = matches!(opts.method, Method::Qlora | Method::Qdora);
    let weights = LazyRandomWeights { seed: 0, std: 0.02 };
    let mut model = Qwen::load_with(&cfg, &weights, DType::F32, quantized.then_some(true))?;
    let vocab = cfg.vocab_size as u32;
    let sequence = |r: usize, salt: u32| -> Encoded {
        let ids: Vec<u32> = (0..opts.seq as u32)
            .map(|i| (i * 7919 + r as u32 * 104729 + salt + 1) % vocab)
            .collect();
        Encoded {
            labels: ids.iter().map(|&i| i as i64).collect(),
            ids,
        }
    };
    // DPO's reference is scored before the adapter exists, as in training.
    let pairs = if opts.method == Method::Dpo {
        let answer_only = |mut e: Encoded| {
            e.labels[..opts.seq / 2].fill(IGNORE_INDEX);
            e
        };
        let pairs: Vec<(Encoded, Encoded)> = (0..opts.batch)
            .map(|r| (answer_only(sequence(r, 0)), answer_only(sequence(r, 17))))
            .collect();
        let reference = pair_logps(&model, &pairs, opts.batch, 0)?;
        Some(PairData { pairs, reference })
    } else {
        None
    };
    let vars = match opts.method {
        Method::Full => model.make_trainable()?,
        method => {
            let cfg = LoraConfig {
                rank: opts.rank,
                alpha: 2.0 * opts.rank as f64,
                target: Target::AllLinear,
                use_dora: matches!(method, Method::Dora | Method::Qdora),
                init: if method == Method::Pissa {
                    LoraInit::PissaNiter(16)
                } else {
                    LoraInit::KaimingUniform
                },
                ..Default::default()
            };
            crate::peft::attach(&mut model, &cfg)?;
            crate::peft::make_trainable(&mut model)?
        }
    };
    let mut opt = AdamW::new(vars, AdamWConfig::default())?;
    let samples: Vec<Encoded> = (0..opts.batch).map(|r| sequence(r, 0)).collect();
    let rows = Batcher::new(samples, opts.batch, opts.seq, false, false, 0)
        .epoch(0)
        .remove(0);
    let batch = Batch::from_rows(&rows, 0, DType::F32)?;

    let every_pair: Vec<usize> = (0..opts.batch).collect();
    // One warm-up step, then the timed ones.
    let mut times = Vec::new();
    for step in 0..=opts.steps {
        let t0 = Instant::now();
        let mut sums = vec![None; opt.params.len()];
        let sink = &mut |g: &GradStore| opt.add_gradients(g, &mut sums);
        match &pairs {
            Some(p) => {
                backward_pairs(&model, p, &every_pair, &DpoConfig::default(), 0, 1.0, sink)?;
            }
            None => {
                backward_summed_loss(
                    &model,
                    &batch,
                    1.0 / batch.num_targets as f64,
                    opts.checkpointing,
                    None,
                    sink,
                )?;
            }
        }
        let grads = opt.finish_gradients(sums)?;
        opt.step(&grads, 1e-5)?;
        if step > 0 {
            times.push(t0.elapsed().as_secs_f64());
        }
    }
    let step_seconds = times.iter().sum::<f64>() / times.len() as f64;
    emit(&Record {
        bench: "train",
        method: opts.method.name(),
        shape: shape.name(),
        threads: threads::count(),
        batch: opts.batch,
        seq: opts.seq,
        steps: opts.steps,
        checkpointing: opts.checkpointing,
        // DPO runs a chosen and a rejected sequence per pair.
        tokens_per_s: (pairs.as_ref().map_or(1, |_| 2) * opts.batch * opts.seq) as f64 / step_seconds,
        step_seconds,
        peak_rss_mib: memory::peak_rss_mib(),
        trainable_params: opt.num_params(),
    })
}
