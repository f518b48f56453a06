//! Softmax cross-entropy as one fused, parallel op with its own backward.
//!
//! The composed form (log_softmax + gather) makes about a dozen passes over a
//! (tokens × vocab) tensor forward and back; this makes two each way.

use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor, WithDType};
use num_traits::Float;
use rayon::prelude::*;

/// Per-row −log softmax(logits)[target]: logits (n, vocab), targets (n) u32 → (n).
pub fn cross_entropy_rows(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    let targets: Vec<u32> = targets.to_vec1()?;
    let logits = logits.contiguous()?;
    let (n, vocab) = logits.dims2()?;
    if targets.len() != n {
        candle_core::bail!("cross-entropy: {} targets for {n} rows", targets.len());
    }
    if let Some(&bad) = targets.iter().find(|&&t| t as usize >= vocab) {
        candle_core::bail!("cross-entropy: target {bad} is outside the vocabulary of {vocab}");
    }
    logits.apply_op1(CrossEntropy { targets })
}

struct CrossEntropy {
    targets: Vec<u32>,
}

fn rows<'a, T: WithDType>(s: &'a CpuStorage, l: &Layout) -> Result<(&'a [T], usize)> {
    let (start, end) = l
        .contiguous_offsets()
        .ok_or_else(|| candle_core::Error::Msg("cross-entropy needs contiguous logits".into()))?;
    let (_, vocab) = l.shape().dims2()?;
    Ok((&s.as_slice::<T>()?[start..end], vocab))
}

fn log_sum_exp<T: Float>(row: &[T]) -> T {
    let max = row.iter().copied().fold(T::neg_infinity(), T::max);
    let sum = row.iter().fold(T::zero(), |acc, &x| acc + (x - max).exp());
    max + sum.ln()
}

fn forward<T: WithDType + Float + Send + Sync>(data: &[T], vocab: usize, targets: &[u32]) -> Vec<T> {
    data.par_chunks(vocab)
        .zip(targets.par_iter())
        .map(|(row, &t)| log_sum_exp(row) - row[t as usize])
        .collect()
}

/// d loss_i / d logits_ij = g_i · (softmax_ij − [j = target_i]).
fn backward<T: WithDType + Float + std::ops::SubAssign + Send + Sync>(
    data: &[T],
    vocab: usize,
    targets: &[u32],
    grad: &[T],
) -> Vec<T> {
    let mut out = vec![T::zero(); data.len()];
    out.par_chunks_mut(vocab)
        .zip(data.par_chunks(vocab))
        .zip(targets.par_iter().zip(grad.par_iter()))
        .for_each(|((o, row), (&t, &g))| {
            let lse = log_sum_exp(row);
            for (o, &x) in o.iter_mut().zip(row) {
                *o = g * (x - lse).exp();
            }
            o[t as usize] -= g;
        });
    out
}

impl CustomOp1 for CrossEntropy {
    fn name(&self) -> &'static str {
        "softmax-cross-entropy"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let n = self.targets.len();
        let out = match s {
            CpuStorage::F32(_) => {
                let (data, vocab) = rows::<f32>(s, l)?;
                CpuStorage::F32(forward(data, vocab, &self.targets))
            }
            CpuStorage::F64(_) => {
                let (data, vocab) = rows::<f64>(s, l)?;
                CpuStorage::F64(forward(data, vocab, &self.targets))
            }
            _ => candle_core::bail!("cross-entropy: logits must be F32 or F64"),
        };
        Ok((out, Shape::from(n)))
    }

    fn bwd(&self, logits: &Tensor, _loss: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let grad = logits.apply_op1_no_bwd(&CrossEntropyGrad {
            targets: &self.targets,
            grad: grad.clone(),
        })?;
        Ok(Some(grad))
    }
}

/// The backward as a forward op over the logits, carrying the upstream gradient.
struct CrossEntropyGrad<'a> {
    targets: &'a [u32],
    grad: Tensor,
}

impl CustomOp1 for CrossEntropyGrad<'_> {
    fn name(&self) -> &'static str {
        "softmax-cross-entropy-grad"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let out = match s {
            CpuStorage::F32(_) => {
                let (data, vocab) = rows::<f32>(s, l)?;
                CpuStorage::F32(backward(
                    data,
                    vocab,
                    self.targets,
                    &self.grad.to_dtype(candle_core::DType::F32)?.to_vec1()?,
                ))
            }
            CpuStorage::F64(_) => {
                let (data, vocab) = rows::<f64>(s, l)?;
                CpuStorage::F64(backward(
                    data,
                    vocab,
                    self.targets,
                    &self.grad.to_dtype(candle_core::DType::F64)?.to_vec1()?,
                ))
            }
            _ => candle_core::bail!("cross-entropy: logits must be F32 or F64"),
        };
        Ok((out, l.shape().clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var, D};

    #[test]
    fn matches_the_composed_form_and_finite_differences() -> Result<()> {
        let dev = Device::Cpu;
        let logits = Var::new(
            &[
                [0.3f64, -1.2, 2.0, 0.1],
                [1.5, 0.0, -0.5, 3.0],
                [0.0, 0.0, 0.0, 0.0],
            ],
            &dev,
        )?;
        let targets = Tensor::new(&[2u32, 0, 3], &dev)?;
        let w = Tensor::new(&[1.0f64, 2.0, 0.5], &dev)?;
        let fused = (cross_entropy_rows(logits.as_tensor(), &targets)? * &w)?.sum_all()?;
        let composed = {
            let lp = candle_nn::ops::log_softmax(logits.as_tensor(), D::Minus1)?;
            (lp.gather(&targets.unsqueeze(1)?, 1)?.squeeze(1)?.neg()? * &w)?.sum_all()?
        };
        assert!((fused.to_scalar::<f64>()? - composed.to_scalar::<f64>()?).abs() < 1e-12);
        let g_fused: Vec<Vec<f64>> = fused.backward()?.get(logits.as_tensor()).unwrap().to_vec2()?;
        let g_comp: Vec<Vec<f64>> = composed.backward()?.get(logits.as_tensor()).unwrap().to_vec2()?;
        let base: Vec<Vec<f64>> = logits.to_vec2()?;
        let eps = 1e-6;
        for i in 0..3 {
            for j in 0..4 {
                assert!((g_fused[i][j] - g_comp[i][j]).abs() < 1e-10);
                let at = |d: f64| -> Result<f64> {
                    let mut b = base.clone();
                    b[i][j] += d;
                    let t = Tensor::new(b, &dev)?;
                    (cross_entropy_rows(&t, &targets)? * &w)?
                        .sum_all()?
                        .to_scalar::<f64>()
                };
                let numeric = (at(eps)? - at(-eps)?) / (2.0 * eps);
                assert!(
                    (g_fused[i][j] - numeric).abs() < 1e-7,
                    "[{i}][{j}] {} vs {numeric}",
                    g_fused[i][j]
                );
            }
        }
        Ok(())
    }

    #[test]
    fn bad_targets_are_errors() {
        let logits = Tensor::zeros((2, 3), candle_core::DType::F32, &Device::Cpu).unwrap();
        assert!(cross_entropy_rows(&logits, &Tensor::new(&[0u32, 3], &Device::Cpu).unwrap()).is_err());
    }
}
