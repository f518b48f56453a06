//! y = x · Wᵀ for weights nobody trains, as custom ops whose backward returns
//! only dX = dY · W. candle's own matmul backward would also compute (and
//! keep) a weight-sized gradient. The NF4 form dequantizes W in the forward
//! and again in the backward, so no dense copy outlives either pass. A
//! weight stored in a narrower dtype than x (QLoRA's BF16 embedding table)
//! is cast a block of rows at a time, for the same reason.

use crate::quant::nf4::Nf4;
use candle_core::backend::{BackendDevice, BackendStorage};
use candle_core::cpu_backend::CpuDevice;
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
        if self.weight.dtype() != x.dtype() {
            return self.cast_in_blocks(x, x_layout);
        }
        let (w_storage, w_layout) = self.weight.storage_and_layout();
        let Storage::Cpu(w) = &*w_storage else {
            candle_core::bail!("frozen-matmul: weight is not on the CPU");
        };
        cpu_matmul(x, x_layout, w, w_layout)
    }

    fn bwd(&self, _x: &Tensor, _y: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        if self.weight.dtype() == grad.dtype() {
            return Ok(Some(grad.matmul(&self.weight)?));
        }
        // dX = Σ over row blocks of dY[:, block] · W[block].
        let mut dx: Option<Tensor> = None;
        for block in cast_row_blocks(&self.weight, CAST_BLOCK, grad.dtype()) {
            let (first, w) = block?;
            let part = grad.narrow(1, first, w.dim(0)?)?.contiguous()?.matmul(&w)?;
            dx = Some(match dx {
                None => part,
                Some(sum) => (sum + part)?,
            });
        }
        dx.map(Some)
            .ok_or_else(|| candle_core::Error::Msg("frozen-matmul: empty weight".into()))
    }
}

/// Rows of a narrower weight cast at once: 8192 × 896 F32 values are 29 MB.
const CAST_BLOCK: usize = 8192;

/// `weight`'s rows in blocks of `rows`, each cast to `dtype` only when it is
/// reached: (first row, block). A weight already in `dtype` is not copied.
pub fn cast_row_blocks(
    weight: &Tensor,
    rows: usize,
    dtype: DType,
) -> impl Iterator<Item = Result<(usize, Tensor)>> + '_ {
    let n = weight.dims().first().copied().unwrap_or(0);
    (0..n).step_by(rows.max(1)).map(move |first| {
        let len = rows.min(n - first);
        Ok((first, weight.narrow(0, first, len)?.to_dtype(dtype)?))
    })
}

impl FrozenMatmul {
    /// x · Wᵀ with W cast to x's dtype a block of rows (output columns) at a time.
    fn cast_in_blocks(&self, x: &CpuStorage, x_layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let m = x_layout.shape().dims2()?.0;
        let n = self.weight.dim(0)?;
        let mut out = CpuDevice.zeros_impl(&Shape::from((m, n)), x.dtype())?;
        for block in cast_row_blocks(&self.weight, CAST_BLOCK, x.dtype()) {
            let (first, w) = block?;
            let len = w.dim(0)?;
            let (w_storage, w_layout) = w.storage_and_layout();
            let Storage::Cpu(w) = &*w_storage else {
                candle_core::bail!("frozen-matmul: weight is not on the CPU");
            };
            let (y, _) = cpu_matmul(x, x_layout, w, w_layout)?;
            y.copy2d(&mut out, m, len, len, n, 0, first)?;
        }
        Ok((out, Shape::from((m, n))))
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

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Var;

    #[test]
    fn a_bf16_weight_is_cast_in_blocks_forward_and_backward() -> Result<()> {
        let dev = Device::Cpu;
        // Three blocks, the last one short.
        let n = 2 * CAST_BLOCK + 5;
        let w16 = Tensor::randn(0f32, 1.0, (n, 4), &dev)?.to_dtype(DType::BF16)?;
        let w32 = w16.to_dtype(DType::F32)?;
        let x = Var::randn(0f32, 1.0, (3, 4), &dev)?;
        let y = x.as_tensor().apply_op1(FrozenMatmul { weight: w16 })?;
        let want = x.as_tensor().matmul(&w32.t()?)?;
        assert_eq!(y.dims(), &[3, n]);
        let diff = (&y - &want)?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(diff < 1e-5, "forward differs by {diff}");
        let upstream = Tensor::randn(0f32, 1.0, (3, n), &dev)?;
        let dx = (y * &upstream)?.sum_all()?.backward()?;
        let dx = dx.get(x.as_tensor()).expect("dX");
        let diff = (dx - upstream.matmul(&w32)?)?
            .abs()?
            .max_all()?
            .to_scalar::<f32>()?;
        assert!(diff < 1e-3, "backward differs by {diff}");
        Ok(())
    }
}
