//! A model ready to use: decoder, tokenizer, chat template and generation
//! defaults, from an HF-layout folder or a hub id.

use crate::chat::ChatTemplate;
use crate::generate::SamplingParams;
use crate::hub;
use crate::model::weights::SafetensorsWeights;
use crate::model::{Qwen, QwenConfig};
use crate::tokenizer::Tokenizer;
use anyhow::{bail, Context, Result};
use candle_core::DType;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The model the course ships, used when no `--model` is given.
pub const EMBEDDED_MODEL: &str = "assets/nano-qwen";

pub fn embedded_model_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(EMBEDDED_MODEL)
}

pub struct Checkpoint {
    pub model: Qwen,
    pub tokenizer: Tokenizer,
    pub template: ChatTemplate,
    pub generation: GenerationConfig,
    /// Where the files were read from.
    pub dir: PathBuf,
}

/// The parts of `generation_config.json` that matter here.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct GenerationConfig {
    #[serde(default)]
    pub eos_token_id: Option<EosIds>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub top_k: Option<usize>,
    pub repetition_penalty: Option<f32>,
    pub do_sample: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum EosIds {
    One(u32),
    Many(Vec<u32>),
}

impl GenerationConfig {
    fn from_dir(dir: &Path) -> Result<Self> {
        let path = dir.join("generation_config.json");
        if !path.exists() {
            return Ok(Self::default());
        }
        let text =
            std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        serde_json::from_str(&text)
            .with_context(|| format!("{}: not a valid generation config", path.display()))
    }

    /// The checkpoint's recommended sampling, over our defaults.
    pub fn sampling(&self) -> SamplingParams {
        let mut p = SamplingParams::default();
        if self.do_sample == Some(false) {
            p.temperature = 0.0;
        } else if let Some(t) = self.temperature {
            p.temperature = t;
        }
        if let Some(v) = self.top_p {
            p.top_p = v;
        }
        if let Some(v) = self.top_k {
            p.top_k = v;
        }
        if let Some(v) = self.repetition_penalty {
            p.repetition_penalty = v;
        }
        p
    }

    pub fn eos_ids(&self) -> Vec<u32> {
        match &self.eos_token_id {
            Some(EosIds::One(id)) => vec![*id],
            Some(EosIds::Many(ids)) => ids.clone(),
            None => vec![],
        }
    }
}

impl Checkpoint {
    /// `spec` is a folder, a hub id (`Qwen/Qwen2.5-0.5B-Instruct`), or `None`
    /// for the embedded model.
    pub fn load(spec: Option<&str>, dtype: DType) -> Result<Self> {
        if let Some(dir) = spec
            .map(Path::new)
            .filter(|d| crate::peft::files::is_adapter_dir(d) && !d.join("config.json").exists())
        {
            return Self::load_adapter_dir(dir, dtype);
        }
        let dir = resolve(spec)?;
        Self::load_dir(&dir, dtype)
    }

    /// A PEFT adapter folder: its base (`base_model_name_or_path`) with the
    /// adapter attached. The base may itself be an adapter folder (a run
    /// trained with `adapter_name_or_path`): the chain is followed to a model.
    fn load_adapter_dir(dir: &Path, dtype: DType) -> Result<Self> {
        let mut root = dir.to_path_buf();
        let mut depth = 0;
        let base = loop {
            match stacked_base(&root)? {
                Base::Adapter(a) => root = a,
                Base::Model(m) => break m,
            }
            depth += 1;
            if depth > MAX_STACK {
                return Err(too_deep(dir));
            }
        };
        let base = if base == EMBEDDED_MODEL { None } else { Some(base) };
        let mut ckpt = Self::load(base.as_deref(), dtype)?;
        ckpt.attach_adapter(dir)?;
        Ok(ckpt)
    }

    /// Attaches a PEFT adapter folder without merging it. When the adapter
    /// was trained on top of another one, that one is attached and merged
    /// first.
    pub fn attach_adapter(&mut self, dir: &Path) -> Result<()> {
        self.attach_stacked(dir, 0)
    }

    fn attach_stacked(&mut self, dir: &Path, depth: usize) -> Result<()> {
        if depth > MAX_STACK {
            return Err(too_deep(dir));
        }
        if let Base::Adapter(under) = stacked_base(dir)? {
            self.attach_stacked(&under, depth + 1)?;
            crate::peft::merge_and_unload(&mut self.model)?;
        }
        crate::peft::files::load(&mut self.model, dir)
            .with_context(|| format!("cannot attach the adapter in {}", dir.display()))?;
        Ok(())
    }

    pub fn load_dir(dir: &Path, dtype: DType) -> Result<Self> {
        let cfg = QwenConfig::from_file(&dir.join("config.json"))?;
        let weights = SafetensorsWeights::open_dir(dir)?;
        let model = Qwen::load(&cfg, &weights, dtype)
            .with_context(|| format!("cannot build the model from {}", dir.display()))?;
        let tokenizer = Tokenizer::from_file(&dir.join("tokenizer.json"))?;
        if tokenizer.vocab_size() > cfg.vocab_size {
            bail!(
                "{}: the tokenizer has {} tokens but config.json's vocab_size is {}",
                dir.display(),
                tokenizer.vocab_size(),
                cfg.vocab_size
            );
        }
        let template = ChatTemplate::for_model_dir(dir, cfg.model_type);
        let generation = GenerationConfig::from_dir(dir)?;
        Ok(Self {
            model,
            tokenizer,
            template,
            generation,
            dir: dir.to_path_buf(),
        })
    }

    /// The model's whole reply to a conversation, generated with `params`
    /// and without streaming.
    pub fn reply(&self, messages: &[crate::chat::Message], params: &SamplingParams) -> Result<String> {
        let ids = self.tokenizer.encode(&self.template.render(messages, true))?;
        let out = crate::generate::generate(&self.model, &ids, params, &self.stop_ids(), |_| Ok(true))?;
        self.tokenizer.decode(&out.tokens, true)
    }

    /// Stop ids: the tokenizer's ChatML ends plus the checkpoint's eos ids.
    pub fn stop_ids(&self) -> Vec<u32> {
        let mut ids = self.tokenizer.stop_ids();
        ids.extend(self.generation.eos_ids());
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

/// Adapters trained on adapters, at most this deep.
const MAX_STACK: usize = 16;

fn too_deep(dir: &Path) -> anyhow::Error {
    anyhow::anyhow!(
        "{}: more than {MAX_STACK} adapters stacked; is there a loop in their `base_model_name_or_path`?",
        dir.display()
    )
}

enum Base {
    Model(String),
    Adapter(PathBuf),
}

/// What an adapter folder was trained on: a model, or another adapter folder.
fn stacked_base(dir: &Path) -> Result<Base> {
    let name = crate::peft::files::read_base_name(dir)?;
    if name.is_empty() {
        bail!(
            "{}: missing `base_model_name_or_path`",
            dir.join(crate::peft::files::CONFIG_FILE).display()
        );
    }
    let path = Path::new(&name);
    if crate::peft::files::is_adapter_dir(path) && !path.join("config.json").exists() {
        if path == dir {
            bail!("{}: the adapter names itself as its base", dir.display());
        }
        return Ok(Base::Adapter(path.to_path_buf()));
    }
    Ok(Base::Model(name))
}

/// Turns a `--model` value into a folder.
pub fn resolve(spec: Option<&str>) -> Result<PathBuf> {
    let Some(spec) = spec else {
        let dir = embedded_model_dir();
        if !dir.join("config.json").exists() {
            bail!(
                "the embedded model is missing from {}; rebuild it with `tunelings pretrain`, or pass --model",
                dir.display()
            );
        }
        return Ok(dir);
    };
    let path = Path::new(spec);
    if path.is_dir() {
        if !path.join("config.json").exists() {
            bail!("{}: not a model folder (no config.json)", path.display());
        }
        return Ok(path.to_path_buf());
    }
    if hub::looks_like_hub_id(spec) {
        return hub::resolve(spec);
    }
    bail!("--model {spec:?}: no such folder, and not a hub id like `Qwen/Qwen2.5-0.5B-Instruct`")
}

/// Writes an HF-layout model folder: config.json, model.safetensors and
/// tokenizer.json (plus tokenizer_config.json with a ChatML template when
/// `default_system` is given).
pub fn write_model_dir(
    dir: &Path,
    cfg: &QwenConfig,
    tensors: &std::collections::HashMap<String, candle_core::Tensor>,
    tokenizer: &Tokenizer,
    default_system: Option<&str>,
) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::write(dir.join("config.json"), cfg.to_json()?)
        .with_context(|| format!("cannot write {}/config.json", dir.display()))?;
    crate::model::weights::save_safetensors(tensors, &dir.join("model.safetensors"))?;
    tokenizer.save(&dir.join("tokenizer.json"))?;
    if let Some(system) = default_system {
        let config = serde_json::json!({
            "chat_template": crate::chat::qwen25_jinja(system),
            "eos_token": crate::tokenizer::IM_END,
            "pad_token": crate::tokenizer::ENDOFTEXT,
            "model_max_length": cfg.max_position_embeddings,
            "tokenizer_class": "Qwen2Tokenizer",
        });
        std::fs::write(
            dir.join("tokenizer_config.json"),
            serde_json::to_string_pretty(&config)?,
        )?;
    }
    Ok(())
}
