//! PiSSA: start the adapter on the principal singular directions of W and
//! train those, leaving the residual W_res = W − s·B·A frozen (PEFT's
//! `init_lora_weights = "pissa"` / `"pissa_niter_N"`). candle has no SVD;
//! faer does it.

use crate::model::random::normal_vec;
use anyhow::{bail, Result};
use candle_core::{Device, Tensor};
use faer::Mat;
use rand::rngs::StdRng;
use rand::SeedableRng;

/// The top-r singular triplets of W (out × in): U (out × r), S (r), V (in × r).
struct Triplets {
    u: Mat<f64>,
    s: Vec<f64>,
    v: Mat<f64>,
}

pub(super) fn to_mat(w: &Tensor) -> Result<Mat<f64>> {
    let rows: Vec<Vec<f32>> = w.to_dtype(candle_core::DType::F32)?.to_vec2()?;
    Ok(Mat::from_fn(rows.len(), rows[0].len(), |i, j| rows[i][j] as f64))
}

fn exact(w: &Mat<f64>, r: usize) -> Result<Triplets> {
    let svd = w
        .thin_svd()
        .map_err(|e| anyhow::anyhow!("SVD did not converge: {e:?}"))?;
    let s = svd.S().column_vector();
    Ok(Triplets {
        u: svd.U().subcols(0, r).to_owned(),
        s: (0..r).map(|i| s[i]).collect(),
        v: svd.V().subcols(0, r).to_owned(),
    })
}

fn thin_q(m: &Mat<f64>) -> Mat<f64> {
    m.qr().compute_thin_Q()
}

/// Halko's randomized SVD with `niter` subspace iterations, as torch.svd_lowrank(q = r).
fn randomized(w: &Mat<f64>, r: usize, niter: usize, seed: u64) -> Result<Triplets> {
    let (_, n) = (w.nrows(), w.ncols());
    let mut rng = StdRng::seed_from_u64(seed);
    let omega_data = normal_vec(&mut rng, n * r, 0.0, 1.0);
    let omega = Mat::from_fn(n, r, |i, j| omega_data[i * r + j] as f64);
    let mut q = thin_q(&(w * &omega));
    for _ in 0..niter {
        let z = thin_q(&(w.transpose() * &q));
        q = thin_q(&(w * &z));
    }
    let small = q.transpose() * w; // r × in
    let svd = small
        .thin_svd()
        .map_err(|e| anyhow::anyhow!("SVD did not converge: {e:?}"))?;
    let s = svd.S().column_vector();
    Ok(Triplets {
        u: &q * svd.U(),
        s: (0..r).map(|i| s[i]).collect(),
        v: svd.V().to_owned(),
    })
}

/// (A (r × in), B (out × r), W_res (out × in)) with W_res + s·B·A = W.
pub fn decompose(
    w: &Tensor,
    rank: usize,
    scaling: f64,
    niter: Option<usize>,
    seed: u64,
) -> Result<(Tensor, Tensor, Tensor)> {
    let (out_f, in_f) = w.dims2()?;
    if rank > out_f.min(in_f) {
        bail!(
            "PiSSA rank {rank} exceeds the weight's smaller side ({})",
            out_f.min(in_f)
        );
    }
    let m = to_mat(w)?;
    let t = match niter {
        None => exact(&m, rank)?,
        Some(n) => randomized(&m, rank, n, seed)?,
    };
    let root: Vec<f64> = t.s.iter().map(|s| (s / scaling).sqrt()).collect();
    factors_and_residual(
        w,
        rank,
        scaling,
        |i, j| root[i] * t.v[(j, i)],
        |i, j| t.u[(i, j)] * root[j],
    )
}

/// A (r × in) and B (out × r) from their entries, in W's dtype, and the
/// residual W − s·B·A that stays frozen.
pub(super) fn factors_and_residual(
    w: &Tensor,
    rank: usize,
    scaling: f64,
    a_at: impl Fn(usize, usize) -> f64,
    b_at: impl Fn(usize, usize) -> f64,
) -> Result<(Tensor, Tensor, Tensor)> {
    let (out_f, in_f) = w.dims2()?;
    let a: Vec<f32> = (0..rank * in_f)
        .map(|k| a_at(k / in_f, k % in_f) as f32)
        .collect();
    let b: Vec<f32> = (0..out_f * rank)
        .map(|k| b_at(k / rank, k % rank) as f32)
        .collect();
    let dtype = w.dtype();
    let a = Tensor::from_vec(a, (rank, in_f), &Device::Cpu)?.to_dtype(dtype)?;
    let b = Tensor::from_vec(b, (out_f, rank), &Device::Cpu)?.to_dtype(dtype)?;
    let residual = (w - (b.matmul(&a)? * scaling)?)?;
    Ok((a, b, residual))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(a: &Tensor, b: &Tensor) -> f32 {
        let num = (a - b)
            .unwrap()
            .sqr()
            .unwrap()
            .sum_all()
            .unwrap()
            .sqrt()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        num / b
            .sqr()
            .unwrap()
            .sum_all()
            .unwrap()
            .sqrt()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    }

    #[test]
    fn residual_plus_adapter_is_the_weight_and_the_adapter_is_principal() {
        let w = Tensor::randn(0f32, 1., (48, 32), &Device::Cpu).unwrap();
        for niter in [None, Some(4)] {
            let (a, b, res) = decompose(&w, 6, 2.0, niter, 1).unwrap();
            let back = (&res + (b.matmul(&a).unwrap() * 2.0).unwrap()).unwrap();
            assert!(rel(&back, &w) < 1e-4, "{niter:?}");
            // s·B·A is the best rank-6 approximation: its error is below a random rank-6 part's.
            let lowrank = (b.matmul(&a).unwrap() * 2.0).unwrap();
            assert!(rel(&lowrank, &w) < 0.9);
        }
        // A weight with a clear rank-6 part plus noise, where the randomized SVD must find it.
        let x = Tensor::randn(0f32, 1., (48, 6), &Device::Cpu).unwrap();
        let y = Tensor::randn(0f32, 1., (6, 32), &Device::Cpu).unwrap();
        let noise = Tensor::randn(0f32, 0.05, (48, 32), &Device::Cpu).unwrap();
        let w = (x.matmul(&y).unwrap() + noise).unwrap();
        let (a_exact, b_exact, _) = decompose(&w, 6, 2.0, None, 0).unwrap();
        let (a_rand, b_rand, _) = decompose(&w, 6, 2.0, Some(4), 0).unwrap();
        let e = b_exact.matmul(&a_exact).unwrap();
        let r = b_rand.matmul(&a_rand).unwrap();
        assert!(
            rel(&r, &e) < 1e-2,
            "randomized SVD approximates the exact one: {}",
            rel(&r, &e)
        );
    }
}
