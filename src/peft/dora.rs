//! DoRA: the weight split into a magnitude m (one per output row) and a
//! direction W + s·B·A. PEFT's forward, with the row norm detached:
//! y = g ⊙ (W·x + s·B·A·x) + b, g = m / ‖W + s·B·A‖_row. The bias is not scaled.

use super::lora::Lora;
use crate::model::linear::BaseWeight;
use anyhow::Result;
use candle_core::{Tensor, TensorId, D};
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone)]
pub struct Dora {
    pub lora: Lora,
    /// (out)
    pub magnitude: Tensor,
    /// ‖W‖² of each row of the frozen base, computed once.
    base_norms: BaseNorms,
}

/// Which base weight a cached row norm belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BaseKey {
    Dense(TensorId),
    Nf4(usize),
}

#[derive(Debug, Clone, Default)]
struct BaseNorms(Arc<Mutex<Option<(BaseKey, Tensor)>>>);

impl BaseNorms {
    /// ‖W‖²_row of `weight` (dense: `dense`), from the cache when it is the same weight.
    fn get(&self, weight: &BaseWeight, dense: &Tensor) -> Result<Tensor> {
        let key = match weight {
            BaseWeight::Dense(w) => BaseKey::Dense(w.id()),
            BaseWeight::Nf4 { q, .. } => BaseKey::Nf4(Arc::as_ptr(q) as usize),
        };
        let mut cached = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match &*cached {
            Some((k, norms)) if *k == key => Ok(norms.clone()),
            _ => {
                let norms = dense.detach().sqr()?.sum(D::Minus1)?;
                *cached = Some((key, norms.clone()));
                Ok(norms)
            }
        }
    }
}

/// ‖W + ΔW‖ of each output row, (out).
pub fn row_norms(weight: &Tensor, delta: &Tensor) -> Result<Tensor> {
    Ok((weight + delta)?.sqr()?.sum(D::Minus1)?.sqrt()?)
}

impl Dora {
    /// Starts at the identity: m = ‖W + s·B·A‖_row (= ‖W‖_row while B = 0).
    pub fn new(lora: Lora, weight: &Tensor) -> Result<Self> {
        let magnitude = row_norms(weight, &lora.delta_weight()?)?;
        Ok(Self {
            lora,
            magnitude,
            base_norms: BaseNorms::default(),
        })
    }

    /// g = m / ‖W + s·B·A‖_row with the norm treated as a constant (DoRA §4.3).
    /// The norm comes from the low-rank expansion
    /// ‖W_i‖² + 2s·B_i·(A·W_iᵀ) + s²·B_i·(A·Aᵀ)·B_iᵀ, with ‖W_i‖² kept from
    /// the first step: W + s·B·A itself is never formed.
    pub fn scale(&self, weight: &BaseWeight, dense: &Tensor) -> Result<Tensor> {
        let (a, b, s) = (self.lora.a.detach(), self.lora.b.detach(), self.lora.scaling);
        let w_sq = self.base_norms.get(weight, dense)?;
        let cross = (&b * a.matmul(&dense.detach().t()?)?.t()?)?.sum(D::Minus1)?;
        let quad = (b.matmul(&a.matmul(&a.t()?)?)? * &b)?.sum(D::Minus1)?;
        let norm_sq = ((w_sq + (cross * (2.0 * s))?)? + (quad * (s * s))?)?;
        Ok((&self.magnitude / norm_sq.relu()?.sqrt()?)?)
    }

    /// `base` is W·x (no bias) for the same x.
    pub fn forward(&self, x: &Tensor, base: &Tensor, weight: &BaseWeight) -> Result<Tensor> {
        let g = self.scale(weight, &weight.dense()?)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peft::lora::LoraInit;
    use candle_core::Device;

    #[test]
    fn the_low_rank_norm_equals_the_norm_of_the_formed_weight() -> Result<()> {
        let dev = Device::Cpu;
        let w = Tensor::randn(0f32, 0.5, (24, 40), &dev)?;
        let mut lora = Lora::init(40, 24, 4, 2.5, LoraInit::Gaussian, 7)?;
        lora.b = Tensor::randn(0f32, 0.3, (24, 4), &dev)?;
        let dora = Dora::new(lora, &w)?;
        let base = BaseWeight::Dense(w.clone());
        let direct = (&dora.magnitude / row_norms(&w, &dora.lora.delta_weight()?)?)?;
        for _ in 0..2 {
            // The second time ‖W‖² comes from the cache.
            let low_rank = dora.scale(&base, &w)?;
            let diff = (&low_rank - &direct)?.abs()?.max(0)?.to_scalar::<f32>()?;
            assert!(diff < 1e-5, "{diff}");
        }
        // Another base weight is not served from the cache.
        let w2 = (&w * 2.0)?;
        let g2 = dora.scale(&BaseWeight::Dense(w2.clone()), &w2)?;
        let direct2 = (&dora.magnitude / row_norms(&w2, &dora.lora.delta_weight()?)?)?;
        let diff = (&g2 - &direct2)?.abs()?.max(0)?.to_scalar::<f32>()?;
        assert!(diff < 1e-5, "{diff}");
        Ok(())
    }
}
