//! PEFT adapter folders: `adapter_config.json` plus `adapter_model.safetensors`
//! (metadata `format: pt`), with PEFT's key names, so Python PEFT loads what we
//! write and we load what it writes.

use super::lora::LoraInit;
use super::{attach, visit_adapter_tensors_mut, LoraConfig, Target};
use crate::model::weights::save_safetensors;
use crate::model::Qwen;
use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Tensor};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::path::Path;

pub const CONFIG_FILE: &str = "adapter_config.json";
pub const WEIGHTS_FILE: &str = "adapter_model.safetensors";

pub fn is_adapter_dir(dir: &Path) -> bool {
    dir.join(CONFIG_FILE).exists()
}

pub fn config_json(cfg: &LoraConfig, base_model: &str) -> Value {
    json!({
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "base_model_name_or_path": base_model,
        "revision": null,
        "r": cfg.rank,
        "lora_alpha": cfg.alpha,
        "lora_dropout": cfg.dropout,
        "bias": "none",
        "fan_in_fan_out": false,
        "target_modules": cfg.target.to_peft(),
        "use_rslora": cfg.use_rslora,
        "use_dora": cfg.use_dora,
        "init_lora_weights": match cfg.init {
            LoraInit::KaimingUniform => json!(true),
            LoraInit::Gaussian => json!("gaussian"),
            LoraInit::Pissa => json!("pissa"),
            LoraInit::PissaNiter(n) => json!(format!("pissa_niter_{n}")),
            LoraInit::Olora => json!("olora"),
        },
        "modules_to_save": if cfg.modules_to_save.is_empty() { json!(null) } else { json!(cfg.modules_to_save) },
        "lora_bias": false,
        "inference_mode": true,
    })
}

/// Writes the model's adapters as a PEFT folder. A PiSSA adapter is written
/// as plain LoRA of twice the rank, ΔW = B·A − B₀·A₀, which a stock PEFT
/// applies to the original (not the residual) base.
pub fn save(model: &Qwen, cfg: &LoraConfig, base_model: &str, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut tensors = super::adapter_tensors(model)?;
    if tensors.is_empty() {
        bail!("the model has no adapters to save");
    }
    let mut cfg = cfg.clone();
    if cfg.init.mutates_base() {
        let mut converted = std::collections::HashMap::new();
        model.clone().visit_linears_mut(&mut |module, lin| {
            let Some(l) = lin.adapter().map(|a| a.lora()) else {
                return Ok(());
            };
            let (a0, b0) = l
                .initial
                .as_ref()
                .context("a PiSSA adapter lost its initial factors")?;
            let a = Tensor::cat(&[&l.a.detach(), a0], 0)?;
            let b = Tensor::cat(&[&l.b.detach(), &b0.neg()?], 1)?;
            converted.insert(super::peft_key(module, "lora_A.weight"), a);
            converted.insert(super::peft_key(module, "lora_B.weight"), b);
            Ok(())
        })?;
        tensors = converted;
        cfg.rank *= 2;
        cfg.alpha *= if cfg.use_rslora {
            std::f64::consts::SQRT_2
        } else {
            2.0
        };
        cfg.init = LoraInit::KaimingUniform;
    }
    std::fs::write(
        dir.join(CONFIG_FILE),
        serde_json::to_string_pretty(&config_json(&cfg, base_model))?,
    )?;
    save_safetensors(&tensors, &dir.join(WEIGHTS_FILE))
}

/// `base_model_name_or_path` of an adapter folder.
pub fn read_base_name(dir: &Path) -> Result<String> {
    let path = dir.join(CONFIG_FILE);
    let v: Value = serde_json::from_str(
        &std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?,
    )
    .with_context(|| format!("{}: invalid JSON", path.display()))?;
    Ok(v.get("base_model_name_or_path")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string())
}

/// Reads `adapter_config.json` into our config.
pub fn read_config(dir: &Path) -> Result<LoraConfig> {
    let path = dir.join(CONFIG_FILE);
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let v: Value =
        serde_json::from_str(&text).with_context(|| format!("{}: invalid JSON", path.display()))?;
    let at = |key: &str| format!("{}: `{key}`", path.display());
    if let Some(t) = v.get("peft_type").and_then(Value::as_str) {
        if t != "LORA" {
            bail!("{} is {t:?}; only LORA adapters are supported", at("peft_type"));
        }
    }
    let rank = v
        .get("r")
        .and_then(Value::as_u64)
        .with_context(|| format!("{} is missing or not an integer", at("r")))? as usize;
    let alpha = v.get("lora_alpha").and_then(Value::as_f64).unwrap_or(8.0);
    let target = match v.get("target_modules") {
        Some(Value::String(s)) => Target::Regex(s.clone()),
        Some(Value::Array(names)) => {
            let names: Vec<String> = names
                .iter()
                .filter_map(|n| n.as_str().map(String::from))
                .collect();
            let all: HashSet<&str> = super::ALL_PROJECTIONS.into_iter().collect();
            if let Some(bad) = names
                .iter()
                .find(|n| !all.contains(n.as_str()) && n.as_str() != "all-linear")
            {
                bail!(
                    "{} lists {bad:?}, which this model has no adapter slot for",
                    at("target_modules")
                );
            }
            if names.iter().any(|n| n == "all-linear") {
                Target::AllLinear
            } else {
                Target::Names(names)
            }
        }
        _ => bail!("{} is missing", at("target_modules")),
    };
    if v.get("bias").and_then(Value::as_str).is_some_and(|b| b != "none") {
        bail!("{} must be \"none\"", at("bias"));
    }
    Ok(LoraConfig {
        rank,
        alpha,
        dropout: v.get("lora_dropout").and_then(Value::as_f64).unwrap_or(0.0) as f32,
        target,
        use_rslora: v.get("use_rslora").and_then(Value::as_bool).unwrap_or(false),
        use_dora: v.get("use_dora").and_then(Value::as_bool).unwrap_or(false),
        init: if v.get("init_lora_weights").and_then(Value::as_str) == Some("gaussian") {
            LoraInit::Gaussian
        } else {
            LoraInit::KaimingUniform
        },
        seed: 0,
        modules_to_save: match v.get("modules_to_save") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|i| {
                    i.as_str()
                        .map(String::from)
                        .with_context(|| format!("{} holds a non-string", at("modules_to_save")))
                })
                .collect::<Result<_>>()?,
            Some(_) => bail!("{} must be a list of module names or null", at("modules_to_save")),
        },
    })
}

/// Attaches the adapter stored in `dir` to `model` (inference: no dropout).
pub fn load(model: &mut Qwen, dir: &Path) -> Result<LoraConfig> {
    let mut cfg = read_config(dir)?;
    cfg.dropout = 0.0;
    attach(model, &cfg)?;
    let file = dir.join(WEIGHTS_FILE);
    let stored = candle_core::safetensors::load(&file, &Device::Cpu)
        .with_context(|| format!("{}: not a readable safetensors file", file.display()))?;
    let mut used = HashSet::new();
    visit_adapter_tensors_mut(model, &mut |name, t| {
        let src = stored
            .get(name)
            .with_context(|| format!("{}: missing tensor `{name}`", file.display()))?;
        if src.dims() != t.dims() {
            bail!(
                "{}: tensor `{name}` has shape {:?}, expected {:?}",
                file.display(),
                src.dims(),
                t.dims()
            );
        }
        *t = src.to_dtype(DType::F32)?;
        used.insert(name.to_string());
        Ok(())
    })?;
    if let Some(extra) = stored.keys().find(|k| !used.contains(*k)) {
        bail!(
            "{}: tensor `{extra}` matches no adapter of this model (built for another base?)",
            file.display()
        );
    }
    Ok(cfg)
}
