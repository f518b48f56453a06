//! The one linear layer every projection goes through.
//!
//! A frozen weight (dense or NF4) takes a custom op whose backward returns
//! only dX; a trainable weight (a `Var`, in full fine-tuning) takes the plain
//! matmul so its gradient is recorded. Adapters (LoRA, DoRA) add their branch
//! on top of the base output.

use super::frozen_matmul::{dequantize, FrozenMatmul, FrozenNf4Matmul};
use crate::peft::Adapter;
use crate::quant::nf4::Nf4;
use candle_core::{DType, Result, Tensor};
use std::sync::Arc;

/// A layer's base weight (out, in): dense, or NF4 for QLoRA/QDoRA.
#[derive(Debug, Clone)]
pub enum BaseWeight {
    Dense(Tensor),
    /// Dequantized to `dtype` whenever it is used.
    Nf4 {
        q: Arc<Nf4>,
        dtype: DType,
    },
}

impl BaseWeight {
    /// The weight as a dense tensor (dequantized for NF4).
    pub fn dense(&self) -> Result<Tensor> {
        match self {
            BaseWeight::Dense(w) => Ok(w.clone()),
            BaseWeight::Nf4 { q, dtype } => dequantize(q, *dtype),
        }
    }

    /// The compute dtype, without dequantizing.
    pub fn dtype(&self) -> DType {
        match self {
            BaseWeight::Dense(w) => w.dtype(),
            BaseWeight::Nf4 { dtype, .. } => *dtype,
        }
    }

    pub fn dims(&self) -> (usize, usize) {
        match self {
            BaseWeight::Dense(w) => (w.dims()[0], w.dims()[1]),
            BaseWeight::Nf4 { q, .. } => (q.shape[0], q.shape[1]),
        }
    }

    /// x · Wᵀ for x of any rank ≥ 1; only a trained (`Var`) dense weight
    /// records its own gradient.
    pub fn matmul(&self, x: &Tensor) -> Result<Tensor> {
        let (out_f, in_f) = self.dims();
        let x2 = x.reshape((x.elem_count() / in_f, in_f))?;
        let y = match self {
            BaseWeight::Dense(w) if w.is_variable() || w.track_op() => x2.matmul(&w.t()?)?,
            BaseWeight::Dense(w) => x2.apply_op1(FrozenMatmul { weight: w.clone() })?,
            BaseWeight::Nf4 { q, dtype } => x2.apply_op1(FrozenNf4Matmul {
                weight: q.clone(),
                dtype: *dtype,
            })?,
        };
        let mut out_dims = x.dims().to_vec();
        *out_dims.last_mut().expect("x has rank >= 1") = out_f;
        y.reshape(out_dims)
    }

    fn detached(&self) -> Self {
        match self {
            BaseWeight::Dense(w) => BaseWeight::Dense(w.detach()),
            nf4 => nf4.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct AdapterLinear {
    base: BaseWeight,
    bias: Option<Tensor>,
    adapter: Option<Adapter>,
    /// The base weight from before `merge`, restored by `unmerge`.
    unmerged: Option<BaseWeight>,
}

impl AdapterLinear {
    /// `weight` is (out, in) as in PyTorch; `bias` is (out).
    pub fn new(weight: Tensor, bias: Option<Tensor>) -> Self {
        Self {
            base: BaseWeight::Dense(weight),
            bias,
            adapter: None,
            unmerged: None,
        }
    }

    pub fn adapter(&self) -> Option<&Adapter> {
        self.adapter.as_ref()
    }

    pub fn adapter_mut(&mut self) -> Option<&mut Adapter> {
        self.adapter.as_mut()
    }

    pub fn set_adapter(&mut self, adapter: Option<Adapter>) {
        self.adapter = adapter;
        self.unmerged = None;
    }

    pub fn is_merged(&self) -> bool {
        self.unmerged.is_some()
    }

    pub fn base(&self) -> &BaseWeight {
        &self.base
    }

    pub fn is_quantized(&self) -> bool {
        matches!(self.base, BaseWeight::Nf4 { .. })
    }

    /// Stores a frozen dense base weight in `dtype` (QLoRA's BF16 tables);
    /// the matmul casts it back a block at a time.
    pub fn cast_frozen_base(&mut self, dtype: DType) -> Result<()> {
        if let BaseWeight::Dense(w) = &self.base {
            if !w.is_variable() {
                self.base = BaseWeight::Dense(w.to_dtype(dtype)?);
            }
        }
        Ok(())
    }

    /// Stores the base weight in NF4 (QLoRA); the dense copy is dropped.
    pub fn quantize_nf4(&mut self, double_quant: bool) -> anyhow::Result<()> {
        if let BaseWeight::Dense(w) = &self.base {
            let dtype = w.dtype();
            let data: Vec<f32> = w.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
            let q = Nf4::quantize(&data, w.dims(), double_quant)?;
            self.base = BaseWeight::Nf4 {
                q: Arc::new(q),
                dtype,
            };
        }
        Ok(())
    }

    /// Folds the adapter into the base weight; the adapter branch then stays
    /// off. An NF4 base is dequantized first: the merged weight is dense.
    pub fn merge(&mut self) -> anyhow::Result<()> {
        let Some(adapter) = &self.adapter else {
            return Ok(());
        };
        if self.unmerged.is_none() {
            if self.is_quantized() {
                eprintln!("warning: merging into an NF4 base dequantizes it; the merged weight is dense F32");
            }
            let merged = adapter.merged_weight(&self.base.dense()?.detach())?;
            self.unmerged = Some(std::mem::replace(&mut self.base, BaseWeight::Dense(merged)));
        }
        Ok(())
    }

    /// Restores the base weight exactly and switches the adapter branch back on.
    pub fn unmerge(&mut self) {
        if let Some(w) = self.unmerged.take() {
            self.base = w;
        }
    }

    /// The same layer, recording no graph and with dropout off (evaluation, sampling).
    pub fn detached(&self) -> Self {
        Self {
            base: self.base.detached(),
            bias: self.bias.as_ref().map(Tensor::detach),
            adapter: self.adapter.as_ref().map(Adapter::detached),
            unmerged: self.unmerged.as_ref().map(BaseWeight::detached),
        }
    }

    /// The base weight, dense (dequantized if stored in NF4).
    pub fn weight(&self) -> Result<Tensor> {
        self.base.dense()
    }

    pub fn bias(&self) -> Option<&Tensor> {
        self.bias.as_ref()
    }

    /// The dense base weight, to train or replace; `None` when quantized.
    pub fn weight_mut(&mut self) -> Option<&mut Tensor> {
        match &mut self.base {
            BaseWeight::Dense(w) => Some(w),
            BaseWeight::Nf4 { .. } => None,
        }
    }

    pub fn bias_mut(&mut self) -> Option<&mut Tensor> {
        self.bias.as_mut()
    }

    pub fn in_features(&self) -> usize {
        self.base.dims().1
    }

    pub fn out_features(&self) -> usize {
        self.base.dims().0
    }

    /// x: (..., in) → (..., out).
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut y = self.base.matmul(x)?;
        if let (Some(adapter), false) = (&self.adapter, self.is_merged()) {
            y = adapter
                .forward(x, &y, &self.base)
                .map_err(candle_core::Error::wrap)?;
        }
        match &self.bias {
            Some(b) => y.broadcast_add(b),
            None => Ok(y),
        }
    }
}

/// x · Wᵀ with a dense W, taking the frozen op unless W is trained.
pub fn base_matmul(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    BaseWeight::Dense(w.clone()).matmul(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    #[test]
    fn frozen_op_matches_plain_matmul_and_skips_weight_grad() -> Result<()> {
        let dev = Device::Cpu;
        let w = Tensor::randn(0f32, 1., (5, 3), &dev)?;
        let x = Var::randn(0f32, 1., (2, 4, 3), &dev)?;
        let lin = AdapterLinear::new(w.clone(), None);
        let y = lin.forward(x.as_tensor())?;
        let want = x.as_tensor().broadcast_matmul(&w.t()?)?;
        let diff = (y.clone() - want)?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(diff < 1e-5, "{diff}");
        let grads = y.sum_all()?.backward()?;
        assert!(grads.get(&w).is_none(), "a frozen weight must get no gradient");
        let gx = grads.get(x.as_tensor()).expect("dX");
        // d(sum(x Wᵀ))/dx = 1 · W, i.e. the column sums of W for every row.
        let want = w.sum_keepdim(0)?.broadcast_as((2, 4, 3))?;
        let diff = (gx - want)?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(diff < 1e-5, "{diff}");
        assert_eq!(gx.dtype(), DType::F32);
        Ok(())
    }
}
