//! `tunelings train <config.toml>`: keys follow LLaMA-Factory's, so a recipe
//! reads the same in both tools.

use super::schedule::SchedulerType;
use crate::data::registry::{is_file_entry, DatasetSource};
use crate::peft::lora::LoraInit;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// Supervised fine-tuning on conversations.
    #[default]
    Sft,
    /// Pre-training: every token of raw text.
    Pt,
    /// Direct Preference Optimization on `{prompt, chosen, rejected}` pairs.
    Dpo,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum FinetuningType {
    /// Every weight trained.
    Full,
    /// Adapters (LoRA, rsLoRA, DoRA) on a frozen base.
    #[default]
    Lora,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Model folder or hub id; empty for the embedded nano-qwen.
    #[serde(default)]
    pub model: Option<String>,
    /// Adapter folders, comma-separated, merged into the model in order
    /// before a fresh adapter is trained on top (LLaMA-Factory's
    /// `adapter_name_or_path` with `create_new_adapter`).
    #[serde(default)]
    pub adapter_name_or_path: Option<String>,
    /// JSONL files, comma-separated (paths relative to the config file).
    pub dataset: String,
    /// Where registered dataset names are looked up (`dataset_info.json`)
    /// and their files found.
    #[serde(default = "d_dataset_dir")]
    pub dataset_dir: String,
    /// Registry entries in the config itself, as in `dataset_info.json`.
    #[serde(default)]
    pub dataset_info: std::collections::BTreeMap<String, crate::data::registry::DatasetSpec>,
    /// Held-out JSONL; without it `val_size` splits one off the dataset.
    #[serde(default)]
    pub eval_dataset: Option<String>,
    #[serde(default)]
    pub val_size: f64,
    /// `qwen` (Qwen2.5 ChatML) or `qwen3`; default: the model's own.
    #[serde(default)]
    pub template: Option<String>,
    /// Replaces the template's default system prompt.
    #[serde(default)]
    pub default_system: Option<String>,
    #[serde(default)]
    pub stage: Stage,
    #[serde(default)]
    pub finetuning_type: FinetuningType,
    #[serde(default = "d_rank")]
    pub lora_rank: usize,
    /// Default: twice the rank, as LLaMA-Factory does.
    #[serde(default)]
    pub lora_alpha: Option<f64>,
    #[serde(default)]
    pub lora_dropout: f32,
    /// `all`, a comma-separated list like `q_proj,v_proj`, or a regex.
    #[serde(default = "d_target")]
    pub lora_target: String,
    #[serde(default)]
    pub use_rslora: bool,
    #[serde(default)]
    pub use_dora: bool,
    /// Start the adapter on W's principal singular directions.
    #[serde(default)]
    pub pissa_init: bool,
    /// Modules trained whole beside the adapters, comma-separated
    /// (`lm_head,embed_tokens`): PEFT's `modules_to_save`.
    #[serde(default)]
    pub additional_target: Option<String>,
    /// Start the adapter on W's QR basis (OLoRA).
    #[serde(default)]
    pub olora_init: bool,
    /// Subspace iterations of the randomized SVD; -1 for an exact SVD.
    #[serde(default = "d_pissa_iter")]
    pub pissa_iter: i64,
    /// 4 stores the frozen base in NF4 (QLoRA, or QDoRA with `use_dora`).
    #[serde(default)]
    pub quantization_bit: Option<u8>,
    /// Quantize the NF4 block scales too (QLoRA's double quantization).
    #[serde(default = "d_true")]
    pub double_quantization: bool,
    #[serde(default = "d_cutoff")]
    pub cutoff_len: usize,
    #[serde(default)]
    pub packing: bool,
    /// Recompute each block during the backward instead of keeping its
    /// activations: less memory, about a third more compute.
    #[serde(default)]
    pub gradient_checkpointing: bool,
    /// Loss on prompts too, not only on the replies.
    #[serde(default)]
    pub train_on_prompt: bool,
    #[serde(default)]
    pub max_samples: Option<usize>,
    #[serde(default = "d_lr")]
    pub learning_rate: f64,
    /// LoRA+: the B matrices learn this many times faster than A.
    #[serde(default)]
    pub loraplus_lr_ratio: Option<f64>,
    /// NEFTune: uniform noise of this scale on the input embeddings while
    /// training (α/√(length·hidden) per element).
    #[serde(default)]
    pub neftune_noise_alpha: Option<f64>,
    #[serde(default = "d_epochs")]
    pub num_train_epochs: f64,
    /// Overrides `num_train_epochs` when set.
    #[serde(default)]
    pub max_steps: Option<usize>,
    #[serde(default)]
    pub lr_scheduler_type: SchedulerType,
    #[serde(default)]
    pub warmup_ratio: f64,
    #[serde(default)]
    pub warmup_steps: Option<usize>,
    #[serde(default = "d_batch")]
    pub per_device_train_batch_size: usize,
    #[serde(default = "d_batch")]
    pub per_device_eval_batch_size: usize,
    #[serde(default = "d_one")]
    pub gradient_accumulation_steps: usize,
    #[serde(default)]
    pub weight_decay: f64,
    #[serde(default = "d_clip")]
    pub max_grad_norm: f64,
    #[serde(default = "d_beta1")]
    pub adam_beta1: f64,
    #[serde(default = "d_beta2")]
    pub adam_beta2: f64,
    #[serde(default = "d_eps")]
    pub adam_epsilon: f64,
    /// Evaluate every N steps (0: only at the end).
    #[serde(default)]
    pub eval_steps: usize,
    /// Checkpoint every N steps (0: only at the end).
    #[serde(default)]
    pub save_steps: usize,
    #[serde(default = "d_one")]
    pub logging_steps: usize,
    pub output_dir: PathBuf,
    #[serde(default)]
    pub overwrite_output_dir: bool,
    /// Continue from the newest checkpoint in `output_dir`.
    #[serde(default)]
    pub resume_from_checkpoint: bool,
    #[serde(default = "d_seed")]
    pub seed: u64,
    /// DPO's β: how far the policy may move from the reference.
    #[serde(default = "d_pref_beta")]
    pub pref_beta: f64,
    #[serde(default)]
    pub pref_loss: crate::train::dpo::PrefLoss,
    /// Conservative DPO's ε, the share of pairs assumed mislabelled.
    #[serde(default)]
    pub dpo_label_smoothing: f64,
    /// The weight of an SFT loss on the chosen answers during DPO.
    #[serde(default)]
    pub pref_ftx: f64,
}

fn d_rank() -> usize {
    8
}
fn d_target() -> String {
    "all".into()
}
fn d_true() -> bool {
    true
}
fn d_pissa_iter() -> i64 {
    16
}
fn d_cutoff() -> usize {
    1024
}
fn d_dataset_dir() -> String {
    "data".into()
}
fn d_lr() -> f64 {
    5e-5
}
fn d_epochs() -> f64 {
    3.0
}
fn d_batch() -> usize {
    8
}
fn d_one() -> usize {
    1
}
fn d_clip() -> f64 {
    1.0
}
fn d_beta1() -> f64 {
    0.9
}
fn d_beta2() -> f64 {
    0.999
}
fn d_eps() -> f64 {
    1e-8
}
fn d_seed() -> u64 {
    42
}
fn d_pref_beta() -> f64 {
    crate::train::dpo::DpoConfig::default().beta
}

/// Every key a config may have.
pub const KEYS: &[&str] = &[
    "model",
    "adapter_name_or_path",
    "dataset",
    "dataset_dir",
    "dataset_info",
    "eval_dataset",
    "val_size",
    "template",
    "default_system",
    "stage",
    "finetuning_type",
    "lora_rank",
    "lora_alpha",
    "lora_dropout",
    "lora_target",
    "use_rslora",
    "use_dora",
    "pissa_init",
    "pissa_iter",
    "olora_init",
    "additional_target",
    "quantization_bit",
    "double_quantization",
    "cutoff_len",
    "packing",
    "gradient_checkpointing",
    "train_on_prompt",
    "max_samples",
    "learning_rate",
    "loraplus_lr_ratio",
    "neftune_noise_alpha",
    "num_train_epochs",
    "max_steps",
    "lr_scheduler_type",
    "warmup_ratio",
    "warmup_steps",
    "per_device_train_batch_size",
    "per_device_eval_batch_size",
    "gradient_accumulation_steps",
    "weight_decay",
    "max_grad_norm",
    "adam_beta1",
    "adam_beta2",
    "adam_epsilon",
    "eval_steps",
    "save_steps",
    "logging_steps",
    "output_dir",
    "overwrite_output_dir",
    "resume_from_checkpoint",
    "seed",
    "pref_beta",
    "pref_loss",
    "dpo_label_smoothing",
    "pref_ftx",
];

impl TrainConfig {
    /// Parses a TOML config; relative paths are taken from the file's folder.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        let mut cfg = Self::from_toml(&text).with_context(|| format!("{}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        cfg.rebase(base);
        Ok(cfg)
    }

    pub fn from_toml(text: &str) -> Result<Self> {
        let table: toml::Table = text.parse().context("not valid TOML")?;
        for key in table.keys() {
            if !KEYS.contains(&key.as_str()) {
                let hint = closest(key, KEYS)
                    .map(|k| format!("; did you mean `{k}`?"))
                    .unwrap_or_default();
                bail!("unknown key `{key}`{hint}");
            }
        }
        let cfg: TrainConfig = toml::from_str(text).context("invalid value")?;
        cfg.validate()?;
        Ok(cfg)
    }

    fn rebase(&mut self, base: &Path) {
        let fix = |p: &str| -> String {
            let p = p.trim();
            if Path::new(p).is_absolute() {
                p.to_string()
            } else {
                base.join(p).display().to_string()
            }
        };
        // Registered names stay names; file entries are paths.
        let fix_entry = |e: &str| {
            if is_file_entry(e) {
                fix(e)
            } else {
                e.trim().to_string()
            }
        };
        self.dataset = self
            .dataset
            .split(',')
            .map(fix_entry)
            .collect::<Vec<_>>()
            .join(",");
        self.eval_dataset = self.eval_dataset.as_deref().map(fix_entry);
        self.dataset_dir = fix(&self.dataset_dir);
        if self.output_dir.is_relative() {
            self.output_dir = base.join(&self.output_dir);
        }
        if let Some(a) = &self.adapter_name_or_path {
            self.adapter_name_or_path = Some(a.split(',').map(fix).collect::<Vec<_>>().join(","));
        }
        if let Some(m) = &self.model {
            let local = base.join(m);
            if local.is_dir() {
                self.model = Some(local.display().to_string());
            }
        }
    }

    /// The adapter folders to merge before training, in order.
    pub fn merge_adapters(&self) -> Vec<PathBuf> {
        self.adapter_name_or_path
            .iter()
            .flat_map(|a| a.split(','))
            .map(|a| PathBuf::from(a.trim()))
            .filter(|a| !a.as_os_str().is_empty())
            .collect()
    }

    pub fn dpo(&self) -> crate::train::dpo::DpoConfig {
        crate::train::dpo::DpoConfig {
            beta: self.pref_beta,
            loss: self.pref_loss,
            label_smoothing: self.dpo_label_smoothing,
            ftx: self.pref_ftx,
        }
    }

    pub fn validate(&self) -> Result<()> {
        if !(self.pref_beta > 0.0 && self.pref_beta.is_finite()) {
            bail!("`pref_beta` must be positive (DPO's default is 0.1)");
        }
        if !(self.pref_ftx >= 0.0 && self.pref_ftx.is_finite()) {
            bail!("`pref_ftx` must be ≥ 0 (0 turns the SFT term off)");
        }
        if !(0.0..0.5).contains(&self.dpo_label_smoothing) {
            bail!("`dpo_label_smoothing` must be in [0, 0.5)");
        }
        if self.stage == Stage::Dpo && (self.packing || self.val_size > 0.0 || self.eval_dataset.is_some()) {
            bail!("`stage = \"dpo\"` trains on whole pairs: set `packing = false`, and evaluate pairs after training (eval_dataset and val_size are for SFT)");
        }
        if self.adapter_name_or_path.is_some() && self.finetuning_type == FinetuningType::Full {
            bail!("`adapter_name_or_path` needs `finetuning_type = \"lora\"`: the new adapter trains on top of the merged ones");
        }
        if self.learning_rate <= 0.0 || !self.learning_rate.is_finite() {
            bail!("`learning_rate` must be positive");
        }
        if let Some(r) = self.loraplus_lr_ratio {
            if !(r > 0.0 && r.is_finite()) {
                bail!("`loraplus_lr_ratio` must be positive (the paper uses 16)");
            }
            if self.finetuning_type != FinetuningType::Lora {
                bail!("`loraplus_lr_ratio` scales the B matrices of LoRA; it needs `finetuning_type = \"lora\"`");
            }
        }
        if self
            .neftune_noise_alpha
            .is_some_and(|a| !(a >= 0.0 && a.is_finite()))
        {
            bail!("`neftune_noise_alpha` must be ≥ 0 (the paper uses 5 to 15)");
        }
        if self.cutoff_len < 2 {
            bail!("`cutoff_len` must be at least 2");
        }
        match (self.quantization_bit, self.finetuning_type) {
            (None, _) => {}
            (Some(4), FinetuningType::Lora) => {}
            (Some(4), FinetuningType::Full) => bail!("`quantization_bit = 4` needs `finetuning_type = \"lora\"`: a quantized base cannot be trained"),
            (Some(b), _) => bail!("`quantization_bit = {b}` is not supported; use 4 (NF4)"),
        }
        if !(0.0..1.0).contains(&self.val_size) {
            bail!("`val_size` must be in [0, 1)");
        }
        if self.per_device_train_batch_size == 0 || self.gradient_accumulation_steps == 0 {
            bail!("batch size and `gradient_accumulation_steps` must be at least 1");
        }
        if self.max_steps.is_none() && self.num_train_epochs <= 0.0 {
            bail!("`num_train_epochs` must be positive (or set `max_steps`)");
        }
        // Adapter settings too, so a sweep finds a bad combination before its first run.
        if self.finetuning_type == FinetuningType::Lora {
            self.lora()?.validate()?;
        }
        Ok(())
    }

    /// The adapter settings of a `finetuning_type = "lora"` run.
    pub fn lora(&self) -> Result<crate::peft::LoraConfig> {
        Ok(crate::peft::LoraConfig {
            rank: self.lora_rank,
            alpha: self.lora_alpha.unwrap_or(2.0 * self.lora_rank as f64),
            dropout: self.lora_dropout,
            target: crate::peft::Target::parse(&self.lora_target).context("`lora_target`")?,
            use_rslora: self.use_rslora,
            use_dora: self.use_dora,
            init: match (self.pissa_init, self.olora_init, self.pissa_iter) {
                (true, true, _) => {
                    bail!("`pissa_init` and `olora_init` are two different starts; choose one")
                }
                (false, true, _) => LoraInit::Olora,
                (false, false, _) => LoraInit::KaimingUniform,
                (true, false, n) if n < 0 => LoraInit::Pissa,
                (true, false, n) => LoraInit::PissaNiter(n as usize),
            },
            seed: self.seed,
            modules_to_save: self
                .additional_target
                .iter()
                .flat_map(|t| t.split(','))
                .map(|m| m.trim().to_string())
                .filter(|m| !m.is_empty())
                .collect(),
        })
    }

    /// The training files, each with its registry entry if it was named.
    pub fn datasets(&self) -> Result<Vec<DatasetSource>> {
        self.dataset.split(',').map(|e| self.source(e)).collect()
    }

    pub fn eval_source(&self) -> Result<Option<DatasetSource>> {
        self.eval_dataset.as_deref().map(|e| self.source(e)).transpose()
    }

    fn source(&self, entry: &str) -> Result<DatasetSource> {
        crate::data::registry::resolve(entry, Path::new(&self.dataset_dir), &self.dataset_info)
    }
}

/// The valid key nearest to `key` by edit distance, if any is close.
pub fn closest<'a>(key: &str, valid: &[&'a str]) -> Option<&'a str> {
    valid
        .iter()
        .map(|v| (edit_distance(key, v), *v))
        .filter(|(d, v)| *d <= (v.len() / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, v)| v)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_get_a_suggestion() {
        let e = format!(
            "{:#}",
            TrainConfig::from_toml("dataset = \"d.jsonl\"\noutput_dir = \"o\"\nlearning_rat = 1e-4\n")
                .unwrap_err()
        );
        assert!(
            e.contains("unknown key `learning_rat`; did you mean `learning_rate`?"),
            "{e}"
        );
        let e = format!(
            "{:#}",
            TrainConfig::from_toml("dataset = \"d\"\noutput_dir = \"o\"\nzzz = 1\n").unwrap_err()
        );
        assert!(
            e.contains("unknown key `zzz`") && !e.contains("did you mean"),
            "{e}"
        );
    }

    #[test]
    fn adapter_settings_are_checked_with_the_config() {
        let base = "dataset = \"d.jsonl\"\noutput_dir = \"o\"\n";
        for (extra, expected) in [
            (
                "use_dora = true\npissa_init = true\n",
                "PiSSA or OLoRA initialisation with DoRA",
            ),
            ("lora_rank = 0\n", "lora_rank must be at least 1"),
            ("lora_dropout = 1.0\n", "lora_dropout must be in [0, 1)"),
        ] {
            let e = format!(
                "{:#}",
                TrainConfig::from_toml(&format!("{base}{extra}")).unwrap_err()
            );
            assert!(e.contains(expected), "{extra}: {e}");
        }
        let full = "finetuning_type = \"full\"\nlora_rank = 0\n";
        assert!(
            TrainConfig::from_toml(&format!("{base}{full}")).is_ok(),
            "full fine-tuning has no adapter"
        );
    }

    #[test]
    fn llama_factory_keys_parse() {
        let cfg = TrainConfig::from_toml(
            "model = \"m\"\ndataset = \"a.jsonl,b.jsonl\"\ntemplate = \"qwen\"\ncutoff_len = 256\nlearning_rate = 1e-4\n\
             num_train_epochs = 2.0\nlr_scheduler_type = \"linear\"\nper_device_train_batch_size = 4\n\
             gradient_accumulation_steps = 2\neval_steps = 10\noutput_dir = \"out\"\nseed = 3\n",
        )
        .unwrap();
        assert_eq!(cfg.lr_scheduler_type, SchedulerType::Linear);
        assert_eq!(cfg.datasets().unwrap().len(), 2);
        assert_eq!(
            (cfg.cutoff_len, cfg.seed, cfg.gradient_accumulation_steps),
            (256, 3, 2)
        );
    }
}
