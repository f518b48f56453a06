//! A frozen output projection and the cross-entropy as one op, a chunk of
//! rows at a time. The (tokens × vocab) logits are the largest activation
//! of a training step (Qwen2.5's vocabulary has 151,936 entries); here they
//! never exist whole. Each chunk's gradient with respect to the hidden
//! states is computed while its logits are at hand, since it is linear in
//! the upstream gradient: the backward only scales it row by row.

use candle_core::{CpuStorage, CustomOp1, Device, Layout, Result, Shape, Tensor, WithDType};
use num_traits::Float;
use rayon::prelude::*;
use std::ops::{AddAssign, DivAssign, SubAssign};
use std::sync::Mutex;

/// Rows per chunk: 32 × 151,936 F32 logits are 19 MB.
const CHUNK: usize = 32;

/// Per-row −log softmax(hidden·Wᵀ)[target]: hidden (n, h), a frozen
/// weight (vocab, h), targets (n) u32 → (n). Gradients reach `hidden` only.
pub fn linear_cross_entropy_rows(hidden: &Tensor, weight: &Tensor, targets: &Tensor) -> Result<Tensor> {
    let targets: Vec<u32> = targets.to_vec1()?;
    let (n, h) = hidden.dims2()?;
    let (vocab, hw) = weight.dims2()?;
    if h != hw || targets.len() != n {
        candle_core::bail!(
            "linear cross-entropy: hidden {:?}, weight {:?}, {} targets",
            hidden.dims(),
            weight.dims(),
            targets.len()
        );
    }
    if let Some(&bad) = targets.iter().find(|&&t| t as usize >= vocab) {
        candle_core::bail!("cross-entropy: target {bad} is outside the vocabulary of {vocab}");
    }
    hidden.contiguous()?.apply_op1(LinearCrossEntropy {
        weight: weight.detach(),
        targets,
        grad_hidden: Mutex::new(None),
    })
}

trait Elem: WithDType + Float + AddAssign + SubAssign + DivAssign + Send + Sync {}
impl<T: WithDType + Float + AddAssign + SubAssign + DivAssign + Send + Sync> Elem for T {}

struct LinearCrossEntropy {
    weight: Tensor,
    targets: Vec<u32>,
    /// d loss_i / d hidden_i, filled by the forward.
    grad_hidden: Mutex<Option<Tensor>>,
}

/// Turns each logits row into softmax − onehot(target) in place and returns
/// the row losses.
fn loss_and_grad_rows<T: Elem>(logits: &mut [T], vocab: usize, targets: &[u32]) -> Vec<T> {
    logits
        .par_chunks_mut(vocab)
        .zip(targets.par_iter())
        .map(|(row, &t)| {
            let max = row.iter().copied().fold(T::neg_infinity(), Float::max);
            let mut sum = T::zero();
            for x in row.iter_mut() {
                *x = (*x - max).exp();
                sum += *x;
            }
            let target_p = row[t as usize] / sum;
            for x in row.iter_mut() {
                *x /= sum;
            }
            row[t as usize] -= T::one();
            -target_p.ln()
        })
        .collect()
}

impl LinearCrossEntropy {
    fn run<T: Elem>(&self, hidden: &[T], n: usize, h: usize) -> Result<Vec<T>> {
        let hidden = Tensor::from_slice(hidden, (n, h), &Device::Cpu)?;
        let w_t = self.weight.t()?;
        let vocab = self.weight.dim(0)?;
        let mut losses = Vec::with_capacity(n);
        let mut grads = Vec::new();
        for start in (0..n).step_by(CHUNK) {
            let len = CHUNK.min(n - start);
            let mut data: Vec<T> = hidden
                .narrow(0, start, len)?
                .matmul(&w_t)?
                .flatten_all()?
                .to_vec1()?;
            losses.extend(loss_and_grad_rows(
                &mut data,
                vocab,
                &self.targets[start..start + len],
            ));
            let d_logits = Tensor::from_vec(data, (len, vocab), &Device::Cpu)?;
            grads.push(d_logits.matmul(&self.weight)?);
        }
        *self.grad_hidden.lock().expect("not poisoned") = Some(Tensor::cat(&grads, 0)?);
        Ok(losses)
    }
}

impl CustomOp1 for LinearCrossEntropy {
    fn name(&self) -> &'static str {
        "linear-cross-entropy"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (n, h) = l.shape().dims2()?;
        let (start, end) = l
            .contiguous_offsets()
            .ok_or_else(|| candle_core::Error::Msg("linear cross-entropy needs contiguous input".into()))?;
        let out = match s {
            CpuStorage::F32(v) => CpuStorage::F32(self.run(&v[start..end], n, h)?),
            CpuStorage::F64(v) => CpuStorage::F64(self.run(&v[start..end], n, h)?),
            _ => candle_core::bail!("linear cross-entropy: hidden states must be F32 or F64"),
        };
        Ok((out, Shape::from(n)))
    }

    fn bwd(&self, _hidden: &Tensor, _loss: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let guard = self.grad_hidden.lock().expect("not poisoned");
        let d = guard
            .as_ref()
            .ok_or_else(|| candle_core::Error::Msg("linear cross-entropy: no forward ran".into()))?;
        Ok(Some(d.broadcast_mul(&grad.unsqueeze(1)?)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::cross_entropy::cross_entropy_rows;
    use candle_core::{DType, Var};

    #[test]
    fn equals_projection_then_cross_entropy_in_value_and_gradient() -> Result<()> {
        let dev = Device::Cpu;
        // More rows than a chunk, so chunk boundaries are crossed.
        let (n, h, vocab) = (CHUNK + 13, 12, 40);
        let hidden = Var::from_tensor(&Tensor::randn(0f64, 1.0, (n, h), &dev)?)?;
        let w = Tensor::randn(0f64, 1.0, (vocab, h), &dev)?;
        let targets: Vec<u32> = (0..n as u32).map(|i| (i * 7) % vocab as u32).collect();
        let targets = Tensor::new(targets.as_slice(), &dev)?;
        let weights = Tensor::randn(0f64, 1.0, n, &dev)?;
        let fused = (linear_cross_entropy_rows(hidden.as_tensor(), &w, &targets)? * &weights)?.sum_all()?;
        let plain =
            (cross_entropy_rows(&hidden.as_tensor().matmul(&w.t()?)?, &targets)? * &weights)?.sum_all()?;
        let (f, p) = (fused.to_scalar::<f64>()?, plain.to_scalar::<f64>()?);
        assert!((f - p).abs() < 1e-10 * p.abs(), "{f} vs {p}");
        let gf = fused.backward()?.get(hidden.as_tensor()).unwrap().clone();
        let gp = plain.backward()?.get(hidden.as_tensor()).unwrap().clone();
        let diff = (gf - gp)?.abs()?.max_all()?.to_scalar::<f64>()?;
        assert!(diff < 1e-10, "gradient differs by {diff}");
        // F32 too, and bad targets are errors.
        let h32 = hidden.as_tensor().to_dtype(DType::F32)?;
        let w32 = w.to_dtype(DType::F32)?;
        let l32 = linear_cross_entropy_rows(&h32, &w32, &targets)?
            .sum_all()?
            .to_scalar::<f32>()?;
        let u = cross_entropy_rows(&h32.matmul(&w32.t()?)?, &targets)?
            .sum_all()?
            .to_scalar::<f32>()?;
        assert!((l32 - u).abs() < 1e-4 * u.abs());
        assert!(linear_cross_entropy_rows(&h32, &w32, &Tensor::new(&[vocab as u32], &dev)?).is_err());
        Ok(())
    }
}
