//! y = x · Wᵀ for weights nobody trains, as custom ops whose backward returns
//! only dX = dY · W. candle's own matmul backward would also compute (and
//! keep) a weight-sized gradient. The NF4 form dequantizes W in the forward
//! and again in the backward, so no dense copy outlives either pass.

use crate::quant::nf4::Nf4;
use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, DType, Device, Layout, Result, Shape, Storage, Tensor};
use std::sync::Arc;

/// x (m, k) · W (n, k)ᵀ on CPU storages.
fn cpu_matmul(
    x: &CpuStorage,
    x_layout: &Layout,
    w: &CpuStorage,
    w_layout: &Layout,
) -> Result<(CpuStorage, Shape)> {
    let (m, k) = x_layout.shape().dims2()?;
    let (n, k2) = w_layout.shape().dims2()?;
    if k != k2 {
        candle_core::bail!("frozen matmul: input has {k} features, weight expects {k2}");
    }
    let y = x.matmul(w, (1, m, n, k), x_layout, &w_layout.transpose(0, 1)?)?;
    Ok((y, Shape::from((m, n))))
}

pub struct FrozenMatmul {
    pub weight: Tensor,
}

impl CustomOp1 for FrozenMatmul {
    fn name(&self) -> &'static str {
        "frozen-matmul"
    }

    fn cpu_fwd(&self, x: &CpuStorage, x_layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let (w_storage, w_layout) = self.weight.storage_and_layout();
        let Storage::Cpu(w) = &*w_storage else {
            candle_core::bail!("frozen-matmul: weight is not on the CPU");
        };
        cpu_matmul(x, x_layout, w, w_layout)
    }

    fn bwd(&self, _x: &Tensor, _y: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(grad.matmul(&self.weight)?))
    }
}

pub struct FrozenNf4Matmul {
    pub weight: Arc<Nf4>,
    pub dtype: DType,
}

/// The dequantized weight as a tensor of `dtype`.
pub fn dequantize(q: &Nf4, dtype: DType) -> Result<Tensor> {
    Tensor::from_vec(q.dequantize(), q.shape.as_slice(), &Device::Cpu)?.to_dtype(dtype)
}

impl CustomOp1 for FrozenNf4Matmul {
    fn name(&self) -> &'static str {
        "frozen-nf4-matmul"
    }

    fn cpu_fwd(&self, x: &CpuStorage, x_layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let w = dequantize(&self.weight, self.dtype)?;
        let (w_storage, w_layout) = w.storage_and_layout();
        let Storage::Cpu(w) = &*w_storage else {
            unreachable!("created on the CPU")
        };
        cpu_matmul(x, x_layout, w, w_layout)
    }

    fn bwd(&self, _x: &Tensor, _y: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(grad.matmul(&dequantize(&self.weight, self.dtype)?)?))
    }
}
