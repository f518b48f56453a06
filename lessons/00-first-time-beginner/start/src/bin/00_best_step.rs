//! Lesson 00 · Which checkpoint to keep
//!
//! A run evaluated its adapter several times. At each evaluation you have the
//! mean training loss and the held-out loss:
//!
//!     train_loss [n]    eval_loss [n]
//!
//! Return
//!   - `best`: the index of the lowest held-out loss, as a one-element tensor
//!     (NumPy: `np.argmin(eval_loss)`);
//!   - `gap`: eval_loss − train_loss, element by element. A gap that keeps
//!     widening while the training loss falls is overfitting.
//!
//! Candle ops you need: `argmin_keepdim(0)` (keeps the dimension, so the
//! result has shape [1]) and `sub` (or `-` between two `&Tensor`s). Each
//! candle call can fail, so it ends in `?`.
//!
//! `tunelings check 00_best_step` compares both outputs with the reference.

use tunelings::exercise::{self, Io, Result, Tensor};

/// Returns (best, gap).
fn best_step(train_loss: &Tensor, eval_loss: &Tensor) -> Result<(Tensor, Tensor)> {
    let _ = (train_loss, eval_loss);
    todo!("the index of the lowest held-out loss, and eval − train")
}

fn main() -> std::process::ExitCode {
    exercise::run(|io: &Io| {
        let (best, gap) = best_step(io.tensor("train_loss")?, io.tensor("eval_loss")?)?;
        Ok(vec![("best", best), ("gap", gap)])
    })
}
