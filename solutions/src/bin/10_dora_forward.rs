//! Lesson 10 · DoRA's decomposed forward
//!
//! DoRA (Liu et al. 2024, arXiv 2402.09353) splits each weight into a
//! direction and a magnitude. With the LoRA update folded in,
//!
//!     V = W + s·B·A                      (the adapted weight, [out, in])
//!     norm = ‖V‖ per output row          ([out]: the L2 norm over `in`)
//!     y = (m / norm) ⊙ (x·Vᵀ)            (scaled per output feature)
//!
//! where m [out] is the learned magnitude and s = α/r. In training, PEFT
//! treats `norm` as a constant (no gradient through it); the forward value is
//! the same either way.
//!
//! Shapes: x [batch, in], W [out, in], A [r, in], B [out, r], m [out].
//! Output: `y` [batch, out].
//!
//! Candle ops you need: `matmul`, `t()`, `sqr`, `sum_keepdim(1)`, `sqrt`,
//! `(t * s)?`, `broadcast_div`, `broadcast_mul`, `unsqueeze(0)`.
//!
//! `tunelings check 10_dora_forward` compares your `y` with the reference.

use tunelings::exercise::{self, Io, Result, Tensor};

fn dora_forward(x: &Tensor, w: &Tensor, a: &Tensor, b: &Tensor, m: &Tensor, alpha: f64) -> Result<Tensor> {
    let s = alpha / a.dim(0)? as f64;
    let v = (w + (b.matmul(a)? * s)?)?;
    let norm = v.sqr()?.sum_keepdim(1)?.sqrt()?.squeeze(1)?;
    let scale = m.broadcast_div(&norm)?.unsqueeze(0)?;
    Ok(x.matmul(&v.t()?)?.broadcast_mul(&scale)?)
}

fn main() -> std::process::ExitCode {
    exercise::run(|io: &Io| {
        let y = dora_forward(
            io.tensor("x")?,
            io.tensor("w")?,
            io.tensor("a")?,
            io.tensor("b")?,
            io.tensor("m")?,
            io.scalar("alpha")?,
        )?;
        Ok(vec![("y", y)])
    })
}
