//! Lesson 04 · Absmax int8 quantization
//!
//! Each row of x gets its own scale, so that the row's largest magnitude
//! lands on 127:
//!
//!     scale = max|x| / 127        (one per row)
//!     q     = round(x / scale)    (integers in −127..=127)
//!     x̂     = q · scale           (what the model computes with)
//!
//! Shapes: x [rows, cols] → q [rows, cols], scale [rows, 1], dequant [rows, cols].
//! Candle ops you need: `abs`, `max_keepdim(1)`, `broadcast_div`, `round`,
//! `broadcast_mul`, and `(t / 127.0)?` for a tensor divided by a number.
//!
//! `tunelings check 04_absmax_int8` compares q, scale and dequant with the
//! reference solution's on the same random inputs.

use tunelings::exercise::{self, Io, Result, Tensor};

/// Returns (q, scale, dequant).
fn absmax_int8(x: &Tensor) -> Result<(Tensor, Tensor, Tensor)> {
    let scale = (x.abs()?.max_keepdim(1)? / 127.0)?;
    let q = x.broadcast_div(&scale)?.round()?;
    let dequant = q.broadcast_mul(&scale)?;
    Ok((q, scale, dequant))
}

fn main() -> std::process::ExitCode {
    exercise::run(|io: &Io| {
        let (q, scale, dequant) = absmax_int8(io.tensor("x")?)?;
        Ok(vec![("q", q), ("scale", scale), ("dequant", dequant)])
    })
}
