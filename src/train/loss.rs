//! Cross-entropy over the target positions only: candle has no
//! `ignore_index`, so the masked positions are never gathered at all, which
//! also spares their share of the vocab-wide lm_head.

use super::cross_entropy::cross_entropy_rows;
use super::linear_cross_entropy::linear_cross_entropy_rows;
use super::neftune::Neftune;
use crate::data::Batch;
use crate::model::{AttentionMask, Positions, Qwen};
use anyhow::Result;
use candle_core::backprop::GradStore;
use candle_core::{DType, Tensor, D};

/// Sum (not mean) of the token losses of `batch`, as a scalar tensor, plus
/// the logits at the targets for metrics.
pub fn summed_loss(model: &Qwen, batch: &Batch) -> Result<(Tensor, Tensor)> {
    let logits = target_logits(model, batch)?;
    let loss = cross_entropy_sum(&logits, &batch.targets)?;
    Ok((loss, logits))
}

/// The logits at `batch`'s target positions: (targets, vocab).
pub fn target_logits(model: &Qwen, batch: &Batch) -> Result<Tensor> {
    model.logits_at(&batch_hidden(model, batch)?, &batch.index)
}

/// The final hidden states of `batch`: (rows, t, hidden).
pub fn batch_hidden(model: &Qwen, batch: &Batch) -> Result<Tensor> {
    model.hidden_states(
        &model.embed(&batch.ids)?,
        &Positions::Explicit(batch.positions.clone()),
        &AttentionMask::Additive(batch.mask.clone()),
        None,
    )
}

/// −log p(target) at each of `batch`'s targets, from its final hidden
/// states: (targets). A frozen output projection is fused with the loss,
/// so the (targets × vocab) logits never exist.
pub fn target_losses(model: &Qwen, hidden: &Tensor, batch: &Batch) -> Result<Tensor> {
    Ok(match model.frozen_output_weight() {
        Some(w) => linear_cross_entropy_rows(&Qwen::rows_at(hidden, &batch.index)?, w, &batch.targets)?,
        None => cross_entropy_rows(&model.logits_at(hidden, &batch.index)?, &batch.targets)?,
    })
}

/// Backward of `scale` × the summed loss of `batch`, handing each gradient
/// store to `sink`. With `checkpointing`, blocks are recomputed during the
/// backward instead of keeping their activations; with `neftune`, the
/// embeddings get its noise. Returns the unscaled sum.
pub fn backward_summed_loss(
    model: &Qwen,
    batch: &Batch,
    scale: f64,
    checkpointing: bool,
    neftune: Option<Neftune>,
    sink: &mut dyn FnMut(&GradStore) -> Result<()>,
) -> Result<f64> {
    let head = |hidden: &Tensor| -> Result<Tensor> {
        Ok((target_losses(model, hidden, batch)?.sum_all()? * scale)?)
    };
    let mut embeds = model.embed(&batch.ids)?;
    if let Some(n) = neftune {
        embeds = n.add_noise(&embeds)?;
    }
    let positions = Positions::Explicit(batch.positions.clone());
    let scaled = if checkpointing {
        model.checkpointed_backward(&embeds, &positions, &batch.mask, &head, sink)?
    } else {
        let mask = AttentionMask::Additive(batch.mask.clone());
        let scaled = head(&model.hidden_states(&embeds, &positions, &mask, None)?)?;
        sink(&scaled.backward()?)?;
        scaled
    };
    Ok(scaled.to_dtype(DType::F64)?.to_scalar::<f64>()? / scale)
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
