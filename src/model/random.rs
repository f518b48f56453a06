//! Seeded random weights in HF naming: tiny test models and benchmark shapes
//! for when no checkpoint is present. candle's CPU RNG cannot be seeded, so
//! draws come from `rand`.

use super::config::QwenConfig;
use super::weights::tensor_shapes;
use anyhow::Result;
use candle_core::{DType, Device, Tensor};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;

/// Linear and embedding weights ~ N(0, std²); norm scales ~ 1 + N(0, 0.1²) so
/// tests exercise them; biases ~ N(0, std²).
pub fn random_weights(cfg: &QwenConfig, seed: u64, std: f32) -> Result<HashMap<String, Tensor>> {
    draw(cfg, seed, std, 0.1)
}

/// Initial weights for pretraining, as transformers initialises Qwen2:
/// N(0, 0.02²) everywhere, norm scales exactly 1.
pub fn init_weights(cfg: &QwenConfig, seed: u64) -> Result<HashMap<String, Tensor>> {
    draw(cfg, seed, 0.02, 0.0)
}

fn draw(cfg: &QwenConfig, seed: u64, std: f32, norm_jitter: f32) -> Result<HashMap<String, Tensor>> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = HashMap::new();
    for (name, shape) in tensor_shapes(cfg) {
        let n: usize = shape.iter().product();
        let is_norm = name.ends_with("norm.weight");
        let (mean, sd) = if is_norm { (1.0, norm_jitter) } else { (0.0, std) };
        let data = normal_vec(&mut rng, n, mean, sd);
        out.insert(
            name,
            Tensor::from_vec(data, shape, &Device::Cpu)?.to_dtype(DType::F32)?,
        );
    }
    Ok(out)
}

/// Random weights drawn only when the loader asks for each tensor, from a
/// seed per name: benchmarks of big shapes never hold a second full copy.
pub struct LazyRandomWeights {
    pub seed: u64,
    pub std: f32,
}

impl super::weights::WeightSource for LazyRandomWeights {
    fn tensor(&self, name: &str, shape: &[usize], dtype: DType) -> Result<Tensor> {
        // FNV-1a of the name: a stable per-tensor seed.
        let h = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
        });
        let mut rng = StdRng::seed_from_u64(self.seed ^ h);
        let n = shape.iter().product();
        let (mean, sd) = if name.ends_with("norm.weight") {
            (1.0, 0.1)
        } else {
            (0.0, self.std)
        };
        Ok(Tensor::from_vec(normal_vec(&mut rng, n, mean, sd), shape, &Device::Cpu)?.to_dtype(dtype)?)
    }

    fn contains(&self, _name: &str) -> bool {
        true
    }
}

/// `n` draws from N(mean, sd²) by Box–Muller.
pub fn normal_vec(rng: &mut impl Rng, n: usize, mean: f32, sd: f32) -> Vec<f32> {
    let mut out = Vec::with_capacity(n + 1);
    while out.len() < n {
        let u1: f32 = rng.random::<f32>().max(f32::MIN_POSITIVE);
        let u2: f32 = rng.random();
        let r = (-2.0 * u1.ln()).sqrt();
        let t = std::f32::consts::TAU * u2;
        out.push(mean + sd * r * t.cos());
        out.push(mean + sd * r * t.sin());
    }
    out.truncate(n);
    out
}
