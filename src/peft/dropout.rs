//! Seeded dropout for adapter inputs (candle's CPU RNG cannot be seeded, so
//! runs would not repeat).

use anyhow::Result;
use candle_core::Tensor;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone)]
pub struct DropoutState(Option<StdRng>);

#[derive(Debug, Clone)]
pub struct Dropout {
    p: f32,
    seed: u64,
    /// Shared by clones of the model, so reseeding one reseeds all.
    rng: Arc<Mutex<StdRng>>,
}

impl Dropout {
    pub fn new(p: f32, seed: u64) -> Self {
        Self {
            p,
            seed,
            rng: Arc::new(Mutex::new(StdRng::seed_from_u64(seed))),
        }
    }

    /// Restarts the mask stream for optimizer step `step`, so a resumed run
    /// draws the same masks as an uninterrupted one.
    pub fn reseed(&self, step: u64) {
        if let Ok(mut rng) = self.rng.lock() {
            *rng = StdRng::seed_from_u64(self.seed ^ step.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        }
    }

    /// Where the mask stream stands, to replay it (activation checkpointing).
    pub fn state(&self) -> DropoutState {
        DropoutState(self.rng.lock().map(|r| r.clone()).ok())
    }

    pub fn set_state(&self, state: DropoutState) {
        if let (Some(saved), Ok(mut rng)) = (state.0, self.rng.lock()) {
            *rng = saved;
        }
    }

    /// Zeroes each element with probability p and scales the rest by 1/(1−p).
    pub fn apply(&self, x: &Tensor) -> Result<Tensor> {
        if self.p <= 0.0 {
            return Ok(x.clone());
        }
        let keep = 1.0 - self.p;
        let mask: Vec<f32> = {
            let mut rng = self
                .rng
                .lock()
                .map_err(|_| anyhow::anyhow!("dropout RNG poisoned"))?;
            (0..x.elem_count())
                .map(|_| {
                    if rng.random::<f32>() < keep {
                        1.0 / keep
                    } else {
                        0.0
                    }
                })
                .collect()
        };
        let mask = Tensor::from_vec(mask, x.shape(), x.device())?.to_dtype(x.dtype())?;
        Ok((x * mask)?)
    }
}
