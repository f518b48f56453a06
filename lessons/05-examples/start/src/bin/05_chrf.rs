//! Lesson 05 · chrF from n-gram counts
//!
//! chrF compares an answer (the hypothesis) with the reference through their
//! character n-grams. Given the count of each n-gram in both, lined up:
//!
//!     matches = Σ min(hyp_counts, ref_counts)
//!     P = matches / Σ hyp_counts        (how much of the answer is right)
//!     R = matches / Σ ref_counts        (how much of the reference it covers)
//!     chrF = (1 + β²)·P·R / (β²·P + R)   with β = 2, and 0 when P + R = 0
//!
//! Input: `hyp_counts`, `ref_counts` [k] (u32). Output: `chrf`, one number as
//! a 0-d tensor (`Tensor::new(value, &Device::Cpu)?`).
//!
//! Candle ops you need: `to_dtype(DType::F64)`, `minimum`, `sum_all` and
//! `to_scalar::<f64>()`; the rest is plain arithmetic on f64.
//!
//! `tunelings check 05_chrf` compares your score with the reference.

use tunelings::exercise::{self, DType, Device, Io, Result, Tensor};

const BETA: f64 = 2.0;

fn chrf(hyp_counts: &Tensor, ref_counts: &Tensor) -> Result<Tensor> {
    let _ = (hyp_counts, ref_counts, BETA, DType::F64, Device::Cpu);
    todo!("matches, precision, recall, then the F-score with β = 2")
}

fn main() -> std::process::ExitCode {
    exercise::run(|io: &Io| Ok(vec![("chrf", chrf(io.tensor("hyp_counts")?, io.tensor("ref_counts")?)?)]))
}
