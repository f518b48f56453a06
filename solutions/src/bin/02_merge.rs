//! Lesson 02 · Merge and unmerge
//!
//! Once an adapter is trained, its detour can be folded into the frozen
//! weight: one matrix W' with W's shape [out, in] that gives, for every input
//! x, the same output as the frozen path plus the scaled detour of
//! `02_lora_forward`. Inference then costs what the base model costs.
//! Unmerging takes the adapter out of W' again and gives back W, up to float
//! rounding.
//!
//! Inputs: W [out, in], A [r, in], B [out, r] and α (`alpha`); `main` reads
//! the rank r from A's shape for you. Write three functions:
//! - `scaling`: the factor PEFT puts on the adapter's update, for plain LoRA
//!   and for rsLoRA (`use_rslora`). The chapter's section "The dial" gives
//!   both. The rank is a usize; the scale is an f64.
//! - `merge`: W' from W, A, B and a scale s. Work out which product of A and
//!   B has W's shape, and why it reproduces the detour; the chapter's section
//!   "Merge: the detour disappears" walks through it.
//! - `unmerge`: W again, from W', A, B and the same s.
//! Candle: `matmul` multiplies two 2-D tensors, a tensor can be multiplied by
//! an f64, and `+` and `-` work between tensors of one shape.
//!
//! `main` returns `merged` (plain LoRA scale), `merged_rs` (rsLoRA scale) and
//! `unmerged` (`merged` unmerged with the plain scale).
//! `tunelings check 02_merge` runs the reference on the same random W, A and B
//! (B is not zero there, so the update shows) and compares all three element
//! by element: both merged weights must match, and `unmerged` must come back
//! to W.

use tunelings::exercise::{self, Io, Result, Tensor};

/// The scale PEFT puts on the adapter's update.
fn scaling(alpha: f64, rank: usize, rslora: bool) -> f64 {
    if rslora {
        alpha / (rank as f64).sqrt()
    } else {
        alpha / rank as f64
    }
}

/// W with the adapter's update, scaled by s, folded in.
fn merge(w: &Tensor, a: &Tensor, b: &Tensor, s: f64) -> Result<Tensor> {
    Ok((w + (b.matmul(a)? * s)?)?)
}

/// The inverse of `merge`: W again.
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
