//! Lesson 09 · What training costs in memory
//!
//! Before a run starts, work out whether it fits. Leave the activations
//! aside and count what stays in memory for the whole run: every parameter's
//! weight, and for every parameter that trains, also its gradient and
//! AdamW's two running averages (m and v).
//!
//! Inputs: `n` and `t` [k] (u32): k models, each a base of N parameters
//! with an adapter of T parameters.
//! Outputs: `full`, `lora`, `qlora` [k], the bytes each method needs, as f64:
//!
//!     full     every base weight trains; there is no adapter.
//!     lora     the base is frozen and kept in F32; only the adapter trains.
//!     qlora    the base is frozen and kept in NF4; only the adapter trains.
//!
//! Bytes per value: a weight, gradient or moment in F32 is 4 bytes; the
//! adapter and everything that trains is F32. An NF4 weight is a 4-bit code,
//! and each block of 64 NF4 weights shares one F32 absmax (no double
//! quantization). Price every base parameter this way, the embedding too
//! (chapter 09 shows why the engine's real QLoRA bill comes out higher).
//!
//! Convert to f64 before you multiply: a few bytes times billions of
//! parameters overflow a u32.
//!
//! Candle ops you need: `to_dtype(DType::F64)`, a tensor times an f64
//! (`(&x * 3.0)?`) and the sum of two tensors (`(&a + &b)?`).
//!
//! `tunelings check 09_memory` compares your three outputs with the reference.

use tunelings::exercise::{self, DType, Io, Result, Tensor};

/// Returns (full, lora, qlora) in bytes.
fn training_bytes(n: &Tensor, t: &Tensor) -> Result<(Tensor, Tensor, Tensor)> {
    let n = n.to_dtype(DType::F64)?;
    let t = t.to_dtype(DType::F64)?;
    let adapter = (&t * 16.0)?;
    let full = (&n * 16.0)?;
    let lora = ((&n * 4.0)? + &adapter)?;
    let qlora = ((&n * (0.5 + 1.0 / 16.0))? + &adapter)?;
    Ok((full, lora, qlora))
}

fn main() -> std::process::ExitCode {
    exercise::run(|io: &Io| {
        let (full, lora, qlora) = training_bytes(io.tensor("n")?, io.tensor("t")?)?;
        Ok(vec![("full", full), ("lora", lora), ("qlora", qlora)])
    })
}
