//! From a config's dataset files to train and eval batchers.

use super::config::{Stage, TrainConfig};
use crate::chat::ChatTemplate;
use crate::checkpoint::Checkpoint;
use crate::data::registry::DatasetSource;
use crate::data::{read_dataset, Batcher, Encoded, Encoder, Sample};
use anyhow::{bail, Result};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

pub struct PreparedData {
    pub train: Batcher,
    pub eval: Option<Batcher>,
    /// Samples left with no token to learn from after truncation.
    pub dropped: usize,
}

/// The chat template a run uses: the config's choice over the model's own.
pub fn template_for(cfg: &TrainConfig, ckpt: &Checkpoint) -> Result<ChatTemplate> {
    let mut template = match cfg.template.as_deref() {
        None | Some("default") => ckpt.template.clone(),
        Some("qwen") => {
            let system = ckpt
                .template
                .default_system
                .clone()
                .unwrap_or_else(|| crate::chat::QWEN25_BASE_SYSTEM.into());
            ChatTemplate::qwen25(&system)
        }
        Some("qwen3") => ChatTemplate::qwen3(),
        Some(other) => bail!("`template = {other:?}`: expected \"qwen\" (Qwen2.5 ChatML) or \"qwen3\""),
    };
    if let Some(system) = &cfg.default_system {
        template.default_system = Some(system.clone());
    }
    Ok(template)
}

fn read_all(sources: &[DatasetSource]) -> Result<Vec<Sample>> {
    let mut out = Vec::new();
    for s in sources {
        out.extend(read_dataset(&s.path, s.spec.as_ref())?);
    }
    Ok(out)
}

/// Encodes every sample, dropping (and counting) those left with no target
/// token; the first token of a sample is never a target.
pub fn encode_samples(encoder: &Encoder, samples: &[Sample]) -> Result<(Vec<Encoded>, usize)> {
    let mut kept = Vec::with_capacity(samples.len());
    let mut dropped = 0;
    for s in samples {
        let e = encoder.encode(s)?;
        if e.labels.iter().skip(1).any(|&l| l != crate::data::IGNORE_INDEX) {
            kept.push(e);
        } else {
            dropped += 1;
        }
    }
    Ok((kept, dropped))
}

pub fn prepare(cfg: &TrainConfig, ckpt: &Checkpoint) -> Result<PreparedData> {
    let template = template_for(cfg, ckpt)?;
    let encoder = Encoder {
        tokenizer: &ckpt.tokenizer,
        template: &template,
        train_on_prompt: cfg.train_on_prompt || cfg.stage == Stage::Pt,
        cutoff_len: cfg.cutoff_len,
    };
    let encode_all = |samples: Vec<Sample>| encode_samples(&encoder, &samples);
    let mut samples = read_all(&cfg.datasets()?)?;
    if let Some(n) = cfg.max_samples {
        samples.truncate(n);
    }
    let (mut train, mut dropped) = encode_all(samples)?;
    let eval = match cfg.eval_source()? {
        Some(source) => {
            let (eval, d) = encode_all(read_all(&[source])?)?;
            dropped += d;
            Some(eval)
        }
        None if cfg.val_size > 0.0 => {
            let mut rng = StdRng::seed_from_u64(cfg.seed);
            train.shuffle(&mut rng);
            let n_eval = ((train.len() as f64 * cfg.val_size).round() as usize)
                .clamp(1, train.len().saturating_sub(1));
            Some(train.split_off(train.len() - n_eval))
        }
        None => None,
    };
    if train.is_empty() {
        bail!(
            "no training sample has a token to learn from (is `cutoff_len` = {} too short?)",
            cfg.cutoff_len
        );
    }
    let batcher = |samples, batch, shuffle| {
        Batcher::new(samples, batch, cfg.cutoff_len, cfg.packing, shuffle, cfg.seed)
    };
    Ok(PreparedData {
        train: batcher(train, cfg.per_device_train_batch_size, true),
        eval: eval
            .filter(|e| !e.is_empty())
            .map(|e| batcher(e, cfg.per_device_eval_batch_size, false)),
        dropped,
    })
}
