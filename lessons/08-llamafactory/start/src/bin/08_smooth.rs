//! Lesson 08 · The loss board's smoothed curve
//!
//! A training loss jumps from batch to batch. The dashboard draws it twice:
//! raw, and smoothed by an exponential moving average, which follows the
//! trend and damps the noise:
//!
//!     s₀ = x₀
//!     sₜ = β·sₜ₋₁ + (1 − β)·xₜ        with β = 0.8
//!
//! Starting from s₀ = x₀, not from 0, keeps the first points honest: a
//! curve seeded with 0 would start far below the real loss and climb.
//!
//! Input: `loss` [n], one value per step. Output: `smoothed` [n].
//!
//! Candle ops you need: `to_vec1::<f32>()` to get a Vec, a plain loop, and
//! `Tensor::new(values, &Device::Cpu)?` to hand it back.
//!
//! `tunelings check 08_smooth` compares your curve with the reference.

use tunelings::exercise::{self, Device, Io, Result, Tensor};

const BETA: f32 = 0.8;

fn smooth(loss: &Tensor) -> Result<Tensor> {
    let _ = (loss, BETA, Device::Cpu);
    todo!("seed with the first loss, then blend each new one in")
}

fn main() -> std::process::ExitCode {
    exercise::run(|io: &Io| Ok(vec![("smoothed", smooth(io.tensor("loss")?)?)]))
}
