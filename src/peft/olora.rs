//! OLoRA (Büyükakyüz 2024, arXiv:2406.01775): start the adapter on an
//! orthonormal basis of W from its QR decomposition, W = Q·R, with
//! B = Q[:, :r] and A = R[:r], and freeze the rest, W − s·B·A (PEFT's
//! `init_lora_weights = "olora"`).

use super::pissa::{factors_and_residual, to_mat};
use anyhow::{bail, Result};
use candle_core::Tensor;

/// (A (r × in), B (out × r), W_res (out × in)) with W_res + s·B·A = W.
pub fn decompose(w: &Tensor, rank: usize, scaling: f64) -> Result<(Tensor, Tensor, Tensor)> {
    let (out_f, in_f) = w.dims2()?;
    if rank > out_f.min(in_f) {
        bail!(
            "OLoRA rank {rank} exceeds the weight's smaller side ({})",
            out_f.min(in_f)
        );
    }
    let qr = to_mat(w)?.qr();
    let (q, r) = (qr.compute_thin_Q(), qr.thin_R());
    factors_and_residual(w, rank, scaling, |i, j| r[(i, j)], |i, j| q[(i, j)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn max_abs(t: &Tensor) -> f32 {
        t.abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap()
    }

    #[test]
    fn factors_are_orthonormal_and_triangular_and_rebuild_the_weight() {
        let w = Tensor::randn(0f32, 1., (40, 24), &Device::Cpu).unwrap();
        let (a, b, res) = decompose(&w, 5, 2.0).unwrap();
        let back = (&res + (b.matmul(&a).unwrap() * 2.0).unwrap()).unwrap();
        assert!(max_abs(&(back - &w).unwrap()) < 1e-4);
        // Bᵀ·B = I: the columns of Q.
        let gram = b.t().unwrap().matmul(&b).unwrap();
        let eye = Tensor::eye(5, candle_core::DType::F32, &Device::Cpu).unwrap();
        assert!(max_abs(&(gram - eye).unwrap()) < 1e-5);
        // R is upper triangular, so A[i][j] = 0 below the diagonal.
        let a: Vec<Vec<f32>> = a.to_vec2().unwrap();
        for (i, row) in a.iter().enumerate() {
            assert!(row[..i].iter().all(|v| v.abs() < 1e-6), "row {i}: {row:?}");
            assert!(row[i].abs() > 1e-3);
        }
        // The first r columns of W lie in span(B): W[:, :r] = B·A[:, :r].
        let head = b
            .matmul(&Tensor::new(a, &Device::Cpu).unwrap())
            .unwrap()
            .narrow(1, 0, 5)
            .unwrap();
        assert!(max_abs(&(head - w.narrow(1, 0, 5).unwrap()).unwrap()) < 1e-4);
        assert!(decompose(&w, 25, 1.0).is_err());
    }
}
