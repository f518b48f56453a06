//! Lesson 06 · NEFTune's noisy embeddings
//!
//! NEFTune (Jain et al. 2023, arXiv 2310.05914) adds uniform noise to the
//! input embeddings while training, and only then. The noise is `u` times a
//! single scale, the same for every entry, and that scale is chosen so that
//! the noise over one whole sequence has about the same total size whatever
//! the sequence's length and the embedding's width. The chapter's NEFTune
//! section gives the paper's choice and the reasoning behind it: work out
//! from it what the scale must be.
//!
//! Inputs: `embeds` [batch, L, d], the embeddings of a padded micro-batch
//! (L tokens per row, each a vector of width d); `u` [batch, L, d], the noise
//! before scaling (drawn for you: the runner passes arbitrary values, so do
//! not assume their range, and do not clamp or rescale them); and `alpha`,
//! NEFTune's one knob, an f64. Output: `noisy`, the same shape as `embeds`:
//! every entry is the embedding's entry plus the matching entry of `u` times
//! the scale. The scale depends on alpha, L and d, not on the batch size.
//!
//! Candle ops you need: `dims3()` to read (batch, L, d), `(t * scale)?` with
//! an f64 scale, and `(a + b)?`.
//!
//! `tunelings check 06_neftune` runs your function and the reference on the
//! same random `embeds` and `u` with alpha = 5, and compares every element of
//! `noisy`. A scale that is off in any way fails, even though the shape of
//! the result comes out right.

use tunelings::exercise::{self, Io, Result, Tensor};

fn neftune(embeds: &Tensor, u: &Tensor, alpha: f64) -> Result<Tensor> {
    let _ = (embeds, u, alpha);
    todo!("scale the noise as NEFTune does, then add it")
}

fn main() -> std::process::ExitCode {
    exercise::run(|io: &Io| {
        let noisy = neftune(io.tensor("embeds")?, io.tensor("u")?, io.scalar("alpha")?)?;
        Ok(vec![("noisy", noisy)])
    })
}
