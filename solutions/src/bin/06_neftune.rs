//! Lesson 06 · NEFTune's noisy embeddings
//!
//! NEFTune (Jain et al. 2023, arXiv 2310.05914) adds uniform noise to the
//! input embeddings while training, and only then:
//!
//!     noisy = embeds + u · α / √(L·d)
//!
//! where u is uniform in [−1, 1], L is the sequence length and d the
//! embedding width. Dividing by √(L·d) keeps the noise's total energy the same
//! whatever the shape of the batch.
//!
//! Shapes: embeds [batch, L, d] and u [batch, L, d] (the noise, drawn for
//! you: the runner passes arbitrary values, so do not assume their range).
//! Output: `noisy`, same shape.
//!
//! Candle ops you need: `dims3()` to read (batch, L, d), `(t * scale)?` with
//! an f64 scale, and `(a + b)?`.
//!
//! `tunelings check 06_neftune` compares your `noisy` with the reference.

use tunelings::exercise::{self, Io, Result, Tensor};

fn neftune(embeds: &Tensor, u: &Tensor, alpha: f64) -> Result<Tensor> {
    let (_, len, width) = embeds.dims3()?;
    let scale = alpha / ((len * width) as f64).sqrt();
    Ok((embeds + (u * scale)?)?)
}

fn main() -> std::process::ExitCode {
    exercise::run(|io: &Io| {
        let noisy = neftune(io.tensor("embeds")?, io.tensor("u")?, io.scalar("alpha")?)?;
        Ok(vec![("noisy", noisy)])
    })
}
