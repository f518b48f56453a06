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
    let hyp = hyp_counts.to_dtype(DType::F64)?;
    let reference = ref_counts.to_dtype(DType::F64)?;
    let total = |t: &Tensor| -> Result<f64> { Ok(t.sum_all()?.to_scalar::<f64>()?) };
    let matches = total(&hyp.minimum(&reference)?)?;
    let (hyp_total, ref_total) = (total(&hyp)?, total(&reference)?);
    let p = if hyp_total > 0.0 { matches / hyp_total } else { 0.0 };
    let r = if ref_total > 0.0 { matches / ref_total } else { 0.0 };
    let b2 = BETA * BETA;
    let f = if p + r > 0.0 {
        (1.0 + b2) * p * r / (b2 * p + r)
    } else {
        0.0
    };
    Ok(Tensor::new(f, &Device::Cpu)?)
}

fn main() -> std::process::ExitCode {
    exercise::run(|io: &Io| {
        Ok(vec![(
            "chrf",
            chrf(io.tensor("hyp_counts")?, io.tensor("ref_counts")?)?,
        )])
    })
}
