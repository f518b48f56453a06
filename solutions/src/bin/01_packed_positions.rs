//! Lesson 01 · Position ids for a packed row
//!
//! Packing puts several short examples into one row, back to back. Each
//! example must still see itself as starting at position 0, or its rotary
//! position embeddings would be shifted by everything packed before it.
//!
//! Input: `lengths` [k] (u32), the token count of each packed example.
//! Output: `positions`, u32, of length lengths.sum():
//!
//!     lengths = [3, 2, 4]  →  positions = [0, 1, 2, 0, 1, 0, 1, 2, 3]
//!
//! A plain Rust loop is fine here: read the lengths with
//! `lengths.to_vec1::<u32>()?`, build a `Vec<u32>`, and turn it back into a
//! tensor with `Tensor::new(v.as_slice(), &Device::Cpu)?`. (In Python:
//! `[i for n in lengths for i in range(n)]`.)
//!
//! `tunelings check 01_packed_positions` compares with the reference.

use tunelings::exercise::{self, Device, Io, Result, Tensor};

fn packed_positions(lengths: &Tensor) -> Result<Tensor> {
    let lengths: Vec<u32> = lengths.to_vec1()?;
    let positions: Vec<u32> = lengths.iter().flat_map(|&n| 0..n).collect();
    Ok(Tensor::new(positions.as_slice(), &Device::Cpu)?)
}

fn main() -> std::process::ExitCode {
    exercise::run(|io: &Io| Ok(vec![("positions", packed_positions(io.tensor("lengths")?)?)]))
}
