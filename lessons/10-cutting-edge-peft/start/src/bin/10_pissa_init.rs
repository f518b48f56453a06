//! Lesson 10 · PiSSA's start from the principal singular vectors
//!
//! PiSSA (Meng et al. 2024, arXiv 2404.02948) starts the adapter on the part
//! of W that matters most instead of at zero. With W = U·diag(S)·Vᵀ and the
//! r largest singular values first:
//!
//!     A = diag(√S_r)·Vᵀ_r               [r, in]   (first r rows of Vᵀ)
//!     B = U_r·diag(√S_r)                [out, r]  (first r columns of U)
//!     W_res = W − B·A                   [out, in] (the frozen residual)
//!
//! so W_res + B·A is W again, and training starts from the model as it was.
//! (PEFT first divides S_r by the scale s = α/r so that s·B·A is still the
//! principal part; here α = r, so s = 1.)
//!
//! The runner hands you the SVD's pieces, U [out, k], S [k] and Vᵀ [k, in],
//! largest values first; build W = U·diag(S)·Vᵀ from them yourself. S comes
//! as whole numbers (u32): convert it to F32 first (`to_dtype`).
//! The rank r is a constant below.
//!
//! Outputs: `a`, `b` and `w_res`.
//!
//! Candle ops you need: `narrow(dim, start, len)`, `sqrt`, `unsqueeze`,
//! `broadcast_mul`, `matmul`, `(x - y)?`.
//!
//! `tunelings check 10_pissa_init` compares all three with the reference.

use tunelings::exercise::{self, DType, Io, Result, Tensor};

const RANK: usize = 2;

/// Returns (a, b, w_res).
fn pissa_init(u: &Tensor, s: &Tensor, vt: &Tensor) -> Result<(Tensor, Tensor, Tensor)> {
    let _ = (u, s, vt, RANK, DType::F32);
    todo!("W from its SVD, then A and B from the top-r singular triplets, then the residual")
}

fn main() -> std::process::ExitCode {
    exercise::run(|io: &Io| {
        let (a, b, w_res) = pissa_init(io.tensor("u")?, io.tensor("s")?, io.tensor("vt")?)?;
        Ok(vec![("a", a), ("b", b), ("w_res", w_res)])
    })
}
