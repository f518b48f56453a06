//! Where the decoder's tensors come from: safetensors files (single or
//! sharded) or an in-memory map. Every lookup checks the shape and names the
//! file on error.

use super::config::QwenConfig;
use anyhow::{bail, Context, Result};
use candle_core::safetensors::MmapedSafetensors;
use candle_core::{DType, Device, Tensor};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Every tensor name of a Qwen2/Qwen3 checkpoint with its shape, in HF naming.
pub fn tensor_shapes(cfg: &QwenConfig) -> Vec<(String, Vec<usize>)> {
    let (h, i, hd) = (cfg.hidden_size, cfg.intermediate_size, cfg.head_dim());
    let (q, kv) = (cfg.num_attention_heads * hd, cfg.num_key_value_heads * hd);
    let mut out = vec![("model.embed_tokens.weight".to_string(), vec![cfg.vocab_size, h])];
    for l in 0..cfg.num_hidden_layers {
        let p = format!("model.layers.{l}");
        let mut push = |name: &str, shape: Vec<usize>| out.push((format!("{p}.{name}"), shape));
        push("input_layernorm.weight", vec![h]);
        push("post_attention_layernorm.weight", vec![h]);
        for (proj, out_f) in [("q_proj", q), ("k_proj", kv), ("v_proj", kv)] {
            push(&format!("self_attn.{proj}.weight"), vec![out_f, h]);
            if cfg.qkv_bias() {
                push(&format!("self_attn.{proj}.bias"), vec![out_f]);
            }
        }
        push("self_attn.o_proj.weight", vec![h, q]);
        if cfg.o_bias() {
            push("self_attn.o_proj.bias", vec![h]);
        }
        if cfg.has_qk_norm() {
            push("self_attn.q_norm.weight", vec![hd]);
            push("self_attn.k_norm.weight", vec![hd]);
        }
        push("mlp.gate_proj.weight", vec![i, h]);
        push("mlp.up_proj.weight", vec![i, h]);
        push("mlp.down_proj.weight", vec![h, i]);
    }
    out.push(("model.norm.weight".into(), vec![h]));
    if !cfg.tie_word_embeddings {
        out.push(("lm_head.weight".into(), vec![cfg.vocab_size, h]));
    }
    out
}

pub trait WeightSource {
    /// The tensor `name`, which must have `shape`, converted to `dtype`.
    fn tensor(&self, name: &str, shape: &[usize], dtype: DType) -> Result<Tensor>;
    fn contains(&self, name: &str) -> bool;
}

impl WeightSource for HashMap<String, Tensor> {
    fn tensor(&self, name: &str, shape: &[usize], dtype: DType) -> Result<Tensor> {
        let t = self
            .get(name)
            .with_context(|| format!("missing tensor `{name}`"))?;
        check_shape(name, t.dims(), shape, "the weight map")?;
        Ok(t.to_dtype(dtype)?)
    }

    fn contains(&self, name: &str) -> bool {
        self.contains_key(name)
    }
}

fn check_shape(name: &str, got: &[usize], want: &[usize], file: &str) -> Result<()> {
    if got != want {
        bail!("{file}: tensor `{name}` has shape {got:?}, expected {want:?} from config.json");
    }
    Ok(())
}

/// Memory-mapped safetensors files: `model.safetensors`, or the shards listed
/// in `model.safetensors.index.json`.
pub struct SafetensorsWeights {
    files: Vec<(PathBuf, MmapedSafetensors)>,
    /// tensor name → index into `files`
    index: HashMap<String, usize>,
}

impl SafetensorsWeights {
    /// Opens the weights of an HF model folder.
    pub fn open_dir(dir: &Path) -> Result<Self> {
        let single = dir.join("model.safetensors");
        let index = dir.join("model.safetensors.index.json");
        if single.exists() {
            Self::open(&[single])
        } else if index.exists() {
            Self::open(&shards_from_index(&index)?)
        } else {
            bail!(
                "{}: no weights found (expected model.safetensors or model.safetensors.index.json)",
                dir.display()
            )
        }
    }

    pub fn open(paths: &[PathBuf]) -> Result<Self> {
        let mut files = Vec::new();
        let mut index = HashMap::new();
        for path in paths {
            // SAFETY: the file is mapped read-only; the course never writes a
            // checkpoint while it is being read.
            let st = unsafe { MmapedSafetensors::new(path) }.with_context(|| {
                format!(
                    "{}: not a readable safetensors file (truncated or corrupt?)",
                    path.display()
                )
            })?;
            for (name, _) in st.tensors() {
                index.insert(name, files.len());
            }
            files.push((path.clone(), st));
        }
        Ok(Self { files, index })
    }

    pub fn names(&self) -> impl Iterator<Item = &String> {
        self.index.keys()
    }
}

fn shards_from_index(index: &Path) -> Result<Vec<PathBuf>> {
    #[derive(serde::Deserialize)]
    struct Index {
        weight_map: HashMap<String, String>,
    }
    let text = std::fs::read_to_string(index).with_context(|| format!("cannot read {}", index.display()))?;
    let parsed: Index = serde_json::from_str(&text)
        .with_context(|| format!("{}: expected a `weight_map` object", index.display()))?;
    let dir = index.parent().unwrap_or(Path::new("."));
    let mut shards: Vec<String> = parsed.weight_map.into_values().collect();
    shards.sort();
    shards.dedup();
    let paths: Vec<PathBuf> = shards.iter().map(|s| dir.join(s)).collect();
    for p in &paths {
        if !p.exists() {
            bail!(
                "{}: lists shard {}, which does not exist",
                index.display(),
                p.display()
            );
        }
    }
    Ok(paths)
}

impl WeightSource for SafetensorsWeights {
    fn tensor(&self, name: &str, shape: &[usize], dtype: DType) -> Result<Tensor> {
        let Some(&i) = self.index.get(name) else {
            let files: Vec<_> = self.files.iter().map(|(p, _)| p.display().to_string()).collect();
            bail!("{}: missing tensor `{name}`", files.join(", "));
        };
        let (path, st) = &self.files[i];
        let file = path.display().to_string();
        let t = st
            .load(name, &Device::Cpu)
            .with_context(|| format!("{file}: cannot read tensor `{name}`"))?;
        check_shape(name, t.dims(), shape, &file)?;
        t.to_dtype(dtype)
            .with_context(|| format!("{file}: cannot convert `{name}` to {dtype:?}"))
    }

    fn contains(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }
}

/// Writes tensors as `model.safetensors` with the `format: pt` metadata that
/// transformers expects.
pub fn save_safetensors(tensors: &HashMap<String, Tensor>, path: &Path) -> Result<()> {
    let metadata = Some(HashMap::from([("format".to_string(), "pt".to_string())]));
    let mut items: Vec<(&String, &Tensor)> = tensors.iter().collect();
    items.sort_by(|a, b| a.0.cmp(b.0));
    safetensors::serialize_to_file(items, metadata, path)
        .with_context(|| format!("cannot write {}", path.display()))
}
