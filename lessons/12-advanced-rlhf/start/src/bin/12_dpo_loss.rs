//! Lesson 12 · The DPO loss
//!
//! DPO (Rafailov et al. 2023) trains on preference pairs without a reward
//! model. For each pair, with summed log-probs of the whole answer under
//! the policy π and the frozen reference π_ref:
//!
//!     Δw = log π(chosen) − log π_ref(chosen)
//!     Δl = log π(rejected) − log π_ref(rejected)
//!     loss = mean over pairs of −log σ(β · (Δw − Δl))
//!
//! and the metrics TRL logs, each a mean over the pairs:
//!
//!     rewards_chosen = β·Δw    rewards_rejected = β·Δl
//!     margins = β·(Δw − Δl)    accuracy = share of pairs with Δw > Δl
//!
//! Summed log-probs are hundreds of nats, so β·(Δw − Δl) can be −200.
//! Then σ underflows to 0 in f32 and log σ = −inf. Use the stable form
//!
//!     log σ(z) = min(z, 0) − log(1 + e^(−|z|))
//!
//! in which e^(−|z|) never overflows. Write min(z, 0) as (z − |z|) / 2.
//!
//! Inputs: `policy_chosen`, `policy_rejected`, `ref_chosen`, `ref_rejected`
//! (each [pairs]) and the scalar `beta`. Outputs: `loss`, `rewards_chosen`,
//! `rewards_rejected`, `margins` and `accuracy`, each a scalar (shape []).
//!
//! Candle ops you need: `(a - b)?`, `affine(mul, add)`, `abs()`, `neg()`,
//! `exp()`, `log()`, `mean_all()`, `gt(&other)` and `to_dtype(DType::F32)`.
//!
//! `tunelings check 12_dpo_loss` compares your outputs with the reference.

use tunelings::exercise::{self, DType, Io, Result, Tensor};

fn log_sigmoid(z: &Tensor) -> Result<Tensor> {
    let _ = z;
    todo!("min(z, 0) − log(1 + e^(−|z|)), with min(z, 0) = (z − |z|) / 2")
}

fn dpo(io: &Io) -> Result<Vec<(&'static str, Tensor)>> {
    let _ = (io, DType::F32, log_sigmoid as fn(&Tensor) -> Result<Tensor>);
    todo!("Δw, Δl and z = Δw − Δl; then the loss and the four metrics")
}

fn main() -> std::process::ExitCode {
    exercise::run(dpo)
}
