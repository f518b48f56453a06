//! Lesson 02 · The LoRA forward pass
//!
//! A LoRA layer keeps the pretrained weight W frozen and learns a low-rank
//! update B·A beside it:
//!
//!     y = x·Wᵀ + (α/r)·(x·Aᵀ)·Bᵀ
//!
//! Shapes: x [batch, seq, in], W [out, in], A [r, in], B [out, r].
//! The rank r is not given: read it from A's shape.
//!
//! `tunelings check 02_lora_forward` runs your function and the reference
//! solution on the same random inputs and compares every element of `y`.

use tunelings::exercise::{self, Io, Result, Tensor};

fn lora_forward(x: &Tensor, w: &Tensor, a: &Tensor, b: &Tensor, alpha: f64) -> Result<Tensor> {
    let _ = (x, w, a, b, alpha);
    todo!("compute x·Wᵀ + (α/r)·(x·Aᵀ)·Bᵀ")
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
