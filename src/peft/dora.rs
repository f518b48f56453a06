//! DoRA: the weight split into a magnitude m (one per output row) and a
//! direction W + s·B·A. PEFT's forward, with the row norm detached:
//! y = g ⊙ (W·x + s·B·A·x) + b, g = m / ‖W + s·B·A‖_row. The bias is not scaled.

use super::lora::Lora;
use crate::model::linear::BaseWeight;
use anyhow::Result;
use candle_core::{Tensor, D};

#[derive(Debug, Clone)]
pub struct Dora {
    pub lora: Lora,
    /// (out)
    pub magnitude: Tensor,
}

/// ‖W + ΔW‖ of each output row, (out).
pub fn row_norms(weight: &Tensor, delta: &Tensor) -> Result<Tensor> {
    Ok((weight + delta)?.sqr()?.sum(D::Minus1)?.sqrt()?)
}

impl Dora {
    /// Starts at the identity: m = ‖W + s·B·A‖_row (= ‖W‖_row while B = 0).
    pub fn new(lora: Lora, weight: &Tensor) -> Result<Self> {
        let magnitude = row_norms(weight, &lora.delta_weight()?)?;
        Ok(Self { lora, magnitude })
    }

    /// g = m / ‖W + s·B·A‖_row with the norm treated as a constant (DoRA §4.3).
    pub fn scale(&self, weight: &Tensor) -> Result<Tensor> {
        let norm = row_norms(weight, &self.lora.delta_weight()?.detach())?.detach();
        Ok((&self.magnitude / norm)?)
    }

    /// `base` is W·x (no bias) for the same x.
    pub fn forward(&self, x: &Tensor, base: &Tensor, weight: &BaseWeight) -> Result<Tensor> {
        let g = self.scale(&weight.dense()?)?;
        let dx = self.lora.branch_input(x)?;
        let lora = self.lora.delta_out(&dx)?;
        if self.lora.dropout.is_none() {
            return Ok((base + lora)?.broadcast_mul(&g)?);
        }
        // With dropout PEFT recomputes W on the dropped input for the DoRA term:
        // base + (g − 1)·W·drop(x) + g·s·B·A·drop(x).
        let base_dropped = weight.matmul(&dx)?;
        let g_minus_1 = (&g - 1.0)?;
        Ok((base + base_dropped.broadcast_mul(&g_minus_1)? + lora.broadcast_mul(&g)?)?)
    }

    /// W' = g·(W + ΔW), row by row, with g from the current norm.
    pub fn merged_weight(&self, weight: &Tensor) -> Result<Tensor> {
        let delta = self.lora.delta_weight()?;
        let g = (&self.magnitude / row_norms(weight, &delta)?)?;
        Ok((weight + delta)?.broadcast_mul(&g.unsqueeze(1)?)?)
    }
}
