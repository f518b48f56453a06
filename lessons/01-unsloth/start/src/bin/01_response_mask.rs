//! Lesson 01 · Loss on the answer only
//!
//! In a chat example the prompt (system and user turns) comes first and the
//! answer after it. Training should count the loss on the answer only, so
//! every label before the answer is set to −100, the "ignore" index that
//! PyTorch's cross-entropy skips (and that tunelings uses the same way).
//!
//! Input: `labels` [batch, seq] (token ids, u32) and the scalar `prompt_len`.
//! Output: the labels as i64, with every position < prompt_len set to −100.
//!
//! Candle ops you need: `to_dtype(DType::I64)`, `Tensor::arange(0u32, seq,
//! &Device::Cpu)`, a comparison with a number such as `ge(n)` (gives 1 where
//! true), `broadcast_as`, `Tensor::full(-100i64, shape, &Device::Cpu)` and
//! `where_cond`: `mask.where_cond(&if_true, &if_false)`.
//!
//! `tunelings check 01_response_mask` compares your labels with the reference.

use tunelings::exercise::{self, DType, Device, Io, Result, Tensor};

fn mask_prompt(labels: &Tensor, prompt_len: u32) -> Result<Tensor> {
    let _ = (labels, prompt_len, DType::I64, Device::Cpu);
    todo!("−100 before prompt_len, the label itself from there on")
}

fn main() -> std::process::ExitCode {
    exercise::run(|io: &Io| {
        let prompt_len = io.scalar("prompt_len")? as u32;
        Ok(vec![("labels", mask_prompt(io.tensor("labels")?, prompt_len)?)])
    })
}
