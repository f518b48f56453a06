//! nano-vit's recipe: a classification proxy on generated scenes. Each patch
//! learns to name what its grid cell holds (nothing, or one of 12
//! shape–colour pairs), so every visual token carries what and where.

use super::scene::{Scene, COLOURS, SHAPES};
use super::vit::{Vit, VitConfig};
use crate::model::random::normal_vec;
use crate::train::cross_entropy::cross_entropy_rows;
use crate::train::optim::{AdamW, AdamWConfig};
use anyhow::{Context, Result};
use candle_core::{Device, Tensor, Var};
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

/// Empty, then every shape × colour.
pub const NUM_CLASSES: usize = 1 + SHAPES.len() * COLOURS.len();

/// Scene seeds the recipe trains on start here; lesson data uses small seeds.
const TRAIN_SEEDS: u64 = 1 << 32;
const HELDOUT_SEEDS: u64 = 1 << 33;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Recipe {
    pub steps: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub weight_decay: f64,
    pub seed: u64,
}

impl Default for Recipe {
    fn default() -> Self {
        Self {
            steps: 4000,
            batch_size: 32,
            learning_rate: 3e-3,
            weight_decay: 0.01,
            seed: 0,
        }
    }
}

/// What a finished recipe measured, saved beside the weights.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecipeReport {
    pub recipe: Recipe,
    pub final_loss: f64,
    /// Share of held-out patches whose cell content the head names right.
    pub heldout_patch_accuracy: f64,
    pub seconds: f64,
}

/// The proxy label of every patch of `scene`, in patch order.
pub fn patch_labels(scene: &Scene, cfg: &VitConfig) -> Vec<u32> {
    let g = cfg.grid();
    let mut out = Vec::with_capacity(g * g);
    for gy in 0..g {
        for gx in 0..g {
            let cell = (gy * 2 / g) * 2 + gx * 2 / g;
            out.push(scene.items.iter().find(|it| it.cell == cell).map_or(0, |it| {
                let s = SHAPES.iter().position(|&s| s == it.shape).expect("known shape");
                let c = COLOURS
                    .iter()
                    .position(|&c| c == it.colour)
                    .expect("known colour");
                (1 + s * COLOURS.len() + c) as u32
            }));
        }
    }
    out
}

/// Fresh weights: N(0, 0.02) matrices and position embeddings, zero biases,
/// unit norms.
pub fn init_tensors(cfg: &VitConfig, seed: u64) -> Result<HashMap<String, Tensor>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut out = HashMap::new();
    for (name, shape) in cfg.tensor_shapes() {
        let n: usize = shape.iter().product();
        let values = if name.contains("norm") && name.ends_with("weight") {
            vec![1.0; n]
        } else if name.ends_with("bias") {
            vec![0.0; n]
        } else {
            normal_vec(&mut rng, n, 0.0, 0.02)
        };
        out.insert(name, Tensor::from_vec(values, shape, &Device::Cpu)?);
    }
    Ok(out)
}

/// Patches (b, patches, dim) and labels (b·patches) of scenes `seeds`.
fn batch(vit: &Vit, seeds: impl Iterator<Item = u64>) -> Result<(Tensor, Tensor)> {
    let (mut patches, mut labels) = (Vec::new(), Vec::new());
    for seed in seeds {
        let scene = Scene::random(seed);
        patches.push(vit.patches(&scene.render())?);
        labels.extend(patch_labels(&scene, &vit.cfg));
    }
    let n = labels.len();
    Ok((
        Tensor::stack(&patches, 0)?,
        Tensor::from_vec(labels, n, &Device::Cpu)?,
    ))
}

fn loss(vit: &Vit, patches: &Tensor, labels: &Tensor) -> Result<Tensor> {
    let logits = vit.classify(&vit.forward(patches)?)?;
    Ok(cross_entropy_rows(&logits.flatten_to(1)?, labels)?.mean_all()?)
}

/// Share of patches of held-out scenes whose label the head predicts.
pub fn heldout_accuracy(vit: &Vit, scenes: u64) -> Result<f64> {
    let (patches, labels) = batch(vit, HELDOUT_SEEDS..HELDOUT_SEEDS + scenes)?;
    let pred = vit.classify(&vit.forward(&patches)?)?.flatten_to(1)?.argmax(1)?;
    let right = pred.eq(&labels)?.to_dtype(candle_core::DType::F32)?.sum_all()?;
    Ok(right.to_scalar::<f32>()? as f64 / labels.elem_count() as f64)
}

/// Trains nano-vit from scratch; `on_step(step, loss)` sees each step.
pub fn pretrain(recipe: &Recipe, on_step: &mut dyn FnMut(usize, f64)) -> Result<(Vit, RecipeReport)> {
    let started = Instant::now();
    let cfg = VitConfig::nano();
    let vars: Vec<(String, Var)> = init_tensors(&cfg, recipe.seed)?
        .into_iter()
        .map(|(name, t)| Ok((name, Var::from_tensor(&t)?)))
        .collect::<Result<_>>()?;
    let tensors = vars
        .iter()
        .map(|(name, v)| (name.clone(), v.as_tensor().clone()))
        .collect();
    let vit = Vit::from_tensors(cfg, &tensors)?;
    let mut opt = AdamW::new(
        vars,
        AdamWConfig {
            weight_decay: recipe.weight_decay,
            ..Default::default()
        },
    )?;
    let mut last = f64::NAN;
    for step in 0..recipe.steps {
        let first = TRAIN_SEEDS + (recipe.seed << 24) + (step * recipe.batch_size) as u64;
        let (patches, labels) = batch(&vit, first..first + recipe.batch_size as u64)?;
        let l = loss(&vit, &patches, &labels)?;
        let grads = l.backward()?;
        let mut sums = vec![None; opt.params.len()];
        opt.add_gradients(&grads, &mut sums)?;
        let grads = opt.finish_gradients(sums)?;
        // Cosine decay to a tenth, after a short warm-up.
        let warm = (step + 1) as f64 / 50.0;
        let progress = step as f64 / recipe.steps as f64;
        let cosine = 0.1 + 0.9 * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos());
        opt.step(&grads, recipe.learning_rate * warm.min(1.0) * cosine)?;
        last = l.to_scalar::<f32>()? as f64;
        on_step(step, last);
    }
    let report = RecipeReport {
        recipe: recipe.clone(),
        final_loss: last,
        heldout_patch_accuracy: heldout_accuracy(&vit, 200)?,
        seconds: started.elapsed().as_secs_f64(),
    };
    Ok((vit, report))
}

/// Writes config.json, model.safetensors and recipe.json into `dir`.
pub fn save(vit: &Vit, report: &RecipeReport, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_string_pretty(&vit.cfg)? + "\n",
    )?;
    std::fs::write(
        dir.join("recipe.json"),
        serde_json::to_string_pretty(report)? + "\n",
    )?;
    candle_core::safetensors::save(vit.tensors(), dir.join("model.safetensors"))?;
    Ok(())
}
