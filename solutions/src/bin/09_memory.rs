//! Lesson 09 · What training costs in memory
//!
//! Training keeps four things in memory: the weights, one gradient per
//! trainable weight, AdamW's two moments per trainable weight, and the
//! activations. Leaving activations aside, in bytes, for a base model of N
//! parameters and an adapter of T:
//!
//!              weights          gradients   AdamW m and v
//!     full     4·N              + 4·N       + 8·N          = 16·N
//!     LoRA     4·N + 4·T        + 4·T       + 8·T          = 4·N + 16·T
//!     QLoRA    N/2 + N/16 + 4·T + 4·T       + 8·T          = 9·N/16 + 16·T
//!
//! Everything trained is F32 (4 bytes). NF4 keeps 4 bits per base weight
//! (N/2 bytes) plus one F32 absmax per block of 64 weights (4·N/64 = N/16).
//!
//! Inputs: `n` and `t` [k] (u32): k model sizes with their adapters.
//! Outputs: `full`, `lora`, `qlora` [k] in bytes, as f64.
//!
//! Candle ops you need: `to_dtype(DType::F64)`, `(t * 16.0)?`, `(a + b)?`.
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
