//! LoRA: y = W·x + b + s·B·A·drop(x), with A (r × in), B (out × r) and
//! s = α/r (or α/√r with rsLoRA), as PEFT computes it.

use super::dropout::Dropout;
use crate::model::random::normal_vec;
use anyhow::Result;
use candle_core::{Device, Tensor};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[derive(Debug, Clone)]
pub struct Lora {
    /// (r, in)
    pub a: Tensor,
    /// (out, r)
    pub b: Tensor,
    pub scaling: f64,
    pub dropout: Option<Dropout>,
    /// PiSSA's starting (A, B): the base was replaced by W − s·B₀·A₀, so
    /// saving subtracts this part again (see `files::save`).
    pub initial: Option<(Tensor, Tensor)>,
}

/// How A is drawn (B always starts at zero, so training starts from the base model).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LoraInit {
    /// PEFT's default: kaiming-uniform with a = √5, i.e. U(−1/√in, 1/√in).
    #[default]
    KaimingUniform,
    /// A ~ N(0, 1/r²).
    Gaussian,
    /// PiSSA from an exact SVD (`"pissa"`).
    Pissa,
    /// PiSSA from a randomized SVD with N subspace iterations (`"pissa_niter_N"`).
    PissaNiter(usize),
    /// OLoRA: the leading columns of W's QR decomposition (`"olora"`).
    Olora,
}

impl LoraInit {
    /// Whether the init takes its factors out of the base weight, leaving a
    /// residual base (PiSSA, OLoRA).
    pub fn mutates_base(self) -> bool {
        matches!(self, LoraInit::Pissa | LoraInit::PissaNiter(_) | LoraInit::Olora)
    }
}

pub fn scaling(alpha: f64, rank: usize, rslora: bool) -> f64 {
    if rslora {
        alpha / (rank as f64).sqrt()
    } else {
        alpha / rank as f64
    }
}

impl Lora {
    pub fn init(
        in_f: usize,
        out_f: usize,
        rank: usize,
        scaling: f64,
        init: LoraInit,
        seed: u64,
    ) -> Result<Self> {
        let mut rng = StdRng::seed_from_u64(seed);
        let a: Vec<f32> = match init {
            LoraInit::KaimingUniform => {
                let bound = 1.0 / (in_f as f32).sqrt();
                (0..rank * in_f)
                    .map(|_| rng.random_range(-bound..bound))
                    .collect()
            }
            LoraInit::Gaussian => normal_vec(&mut rng, rank * in_f, 0.0, 1.0 / rank as f32),
            // Replaced by the SVD in `attach`.
            LoraInit::Pissa | LoraInit::PissaNiter(_) | LoraInit::Olora => vec![0.0; rank * in_f],
        };
        Ok(Self {
            a: Tensor::from_vec(a, (rank, in_f), &Device::Cpu)?,
            b: Tensor::zeros((out_f, rank), candle_core::DType::F32, &Device::Cpu)?,
            scaling,
            dropout: None,
            initial: None,
        })
    }

    pub fn rank(&self) -> usize {
        self.a.dims()[0]
    }

    /// The input the adapter branch sees: dropped out while training.
    pub fn branch_input(&self, x: &Tensor) -> Result<Tensor> {
        match &self.dropout {
            Some(d) => d.apply(x),
            None => Ok(x.clone()),
        }
    }

    /// s·B·A·x for x (..., in) → (..., out); x is the branch input.
    pub fn delta_out(&self, x: &Tensor) -> Result<Tensor> {
        let dims = x.dims().to_vec();
        let in_f = self.a.dims()[1];
        let x2 = x.reshape((x.elem_count() / in_f, in_f))?;
        let y = x2.matmul(&self.a.t()?)?.matmul(&self.b.t()?)?;
        let mut out = dims;
        *out.last_mut().expect("rank ≥ 1") = self.b.dims()[0];
        Ok((y * self.scaling)?.reshape(out)?)
    }

    /// ΔW = s·B·A, (out, in).
    pub fn delta_weight(&self) -> Result<Tensor> {
        Ok((self.b.matmul(&self.a)? * self.scaling)?)
    }
}
