//! LLaVA-1.5's projector (`mlp2x_gelu`): Linear → GELU → Linear, from the
//! encoder's width to the language model's. It is the only new part a
//! vision–language model needs, and the cheap one to train.

use super::vit::Linear;
use anyhow::{Context, Result};
use candle_core::{Device, Tensor, Var};
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
use std::path::Path;

/// HF Llava's names for the two layers.
const NAMES: [&str; 2] = ["multi_modal_projector.linear_1", "multi_modal_projector.linear_2"];

#[derive(Debug, Clone)]
pub struct Projector {
    linear_1: Linear,
    linear_2: Linear,
    tensors: HashMap<String, Tensor>,
}

impl Projector {
    /// PyTorch's nn.Linear initialisation: weights and biases uniform in
    /// ±1/√fan_in.
    pub fn init(vision_dim: usize, lm_dim: usize, seed: u64) -> Result<Self> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut tensors = HashMap::new();
        for (name, (out_f, in_f)) in NAMES.iter().zip([(lm_dim, vision_dim), (lm_dim, lm_dim)]) {
            let bound = 1.0 / (in_f as f32).sqrt();
            let mut uniform =
                |n: usize| -> Vec<f32> { (0..n).map(|_| rng.random_range(-bound..bound)).collect() };
            let w = Tensor::from_vec(uniform(out_f * in_f), (out_f, in_f), &Device::Cpu)?;
            let b = Tensor::from_vec(uniform(out_f), out_f, &Device::Cpu)?;
            tensors.insert(format!("{name}.weight"), w);
            tensors.insert(format!("{name}.bias"), b);
        }
        Self::from_tensors(tensors)
    }

    /// Turns every tensor into a `Var` and returns them by name, to train.
    pub fn make_trainable(&mut self) -> Result<Vec<(String, Var)>> {
        let mut vars = Vec::new();
        for (name, t) in &self.tensors {
            vars.push((name.clone(), Var::from_tensor(t)?));
        }
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        let tensors = vars
            .iter()
            .map(|(n, v)| (n.clone(), v.as_tensor().clone()))
            .collect();
        *self = Self::from_tensors(tensors)?;
        Ok(vars)
    }

    pub fn from_tensors(tensors: HashMap<String, Tensor>) -> Result<Self> {
        let linear = |name: &str| -> Result<Linear> {
            let get = |suffix: &str| {
                let key = format!("{name}.{suffix}");
                tensors
                    .get(&key)
                    .cloned()
                    .with_context(|| format!("the projector has no tensor `{key}`"))
            };
            Ok(Linear::new(get("weight")?, get("bias")?))
        };
        Ok(Self {
            linear_1: linear(NAMES[0])?,
            linear_2: linear(NAMES[1])?,
            tensors,
        })
    }

    pub fn load(path: &Path) -> Result<Self> {
        let tensors = candle_core::safetensors::load(path, &Device::Cpu)
            .with_context(|| format!("cannot read the projector {}", path.display()))?;
        Self::from_tensors(tensors).with_context(|| format!("in {}", path.display()))
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        let detached: HashMap<String, Tensor> = self
            .tensors
            .iter()
            .map(|(n, t)| (n.clone(), t.detach()))
            .collect();
        candle_core::safetensors::save(&detached, path)
            .with_context(|| format!("cannot write {}", path.display()))
    }

    /// Encoder features (…, vision_dim) → visual tokens (…, lm_dim).
    pub fn forward(&self, features: &Tensor) -> Result<Tensor> {
        self.linear_2
            .forward(&self.linear_1.forward(features)?.gelu_erf()?)
    }
}
