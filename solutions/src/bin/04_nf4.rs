//! Lesson 04 · NF4 blockwise quantization (QLoRA)
//!
//! x is cut into blocks of 64 values. For each block:
//!   1. absmax = max|x| over the block;
//!   2. every value is normalised into [−1, 1]: x / absmax;
//!   3. its code is the index (0..=15) of the nearest of the 16 NF4 levels.
//!
//! "Nearest" follows bitsandbytes: a value gets code i + 1 rather than i when
//! it lies above the midpoint (NF4[i] + NF4[i + 1]) / 2. So the code is
//! simply how many of the 15 midpoints lie below the value.
//!
//! Shapes: x [n] with n a multiple of 64 → codes [n] (as f32), absmax [n / 64].
//! Candle ops you need: `reshape`, `abs`, `max_keepdim`, `broadcast_div`,
//! `unsqueeze`, `broadcast_gt`, `to_dtype(DType::F32)`, `sum(D::Minus1)`,
//! `flatten_all`, and `Tensor::new(&array, &Device::Cpu)` for the midpoints.
//!
//! The check demands exactly the reference's codes and scales.

use tunelings::exercise::{self, DType, Device, Io, Result, Tensor, D};

/// The 16 NF4 levels (bitsandbytes' `get_4bit_type("nf4")`), codes 0..=15.
const NF4: [f32; 16] = [
    -1.0,
    -0.696_192_8,
    -0.525_073_05,
    -0.394_917_5,
    -0.284_441_38,
    -0.184_773_43,
    -0.091_050_036,
    0.0,
    0.079_580_3,
    0.160_930_2,
    0.246_112_3,
    0.337_915_24,
    0.440_709_83,
    0.562_617,
    0.722_956_84,
    1.0,
];

const BLOCK: usize = 64;

/// The 15 midpoints between neighbouring levels.
fn midpoints() -> [f32; 15] {
    std::array::from_fn(|i| (NF4[i] + NF4[i + 1]) / 2.0)
}

/// Returns (codes, absmax).
fn nf4_quantize(x: &Tensor) -> Result<(Tensor, Tensor)> {
    let blocks = x.reshape((x.elem_count() / BLOCK, BLOCK))?;
    let absmax = blocks.abs()?.max_keepdim(1)?;
    let normalised = blocks.broadcast_div(&absmax)?;
    let mids = Tensor::new(&midpoints(), &Device::Cpu)?;
    let codes = normalised
        .unsqueeze(D::Minus1)?
        .broadcast_gt(&mids)?
        .to_dtype(DType::F32)?
        .sum(D::Minus1)?;
    Ok((codes.flatten_all()?, absmax.flatten_all()?))
}

fn main() -> std::process::ExitCode {
    exercise::run(|io: &Io| {
        let (codes, absmax) = nf4_quantize(io.tensor("x")?)?;
        Ok(vec![("codes", codes), ("absmax", absmax)])
    })
}
