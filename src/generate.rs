//! Token-by-token generation with a KV cache and the usual sampling knobs.

use crate::model::Qwen;
use anyhow::{bail, Result};
use candle_core::{Device, Tensor};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::time::Instant;

#[derive(Debug, Clone, PartialEq)]
pub struct SamplingParams {
    /// 0 means greedy.
    pub temperature: f64,
    /// Nucleus sampling: keep the smallest set of tokens with this much mass (1 = off).
    pub top_p: f64,
    /// Keep only the k most likely tokens (0 = off).
    pub top_k: usize,
    /// HF's repetition penalty over prompt and output (1 = off).
    pub repetition_penalty: f32,
    pub max_new_tokens: usize,
    pub seed: u64,
}

impl Default for SamplingParams {
    fn default() -> Self {
        Self {
            temperature: 0.7,
            top_p: 0.8,
            top_k: 20,
            repetition_penalty: 1.05,
            max_new_tokens: 256,
            seed: 42,
        }
    }
}

impl SamplingParams {
    pub fn greedy(max_new_tokens: usize) -> Self {
        Self {
            temperature: 0.0,
            top_p: 1.0,
            top_k: 0,
            repetition_penalty: 1.0,
            max_new_tokens,
            seed: 0,
        }
    }

    pub fn validate(&self) -> Result<()> {
        if !(self.temperature >= 0.0 && self.temperature.is_finite()) {
            bail!("temperature must be ≥ 0, got {}", self.temperature);
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            bail!("top-p must be in (0, 1], got {}", self.top_p);
        }
        if !(self.repetition_penalty > 0.0 && self.repetition_penalty.is_finite()) {
            bail!("repetition penalty must be > 0, got {}", self.repetition_penalty);
        }
        Ok(())
    }
}

/// Picks the next token from a row of logits.
pub struct Sampler {
    params: SamplingParams,
    rng: StdRng,
}

impl Sampler {
    pub fn new(params: SamplingParams) -> Self {
        let rng = StdRng::seed_from_u64(params.seed);
        Self { params, rng }
    }

    pub fn sample(&mut self, logits: &[f32], history: &[u32]) -> u32 {
        let mut logits = logits.to_vec();
        let penalty = self.params.repetition_penalty;
        if penalty != 1.0 {
            for &id in history {
                if let Some(l) = logits.get_mut(id as usize) {
                    *l = if *l > 0.0 { *l / penalty } else { *l * penalty };
                }
            }
        }
        if self.params.temperature == 0.0 {
            return argmax(&logits);
        }
        let mut ranked: Vec<(u32, f32)> = logits
            .iter()
            .enumerate()
            .map(|(i, &l)| (i as u32, l / self.params.temperature as f32))
            .collect();
        ranked.sort_unstable_by(|a, b| b.1.total_cmp(&a.1));
        if self.params.top_k > 0 {
            ranked.truncate(self.params.top_k);
        }
        let max = ranked[0].1;
        let mut probs: Vec<f32> = ranked.iter().map(|&(_, l)| (l - max).exp()).collect();
        let total: f32 = probs.iter().sum();
        probs.iter_mut().for_each(|p| *p /= total);
        // Nucleus: the shortest prefix whose mass reaches top_p.
        let mut keep = probs.len();
        let mut mass = 0.0;
        for (i, p) in probs.iter().enumerate() {
            mass += p;
            if mass as f64 >= self.params.top_p {
                keep = i + 1;
                break;
            }
        }
        let kept_mass: f32 = probs[..keep].iter().sum();
        let mut r = self.rng.random::<f32>() * kept_mass;
        for i in 0..keep {
            r -= probs[i];
            if r <= 0.0 {
                return ranked[i].0;
            }
        }
        ranked[keep - 1].0
    }
}

fn argmax(xs: &[f32]) -> u32 {
    xs.iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |(i, _)| i as u32)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// A stop token was produced (not included in the output).
    StopToken,
    MaxTokens,
    /// The callback asked to stop.
    Cancelled,
    /// The context window is full.
    ContextFull,
}

#[derive(Debug, Clone)]
pub struct Generation {
    pub tokens: Vec<u32>,
    pub stop: StopReason,
    pub prompt_tokens: usize,
    pub prefill_secs: f64,
    pub decode_secs: f64,
}

/// Generates after `prompt`, calling `on_token` with each new id (stop tokens
/// excluded); `on_token` returns false to cancel.
pub fn generate(
    model: &Qwen,
    prompt: &[u32],
    params: &SamplingParams,
    stop_ids: &[u32],
    on_token: impl FnMut(u32) -> Result<bool>,
) -> Result<Generation> {
    if prompt.is_empty() {
        bail!("the prompt is empty");
    }
    let ids = Tensor::new(prompt, &Device::Cpu)?.unsqueeze(0)?;
    generate_from_rows(model, &model.embed(&ids)?, prompt, params, stop_ids, on_token)
}

/// Like `generate`, from input rows (1, t, hidden) that need not all be
/// token embeddings (a picture's visual tokens); `history` holds the known
/// prompt ids, for the repetition penalty.
pub fn generate_from_rows(
    model: &Qwen,
    rows: &Tensor,
    history: &[u32],
    params: &SamplingParams,
    stop_ids: &[u32],
    mut on_token: impl FnMut(u32) -> Result<bool>,
) -> Result<Generation> {
    params.validate()?;
    let prompt_len = rows.dim(1)?;
    let max_ctx = model.config().max_position_embeddings;
    if prompt_len >= max_ctx {
        bail!("the prompt has {prompt_len} tokens; the model's context holds {max_ctx}");
    }
    let mut sampler = Sampler::new(params.clone());
    let mut cache = model.new_cache();
    let mut history = history.to_vec();
    let mut out = Vec::new();

    let t0 = Instant::now();
    let hidden = model.hidden_states(
        rows,
        &crate::model::Positions::Contiguous { start: 0 },
        &crate::model::AttentionMask::Causal,
        Some(&mut cache),
    )?;
    let mut logits = model.lm_head(&hidden.narrow(1, prompt_len - 1, 1)?.squeeze(1)?)?;
    let prefill_secs = t0.elapsed().as_secs_f64();

    let t1 = Instant::now();
    let stop = loop {
        if out.len() >= params.max_new_tokens {
            break StopReason::MaxTokens;
        }
        let row: Vec<f32> = logits.squeeze(0)?.to_dtype(candle_core::DType::F32)?.to_vec1()?;
        let next = sampler.sample(&row, &history);
        if stop_ids.contains(&next) {
            break StopReason::StopToken;
        }
        out.push(next);
        history.push(next);
        if !on_token(next)? {
            break StopReason::Cancelled;
        }
        if cache.seq_len() + 1 >= max_ctx {
            break StopReason::ContextFull;
        }
        let ids = Tensor::new(&[next], &Device::Cpu)?.unsqueeze(0)?;
        logits = model.last_logits(&ids, Some(&mut cache))?;
    };
    Ok(Generation {
        tokens: out,
        stop,
        prompt_tokens: prompt_len,
        prefill_secs,
        decode_secs: t1.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_takes_the_argmax() {
        let mut s = Sampler::new(SamplingParams::greedy(1));
        assert_eq!(s.sample(&[0.1, 3.0, -1.0, 2.9], &[]), 1);
    }

    #[test]
    fn repetition_penalty_pushes_seen_tokens_down() {
        let mut p = SamplingParams::greedy(1);
        p.repetition_penalty = 2.0;
        let mut s = Sampler::new(p);
        // 3.0/2 = 1.5 < 2.9, so the unseen token wins.
        assert_eq!(s.sample(&[0.1, 3.0, -1.0, 2.9], &[1]), 3);
    }

    #[test]
    fn top_k_one_is_greedy_and_top_p_limits_the_support() {
        let logits = [1.0, 5.0, 4.9, -3.0];
        let mut p = SamplingParams {
            temperature: 1.0,
            top_p: 1.0,
            top_k: 1,
            ..SamplingParams::default()
        };
        p.repetition_penalty = 1.0;
        let mut s = Sampler::new(p.clone());
        assert!((0..50).all(|_| s.sample(&logits, &[]) == 1));
        // Token 1 and 2 hold ~99.7% of the mass together; top-p 0.9 keeps both, never 0 or 3.
        let mut s = Sampler::new(SamplingParams {
            top_k: 0,
            top_p: 0.9,
            ..p
        });
        let draws: Vec<u32> = (0..200).map(|_| s.sample(&logits, &[])).collect();
        assert!(draws.iter().all(|&d| d == 1 || d == 2));
        assert!(draws.contains(&1) && draws.contains(&2));
    }

    #[test]
    fn same_seed_same_draws() {
        let logits: Vec<f32> = (0..50).map(|i| (i as f32 * 0.37).sin()).collect();
        let p = SamplingParams {
            top_k: 0,
            top_p: 1.0,
            temperature: 1.0,
            repetition_penalty: 1.0,
            ..Default::default()
        };
        let a: Vec<u32> = {
            let mut s = Sampler::new(p.clone());
            (0..20).map(|_| s.sample(&logits, &[])).collect()
        };
        let b: Vec<u32> = {
            let mut s = Sampler::new(p);
            (0..20).map(|_| s.sample(&logits, &[])).collect()
        };
        assert_eq!(a, b);
    }
}
