//! Held-out metrics: mean token loss, perplexity, token accuracy.

use super::dataset::encode_samples;
use super::loss::{correct, summed_loss};
use crate::checkpoint::Checkpoint;
use crate::data::{read_jsonl, Batch, Batcher, Encoder};
use crate::model::Qwen;
use crate::tokenizer::ENDOFTEXT;
use anyhow::{bail, Result};
use serde::Serialize;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct EvalMetrics {
    pub loss: f64,
    pub perplexity: f64,
    pub token_accuracy: f64,
    pub tokens: usize,
}

/// Evaluates a model whose weights may be trainable; a detached copy keeps
/// the pass from recording a graph.
pub fn evaluate(model: &Qwen, data: &Batcher, pad_id: u32) -> Result<EvalMetrics> {
    let frozen = model.detached();
    let (mut loss, mut hits, mut tokens) = (0.0, 0, 0);
    for rows in data.epoch(0) {
        let batch = Batch::from_rows(&rows, pad_id, frozen.dtype())?;
        if batch.num_targets == 0 {
            continue;
        }
        let (l, logits) = summed_loss(&frozen, &batch)?;
        loss += l.to_dtype(candle_core::DType::F64)?.to_scalar::<f64>()?;
        hits += correct(&logits, &batch.targets)?;
        tokens += batch.num_targets;
    }
    if tokens == 0 {
        bail!("the evaluation data has no target tokens");
    }
    let mean = loss / tokens as f64;
    Ok(EvalMetrics {
        loss: mean,
        perplexity: mean.exp(),
        token_accuracy: hits as f64 / tokens as f64,
        tokens,
    })
}

/// Metrics of a checkpoint on a JSONL file: loss on the replies of chats and
/// on every token of texts. This is what `tunelings eval` prints.
pub fn evaluate_file(
    ckpt: &Checkpoint,
    data: &Path,
    cutoff_len: usize,
    batch_size: usize,
) -> Result<EvalMetrics> {
    let samples = read_jsonl(data)?;
    let encoder = Encoder {
        tokenizer: &ckpt.tokenizer,
        template: &ckpt.template,
        train_on_prompt: false,
        cutoff_len,
    };
    let (encoded, _) = encode_samples(&encoder, &samples)?;
    let batcher = Batcher::new(encoded, batch_size, cutoff_len, false, false, 0);
    evaluate(
        &ckpt.model,
        &batcher,
        ckpt.tokenizer.token_id(ENDOFTEXT).unwrap_or(0),
    )
}
