//! Lesson 02 · Merge and unmerge
//!
//! After training, the adapter can be folded into the base weight so that
//! inference costs nothing extra:
//!
//!     merged   = W + s·(B·A)
//!     unmerged = merged − s·(B·A)      (W again, up to rounding)
//!
//! with the scale s = α/r for LoRA, or α/√r with rsLoRA (`use_rslora`).
//! Shapes: W [out, in], A [r, in], B [out, r]. Read r from A's shape.
//!
//! Return `merged` (s = α/r), `merged_rs` (s = α/√r) and `unmerged` (from
//! `merged`, with s = α/r). Candle ops: `matmul`, `(t * s)?`, `+`, `-`.
//!
//! `tunelings check 02_merge` compares all three with the reference.

use tunelings::exercise::{self, Io, Result, Tensor};

/// The scale PEFT puts on B·A.
fn scaling(alpha: f64, rank: usize, rslora: bool) -> f64 {
    if rslora {
        alpha / (rank as f64).sqrt()
    } else {
        alpha / rank as f64
    }
}

/// W + s·B·A.
fn merge(w: &Tensor, a: &Tensor, b: &Tensor, s: f64) -> Result<Tensor> {
    Ok((w + (b.matmul(a)? * s)?)?)
}

/// merged − s·B·A.
fn unmerge(merged: &Tensor, a: &Tensor, b: &Tensor, s: f64) -> Result<Tensor> {
    Ok((merged - (b.matmul(a)? * s)?)?)
}

fn main() -> std::process::ExitCode {
    exercise::run(|io: &Io| {
        let (w, a, b) = (io.tensor("w")?, io.tensor("a")?, io.tensor("b")?);
        let (alpha, rank) = (io.scalar("alpha")?, a.dim(0)?);
        let merged = merge(w, a, b, scaling(alpha, rank, false))?;
        let merged_rs = merge(w, a, b, scaling(alpha, rank, true))?;
        let unmerged = unmerge(&merged, a, b, scaling(alpha, rank, false))?;
        Ok(vec![
            ("merged", merged),
            ("merged_rs", merged_rs),
            ("unmerged", unmerged),
        ])
    })
}
