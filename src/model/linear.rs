//! The one linear layer every projection goes through.
//!
//! A frozen weight takes a custom op whose backward returns only dX: candle's
//! own matmul backward would also compute (and keep) a weight-sized gradient
//! for weights nobody trains. A trainable weight (a `Var`, in full fine-tuning)
//! takes the plain matmul so its gradient is recorded. Adapters (LoRA, DoRA)
//! add their branch on top of the base output.

use crate::peft::Adapter;
use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Storage, Tensor};

#[derive(Debug, Clone)]
pub struct AdapterLinear {
    weight: Tensor,
    bias: Option<Tensor>,
    adapter: Option<Adapter>,
    /// The base weight from before `merge`, restored by `unmerge`.
    unmerged: Option<Tensor>,
}

impl AdapterLinear {
    /// `weight` is (out, in) as in PyTorch; `bias` is (out).
    pub fn new(weight: Tensor, bias: Option<Tensor>) -> Self {
        Self {
            weight,
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

    /// Folds the adapter into the base weight; the adapter branch then stays off.
    pub fn merge(&mut self) -> anyhow::Result<()> {
        let Some(adapter) = &self.adapter else {
            return Ok(());
        };
        if self.unmerged.is_none() {
            let merged = adapter.merged_weight(&self.weight.detach())?;
            self.unmerged = Some(std::mem::replace(&mut self.weight, merged));
        }
        Ok(())
    }

    /// Restores the base weight exactly and switches the adapter branch back on.
    pub fn unmerge(&mut self) {
        if let Some(w) = self.unmerged.take() {
            self.weight = w;
        }
    }

    /// The same layer, recording no graph and with dropout off (evaluation, sampling).
    pub fn detached(&self) -> Self {
        Self {
            weight: self.weight.detach(),
            bias: self.bias.as_ref().map(Tensor::detach),
            adapter: self.adapter.as_ref().map(Adapter::detached),
            unmerged: self.unmerged.as_ref().map(Tensor::detach),
        }
    }

    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    pub fn bias(&self) -> Option<&Tensor> {
        self.bias.as_ref()
    }

    pub fn weight_mut(&mut self) -> &mut Tensor {
        &mut self.weight
    }

    pub fn bias_mut(&mut self) -> Option<&mut Tensor> {
        self.bias.as_mut()
    }

    pub fn in_features(&self) -> usize {
        self.weight.dims()[1]
    }

    pub fn out_features(&self) -> usize {
        self.weight.dims()[0]
    }

    /// x: (..., in) → (..., out).
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut y = base_matmul(x, &self.weight)?;
        if let (Some(adapter), false) = (&self.adapter, self.is_merged()) {
            y = adapter
                .forward(x, &y, &self.weight)
                .map_err(candle_core::Error::wrap)?;
        }
        match &self.bias {
            Some(b) => y.broadcast_add(b),
            None => Ok(y),
        }
    }
}

/// x · Wᵀ for x of any rank ≥ 1, choosing the frozen op when W is not trained.
pub fn base_matmul(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    let dims = x.dims();
    let (in_f, out_f) = (w.dims()[1], w.dims()[0]);
    let rows = x.elem_count() / in_f;
    let x2 = x.reshape((rows, in_f))?;
    let y = if w.is_variable() || w.track_op() {
        x2.matmul(&w.t()?)?
    } else {
        x2.apply_op1(FrozenMatmul { weight: w.clone() })?
    };
    let mut out_dims = dims.to_vec();
    *out_dims.last_mut().expect("x has rank >= 1") = out_f;
    y.reshape(out_dims)
}

/// y = x · Wᵀ with W a constant: the backward returns dX = dY · W only.
struct FrozenMatmul {
    weight: Tensor,
}

impl CustomOp1 for FrozenMatmul {
    fn name(&self) -> &'static str {
        "frozen-matmul"
    }

    fn cpu_fwd(&self, x: &CpuStorage, x_layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let (m, k) = x_layout.shape().dims2()?;
        let (n, k2) = self.weight.dims2()?;
        if k != k2 {
            candle_core::bail!("frozen-matmul: input has {k} features, weight expects {k2}");
        }
        let (w_storage, w_layout) = self.weight.storage_and_layout();
        let Storage::Cpu(w) = &*w_storage else {
            candle_core::bail!("frozen-matmul: weight is not on the CPU");
        };
        let wt = w_layout.transpose(0, 1)?;
        let y = x.matmul(w, (1, m, n, k), x_layout, &wt)?;
        Ok((y, Shape::from((m, n))))
    }

    fn bwd(&self, _x: &Tensor, _y: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(grad.matmul(&self.weight)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device, Var};

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
