//! Lesson 03 · GGUF's q8_0 blocks
//!
//! llama.cpp stores a q8_0 tensor in blocks of 32 consecutive values along a
//! row. Each block keeps one scale d and 32 signed bytes:
//!
//!     d = max|x| / 127          (over the block)
//!     q = round(x / d)          (in −127..=127)
//!     dequantized = q · d
//!
//! Shapes: x [rows, cols] with cols a multiple of 32 →
//! scales [rows, cols / 32] and dequant [rows, cols].
//!
//! Candle ops you need: `reshape` (to [rows, cols / 32, 32]: the last axis is
//! one block), `abs`, `max_keepdim(2)`, `(t / 127.0)?`, `broadcast_div`,
//! `round`, `broadcast_mul`, `squeeze(2)`. A block of zeros has d = 0: divide
//! by a safe copy there (`d.eq(0.0)?` and `where_cond` help), or the
//! dequantized values become NaN.
//!
//! `tunelings check 03_q8_0` compares both outputs with the reference.

use tunelings::exercise::{self, Io, Result, Tensor};

const BLOCK: usize = 32;

/// Returns (scales, dequant).
fn q8_0(x: &Tensor) -> Result<(Tensor, Tensor)> {
    let (rows, cols) = x.dims2()?;
    let blocks = x.reshape((rows, cols / BLOCK, BLOCK))?;
    let d = (blocks.abs()?.max_keepdim(2)? / 127.0)?;
    // A zero block keeps d = 0 but divides by 1, so its values stay 0.
    let safe = d.eq(0.0)?.where_cond(&d.ones_like()?, &d)?;
    let q = blocks.broadcast_div(&safe)?.round()?;
    let dequant = q.broadcast_mul(&d)?.reshape((rows, cols))?;
    Ok((d.squeeze(2)?, dequant))
}

fn main() -> std::process::ExitCode {
    exercise::run(|io: &Io| {
        let (scales, dequant) = q8_0(io.tensor("x")?)?;
        Ok(vec![("scales", scales), ("dequant", dequant)])
    })
}
