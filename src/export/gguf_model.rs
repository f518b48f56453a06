//! An exported GGUF run the way llama.cpp runs it, through candle-transformers'
//! quantized Qwen2: greedy answers and the loss of reference answers, to
//! compare with the model it came from.

use anyhow::{Context, Result};
use candle_core::quantized::gguf_file;
use candle_core::{Device, Tensor, D};
use candle_transformers::models::quantized_qwen2::ModelWeights;
use std::path::Path;

pub struct GgufModel {
    weights: ModelWeights,
}

impl GgufModel {
    pub fn load(path: &Path) -> Result<Self> {
        let mut file =
            std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let content = gguf_file::Content::read(&mut file)
            .with_context(|| format!("{} is not a GGUF file", path.display()))?;
        let weights = ModelWeights::from_gguf(content, &mut file, &Device::Cpu)
            .with_context(|| format!("cannot load the Qwen2 model in {}", path.display()))?;
        Ok(Self { weights })
    }

    /// The next-token logits after `ids`, which continue a sequence already
    /// `past` tokens long (0 starts a new one).
    fn step(&mut self, ids: &[u32], past: usize) -> Result<Vec<f32>> {
        let input = Tensor::new(ids, &Device::Cpu)?.unsqueeze(0)?;
        Ok(self.weights.forward(&input, past)?.squeeze(0)?.to_vec1()?)
    }

    /// Greedy decoding after `prompt`, up to `max_new` tokens, ending early
    /// once `done` says the tokens so far finish the answer.
    pub fn greedy(
        &mut self,
        prompt: &[u32],
        max_new: usize,
        mut done: impl FnMut(&[u32]) -> bool,
    ) -> Result<Vec<u32>> {
        let mut out = Vec::new();
        let mut logits = self.step(prompt, 0)?;
        while out.len() < max_new {
            let next = argmax(&logits);
            out.push(next);
            if done(&out) {
                break;
            }
            logits = self.step(&[next], prompt.len() + out.len() - 1)?;
        }
        Ok(out)
    }

    /// Teacher-forced pass over `answer` after `prompt`: its summed negative
    /// log-likelihood, and at how many positions this model's top token is
    /// the answer's own.
    pub fn score(&mut self, prompt: &[u32], answer: &[u32]) -> Result<AnswerScore> {
        let mut logits = self.step(prompt, 0)?;
        let mut score = AnswerScore::default();
        for (i, &target) in answer.iter().enumerate() {
            let row = Tensor::new(logits.as_slice(), &Device::Cpu)?;
            let log_probs = candle_nn::ops::log_softmax(&row, D::Minus1)?;
            score.nll -= f64::from(log_probs.get(target as usize)?.to_scalar::<f32>()?);
            score.top1_hits += usize::from(argmax(&logits) == target);
            score.tokens += 1;
            if i + 1 < answer.len() {
                logits = self.step(&[target], prompt.len() + i)?;
            }
        }
        Ok(score)
    }
}

#[derive(Debug, Default, Clone, Copy)]
pub struct AnswerScore {
    pub nll: f64,
    pub top1_hits: usize,
    pub tokens: usize,
}

fn argmax(v: &[f32]) -> u32 {
    (0..v.len()).max_by(|&i, &j| v[i].total_cmp(&v[j])).unwrap_or(0) as u32
}
