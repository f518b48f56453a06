//! Lesson 02 · The LoRA forward pass
//!
//! A LoRA layer leaves the pretrained weight W frozen and adds a trainable
//! detour beside it: A squeezes each input vector down to r numbers, B spreads
//! them back out to the layer's output width, and the detour's result is
//! scaled before it joins the frozen path. The chapter's section "The insight:
//! the change is simple" writes the forward pass out; its worked example lets
//! you test your reading of it on paper.
//!
//! Inputs: x [batch, seq, in], W [out, in], A [r, in], B [out, r] and α
//! (`alpha`). Every weight is stored [out, in], the way PyTorch and candle
//! store a linear layer. The rank r is not given: read it from A's shape.
//!
//! Output: y [batch, seq, out], what the frozen layer gives for x plus the
//! adapter's scaled update. Go through the r-wide bottleneck; never build the
//! [out, in] matrix of the update.
//!
//! `tunelings check 02_lora_forward` runs your function and the reference
//! solution on the same random inputs (B is not zero there, so the update
//! shows) and compares every element of `y`. Right shapes are not enough: a
//! missing scale or a wrong transpose gives plausible numbers that fail.

use tunelings::exercise::{self, Io, Result, Tensor};

fn lora_forward(x: &Tensor, w: &Tensor, a: &Tensor, b: &Tensor, alpha: f64) -> Result<Tensor> {
    let _ = (x, w, a, b, alpha);
    todo!("the frozen path plus the scaled low-rank detour")
}

fn main() -> std::process::ExitCode {
    exercise::run(|io: &Io| {
        let y = lora_forward(
            io.tensor("x")?,
            io.tensor("w")?,
            io.tensor("a")?,
            io.tensor("b")?,
            io.scalar("alpha")?,
        )?;
        Ok(vec![("y", y)])
    })
}
