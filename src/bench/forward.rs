//! Prefill and decode speed of the decoder, on random weights of a chosen
//! shape or on a checkpoint.

use super::emit;
use crate::checkpoint::Checkpoint;
use crate::model::random::random_weights;
use crate::model::{Family, Kernels, Qwen, QwenConfig};
use crate::{memory, threads};
use anyhow::{bail, Result};
use candle_core::{DType, Device, Tensor};
use serde::Serialize;
use std::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Shape {
    /// 2 layers, hidden 64: seconds.
    Tiny,
    /// Qwen2.5-0.5B's exact shape (896 hidden, 24 layers, 151936 vocab, tied).
    #[value(name = "qwen2.5-0.5b")]
    Qwen25_05b,
}

impl Shape {
    pub fn config(self) -> QwenConfig {
        match self {
            Shape::Tiny => QwenConfig::tiny(Family::Qwen2, 4096),
            Shape::Qwen25_05b => QwenConfig::qwen2_5_0_5b(),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Shape::Tiny => "tiny",
            Shape::Qwen25_05b => "qwen2.5-0.5b",
        }
    }
}

#[derive(Serialize)]
struct Record<'a> {
    bench: &'static str,
    model: &'a str,
    phase: &'static str,
    params_m: f64,
    threads: usize,
    batch: usize,
    tokens: usize,
    seconds: f64,
    tokens_per_s: f64,
    peak_rss_mib: Option<f64>,
}

pub struct Options {
    pub prefill: usize,
    pub decode: usize,
}

/// Benchmarks random-weight shapes, in order (the peak RSS is the process's).
pub fn run_shapes(shapes: &[Shape], opts: &Options) -> Result<()> {
    for &shape in shapes {
        let cfg = shape.config();
        let weights = random_weights(&cfg, 0, 0.02)?;
        let model = Qwen::load(&cfg, &weights, DType::F32)?;
        drop(weights);
        run_model(model, shape.name(), opts)?;
    }
    Ok(())
}

pub fn run_checkpoint(spec: &str, opts: &Options) -> Result<()> {
    let ckpt = Checkpoint::load(Some(spec), DType::F32)?;
    run_model(ckpt.model, spec, opts)
}

fn run_model(mut model: Qwen, label: &str, opts: &Options) -> Result<()> {
    if opts.prefill == 0 {
        bail!("--prefill must be at least 1");
    }
    model.set_kernels(Kernels::Fused);
    let cfg = model.config().clone();
    let vocab = cfg.vocab_size as u32;
    let prompt: Vec<u32> = (0..opts.prefill as u32)
        .map(|i| (i * 7919 + 13) % vocab)
        .collect();
    let record = |phase, tokens, seconds: f64| Record {
        bench: "forward",
        model: label,
        phase,
        params_m: cfg.num_params() as f64 / 1e6,
        threads: threads::count(),
        batch: 1,
        tokens,
        seconds,
        tokens_per_s: tokens as f64 / seconds.max(1e-12),
        peak_rss_mib: memory::peak_rss_mib(),
    };

    let mut cache = model.new_cache();
    let ids = Tensor::new(prompt.as_slice(), &Device::Cpu)?.unsqueeze(0)?;
    let t0 = Instant::now();
    let mut logits = model.last_logits(&ids, Some(&mut cache))?;
    emit(&record("prefill", opts.prefill, t0.elapsed().as_secs_f64()))?;

    let t1 = Instant::now();
    for _ in 0..opts.decode {
        let next = logits.argmax(candle_core::D::Minus1)?.to_dtype(DType::U32)?;
        logits = model.last_logits(&next.unsqueeze(0)?, Some(&mut cache))?;
    }
    if opts.decode > 0 {
        emit(&record("decode", opts.decode, t1.elapsed().as_secs_f64()))?;
    }
    Ok(())
}
