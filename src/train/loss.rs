//! Cross-entropy over the target positions only: candle has no
//! `ignore_index`, so the masked positions are never gathered at all, which
//! also spares their share of the vocab-wide lm_head.

use super::cross_entropy::cross_entropy_rows;
use crate::data::Batch;
use crate::model::{AttentionMask, Positions, Qwen};
use anyhow::Result;
use candle_core::{DType, Tensor, D};

/// Sum (not mean) of the token losses of `batch`, as a scalar tensor, plus
/// the logits at the targets for metrics.
pub fn summed_loss(model: &Qwen, batch: &Batch) -> Result<(Tensor, Tensor)> {
    let embeds = model.embed(&batch.ids)?;
    let hidden = model.hidden_states(
        &embeds,
        &Positions::Explicit(batch.positions.clone()),
        &AttentionMask::Additive(batch.mask.clone()),
        None,
    )?;
    let logits = model.logits_at(&hidden, &batch.index)?;
    let loss = cross_entropy_sum(&logits, &batch.targets)?;
    Ok((loss, logits))
}

/// Σ −log softmax(logits)[target], computed stably in F32 or F64.
pub fn cross_entropy_sum(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    Ok(cross_entropy_rows(logits, targets)?.sum_all()?)
}

/// How many targets the argmax gets right.
pub fn correct(logits: &Tensor, targets: &Tensor) -> Result<usize> {
    let pred = logits.argmax(D::Minus1)?.to_dtype(DType::U32)?;
    Ok(pred
        .eq(targets)?
        .to_dtype(DType::U32)?
        .sum_all()?
        .to_scalar::<u32>()? as usize)
}
