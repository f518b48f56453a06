//! Lesson 11 · The projector and the splice
//!
//! LLaVA reads a picture in three steps:
//!
//! 1. the frozen encoder gives one feature row per cell of the picture
//!    (2×2 patches merged): `features` [4, 24];
//! 2. the projector maps each row into the language model's embedding
//!    space, with LLaVA-1.5's two-layer MLP
//!
//!        visual = GELU(features · w1ᵀ + b1) · w2ᵀ + b2
//!
//!    where `w1` is [20, 24], `b1` [20], `w2` [20, 20], `b2` [20], and GELU
//!    is the exact (erf) one, as PyTorch's nn.GELU();
//! 3. the chat's `<image>` placeholder was cut out of the token ids, leaving
//!    the text embeddings `text` [9, 20]; `slot` [1] (u32) says where the
//!    placeholder stood. The visual rows go in there:
//!
//!        sequence = text[..slot] ++ visual ++ text[slot..]    → [13, 20]
//!
//! Training must never ask the model to predict a visual row (there is no
//! token to predict), so also return `text_mask` [13] (u32): 1 where a row
//! is a text token, 0 where it is a visual one.
//!
//! Outputs: `visual`, `sequence`, `text_mask`.
//!
//! Candle ops you need: `broadcast_matmul`, `t()`, `broadcast_add`,
//! `gelu_erf()`, `narrow(dim, start, len)`, `Tensor::cat(&[..], dim)`,
//! `dim(0)`, and `Tensor::new(v.as_slice(), &Device::Cpu)` for the mask.
//!
//! `tunelings check 11_llava_splice` compares your outputs with the reference.

use tunelings::exercise::{self, Device, Io, Result, Tensor};

fn project(io: &Io) -> Result<Tensor> {
    let hidden = io
        .tensor("features")?
        .broadcast_matmul(&io.tensor("w1")?.t()?)?
        .broadcast_add(io.tensor("b1")?)?
        .gelu_erf()?;
    Ok(hidden
        .broadcast_matmul(&io.tensor("w2")?.t()?)?
        .broadcast_add(io.tensor("b2")?)?)
}

fn splice(text: &Tensor, slot: usize, visual: &Tensor) -> Result<(Tensor, Tensor)> {
    let (t, n) = (text.dim(0)?, visual.dim(0)?);
    let sequence = Tensor::cat(
        &[
            &text.narrow(0, 0, slot)?,
            visual,
            &text.narrow(0, slot, t - slot)?,
        ],
        0,
    )?;
    let mask: Vec<u32> = (0..t + n).map(|i| u32::from(i < slot || i >= slot + n)).collect();
    Ok((sequence, Tensor::new(mask.as_slice(), &Device::Cpu)?))
}

fn llava(io: &Io) -> Result<Vec<(&'static str, Tensor)>> {
    let visual = project(io)?;
    let slot = io.tensor("slot")?.to_vec1::<u32>()?[0] as usize;
    let (sequence, text_mask) = splice(io.tensor("text")?, slot, &visual)?;
    Ok(vec![
        ("visual", visual),
        ("sequence", sequence),
        ("text_mask", text_mask),
    ])
}

fn main() -> std::process::ExitCode {
    exercise::run(llava)
}
