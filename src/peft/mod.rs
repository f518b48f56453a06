//! Parameter-efficient fine-tuning: LoRA, rsLoRA and DoRA on the decoder's
//! projections, numerically as HuggingFace PEFT computes them, with merge and
//! PEFT-compatible adapter files.

pub mod dora;
pub mod dropout;
pub mod files;
pub mod lora;
pub mod olora;
pub mod pissa;

use crate::model::linear::BaseWeight;
use crate::model::Qwen;
use anyhow::{bail, Context, Result};
use candle_core::{Tensor, Var};
use dora::Dora;
use dropout::Dropout;
use lora::{Lora, LoraInit};
use std::collections::HashMap;

#[derive(Debug, Clone)]
pub enum Adapter {
    Lora(Lora),
    Dora(Dora),
}

impl Adapter {
    pub fn lora(&self) -> &Lora {
        match self {
            Adapter::Lora(l) => l,
            Adapter::Dora(d) => &d.lora,
        }
    }

    pub fn lora_mut(&mut self) -> &mut Lora {
        match self {
            Adapter::Lora(l) => l,
            Adapter::Dora(d) => &mut d.lora,
        }
    }

    /// The layer's output given its base output `base` = W·x (no bias).
    pub fn forward(&self, x: &Tensor, base: &Tensor, weight: &BaseWeight) -> Result<Tensor> {
        match self {
            Adapter::Lora(l) => Ok((base + l.delta_out(&l.branch_input(x)?)?)?),
            Adapter::Dora(d) => d.forward(x, base, weight),
        }
    }

    /// The weight that computes the same layer with no adapter.
    pub fn merged_weight(&self, weight: &Tensor) -> Result<Tensor> {
        match self {
            Adapter::Lora(l) => Ok((weight + l.delta_weight()?)?),
            Adapter::Dora(d) => d.merged_weight(weight),
        }
    }

    pub fn detached(&self) -> Self {
        let mut copy = self.clone();
        let l = copy.lora_mut();
        l.a = l.a.detach();
        l.b = l.b.detach();
        l.dropout = None;
        l.initial = l.initial.as_ref().map(|(a, b)| (a.detach(), b.detach()));
        if let Adapter::Dora(d) = &mut copy {
            d.magnitude = d.magnitude.detach();
        }
        copy
    }
}

/// Which projections get an adapter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Module names matched as suffixes, e.g. `q_proj`, `v_proj`.
    Names(Vec<String>),
    /// All seven projections (PEFT's `all-linear`, LLaMA-Factory's `all`).
    AllLinear,
    /// A regular expression over the full module path, as PEFT treats a string.
    Regex(String),
}

pub const ALL_PROJECTIONS: [&str; 7] = [
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "gate_proj",
    "up_proj",
    "down_proj",
];

impl Target {
    /// `all`/`all-linear`, a comma-separated list of names, or a regex (any
    /// value with regex punctuation).
    pub fn parse(s: &str) -> Result<Self> {
        let s = s.trim();
        if s == "all" || s == "all-linear" {
            return Ok(Target::AllLinear);
        }
        if s.contains(['.', '*', '(', '|', '[', '^', '$', '\\', '+', '?']) {
            regex::Regex::new(s)
                .with_context(|| format!("lora_target {s:?} is not a valid regular expression"))?;
            return Ok(Target::Regex(s.to_string()));
        }
        let names: Vec<String> = s
            .split(',')
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty())
            .collect();
        for n in &names {
            if !ALL_PROJECTIONS.contains(&n.as_str()) {
                bail!(
                    "lora_target {n:?} is not a projection; expected some of {}",
                    ALL_PROJECTIONS.join(", ")
                );
            }
        }
        if names.is_empty() {
            bail!("lora_target is empty");
        }
        Ok(Target::Names(names))
    }

    pub fn matches(&self, module: &str) -> bool {
        match self {
            Target::AllLinear => true,
            Target::Names(names) => names.iter().any(|n| module.ends_with(&format!(".{n}"))),
            Target::Regex(re) => regex::Regex::new(&format!("^(?:{re})$")).is_ok_and(|r| r.is_match(module)),
        }
    }

    /// PEFT's `target_modules` value.
    pub fn to_peft(&self) -> serde_json::Value {
        match self {
            Target::AllLinear => serde_json::json!(ALL_PROJECTIONS),
            Target::Names(n) => serde_json::json!(n),
            Target::Regex(r) => serde_json::json!(r),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct LoraConfig {
    pub rank: usize,
    pub alpha: f64,
    pub dropout: f32,
    pub target: Target,
    pub use_rslora: bool,
    pub use_dora: bool,
    pub init: LoraInit,
    pub seed: u64,
    /// Modules trained whole beside the adapters (`lm_head`, `embed_tokens`,
    /// `norm` …), matched by the end of their path as PEFT does.
    pub modules_to_save: Vec<String>,
}

impl Default for LoraConfig {
    /// PEFT's defaults: r 8, α 8, no dropout, q/v projections.
    fn default() -> Self {
        Self {
            rank: 8,
            alpha: 8.0,
            dropout: 0.0,
            target: Target::Names(vec!["q_proj".into(), "v_proj".into()]),
            use_rslora: false,
            use_dora: false,
            init: LoraInit::KaimingUniform,
            seed: 0,
            modules_to_save: Vec::new(),
        }
    }
}

impl LoraConfig {
    pub fn scaling(&self) -> f64 {
        lora::scaling(self.alpha, self.rank, self.use_rslora)
    }

    /// What `attach` refuses, checkable before any model is loaded.
    pub fn validate(&self) -> Result<()> {
        if self.rank == 0 {
            bail!("lora_rank must be at least 1");
        }
        if self.use_dora && self.init.mutates_base() {
            bail!("PiSSA or OLoRA initialisation with DoRA is not supported; choose one");
        }
        if !(0.0..1.0).contains(&self.dropout) {
            bail!("lora_dropout must be in [0, 1)");
        }
        Ok(())
    }
}

/// Attaches a fresh adapter to every targeted projection; returns how many.
pub fn attach(model: &mut Qwen, cfg: &LoraConfig) -> Result<usize> {
    cfg.validate()?;
    let mut count = 0u64;
    model.visit_linears_mut(&mut |module, lin| {
        if !cfg.target.matches(module) {
            return Ok(());
        }
        count += 1;
        let seed = cfg.seed.wrapping_mul(1_000_003).wrapping_add(count);
        let mut l = Lora::init(
            lin.in_features(),
            lin.out_features(),
            cfg.rank,
            cfg.scaling(),
            cfg.init,
            seed,
        )?;
        let dtype = lin.base().dtype();
        (l.a, l.b) = (l.a.to_dtype(dtype)?, l.b.to_dtype(dtype)?);
        if cfg.init.mutates_base() {
            let w = lin.weight()?.detach();
            let (a, b, residual) = match cfg.init {
                LoraInit::Olora => olora::decompose(&w, cfg.rank, cfg.scaling())?,
                LoraInit::PissaNiter(n) => pissa::decompose(&w, cfg.rank, cfg.scaling(), Some(n), seed)?,
                _ => pissa::decompose(&w, cfg.rank, cfg.scaling(), None, seed)?,
            };
            l.initial = Some((a.clone(), b.clone()));
            (l.a, l.b) = (a, b);
            *lin.weight_mut()
                .context("PiSSA and OLoRA need a full-precision base; quantize after attaching")? = residual;
        }
        if cfg.dropout > 0.0 {
            l.dropout = Some(Dropout::new(cfg.dropout, seed ^ 0xD40F));
        }
        let adapter = if cfg.use_dora {
            Adapter::Dora(Dora::new(l, &lin.weight()?.detach())?)
        } else {
            Adapter::Lora(l)
        };
        lin.set_adapter(Some(adapter));
        Ok(())
    })?;
    if count == 0 {
        bail!("lora_target {:?} matches no projection of this model", cfg.target);
    }
    save_modules(model, &cfg.modules_to_save)?;
    Ok(count as usize)
}

/// Marks the parameters of every module whose path ends with one of `names`
/// (PEFT's rule) to be trained whole and saved with the adapter. A tied
/// lm_head or embedding is untied first, so only the named one trains.
fn save_modules(model: &mut Qwen, names: &[String]) -> Result<()> {
    if names.is_empty() {
        return Ok(());
    }
    if names
        .iter()
        .any(|n| "lm_head".ends_with(n.as_str()) || "model.embed_tokens".ends_with(n.as_str()))
    {
        model.untie_lm_head()?;
    }
    let mut adapted = Vec::new();
    model.visit_linears_mut(&mut |module, lin| {
        if lin.adapter().is_some() {
            adapted.push(module.to_string());
        }
        Ok(())
    })?;
    let mut saved = Vec::new();
    let mut matched = vec![false; names.len()];
    model.visit_params_mut(&mut |name, _| {
        let module = name.rsplit_once('.').map_or(name, |(m, _)| m);
        let mut hit = false;
        for (n, seen) in names.iter().zip(matched.iter_mut()) {
            if module.ends_with(n.as_str()) {
                (*seen, hit) = (true, true);
            }
        }
        if hit {
            if adapted.iter().any(|a| a == module) {
                bail!("`{module}` has a LoRA adapter; it cannot also be in modules_to_save");
            }
            saved.push(name.to_string());
        }
        Ok(())
    })?;
    if let Some((missing, _)) = names.iter().zip(&matched).find(|(_, seen)| !**seen) {
        bail!("modules_to_save: `{missing}` matches no module of this model");
    }
    model.saved_modules = saved;
    Ok(())
}

/// PEFT's name for an adapter tensor of `module`.
pub fn peft_key(module: &str, tensor: &str) -> String {
    format!("base_model.model.{module}.{tensor}")
}

/// Every adapter tensor by its PEFT name, mutably.
pub fn visit_adapter_tensors_mut(
    model: &mut Qwen,
    f: &mut dyn FnMut(&str, &mut Tensor) -> Result<()>,
) -> Result<()> {
    model.visit_linears_mut(&mut |module, lin| {
        let Some(adapter) = lin.adapter_mut() else {
            return Ok(());
        };
        {
            let l = adapter.lora_mut();
            f(&peft_key(module, "lora_A.weight"), &mut l.a)?;
            f(&peft_key(module, "lora_B.weight"), &mut l.b)?;
        }
        if let Adapter::Dora(d) = adapter {
            // PEFT writes the magnitude without a `.weight` suffix.
            f(&peft_key(module, "lora_magnitude_vector"), &mut d.magnitude)?;
        }
        Ok(())
    })?;
    // Whole modules saved beside the adapters, under their own names.
    let saved = model.saved_modules.clone();
    model.visit_params_mut(&mut |name, t| match saved.iter().any(|s| s == name) {
        true => f(&format!("base_model.model.{name}"), t),
        false => Ok(()),
    })
}

/// Turns the adapter tensors into trainable vars; the base stays frozen.
pub fn make_trainable(model: &mut Qwen) -> Result<Vec<(String, Var)>> {
    let mut vars = Vec::new();
    let dtype = model.dtype();
    visit_adapter_tensors_mut(model, &mut |name, t| {
        // A saved module may have been stored compact (QLoRA); it trains at full precision.
        let var = Var::from_tensor(&t.to_dtype(dtype)?)?;
        *t = var.as_tensor().clone();
        vars.push((name.to_string(), var));
        Ok(())
    })?;
    Ok(vars)
}

pub fn adapter_tensors(model: &Qwen) -> Result<HashMap<String, Tensor>> {
    let mut out = HashMap::new();
    visit_adapter_tensors_mut(&mut model.clone(), &mut |name, t| {
        out.insert(name.to_string(), t.detach());
        Ok(())
    })?;
    Ok(out)
}

pub fn has_adapters(model: &Qwen) -> bool {
    let mut any = false;
    let _ = model.clone().visit_linears_mut(&mut |_, lin| {
        any |= lin.adapter().is_some();
        Ok(())
    });
    any
}

/// Folds every adapter into its base weight.
pub fn merge(model: &mut Qwen) -> Result<()> {
    model.visit_linears_mut(&mut |_, lin| lin.merge())
}

/// Folds every adapter into its base weight and drops it, so that the model
/// is a plain one again and a new adapter can go on top (PEFT's
/// `merge_and_unload`).
pub fn merge_and_unload(model: &mut Qwen) -> Result<()> {
    model.visit_linears_mut(&mut |_, lin| {
        lin.merge()?;
        lin.set_adapter(None);
        Ok(())
    })
}

pub fn unmerge(model: &mut Qwen) -> Result<()> {
    model.visit_linears_mut(&mut |_, lin| {
        lin.unmerge();
        Ok(())
    })
}

/// Reseeds every adapter's dropout for optimizer step `step`.
pub fn reseed_dropout(model: &Qwen, step: usize) {
    // A clone shares the dropout RNGs (they sit behind `Arc`s).
    let _ = model.clone().visit_linears_mut(&mut |_, lin| {
        if let Some(d) = lin.adapter().and_then(|a| a.lora().dropout.as_ref()) {
            d.reseed(step as u64);
        }
        Ok(())
    });
}

/// Trainable adapter parameters.
pub fn num_params(model: &Qwen) -> Result<usize> {
    Ok(adapter_tensors(model)?.values().map(Tensor::elem_count).sum())
}
