//! A frozen output projection and the cross-entropy as one op. The
//! (tokens × vocab) logits are the largest activation of a training step
//! (Qwen2.5's vocabulary has 151,936 entries); here they never exist whole.
//! The vocabulary is walked in blocks with a running (online) softmax, as
//! flash attention walks its keys: per row, the running max, the running
//! sum of exp(logit − max), and Σ exp(logit − max)·W_v, rescaled whenever
//! the max grows. The gradient with respect to the hidden states,
//! softmax·W − W[target], is then ready when the forward ends; it is linear
//! in the upstream gradient, so the backward only scales it row by row.
//! Each block of the weight is cast to the hidden states' dtype as it is
//! used, so the table may be stored in BF16 (QLoRA) at no extra memory.

use crate::model::frozen_matmul::cast_row_blocks;
use candle_core::{CpuStorage, CustomOp1, Device, Layout, Result, Shape, Tensor, WithDType};
use num_traits::Float;
use rayon::prelude::*;
use std::ops::{AddAssign, DivAssign, SubAssign};
use std::sync::Mutex;

/// Logits held at once, in elements: 4M F32 logits are 16 MB.
const LOGITS_BUDGET: usize = 1 << 22;
/// The smallest vocabulary block, so that many rows still get an efficient matmul.
const MIN_BLOCK: usize = 256;

/// Per-row −log softmax(hidden·Wᵀ)[target]: hidden (n, h), a frozen
/// weight (vocab, h) of any float dtype, targets (n) u32 → (n). Gradients
/// reach `hidden` only.
pub fn linear_cross_entropy_rows(hidden: &Tensor, weight: &Tensor, targets: &Tensor) -> Result<Tensor> {
    let block = (LOGITS_BUDGET / hidden.dim(0)?.max(1)).max(MIN_BLOCK);
    in_blocks(hidden, weight, targets, block)
}

fn in_blocks(hidden: &Tensor, weight: &Tensor, targets: &Tensor, block: usize) -> Result<Tensor> {
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
        block,
        grad_hidden: Mutex::new(None),
    })
}

trait Elem: WithDType + Float + AddAssign + SubAssign + DivAssign + Send + Sync {}
impl<T: WithDType + Float + AddAssign + SubAssign + DivAssign + Send + Sync> Elem for T {}

struct LinearCrossEntropy {
    weight: Tensor,
    targets: Vec<u32>,
    /// Vocabulary rows per block.
    block: usize,
    /// d loss_i / d hidden_i, filled by the forward.
    grad_hidden: Mutex<Option<Tensor>>,
}

/// One row's running softmax statistics.
#[derive(Clone, Copy)]
struct Running<T> {
    max: T,
    sum: T,
    target_logit: T,
}

/// Folds one block of a row's logits into its statistics: the logits become
/// exp(logit − new max) in place. Returns the factor that rescales what was
/// accumulated under the old max.
fn fold_block<T: Elem>(row: &mut [T], first: usize, target: usize, run: &mut Running<T>) -> T {
    if (first..first + row.len()).contains(&target) {
        run.target_logit = row[target - first];
    }
    let max = row.iter().copied().fold(run.max, Float::max);
    let mut sum = T::zero();
    for x in row.iter_mut() {
        *x = (*x - max).exp();
        sum += *x;
    }
    // exp(−∞) = 0 for the first block.
    let rescale = (run.max - max).exp();
    run.sum = run.sum * rescale + sum;
    run.max = max;
    rescale
}

impl LinearCrossEntropy {
    fn run<T: Elem>(&self, hidden: &[T], n: usize, h: usize) -> Result<Vec<T>> {
        let dev = &Device::Cpu;
        let hidden = Tensor::from_slice(hidden, (n, h), dev)?;
        let start = Running {
            max: T::neg_infinity(),
            sum: T::zero(),
            target_logit: T::zero(),
        };
        let mut runs = vec![start; n];
        // Σ_v exp(logit_v − max)·W_v per row, (n, h).
        let mut weighted = Tensor::zeros((n, h), T::DTYPE, dev)?;
        for block in cast_row_blocks(&self.weight, self.block, T::DTYPE) {
            let (first, w) = block?;
            let len = w.dim(0)?;
            let mut p: Vec<T> = hidden.matmul(&w.t()?)?.flatten_all()?.to_vec1()?;
            let rescale: Vec<T> = p
                .par_chunks_mut(len)
                .zip(runs.par_iter_mut())
                .zip(self.targets.par_iter())
                .map(|((row, run), &t)| fold_block(row, first, t as usize, run))
                .collect();
            let p = Tensor::from_vec(p, (n, len), dev)?;
            weighted = (weighted.broadcast_mul(&Tensor::from_vec(rescale, (n, 1), dev)?)? + p.matmul(&w)?)?;
        }
        let sums: Vec<T> = runs.iter().map(|r| r.sum).collect();
        let ids = Tensor::new(self.targets.as_slice(), dev)?;
        let target_rows = self.weight.index_select(&ids, 0)?.to_dtype(T::DTYPE)?;
        let grad = (weighted.broadcast_div(&Tensor::from_vec(sums, (n, 1), dev)?)? - target_rows)?;
        *self.grad_hidden.lock().expect("not poisoned") = Some(grad);
        Ok(runs.iter().map(|r| r.max + r.sum.ln() - r.target_logit).collect())
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
        let (n, h, vocab) = (45, 12, 40);
        // Large logits, so a block's max often beats the running one.
        let hidden = Var::from_tensor(&Tensor::randn(0f64, 4.0, (n, h), &dev)?)?;
        let w = Tensor::randn(0f64, 1.0, (vocab, h), &dev)?;
        let targets: Vec<u32> = (0..n as u32).map(|i| (i * 7) % vocab as u32).collect();
        let targets = Tensor::new(targets.as_slice(), &dev)?;
        let weights = Tensor::randn(0f64, 1.0, n, &dev)?;
        let plain =
            (cross_entropy_rows(&hidden.as_tensor().matmul(&w.t()?)?, &targets)? * &weights)?.sum_all()?;
        let p = plain.to_scalar::<f64>()?;
        let gp = plain.backward()?.get(hidden.as_tensor()).unwrap().clone();
        // Uneven blocks, one block exactly, and one block larger than the vocabulary.
        for block in [7, 40, 64] {
            let fused = (in_blocks(hidden.as_tensor(), &w, &targets, block)? * &weights)?.sum_all()?;
            let f = fused.to_scalar::<f64>()?;
            assert!((f - p).abs() < 1e-10 * p.abs(), "block {block}: {f} vs {p}");
            let gf = fused.backward()?.get(hidden.as_tensor()).unwrap().clone();
            let diff = (gf - &gp)?.abs()?.max_all()?.to_scalar::<f64>()?;
            assert!(diff < 1e-10, "block {block}: gradient differs by {diff}");
        }
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

    #[test]
    fn a_bf16_weight_is_used_at_its_stored_precision() -> Result<()> {
        let dev = Device::Cpu;
        let (n, h, vocab) = (9, 16, 50);
        let hidden = Var::from_tensor(&Tensor::randn(0f32, 1.0, (n, h), &dev)?)?;
        let w16 = Tensor::randn(0f32, 1.0, (vocab, h), &dev)?.to_dtype(DType::BF16)?;
        let w32 = w16.to_dtype(DType::F32)?;
        let targets = Tensor::new(&[3u32, 49, 0, 7, 7, 21, 30, 1, 12], &dev)?;
        let from16 = in_blocks(hidden.as_tensor(), &w16, &targets, 16)?;
        let from32 = in_blocks(hidden.as_tensor(), &w32, &targets, 16)?;
        let diff = (&from16 - &from32)?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert_eq!(diff, 0.0, "the same F32 arithmetic on the same values");
        let grad = |loss: &Tensor| -> Result<Tensor> {
            Ok(loss
                .sum_all()?
                .backward()?
                .get(hidden.as_tensor())
                .unwrap()
                .clone())
        };
        let diff = (grad(&from16)? - grad(&from32)?)?.abs()?.max_all()?;
        assert_eq!(diff.to_scalar::<f32>()?, 0.0);
        Ok(())
    }
}
