//! Lesson 03 · GGUF's q4_0 blocks
//!
//! q4_0 keeps blocks of 32 values with one scale and 32 four-bit codes.
//! llama.cpp's rule, per block:
//!
//!     m = the value with the largest magnitude, sign kept
//!     d = m / −8
//!     q = clamp(floor(x / d + 8.5), 0, 15)
//!     dequantized = (q − 8) · d
//!
//! So m itself maps to code 0 (−8·d = m) and the opposite side gets one
//! level less. Shapes: x [rows, cols] with cols a multiple of 32 → dequant
//! [rows, cols].
//!
//! Finding m: take the block's `max_keepdim(2)` and `min_keepdim(2)`; m is
//! the max where max ≥ −min, otherwise the min (`ge`, `neg`, `where_cond`).
//! Other ops: `reshape`, `broadcast_div`, `+ 8.5`, `floor`, `clamp(0.0, 15.0)`,
//! `- 8.0`, `broadcast_mul`.
//!
//! `tunelings check 03_q4_0` compares `dequant` with the reference.

use tunelings::exercise::{self, Io, Result, Tensor};

const BLOCK: usize = 32;

fn q4_0(x: &Tensor) -> Result<Tensor> {
    let (rows, cols) = x.dims2()?;
    let blocks = x.reshape((rows, cols / BLOCK, BLOCK))?;
    let (max, min) = (blocks.max_keepdim(2)?, blocks.min_keepdim(2)?);
    let m = max.ge(&min.neg()?)?.where_cond(&max, &min)?;
    let d = (m / -8.0)?;
    let safe = d.eq(0.0)?.where_cond(&d.ones_like()?, &d)?;
    let q = ((blocks.broadcast_div(&safe)? + 8.5)?.floor()?).clamp(0.0, 15.0)?;
    Ok((q - 8.0)?.broadcast_mul(&d)?.reshape((rows, cols))?)
}

fn main() -> std::process::ExitCode {
    exercise::run(|io: &Io| Ok(vec![("dequant", q4_0(io.tensor("x")?)?)]))
}
