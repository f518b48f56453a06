//! Lesson 07 · The distillation loss
//!
//! Context distillation trains a student (the model without the system
//! prompt) to predict what the teacher (the same model with the prompt)
//! predicts. On soft targets the loss is the KL divergence between their
//! next-token distributions, both softened by a temperature T:
//!
//!     p = softmax(teacher / T)       q = softmax(student / T)
//!     kl = T² · mean over positions of  Σ_v p_v · (log p_v − log q_v)
//!
//! The T² keeps the gradient's size comparable across temperatures
//! (Hinton et al. 2015). Compute log-probabilities directly and stably:
//!
//!     log_softmax(x) = (x − max x) − log Σ exp(x − max x)
//!
//! Subtracting the row's max first keeps exp from overflowing on large logits.
//!
//! Shapes: teacher [n, vocab] and student [n, vocab], one row per position.
//! Output: `kl`, a scalar (shape []).
//!
//! Candle ops you need: `(t / temp)?`, `max_keepdim(D::Minus1)`,
//! `broadcast_sub`, `exp()`, `sum_keepdim(D::Minus1)`, `log()`, `(a * b)?`,
//! `sum_all()`, `dim(0)` and `affine(mul, add)`.
//!
//! `tunelings check 07_distill_kl` compares your `kl` with the reference.

use tunelings::exercise::{self, Io, Result, Tensor, D};

fn log_softmax(x: &Tensor) -> Result<Tensor> {
    let shifted = x.broadcast_sub(&x.max_keepdim(D::Minus1)?)?;
    let log_norm = shifted.exp()?.sum_keepdim(D::Minus1)?.log()?;
    Ok(shifted.broadcast_sub(&log_norm)?)
}

fn distill_kl(teacher: &Tensor, student: &Tensor, temperature: f64) -> Result<Tensor> {
    let log_p = log_softmax(&(teacher / temperature)?)?;
    let log_q = log_softmax(&(student / temperature)?)?;
    let per_token = (log_p.exp()? * (&log_p - &log_q)?)?.sum_all()?;
    let n = teacher.dim(0)? as f64;
    Ok(per_token.affine(temperature * temperature / n, 0.0)?)
}

fn main() -> std::process::ExitCode {
    exercise::run(|io: &Io| {
        let kl = distill_kl(
            io.tensor("teacher")?,
            io.tensor("student")?,
            io.scalar("temperature")?,
        )?;
        Ok(vec![("kl", kl)])
    })
}
