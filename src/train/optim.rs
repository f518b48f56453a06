//! AdamW with per-parameter weight decay, gradient-norm clipping and a state
//! that can be saved and restored exactly (candle's keeps its moments private).

use anyhow::{Context, Result};
use candle_core::backprop::GradStore;
use candle_core::{Device, Tensor, Var};
use std::collections::HashMap;
use std::path::Path;

#[derive(Debug, Clone, Copy)]
pub struct AdamWConfig {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        Self {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        }
    }
}

pub struct Param {
    pub name: String,
    pub var: Var,
    /// Biases, norm scales and DoRA magnitudes are not decayed.
    pub decay: bool,
    /// This parameter's learning rate is the schedule's times this (LoRA+).
    pub lr_scale: f64,
    m: Tensor,
    v: Tensor,
}

pub struct AdamW {
    pub config: AdamWConfig,
    pub params: Vec<Param>,
    /// Optimizer steps taken.
    pub step: usize,
}

impl AdamW {
    pub fn new(vars: Vec<(String, Var)>, config: AdamWConfig) -> Result<Self> {
        let params = vars
            .into_iter()
            .map(|(name, var)| {
                let decay = !(name.ends_with(".bias")
                    || name.ends_with("norm.weight")
                    || name.ends_with("lora_magnitude_vector"));
                let m = var.as_tensor().zeros_like()?;
                let v = var.as_tensor().zeros_like()?;
                Ok(Param {
                    name,
                    var,
                    decay,
                    lr_scale: 1.0,
                    m,
                    v,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            config,
            params,
            step: 0,
        })
    }

    /// LoRA+ (Hayou et al. 2024, arXiv 2402.12354): B learns `ratio` times
    /// faster than A.
    pub fn set_loraplus_ratio(&mut self, ratio: f64) {
        for p in &mut self.params {
            if p.name.ends_with("lora_B.weight") {
                p.lr_scale = ratio;
            }
        }
    }

    pub fn num_params(&self) -> usize {
        self.params.iter().map(|p| p.var.elem_count()).sum()
    }

    /// Adds what `grads` holds for each parameter to `sums` (one slot per
    /// parameter): micro-batches and checkpointed blocks each bring a part.
    pub fn add_gradients(&self, grads: &GradStore, sums: &mut [Option<Tensor>]) -> Result<()> {
        for (p, sum) in self.params.iter().zip(sums.iter_mut()) {
            if let Some(g) = grads.get(p.var.as_tensor()) {
                *sum = Some(match sum.take() {
                    None => g.clone(),
                    Some(s) => (s + g)?,
                });
            }
        }
        Ok(())
    }

    /// Summed gradients for `step`, zeros where none reached a parameter.
    pub fn finish_gradients(&self, sums: Vec<Option<Tensor>>) -> Result<Vec<Tensor>> {
        self.params
            .iter()
            .zip(sums)
            .map(|(p, s)| match s {
                Some(g) => Ok(g),
                None => Ok(p.var.as_tensor().zeros_like()?),
            })
            .collect()
    }

    /// One update with already accumulated (and clipped) gradients.
    pub fn step(&mut self, grads: &[Tensor], lr: f64) -> Result<()> {
        self.step += 1;
        let c = self.config;
        let t = self.step as i32;
        let (bc1, bc2) = (1.0 - c.beta1.powi(t), 1.0 - c.beta2.powi(t));
        for (p, g) in self.params.iter_mut().zip(grads) {
            let lr = lr * p.lr_scale;
            p.m = ((&p.m * c.beta1)? + (g * (1.0 - c.beta1))?)?;
            p.v = ((&p.v * c.beta2)? + (g.sqr()? * (1.0 - c.beta2))?)?;
            let m_hat = (&p.m / bc1)?;
            let v_hat = (&p.v / bc2)?;
            let update = (m_hat / (v_hat.sqrt()? + c.eps)?)?;
            let mut theta = p.var.as_tensor().clone();
            if p.decay && c.weight_decay > 0.0 {
                theta = (theta * (1.0 - lr * c.weight_decay))?;
            }
            p.var.set(&(theta - (update * lr)?)?)?;
        }
        Ok(())
    }

    /// Saves both moments and the step count as safetensors.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut map = HashMap::new();
        for p in &self.params {
            map.insert(format!("exp_avg.{}", p.name), p.m.clone());
            map.insert(format!("exp_avg_sq.{}", p.name), p.v.clone());
        }
        map.insert("step".into(), Tensor::new(&[self.step as u32], &Device::Cpu)?);
        crate::model::weights::save_safetensors(&map, path)
    }

    pub fn load(&mut self, path: &Path) -> Result<()> {
        let map = candle_core::safetensors::load(path, &Device::Cpu)
            .with_context(|| format!("cannot read optimizer state {}", path.display()))?;
        let get = |k: &str| {
            map.get(k)
                .with_context(|| format!("{}: missing `{k}`", path.display()))
        };
        for p in &mut self.params {
            p.m = get(&format!("exp_avg.{}", p.name))?.to_dtype(p.var.dtype())?;
            p.v = get(&format!("exp_avg_sq.{}", p.name))?.to_dtype(p.var.dtype())?;
        }
        self.step = get("step")?.to_vec1::<u32>()?[0] as usize;
        Ok(())
    }
}

/// Global L2 norm of the gradients.
pub fn grad_norm(grads: &[Tensor]) -> Result<f64> {
    let mut total = 0.0;
    for g in grads {
        total += g
            .sqr()?
            .sum_all()?
            .to_dtype(candle_core::DType::F64)?
            .to_scalar::<f64>()?;
    }
    Ok(total.sqrt())
}

/// Scales gradients down so their global norm is at most `max_norm`.
pub fn clip(grads: Vec<Tensor>, norm: f64, max_norm: f64) -> Result<Vec<Tensor>> {
    if max_norm <= 0.0 || norm <= max_norm || !norm.is_finite() {
        return Ok(grads);
    }
    let scale = max_norm / (norm + 1e-6);
    Ok(grads
        .into_iter()
        .map(|g| g * scale)
        .collect::<candle_core::Result<Vec<_>>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adamw_matches_the_formula_on_one_scalar() -> Result<()> {
        let var = Var::new(&[1.0f64], &Device::Cpu)?;
        let cfg = AdamWConfig {
            weight_decay: 0.1,
            ..Default::default()
        };
        let mut opt = AdamW::new(vec![("w".into(), var.clone())], cfg)?;
        let g = Tensor::new(&[0.5f64], &Device::Cpu)?;
        opt.step(std::slice::from_ref(&g), 0.01)?;
        // Step 1: m̂ = g, v̂ = g², so the update is g/(|g|+eps) ≈ 1.
        let want = 1.0 * (1.0 - 0.01 * 0.1) - 0.01 * 0.5 / (0.5 + 1e-8);
        assert!((var.to_vec1::<f64>()?[0] - want).abs() < 1e-12);
        Ok(())
    }

    #[test]
    fn loraplus_moves_b_ratio_times_as_far_as_a() -> Result<()> {
        let a = Var::new(&[1.0f64, -1.0], &Device::Cpu)?;
        let b = Var::new(&[1.0f64, -1.0], &Device::Cpu)?;
        let names = ["l.lora_A.weight", "l.lora_B.weight"];
        let vars = names
            .iter()
            .map(|n| n.to_string())
            .zip([a.clone(), b.clone()])
            .collect();
        let mut opt = AdamW::new(vars, AdamWConfig::default())?;
        opt.set_loraplus_ratio(16.0);
        let g = Tensor::new(&[0.3f64, -0.7], &Device::Cpu)?;
        opt.step(&[g.clone(), g], 1e-3)?;
        // Step 1 moves each weight by lr·g/(|g|+eps): 1e-3 for A, 16e-3 for B.
        let moved = |v: &Var, start: [f64; 2]| -> Result<Vec<f64>> {
            Ok(v.to_vec1::<f64>()?
                .iter()
                .zip(start)
                .map(|(x, s)| (s - x).abs())
                .collect())
        };
        for (da, db) in moved(&a, [1.0, -1.0])?.into_iter().zip(moved(&b, [1.0, -1.0])?) {
            assert!((da - 1e-3).abs() < 1e-9, "{da}");
            assert!((db - 16e-3).abs() < 1e-9, "{db}");
        }
        Ok(())
    }

    #[test]
    fn state_round_trips() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let var = Var::new(&[1.0f32, 2.0], &Device::Cpu)?;
        let mut opt = AdamW::new(vec![("w".into(), var.clone())], AdamWConfig::default())?;
        opt.step(&[Tensor::new(&[0.5f32, -1.0], &Device::Cpu)?], 0.1)?;
        opt.save(&dir.path().join("opt.safetensors"))?;
        let mut other = AdamW::new(vec![("w".into(), var)], AdamWConfig::default())?;
        other.load(&dir.path().join("opt.safetensors"))?;
        assert_eq!(other.step, 1);
        assert_eq!(
            other.params[0].m.to_vec1::<f32>()?,
            opt.params[0].m.to_vec1::<f32>()?
        );
        assert_eq!(
            other.params[0].v.to_vec1::<f32>()?,
            opt.params[0].v.to_vec1::<f32>()?
        );
        Ok(())
    }

    #[test]
    fn clipping_caps_the_global_norm() -> Result<()> {
        let g = vec![
            Tensor::new(&[3.0f32], &Device::Cpu)?,
            Tensor::new(&[4.0f32], &Device::Cpu)?,
        ];
        let n = grad_norm(&g)?;
        assert!((n - 5.0).abs() < 1e-6);
        let c = clip(g, n, 1.0)?;
        assert!((grad_norm(&c)? - 1.0).abs() < 1e-4);
        Ok(())
    }
}
