//! Norm, softmax and rotary embedding, in two forms behind one switch.
//!
//! candle's fused kernels are fast but record no backward: a graph through them
//! silently stops carrying gradients. Training therefore uses the composed,
//! differentiable forms; generation may use the fused ones.

use candle_core::{DType, Device, Result, Tensor, D};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Kernels {
    /// Composed from differentiable ops. Required whenever gradients are taken.
    #[default]
    Differentiable,
    /// candle's fused kernels: inference only.
    Fused,
}

/// RMSNorm with a learned scale, computed in F32 or F64 (never lower).
#[derive(Debug, Clone)]
pub struct RmsNorm {
    weight: Tensor,
    eps: f64,
}

impl RmsNorm {
    pub fn new(weight: Tensor, eps: f64) -> Self {
        Self { weight, eps }
    }

    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    pub fn weight_mut(&mut self) -> &mut Tensor {
        &mut self.weight
    }

    pub fn forward(&self, x: &Tensor, kernels: Kernels) -> Result<Tensor> {
        match kernels {
            Kernels::Fused => candle_nn::ops::rms_norm(&x.contiguous()?, &self.weight, self.eps as f32),
            Kernels::Differentiable => {
                let mean_sq = x.sqr()?.mean_keepdim(D::Minus1)?;
                let inv = (mean_sq + self.eps)?.sqrt()?.recip()?;
                x.broadcast_mul(&inv)?.broadcast_mul(&self.weight)
            }
        }
    }
}

pub fn softmax_last_dim(x: &Tensor, kernels: Kernels) -> Result<Tensor> {
    match kernels {
        Kernels::Fused => candle_nn::ops::softmax_last_dim(x),
        Kernels::Differentiable => candle_nn::ops::softmax(x, D::Minus1),
    }
}

/// cos/sin tables of the rotary embedding (the "rotate half" form Qwen uses).
#[derive(Debug, Clone)]
pub struct Rotary {
    cos: Tensor,
    sin: Tensor,
}

impl Rotary {
    pub fn new(
        head_dim: usize,
        max_positions: usize,
        theta: f64,
        dtype: DType,
        dev: &Device,
    ) -> Result<Self> {
        let inv_freq: Vec<f32> = (0..head_dim)
            .step_by(2)
            .map(|i| 1f32 / theta.powf(i as f64 / head_dim as f64) as f32)
            .collect();
        let half = inv_freq.len();
        let inv_freq = Tensor::from_vec(inv_freq, (1, half), dev)?;
        let t = Tensor::arange(0u32, max_positions as u32, dev)?
            .to_dtype(DType::F32)?
            .reshape((max_positions, 1))?;
        let freqs = t.matmul(&inv_freq)?;
        Ok(Self {
            cos: freqs.cos()?.to_dtype(dtype)?,
            sin: freqs.sin()?.to_dtype(dtype)?,
        })
    }

    pub fn max_positions(&self) -> usize {
        self.cos.dims()[0]
    }

    /// Rotates x: (b, heads, t, head_dim) at the given positions: (b, t).
    pub fn apply(&self, x: &Tensor, positions: &Positions, kernels: Kernels) -> Result<Tensor> {
        let (b, _h, t, d) = x.dims4()?;
        let (cos, sin) = match positions {
            Positions::Contiguous { start } => {
                (self.cos.narrow(0, *start, t)?, self.sin.narrow(0, *start, t)?)
            }
            Positions::Explicit(ids) => {
                let flat = ids.flatten_all()?;
                let cos = self.cos.index_select(&flat, 0)?.reshape((b, t, d / 2))?;
                let sin = self.sin.index_select(&flat, 0)?.reshape((b, t, d / 2))?;
                (cos, sin)
            }
        };
        match kernels {
            Kernels::Fused => candle_nn::rotary_emb::rope(&x.contiguous()?, &cos, &sin),
            Kernels::Differentiable => rope_differentiable(x, &cos, &sin),
        }
    }
}

/// x·cos + rotate_half(x)·sin with cos/sin of shape (t, d/2) or (b, t, d/2).
fn rope_differentiable(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
    let d = x.dim(D::Minus1)?;
    let (cos, sin) = (
        Tensor::cat(&[cos, cos], D::Minus1)?,
        Tensor::cat(&[sin, sin], D::Minus1)?,
    );
    // Broadcast over heads: (t, d) stays as is, (b, t, d) becomes (b, 1, t, d).
    let (cos, sin) = if cos.rank() == 3 {
        (cos.unsqueeze(1)?, sin.unsqueeze(1)?)
    } else {
        (cos, sin)
    };
    let x1 = x.narrow(D::Minus1, 0, d / 2)?;
    let x2 = x.narrow(D::Minus1, d / 2, d / 2)?;
    let rotated = Tensor::cat(&[&x2.neg()?, &x1], D::Minus1)?;
    x.broadcast_mul(&cos)? + rotated.broadcast_mul(&sin)?
}

/// Where each token sits in its sequence.
#[derive(Debug, Clone)]
pub enum Positions {
    /// start, start+1, … for every row (plain batches and KV-cached decoding).
    Contiguous { start: usize },
    /// One u32 position per token, (b, t): packed rows restart at 0 per sample.
    Explicit(Tensor),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    }

    #[test]
    fn fused_and_differentiable_forms_agree() -> Result<()> {
        let dev = Device::Cpu;
        let x = Tensor::randn(0f32, 1., (2, 3, 5, 8), &dev)?;
        let norm = RmsNorm::new(Tensor::randn(1f32, 0.1, 8, &dev)?, 1e-6);
        assert!(
            max_diff(
                &norm.forward(&x, Kernels::Fused)?,
                &norm.forward(&x, Kernels::Differentiable)?
            ) < 1e-5
        );
        assert!(
            max_diff(
                &softmax_last_dim(&x, Kernels::Fused)?,
                &softmax_last_dim(&x, Kernels::Differentiable)?
            ) < 1e-6
        );
        let rot = Rotary::new(8, 32, 10_000., DType::F32, &dev)?;
        let pos = Positions::Contiguous { start: 4 };
        assert!(
            max_diff(
                &rot.apply(&x, &pos, Kernels::Fused)?,
                &rot.apply(&x, &pos, Kernels::Differentiable)?
            ) < 1e-5
        );
        Ok(())
    }

    #[test]
    fn explicit_positions_equal_contiguous_ones() -> Result<()> {
        let dev = Device::Cpu;
        let x = Tensor::randn(0f32, 1., (2, 3, 5, 8), &dev)?;
        let rot = Rotary::new(8, 32, 10_000., DType::F32, &dev)?;
        let ids = Tensor::arange(2u32, 7, &dev)?.unsqueeze(0)?.repeat((2, 1))?;
        let a = rot.apply(&x, &Positions::Explicit(ids), Kernels::Differentiable)?;
        let b = rot.apply(&x, &Positions::Contiguous { start: 2 }, Kernels::Fused)?;
        assert!(max_diff(&a, &b) < 1e-5);
        Ok(())
    }
}
